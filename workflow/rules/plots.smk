# Stage 8: the plots, each an item of the report with a caption.

DISTRIBUTION_PLOTS = {
    "stack": "../report/stack.rst",
    "btag": "../report/btag.rst",
    "jet_energy": "../report/jet_energy.rst",
    "ttbar_alternatives": "../report/ttbar_alternatives.rst",
}
FIT_PLOTS = {
    "prefit": "../report/prefit.rst",
    "postfit": "../report/postfit.rst",
}


def region_plots(kinds: dict, category: str) -> dict:
    """Report-flagged outputs ``<kind>_<region>.png`` for every region."""
    return {
        f"{kind}_{region}": report(
            f"{PLOTS}/{kind}_{region}.png",
            caption=caption,
            category=category,
            subcategory=region,
            labels={"plot": kind.replace("_", " "), "region": region},
        )
        for kind, caption in kinds.items()
        for region in spec.REGIONS
    }


rule plot_distributions:
    """Nominal stacks and the variations of every region."""
    input:
        MERGED_ROOT,
    output:
        **region_plots(DISTRIBUTION_PLOTS, "Distributions"),
    params:
        code=code_version("plot_distributions"),
    log:
        logfile("plot_distributions"),
    benchmark:
        benchfile("plot_distributions")
    resources:
        **stage_resources("plots"),
    script:
        "../scripts/plot_distributions.py"


rule plot_fit:
    """Pulls, correlations and pre-/post-fit data/MC of every region."""
    input:
        workspace=WORKSPACE,
        fit=FIT,
        model=MODEL,
    output:
        **region_plots(FIT_PLOTS, "Fit"),
        pulls=report(
            f"{PLOTS}/pulls.png",
            caption="../report/pulls.rst",
            category="Fit",
            labels={"plot": "pulls", "region": "all"},
        ),
        correlation=report(
            f"{PLOTS}/correlation.png",
            caption="../report/correlation.rst",
            category="Fit",
            labels={"plot": "correlation", "region": "all"},
        ),
    params:
        code=code_version("plot_fit"),
    log:
        logfile("plot_fit"),
    benchmark:
        benchfile("plot_fit")
    resources:
        **stage_resources("plots"),
    script:
        "../scripts/plot_fit.py"


ALL_PLOTS = [
    f"{PLOTS}/{kind}_{region}.png"
    for kind in (*DISTRIBUTION_PLOTS, *FIT_PLOTS)
    for region in spec.REGIONS
] + [f"{PLOTS}/pulls.png", f"{PLOTS}/correlation.png"]
