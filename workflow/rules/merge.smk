# Stage 5: sum the per-file histograms, normalize to sigma*L/N, add the
# pseudo-data; tabulate the cutflow and I/O of the skims.


rule merge:
    """Merge every file's histograms into histograms.root and .json."""
    input:
        all_jobs(FILE_HISTOGRAMS),
    output:
        root=MERGED_ROOT,
        json=MERGED_JSON,
    params:
        code=code_version("merge"),
        events_per_set={
            spec.FileSetKey(*key).name: n for key, n in FILESET.events_per_set().items()
        },
    log:
        logfile("merge"),
    benchmark:
        benchfile("merge")
    resources:
        **stage_resources("merge"),
    script:
        "../scripts/merge.py"


rule cutflow:
    """Sum the skims' cutflows and I/O per file set, as JSON and a report table."""
    input:
        skims=all_jobs(SKIM_SUMMARY),
        histograms=all_jobs(FILE_HISTOGRAMS),
    params:
        code=code_version("cutflow"),
        sets=[spec.FileSetKey(*job.key).name for job in JOBS],
    output:
        json=CUTFLOW,
        table=report(
            CUTFLOW_TABLE,
            caption="../report/cutflow.rst",
            category="Selection",
            labels={"table": "cutflow and I/O"},
        ),
    log:
        logfile("cutflow"),
    resources:
        **stage_resources("merge"),
    script:
        "../scripts/cutflow.py"
