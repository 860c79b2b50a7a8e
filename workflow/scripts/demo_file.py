"""Snakemake adapter: generate one demo NanoAOD file."""

from topxsec.jobenv import setup_job

setup_job(snakemake)  # noqa: F821 - the object Snakemake injects

from topxsec.demo import generate_file  # noqa: E402

smk = snakemake  # noqa: F821
generate_file(
    smk.output[0],
    smk.wildcards.process,
    smk.wildcards.variation,
    int(smk.wildcards.index),
    smk.params.n_events,
    seed=smk.params.seed,
)
