"""The task of docs/physics.md as a coffea processor, for the speed comparison.

Written the way coffea's documentation sets up an analysis: NanoEvents with
the NanoAOD schema, a ``processor.ProcessorABC`` that selects objects with
masks and fills ``hist`` histograms, run by ``processor.Runner`` with an
iterative (one core) or futures (several processes) executor. It implements
the whole selection and every histogram variation of the project: nominal,
``pt_scale_up``, ``pt_res_up`` (with the project's deterministic draw, so that
the two can be compared bin by bin), the eight b-tag weights and, for W+jets,
the scale weights. Kinematics are taken in float64, as the project's kernels
do.

Only the facts of the task (cuts, constants) come from :mod:`topxsec.spec`.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import hist
import numpy as np
from coffea import processor

from topxsec import spec

#: b-tag weights vary with the pT of the first four selected jets.
N_BTAG_JETS = 4
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer on uint64 arrays (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def pt_res_factors(jet_pt: ak.Array, events: ak.Array) -> ak.Array:
    """The deterministic ``pt_res_up`` factor of every jet (docs/design.md)."""
    counts = ak.num(jet_pt)
    index = ak.flatten(ak.local_index(jet_pt)).to_numpy().astype(np.uint64)
    keys = [np.repeat(np.asarray(events[name]).astype(np.uint64), counts)
            for name in ("run", "luminosityBlock", "event")]

    h = np.full(len(index), 0x243F6A8885A308D3, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for key in (*keys, index):
            h = _mix64((h ^ key) + _GOLDEN)
        u1 = ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
        u2 = (_mix64(h + _GOLDEN) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return ak.unflatten(1.0 + spec.PT_RES_WIDTH * z, counts)


class TtbarProcessor(processor.ProcessorABC):
    """H_T (4j1b) and m_bjj (4j2b) in every variation, per file set."""

    def __init__(self, cuts: spec.Cuts | None = None,
                 binning: spec.Binning | None = None) -> None:
        self.cuts = spec.Cuts() if cuts is None else cuts
        self.binning = spec.Binning() if binning is None else binning

    def _histogram(self) -> hist.Hist:
        return (hist.Hist.new
                .Reg(self.binning.bins, self.binning.low, self.binning.high,
                     name="observable", label="observable [GeV]")
                .StrCat([], name="region", growth=True)
                .StrCat([], name="variation", growth=True)
                .Weight())

    def process(self, events: Any) -> dict[str, Any]:
        cuts = self.cuts
        dataset = events.metadata["dataset"]
        process, variation = dataset.split("__")
        alternative = variation != "nominal"
        out = self._histogram()

        electrons = events.Electron
        electrons = electrons[(electrons.pt > cuts.electron_pt)
                              & (abs(electrons.eta) < cuts.electron_abs_eta)
                              & (electrons.cutBased == cuts.electron_cut_based)
                              & (electrons.sip3d < cuts.electron_sip3d)]
        muons = events.Muon
        muons = muons[(muons.pt > cuts.muon_pt) & (abs(muons.eta) < cuts.muon_abs_eta)
                      & muons.tightId & (muons.sip3d < cuts.muon_sip3d)
                      & (muons.pfRelIso04_all < cuts.muon_pf_rel_iso)]
        one_lepton = (ak.num(electrons) + ak.num(muons)) == 1

        jets = events.Jet
        good = ((abs(jets.eta) < cuts.jet_abs_eta)
                & ((jets.jetId & cuts.jet_id_bit) != 0))
        pt = ak.values_astype(jets.pt, np.float64)
        varied = {"nominal": pt}
        if not alternative:
            varied["pt_scale_up"] = pt * spec.PT_SCALE_UP
            varied["pt_res_up"] = pt * pt_res_factors(pt, events)

        for name, jet_pt in varied.items():
            selected = jets[good & (jet_pt > cuts.jet_pt)]
            selected = ak.with_field(selected, jet_pt[good & (jet_pt > cuts.jet_pt)],
                                     "pt")
            for field in ("eta", "phi", "mass"):
                selected = ak.with_field(
                    selected, ak.values_astype(selected[field], np.float64), field)
            btag = selected.btagCSVV2 > cuts.btag_threshold
            n_btag = ak.sum(btag, axis=1)
            base = one_lepton & (ak.num(selected) >= cuts.min_jets)
            label = variation if alternative else name
            self._fill_regions(out, selected, btag, base, n_btag, label,
                               weights_too=name == "nominal" and not alternative,
                               process=process)
        return {dataset: out}

    def _fill_regions(self, out: hist.Hist, jets: ak.Array, btag: ak.Array,
                      base: ak.Array, n_btag: ak.Array, label: str,
                      weights_too: bool, process: str) -> None:
        """Fill both regions for one jet variation (and the weights)."""
        region_1b = base & (n_btag == 1)
        ht = ak.sum(jets[region_1b].pt, axis=1)

        region_2b = base & (n_btag >= 2)
        jets_2b = jets[region_2b]
        trijet = ak.combinations(jets_2b, 3, fields=["j1", "j2", "j3"])
        trijet_btag = ak.combinations(btag[region_2b], 3, fields=["b1", "b2", "b3"])
        has_b = trijet_btag.b1 | trijet_btag.b2 | trijet_btag.b3
        p4 = trijet.j1 + trijet.j2 + trijet.j3
        candidates = p4[has_b]
        best = ak.argmax(candidates.pt, axis=1, keepdims=True)
        m_bjj = ak.flatten(candidates[best].mass)

        for region, mask, values in (("4j1b", region_1b, ht), ("4j2b", region_2b,
                                                                m_bjj)):
            values = np.asarray(values, dtype=np.float64)
            out.fill(observable=values, region=region, variation=label)
            if not weights_too:
                continue
            leading = ak.pad_none(jets[mask].pt, N_BTAG_JETS, clip=True)
            for q in range(N_BTAG_JETS):
                pt_q = np.asarray(ak.fill_none(leading[:, q], 0.0), dtype=np.float64)
                shift = spec.BTAG_SLOPE * pt_q / spec.BTAG_PT_REF
                out.fill(observable=values, region=region,
                         variation=f"btag_var_{q}_up", weight=1.0 + shift)
                out.fill(observable=values, region=region,
                         variation=f"btag_var_{q}_down", weight=1.0 - shift)
            if process == spec.SCALE_VARIATION_PROCESS:
                for name, factor in (("scale_var_up", spec.SCALE_VAR_UP),
                                     ("scale_var_down", spec.SCALE_VAR_DOWN)):
                    out.fill(observable=values, region=region, variation=name,
                             weight=np.full(len(values), factor))

    def postprocess(self, accumulator: dict[str, Any]) -> dict[str, Any]:
        return accumulator


def run(files: dict[str, list[str]], workers: int = 1, chunksize: int = 100_000,
        pool: Any = None) -> tuple[dict[str, Any], int]:
    """Run the processor over ``{"process__variation": [paths]}``.

    Args:
        files: File set name -> local files.
        workers: 1: ``IterativeExecutor`` in this process; more: a
            ``FuturesExecutor`` with that many processes.
        chunksize: Events per chunk (coffea's default is 100,000).
        pool: A started futures pool to reuse (its start-up is then not
            timed); None lets the executor make its own.

    Returns:
        The output (file set -> ``hist.Hist``) and the number of events.
    """
    fileset = {name: {"files": {path: "Events" for path in paths}}
               for name, paths in files.items()}
    if workers == 1:
        executor = processor.IterativeExecutor(status=False)
    else:
        options: dict[str, Any] = {"workers": workers, "status": False}
        if pool is not None:
            options["pool"] = pool
        executor = processor.FuturesExecutor(**options)
    runner = processor.Runner(executor=executor, schema=_schema(),
                              chunksize=chunksize, savemetrics=True)
    output, metrics = runner(fileset, processor_instance=TtbarProcessor(),
                             treename="Events")
    return output, int(metrics["entries"])


def _schema() -> Any:
    from coffea.nanoevents import NanoAODSchema

    return NanoAODSchema


def as_arrays(output: dict[str, Any], dataset: str
              ) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """``(region, variation) -> (sumw, sumw2)`` with flow bins, from the output."""
    histogram = output[dataset]
    out = {}
    for region in histogram.axes["region"]:
        for variation in histogram.axes["variation"]:
            view = histogram[:, region, variation]
            out[(region, variation)] = (view.values(flow=True),
                                        view.variances(flow=True))
    return out
