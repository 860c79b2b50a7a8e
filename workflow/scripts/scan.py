"""Snakemake adapter: likelihood scan of the POI; the log compares it with MINUIT."""

import json
from pathlib import Path

from topxsec.jobenv import setup_job, write_json

setup_job(snakemake)  # noqa: F821 - the object Snakemake injects

from topxsec.fit import FitResult  # noqa: E402
from topxsec.inference import likelihood_scan  # noqa: E402
from topxsec.plotting_inference import plot_scan  # noqa: E402

smk = snakemake  # noqa: F821
workspace = json.loads(Path(smk.input.workspace).read_text())
fit = FitResult.from_dict(json.loads(Path(smk.input.fit).read_text()))
scan = likelihood_scan(workspace, fit, points=smk.params.points, span=smk.params.span)
write_json(smk.output.scan, scan)
plot_scan(scan, smk.output.plot)
