# Stage 3: compile the kernels once, then one skim job per input file (or
# entry range): read the needed branches, apply the loose preselection, write
# a NanoAOD-layout skim and its summary.


rule compile_kernels:
    """Compile a kernel into the shared numba cache before the fan-out.

    A hash of the kernel's source files is a param: editing them recompiles
    and reruns exactly the jobs that use that kernel.
    """
    output:
        KERNEL_STAMP,
    params:
        sources=kernel_version,
    log:
        logfile("compile_kernels", "{kernel}"),
    benchmark:
        benchfile("compile_kernels", "{kernel}")
    resources:
        **stage_resources("histograms"),
    script:
        "../scripts/compile_kernels.py"


def skim_input(wildcards) -> list[str]:
    """The input file of a skim job, if Snakemake can track it.

    URLs are read by the job itself. A local file that does not exist (and is
    not a demo file a rule makes) is left out too: then only its own job fails,
    with a message naming it, instead of the whole DAG.
    """
    path = job_of(wildcards).path
    if fs.is_remote(path):
        return []
    if config["fileset"]["source"] != "demo" and not os.path.exists(path):
        return []
    return [path]


rule skim:
    """Skim one input file (or an entry range of it)."""
    input:
        source=skim_input,
        kernels=KERNEL_STAMP.format(kernel="skim"),
    output:
        skim=SKIM,
        summary=SKIM_SUMMARY,
    params:
        code=code_version("skim"),
        source=lambda wildcards: job_of(wildcards).path,
        entry_start=lambda wildcards: job_of(wildcards).entry_start,
        entry_stop=lambda wildcards: job_of(wildcards).entry_stop,
        cuts=CUTS,
        compression_level=config["skim"]["compression_level"],
    log:
        logfile("skim", "{process}/{variation}/{part}"),
    benchmark:
        benchfile("skim", "{process}/{variation}/{part}")
    threads: stage_threads("skim")
    resources:
        **stage_resources("skim"),
    script:
        "../scripts/skim.py"
