"""Snakemake adapter: observed and expected (Asimov) uncertainty breakdown."""

import json
from pathlib import Path

from topxsec.jobenv import setup_job, write_json

setup_job(snakemake)  # noqa: F821 - the object Snakemake injects

from topxsec.fit import FitResult  # noqa: E402
from topxsec.outputs import write_text_atomic  # noqa: E402
from topxsec.inference import sensitivity, sensitivity_html  # noqa: E402
from topxsec.workspace import load_model  # noqa: E402

smk = snakemake  # noqa: F821
workspace = json.loads(Path(smk.input.workspace).read_text())
fit = FitResult.from_dict(json.loads(Path(smk.input.fit).read_text()))
doc = sensitivity(workspace, fit, load_model(smk.input.model))
write_json(smk.output.sensitivity, doc)
write_text_atomic(smk.output.table, sensitivity_html(doc))
