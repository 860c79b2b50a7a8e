"""Snakemake adapter: nominal stacks and variation plots of every region."""

from topxsec.jobenv import setup_job

setup_job(snakemake)  # noqa: F821 - the object Snakemake injects

from topxsec import plotting, spec  # noqa: E402
from topxsec.merge import read_histograms  # noqa: E402

smk = snakemake  # noqa: F821
histograms = read_histograms(smk.input[0])
variation_sets = {
    "btag": (spec.BTAG_VARIATIONS, "b-tag variations"),
    "jet_energy": (("pt_scale_up", "pt_res_up"), "jet energy variations"),
    "ttbar_alternatives": (
        tuple(v for v in spec.FILE_SETS["ttbar"] if v != "nominal"),
        "alternative ttbar samples",
    ),
}
for region in spec.REGIONS:
    plotting.plot_stack(histograms, region, smk.output[f"stack_{region}"])
    for kind, (variations, title) in variation_sets.items():
        plotting.plot_variations(histograms, region, "ttbar", variations,
                                 smk.output[f"{kind}_{region}"], title)
