"""Snakemake adapter: fit the workspace; the log shows ttbar_norm."""

import json
from pathlib import Path

from topxsec.jobenv import setup_job, write_json

setup_job(snakemake)  # noqa: F821 - the object Snakemake injects

from topxsec import tables  # noqa: E402
from topxsec.fit import fit_workspace  # noqa: E402
from topxsec.outputs import write_text_atomic  # noqa: E402

smk = snakemake  # noqa: F821
result = fit_workspace(json.loads(Path(smk.input[0]).read_text())).to_dict()
write_json(smk.output.fit, result)
write_text_atomic(smk.output.table, tables.fit_html(result))
