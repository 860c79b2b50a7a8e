"""Snakemake adapter: compile the kernels into the shared numba cache."""

from topxsec.jobenv import setup_job, write_json

setup_job(snakemake)  # noqa: F821 - the object Snakemake injects

from topxsec.kernels import warm_up  # noqa: E402

smk = snakemake  # noqa: F821
write_json(smk.output[0], {"kernel": smk.wildcards.kernel,
                           **warm_up([smk.wildcards.kernel])})
