# Stage 9: inference beyond the fit - the impacts of the nuisance parameters
# (fanned out over jobs) and their ranking, the likelihood scan of the POI, the
# expected sensitivity with the uncertainty breakdown, the goodness of fit - and
# the validation of histograms.root against the public reference histograms.

from topxsec import inference as topxsec_inference
from topxsec import validation as topxsec_validation
from topxsec.errors import ConfigError
from topxsec.workspace import load_model

INFERENCE = RESULTS + "/inference"
IMPACT_GROUP = INFERENCE + "/impacts/{group}.json"
IMPACTS = INFERENCE + "/impacts.json"
IMPACTS_TABLE = INFERENCE + "/impacts.html"
RANKING_PLOT = PLOTS + "/ranking.png"
SCAN = INFERENCE + "/scan.json"
SCAN_PLOT = PLOTS + "/scan.png"
SENSITIVITY = INFERENCE + "/sensitivity.json"
SENSITIVITY_TABLE = INFERENCE + "/sensitivity.html"
GOF = INFERENCE + "/gof.json"
GOF_TABLE = INFERENCE + "/gof.html"
VALIDATION = RESULTS + "/validation/validation.json"
VALIDATION_TABLE = RESULTS + "/validation/validation.html"

# The nuisance parameters follow from the model file alone (a yaml read, no
# histograms, no pyhf), so the impact jobs are known when the DAG is built. A
# parameter the workspace turns out not to have is reported as absent.
IMPACT_GROUPS = topxsec_inference.impact_groups(
    topxsec_inference.nuisance_parameters(load_model(MODEL)),
    config["inference"]["impacts_per_job"],
)
IMPACT_GROUP_IDS = [f"{i:03d}" for i in range(len(IMPACT_GROUPS))]


def fit_report(path: str, caption: str, label: str) -> str:
    """An output of this stage flagged for the report's "Inference" category."""
    return report(path, caption=f"../report/{caption}", category="Inference",
                  labels={"item": label})


rule impacts:
    """Fix each parameter of one group at its post-fit value +- its post-fit
    and pre-fit uncertainties and refit: the shifts of the POI."""
    input:
        workspace=WORKSPACE,
        fit=FIT,
    output:
        IMPACT_GROUP,
    params:
        code=code_version("impacts"),
        parameters=lambda wildcards: IMPACT_GROUPS[int(wildcards.group)],
    wildcard_constraints:
        group=r"\d{3}",
    # the longest jobs of the stage: start them first
    priority: 1
    log:
        logfile("impacts", "{group}"),
    benchmark:
        benchfile("impacts", "{group}")
    resources:
        **stage_resources("statistics"),
    script:
        "../scripts/impacts.py"


rule ranking:
    """Join the impact jobs: ranked table and ranking plot with the pulls."""
    input:
        impacts=expand(IMPACT_GROUP, group=IMPACT_GROUP_IDS),
        fit=FIT,
    output:
        impacts=IMPACTS,
        table=fit_report(IMPACTS_TABLE, "impacts.rst", "impacts table"),
        plot=fit_report(RANKING_PLOT, "ranking.rst", "ranking plot"),
    params:
        code=code_version("ranking"),
        top=config["inference"]["ranking_top"],
    log:
        logfile("ranking"),
    benchmark:
        benchfile("ranking")
    resources:
        **stage_resources("statistics"),
    script:
        "../scripts/ranking.py"


rule scan:
    """Profile likelihood scan of the POI and its 68 % / 95 % intervals."""
    input:
        workspace=WORKSPACE,
        fit=FIT,
    output:
        scan=SCAN,
        plot=fit_report(SCAN_PLOT, "scan.rst", "likelihood scan"),
    params:
        code=code_version("scan"),
        points=config["inference"]["scan_points"],
        span=config["inference"]["scan_range"],
    log:
        logfile("scan"),
    benchmark:
        benchfile("scan")
    resources:
        **stage_resources("statistics"),
    script:
        "../scripts/scan.py"


rule sensitivity:
    """Observed and expected (Asimov) uncertainty on the POI and its breakdown."""
    input:
        workspace=WORKSPACE,
        fit=FIT,
        model=MODEL,
    output:
        sensitivity=SENSITIVITY,
        table=fit_report(SENSITIVITY_TABLE, "sensitivity.rst", "sensitivity"),
    params:
        code=code_version("sensitivity"),
    log:
        logfile("sensitivity"),
    benchmark:
        benchfile("sensitivity")
    resources:
        **stage_resources("statistics"),
    script:
        "../scripts/sensitivity.py"


rule goodness_of_fit:
    """Saturated-model goodness of fit per channel and combined."""
    input:
        workspace=WORKSPACE,
        fit=FIT,
    output:
        gof=GOF,
        table=fit_report(GOF_TABLE, "gof.rst", "goodness of fit"),
    params:
        code=code_version("goodness_of_fit"),
    log:
        logfile("goodness_of_fit"),
    benchmark:
        benchfile("goodness_of_fit")
    resources:
        **stage_resources("statistics"),
    script:
        "../scripts/goodness_of_fit.py"


INFERENCE_OUTPUTS = [IMPACTS, IMPACTS_TABLE, RANKING_PLOT, SCAN, SCAN_PLOT,
                     SENSITIVITY, SENSITIVITY_TABLE, GOF, GOF_TABLE]


# --- validation against the public reference --------------------------------


def validation_histograms(wildcards) -> str:
    """The histograms to validate: validation.histograms or the merged ones."""
    given = config["validation"]["histograms"]
    if given:
        return given
    if config["fileset"]["source"] != "agc" or config["fileset"]["sets"]:
        raise ConfigError(
            "fileset.source",
            "the validation compares a run over the public AGC catalogue with its "
            "reference histograms: set fileset.source to agc (all nine sets, "
            "fileset.sets null), or give a histograms file in validation.histograms",
        )
    return MERGED_ROOT


def validation_reference(wildcards) -> str:
    """The reference file: N of validation.reference_files or of the file set."""
    n = config["validation"]["reference_files"]
    run = config["fileset"]["max_files_per_set"] or "all"
    if n is not None and not config["validation"]["histograms"] and n != run:
        raise ConfigError(
            "validation.reference_files",
            f"{n} files per set, but this run processes {run} "
            "(fileset.max_files_per_set): the comparison would fail; set null to "
            "follow the file set",
        )
    return topxsec_validation.reference_name(run if n is None else n)


rule validate_histograms:
    """Compare histograms.root bin by bin with histos_N_file_per_process.json."""
    input:
        histograms=validation_histograms,
    output:
        result=VALIDATION,
        table=report(
            VALIDATION_TABLE,
            caption="../report/validation.rst",
            category="Validation",
            labels={"item": "reference comparison"},
        ),
    params:
        code=code_version("validate_histograms"),
        reference=validation_reference,
    log:
        logfile("validate_histograms"),
    resources:
        **stage_resources("statistics"),
    script:
        "../scripts/validate_histograms.py"
