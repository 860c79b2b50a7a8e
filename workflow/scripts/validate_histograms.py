"""Snakemake adapter: compare histograms.root with the public reference."""

from topxsec.jobenv import setup_job, write_json

setup_job(snakemake)  # noqa: F821 - the object Snakemake injects

from topxsec import fileset, merge, validation  # noqa: E402
from topxsec.outputs import write_text_atomic  # noqa: E402

smk = snakemake  # noqa: F821
name = smk.params.reference
reference = merge.read_histograms(fileset.public_file(name))
doc = validation.validate(merge.read_histograms(smk.input.histograms), reference,
                          reference_label=name)
write_json(smk.output.result, doc)
write_text_atomic(smk.output.table, validation.validation_html(doc))
