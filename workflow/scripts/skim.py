"""Snakemake adapter: skim one input file (or entry range)."""

from topxsec.jobenv import setup_job, write_json

setup_job(snakemake)  # noqa: F821 - the object Snakemake injects

from topxsec import spec  # noqa: E402
from topxsec.skim import skim_file  # noqa: E402

smk = snakemake  # noqa: F821
summary = skim_file(
    smk.params.source,
    smk.output.skim,
    cuts=spec.Cuts(**smk.params.cuts),
    entry_start=smk.params.entry_start,
    entry_stop=smk.params.entry_stop,
    compression_level=smk.params.compression_level,
    threads=smk.threads,
)
write_json(smk.output.summary, summary)
