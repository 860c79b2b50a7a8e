"""Snakemake adapter: the cutflow and I/O table of the skims."""

import json
from pathlib import Path

from topxsec.jobenv import setup_job, write_json

setup_job(snakemake)  # noqa: F821 - the object Snakemake injects

from topxsec import tables  # noqa: E402
from topxsec.outputs import write_text_atomic  # noqa: E402

smk = snakemake  # noqa: F821
skims = []
for name, path in zip(smk.params.sets, smk.input.skims, strict=True):
    skims.append({"set": name, **json.loads(Path(path).read_text())})
histograms = []
for name, path in zip(smk.params.sets, smk.input.histograms, strict=True):
    histograms.append({"set": name, **json.loads(Path(path).read_text())})

table = tables.cutflow(skims, histograms)
write_json(smk.output.json, table)
write_text_atomic(smk.output.table, tables.cutflow_html(table))
