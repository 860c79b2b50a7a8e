# Stages 6 and 7: the HistFactory workspace from histograms.root and the
# model file, and the maximum-likelihood fit.


rule workspace:
    """Build the pyhf workspace (checked against pyhf's schema)."""
    input:
        histograms=MERGED_ROOT,
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
