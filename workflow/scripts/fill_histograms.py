"""Snakemake adapter: fill every variation's histograms of one skim."""

from topxsec.jobenv import setup_job

setup_job(snakemake)  # noqa: F821 - the object Snakemake injects

from topxsec import spec  # noqa: E402
from topxsec.histogramming import fill_file_histograms  # noqa: E402

smk = snakemake  # noqa: F821
histograms = fill_file_histograms(
    smk.input.skim,
    smk.wildcards.process,
    smk.wildcards.variation,
    binning=spec.Binning(**smk.params.binning),
    cuts=spec.Cuts(**smk.params.cuts),
    threads=smk.threads,
)
histograms.write(smk.output[0])
