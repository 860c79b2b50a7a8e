# Stages 6 and 7: the HistFactory workspace from histograms.root and the
# model file, and the maximum-likelihood fit.


def workspace_histograms(wildcards) -> str:
    """histograms.root, once the run is known to make every set the model needs.

    Checked here, when the DAG is built and only if a workspace is wanted, so
    that a run of the target ``histograms`` over a few sets stays possible.
    """
    if workflow.is_main_process:
        available = [key for key, n in FILESET.events_per_set().items() if n > 0]
        topxsec_config.check_model_sets(config, REPO, available)
    return MERGED_ROOT


rule workspace:
    """Build the pyhf workspace (checked against pyhf's schema)."""
    input:
        histograms=workspace_histograms,
        model=MODEL,
    output:
        WORKSPACE,
    params:
        code=code_version("workspace"),
    log:
        logfile("workspace"),
    benchmark:
        benchfile("workspace")
    resources:
        **stage_resources("statistics"),
    script:
        "../scripts/workspace.py"


rule fit:
    """Fit the workspace to the pseudo-data with MINUIT uncertainties."""
    input:
        WORKSPACE,
    output:
        fit=FIT,
        table=report(
            FIT_TABLE,
            caption="../report/fit_table.rst",
            category="Fit",
            labels={"table": "fit results"},
        ),
    params:
        code=code_version("fit"),
    log:
        logfile("fit"),
    benchmark:
        benchfile("fit")
    resources:
        **stage_resources("statistics"),
    script:
        "../scripts/fit.py"
