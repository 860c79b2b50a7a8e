"""An independent, plain-awkward implementation of the task's selection.

Tests compare the numba kernels with this, bin by bin. It is written from the
specification (``docs/physics.md``) with array operations only, sharing no code
with the package but the public constants, so that a mistake in a kernel does not
repeat here.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from topxsec import spec

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SEED = np.uint64(0x243F6A8885A308D3)


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer on uint64 arrays (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def pt_res_factors(run: np.ndarray, lumi: np.ndarray, event: np.ndarray,
                   jet_index: np.ndarray) -> np.ndarray:
    """Deterministic N(1, 0.05) factors keyed on (run, lumi block, event, jet index).

    All arguments are flat arrays of equal length (one entry per jet).
    """
    with np.errstate(over="ignore"):
        h = np.full(len(jet_index), _SEED, dtype=np.uint64)
        for key in (run, lumi, event, jet_index):
            h = _mix64((h ^ np.asarray(key).astype(np.uint64)) + _GOLDEN)
        u1 = ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
        h2 = _mix64(h + _GOLDEN)
        u2 = (h2 >> np.uint64(11)).astype(np.float64) * 2.0**-53
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return 1.0 + spec.PT_RES_WIDTH * z


def jet_res_factors(events: ak.Array) -> ak.Array:
    """The ``pt_res_up`` factor of every jet, jagged like ``Jet_pt``."""
    counts = ak.num(events.Jet_pt)
    flat_index = ak.flatten(ak.local_index(events.Jet_pt))
    per_jet = {
        name: np.repeat(ak.to_numpy(events[name]), ak.to_numpy(counts))
        for name in ("run", "luminosityBlock", "event")
    }
    factors = pt_res_factors(
        per_jet["run"], per_jet["luminosityBlock"], per_jet["event"],
        ak.to_numpy(flat_index),
    )
    return ak.unflatten(factors, counts)


def lepton_masks(events: ak.Array, cuts: spec.Cuts) -> tuple[ak.Array, ak.Array]:
    """Selected electrons and muons, as jagged boolean masks."""
    el = (
        (ak.values_astype(events.Electron_pt, np.float64) > cuts.electron_pt)
        & (abs(ak.values_astype(events.Electron_eta, np.float64))
           < cuts.electron_abs_eta)
        & (events.Electron_cutBased == cuts.electron_cut_based)
        & (ak.values_astype(events.Electron_sip3d, np.float64) < cuts.electron_sip3d)
    )
    mu = (
        (ak.values_astype(events.Muon_pt, np.float64) > cuts.muon_pt)
        & (abs(ak.values_astype(events.Muon_eta, np.float64)) < cuts.muon_abs_eta)
        & events.Muon_tightId
        & (ak.values_astype(events.Muon_sip3d, np.float64) < cuts.muon_sip3d)
        & (ak.values_astype(events.Muon_pfRelIso04_all, np.float64)
           < cuts.muon_pf_rel_iso)
    )
    return el, mu


def varied_jet_pt(events: ak.Array, variation: str) -> ak.Array:
    """Jet pT (float64) under a jet variation."""
    pt = ak.values_astype(events.Jet_pt, np.float64)
    if variation == "nominal":
        return pt
    if variation == "pt_scale_up":
        return pt * spec.PT_SCALE_UP
    if variation == "pt_res_up":
        return pt * jet_res_factors(events)
    raise ValueError(variation)


def jet_mask(events: ak.Array, pt: ak.Array, cuts: spec.Cuts) -> ak.Array:
    """Selected jets for the given (varied) pT."""
    return (
        (pt > cuts.jet_pt)
        & (abs(ak.values_astype(events.Jet_eta, np.float64)) < cuts.jet_abs_eta)
        & ((events.Jet_jetId & cuts.jet_id_bit) != 0)
    )


def _is_btagged(events: ak.Array, cuts: spec.Cuts) -> ak.Array:
    """b-tagged jets; the cut is evaluated in float64 like every other cut."""
    return ak.values_astype(events.Jet_btagCSVV2, np.float64) > cuts.btag_threshold


def skim_mask(events: ak.Array, cuts: spec.Cuts = spec.Cuts()) -> np.ndarray:
    """The loose skim preselection, lossless for every jet-pT variation."""
    el, mu = lepton_masks(events, cuts)
    one_lepton = (ak.sum(el, axis=1) + ak.sum(mu, axis=1)) == 1

    pt = ak.values_astype(events.Jet_pt, np.float64)
    loose_pt = (pt > cuts.skim_jet_pt) | (pt * jet_res_factors(events) > cuts.jet_pt)
    loose = (
        loose_pt
        & (abs(ak.values_astype(events.Jet_eta, np.float64)) < cuts.jet_abs_eta)
        & ((events.Jet_jetId & cuts.jet_id_bit) != 0)
    )
    four = ak.sum(loose, axis=1) >= cuts.min_jets
    btag = ak.sum(loose & _is_btagged(events, cuts), axis=1) >= 1
    return ak.to_numpy(one_lepton & four & btag)


def _m_bjj(pt: ak.Array, eta: ak.Array, phi: ak.Array, mass: ak.Array,
           btag: ak.Array) -> np.ndarray:
    """m_bjj per event (events given as jagged selected-jet arrays)."""
    px, py = pt * np.cos(phi), pt * np.sin(phi)
    pz = pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + mass**2)

    jets = ak.zip({"px": px, "py": py, "pz": pz, "e": energy, "b": btag})
    trip = ak.combinations(jets, 3, fields=["a", "b", "c"])
    sx = trip.a.px + trip.b.px + trip.c.px
    sy = trip.a.py + trip.b.py + trip.c.py
    sz = trip.a.pz + trip.b.pz + trip.c.pz
    se = trip.a.e + trip.b.e + trip.c.e
    has_b = trip.a.b | trip.b.b | trip.c.b
    tri_pt = np.sqrt(sx**2 + sy**2)
    tri_pt = ak.where(has_b, tri_pt, -1.0)
    best = ak.argmax(tri_pt, axis=1, keepdims=True)
    m2 = se**2 - (sx**2 + sy**2 + sz**2)
    mass_best = np.sqrt(np.maximum(ak.flatten(m2[best]), 0.0))
    return ak.to_numpy(mass_best)


def _fill(values: np.ndarray, weights: np.ndarray, edges: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """Sums of weights and squared weights with flow bins (np.digitize)."""
    index = np.digitize(values, edges, right=False)  # 0 underflow, n overflow
    # A value equal to the last edge belongs to the overflow (half-open bins).
    n = len(edges) + 1
    sumw = np.bincount(index, weights=weights, minlength=n)
    sumw2 = np.bincount(index, weights=weights**2, minlength=n)
    return sumw, sumw2


def reference_histograms(events: ak.Array, process: str, variation: str,
                         edges: np.ndarray, cuts: spec.Cuts = spec.Cuts()
                         ) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Region -> histogram variation -> (sumw, sumw2), unnormalized.

    ``events`` holds the NanoAOD branches of :data:`topxsec.spec.NEEDED_BRANCHES`.
    """
    el, mu = lepton_masks(events, cuts)
    one_lepton = ak.to_numpy((ak.sum(el, axis=1) + ak.sum(mu, axis=1)) == 1)
    names = spec.histogram_variations(process, variation)
    jet_variations = ["nominal"] if variation != "nominal" else list(spec.JET_VARIATIONS)

    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {
        region: {} for region in spec.REGIONS
    }
    for jet_variation in jet_variations:
        pt = varied_jet_pt(events, jet_variation)
        sel = jet_mask(events, pt, cuts)
        n_jets = ak.to_numpy(ak.sum(sel, axis=1))
        is_b = ak.to_numpy(ak.flatten(_is_btagged(events, cuts)))
        is_b = ak.unflatten(is_b, ak.num(events.Jet_pt))
        n_b = ak.to_numpy(ak.sum(sel & is_b, axis=1))
        base = one_lepton & (n_jets >= cuts.min_jets)

        weights = {"nominal": np.ones(len(events))}
        # Weight variations belong to nominal file sets only; an alternative
        # sample is the plain nominal selection filed under its own name.
        if jet_variation == "nominal" and variation == "nominal":
            sel_pt = pt[sel]
            padded = ak.fill_none(ak.pad_none(sel_pt, 4, clip=True), 0.0)
            for i in range(4):
                pti = ak.to_numpy(padded[:, i])
                factor = spec.BTAG_SLOPE * pti / spec.BTAG_PT_REF
                weights[f"btag_var_{i}_up"] = 1.0 + factor
                weights[f"btag_var_{i}_down"] = 1.0 - factor
            if process == spec.SCALE_VARIATION_PROCESS and variation == "nominal":
                weights["scale_var_up"] = np.full(len(events), spec.SCALE_VAR_UP)
                weights["scale_var_down"] = np.full(len(events), spec.SCALE_VAR_DOWN)

        for region in spec.REGIONS:
            in_region = base & ((n_b == 1) if region == "4j1b" else (n_b >= 2))
            if region == "4j1b":
                observable = ak.to_numpy(ak.sum(pt[sel], axis=1))[in_region]
            else:
                chosen = events[in_region]
                s = sel[in_region]
                observable = _m_bjj(
                    pt[in_region][s],
                    ak.values_astype(chosen.Jet_eta, np.float64)[s],
                    ak.values_astype(chosen.Jet_phi, np.float64)[s],
                    ak.values_astype(chosen.Jet_mass, np.float64)[s],
                    _is_btagged(chosen, cuts)[s],
                )
            for weight_name, w in weights.items():
                name = jet_variation if weight_name == "nominal" else weight_name
                if variation != "nominal":
                    name = variation
                if name not in names:
                    continue
                out[region][name] = _fill(observable, w[in_region], edges)
    return out


def nominal_cutflow(events: ak.Array, cuts: spec.Cuts = spec.Cuts()) -> dict[str, int]:
    """Counts with the task's cuts: one lepton, four jets, both, per region."""
    el, mu = lepton_masks(events, cuts)
    n_el = ak.to_numpy(ak.sum(el, axis=1))
    n_mu = ak.to_numpy(ak.sum(mu, axis=1))
    one_lepton = (n_el + n_mu) == 1
    pt = varied_jet_pt(events, "nominal")
    sel = jet_mask(events, pt, cuts)
    four = ak.to_numpy(ak.sum(sel, axis=1)) >= cuts.min_jets
    n_b = ak.to_numpy(
        ak.sum(sel & _is_btagged(events, cuts), axis=1)
    )
    return {
        "one_lepton": int(one_lepton.sum()),
        "one_electron": int((one_lepton & (n_el == 1)).sum()),
        "four_jets": int(four.sum()),
        "one_lepton_four_jets": int((one_lepton & four).sum()),
        "4j1b": int((one_lepton & four & (n_b == 1)).sum()),
        "4j2b": int((one_lepton & four & (n_b >= 2)).sum()),
    }

