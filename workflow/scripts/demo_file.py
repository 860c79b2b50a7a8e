"""Snakemake adapter: generate one demo NanoAOD file."""

from topxsec.jobenv import setup_job

setup_job(snakemake)  # noqa: F821 - the object Snakemake injects

from topxsec import spec  # noqa: E402
from topxsec.demo import generate_file  # noqa: E402

smk = snakemake  # noqa: F821
# The cuts set the generator filter of the filtered sets (W+jets, s- and
# t-channel single top). Only what the filter depends on is a param
# (params.filter), so that another cut does not regenerate the demo files.
generate_file(
    smk.output[0],
    smk.wildcards.process,
    smk.wildcards.variation,
    int(smk.wildcards.index),
    smk.params.n_events,
    seed=smk.params.seed,
    cuts=spec.Cuts(**smk.config["selection"]),
)
