"""Snakemake adapter: saturated-model goodness of fit per channel and combined."""

import json
from pathlib import Path

from topxsec.jobenv import setup_job, write_json

setup_job(snakemake)  # noqa: F821 - the object Snakemake injects

from topxsec.fit import FitResult  # noqa: E402
from topxsec.outputs import write_text_atomic  # noqa: E402
from topxsec.inference import gof_html, goodness_of_fit  # noqa: E402

smk = snakemake  # noqa: F821
workspace = json.loads(Path(smk.input.workspace).read_text())
fit = FitResult.from_dict(json.loads(Path(smk.input.fit).read_text()))
doc = goodness_of_fit(workspace, fit)
write_json(smk.output.gof, doc)
write_text_atomic(smk.output.table, gof_html(doc))
