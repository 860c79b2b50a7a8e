"""Snakemake adapter: merge the per-file histograms into histograms.root."""

from topxsec.jobenv import setup_job

setup_job(snakemake)  # noqa: F821 - the object Snakemake injects

from topxsec import merge  # noqa: E402
from topxsec.hists import FileHistograms  # noqa: E402

smk = snakemake  # noqa: F821
events = {
    tuple(name.split("__")): n for name, n in smk.params.events_per_set.items()
}
sums = merge.sum_file_histograms(
    (FileHistograms.read(path) for path in smk.input), events_per_set=events)
histograms = merge.normalize(sums, events)
merge.add_pseudodata(histograms)
merge.write_histograms(histograms, smk.output.root, smk.output.json)
