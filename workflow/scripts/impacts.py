"""Snakemake adapter: the impacts on the POI of one group of nuisance parameters."""

import json
from pathlib import Path

from topxsec.jobenv import setup_job, write_json

setup_job(snakemake)  # noqa: F821 - the object Snakemake injects

from topxsec.fit import FitResult  # noqa: E402
from topxsec.inference import parameter_impacts  # noqa: E402

smk = snakemake  # noqa: F821
workspace = json.loads(Path(smk.input.workspace).read_text())
fit = FitResult.from_dict(json.loads(Path(smk.input.fit).read_text()))
impacts = parameter_impacts(workspace, fit, list(smk.params.parameters))
write_json(smk.output[0], impacts)
