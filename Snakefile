# The AGC top-pair cross-section measurement on CMS 2015 Open Data:
# NanoAOD files -> per-file skims and histograms -> merged histograms ->
# pyhf workspace -> fit -> plots and report. See README.md.

from snakemake.utils import min_version, validate

from topxsec.config import validate as check_config

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config/config.yaml")


# A short message naming the bad key first; then Snakemake's validation fills
# in the schema's defaults.
CONFIG_SCHEMA = os.path.join(workflow.basedir, "workflow/schemas/config.schema.yaml")
check_config(config, CONFIG_SCHEMA)
validate(config, CONFIG_SCHEMA)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/skim.smk"
include: "workflow/rules/histograms.smk"
include: "workflow/rules/merge.smk"
include: "workflow/rules/statistics.smk"
include: "workflow/rules/inference.smk"
include: "workflow/rules/plots.smk"


absolute_script_paths()


rule all:
    default_target: True
    input:
        fit=FIT,
        plots=ALL_PLOTS,
        table=FIT_TABLE,
        cutflow=CUTFLOW_TABLE,
        inference=INFERENCE_OUTPUTS,


rule histograms:
    """Stop after the merged histograms (no statistical model needed)."""
    input:
        MERGED_ROOT,


rule validate:
    """Compare a run over the public catalogue with the reference histograms."""
    input:
        VALIDATION_TABLE,


onsuccess:
    summarize_run()
