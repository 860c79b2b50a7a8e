# Stage 1: deterministic demo files in NanoAOD layout (fileset.source: demo).


def demo_events(wildcards) -> int:
    """Events the demo file stands for, from the file set."""
    files = FILESET[(wildcards.process, wildcards.variation)]
    return files[int(wildcards.index)].nevts


rule demo_file:
    """Generate one demo NanoAOD file of a file set."""
    output:
        DEMO_FILE,
    params:
        n_events=demo_events,
        seed=config["demo"]["seed"],
    log:
        logfile("demo_file", "{process}/{variation}/{index}"),
    benchmark:
        benchfile("demo_file", "{process}/{variation}/{index}")
    resources:
        **stage_resources("demo"),
    script:
        "../scripts/demo_file.py"
