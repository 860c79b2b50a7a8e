"""Snakemake adapter: pulls, correlations and pre-/post-fit data/MC plots."""

import json
from pathlib import Path

from topxsec.jobenv import setup_job

setup_job(snakemake)  # noqa: F821 - the object Snakemake injects

from topxsec import plotting  # noqa: E402
from topxsec.fit import FitResult, model_yields  # noqa: E402
from topxsec.workspace import load_model  # noqa: E402

smk = snakemake  # noqa: F821
workspace = json.loads(Path(smk.input.workspace).read_text())
fit = json.loads(Path(smk.input.fit).read_text())
model = load_model(smk.input.model)

plotting.plot_pulls(fit, smk.output.pulls)
plotting.plot_correlation(fit, smk.output.correlation)

stages = {
    "prefit": model_yields(workspace, model=model),
    "postfit": model_yields(workspace, FitResult.from_dict(fit), model=model),
}
for channel in model["channels"]:
    for stage, yields in stages.items():
        plotting.plot_data_mc(yields, channel["name"],
                              smk.output[f"{stage}_{channel['region']}"])
