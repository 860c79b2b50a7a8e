"""Snakemake adapter: build the pyhf workspace."""

from topxsec.jobenv import setup_job, write_json

setup_job(snakemake)  # noqa: F821 - the object Snakemake injects

from topxsec.merge import read_histograms  # noqa: E402
from topxsec.workspace import build_workspace, load_model  # noqa: E402

smk = snakemake  # noqa: F821
workspace = build_workspace(read_histograms(smk.input.histograms),
                            load_model(smk.input.model))
write_json(smk.output[0], workspace)
