# Stage 1: deterministic demo files in NanoAOD layout (fileset.source: demo).


# Before any job, in the process that plans the run (as the other config
# checks): a selection the generator filter cannot serve.
if config["fileset"]["source"] == "demo" and workflow.is_main_process:
    from topxsec import demo as demo_generator

    _demo_sets = {spec.FileSetKey(*key).name for key in FILESET.events_per_set()}
    demo_generator.check_filter_cuts(
        topxsec_config.cuts(config),
        [name for name in demo_generator.filtered_sets() if name in _demo_sets],
    )


def demo_filter(wildcards) -> dict | None:
    """The selection values the set's generator filter depends on (or None)."""
    from topxsec import demo as demo_generator

    return demo_generator.filter_parameters(
        wildcards.process, wildcards.variation, topxsec_config.cuts(config))


def demo_events(wildcards) -> int:
    """Events the demo file stands for, from the file set."""
    files = FILESET[(wildcards.process, wildcards.variation)]
    return files[int(wildcards.index)].nevts


rule demo_file:
    """Generate one demo NanoAOD file of a file set."""
    output:
        DEMO_FILE,
    params:
        code=code_version("demo_file"),
        n_events=demo_events,
        seed=config["demo"]["seed"],
        # A change of what the filter depends on regenerates the filtered sets.
        filter=demo_filter,
    log:
        logfile("demo_file", "{process}/{variation}/{index}"),
    benchmark:
        benchfile("demo_file", "{process}/{variation}/{index}")
    resources:
        **stage_resources("demo"),
    script:
        "../scripts/demo_file.py"
