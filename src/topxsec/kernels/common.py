"""Scalar helpers shared by the kernels, inlined into them.

The kernels take the cut values and variation constants at run time, in one
float64 vector built by :func:`make_params` (indices below), so that a config
override of a cut needs no recompilation and nothing from other modules is
frozen into the cached machine code. Everything is evaluated in float64 from
the stored values, as fixed in ``docs/design.md``.
"""

from __future__ import annotations

import numpy as np

from topxsec import spec
from topxsec.numba_options import helper, kernel

# Indices into the parameter vector of make_params (compile-time constants).
EL_PT = 0
EL_ABS_ETA = 1
EL_CUT_BASED = 2
EL_SIP3D = 3
MU_PT = 4
MU_ABS_ETA = 5
MU_SIP3D = 6
MU_PF_REL_ISO = 7
JET_PT = 8
JET_ABS_ETA = 9
JET_ID_BIT = 10
BTAG_THRESHOLD = 11
SKIM_JET_PT = 12
MIN_JETS = 13
PT_SCALE_UP = 14
PT_RES_WIDTH = 15
BTAG_SLOPE = 16
BTAG_PT_REF = 17
SCALE_VAR_UP = 18
SCALE_VAR_DOWN = 19
N_PARAMS = 20

# Constants of the deterministic pt_res_up draw (docs/design.md), as uint64 so
# that numba keeps the arithmetic in wrapping unsigned 64-bit integers.
_SEED = np.uint64(0x243F6A8885A308D3)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_SHIFT_11 = np.uint64(11)
_SHIFT_27 = np.uint64(27)
_SHIFT_30 = np.uint64(30)
_SHIFT_31 = np.uint64(31)
_TWO_TO_MINUS_53 = 2.0**-53

#: No ``pt_res_up`` deviate exceeds this: u1 >= 2**-54 bounds
#: sqrt(-2 ln u1) by sqrt(108 ln 2) = 8.652, and |cos| <= 1. A jet with
#: ``pt * (1 + |width| * PT_RES_MAX_Z) <= cut`` fails the cut whatever its
#: factor, so the kernels skip computing it (same result, less work).
PT_RES_MAX_Z = 8.66


def make_params(cuts: spec.Cuts) -> np.ndarray:
    """Return the kernels' float64 parameter vector for these cuts.

    Args:
        cuts: The selection thresholds.

    Returns:
        Array of length :data:`N_PARAMS`, indexed by this module's constants.
    """
    params = np.empty(N_PARAMS, dtype=np.float64)
    params[EL_PT] = cuts.electron_pt
    params[EL_ABS_ETA] = cuts.electron_abs_eta
    params[EL_CUT_BASED] = cuts.electron_cut_based
    params[EL_SIP3D] = cuts.electron_sip3d
    params[MU_PT] = cuts.muon_pt
    params[MU_ABS_ETA] = cuts.muon_abs_eta
    params[MU_SIP3D] = cuts.muon_sip3d
    params[MU_PF_REL_ISO] = cuts.muon_pf_rel_iso
    params[JET_PT] = cuts.jet_pt
    params[JET_ABS_ETA] = cuts.jet_abs_eta
    params[JET_ID_BIT] = cuts.jet_id_bit
    params[BTAG_THRESHOLD] = cuts.btag_threshold
    params[SKIM_JET_PT] = cuts.skim_jet_pt
    params[MIN_JETS] = cuts.min_jets
    params[PT_SCALE_UP] = spec.PT_SCALE_UP
    params[PT_RES_WIDTH] = spec.PT_RES_WIDTH
    params[BTAG_SLOPE] = spec.BTAG_SLOPE
    params[BTAG_PT_REF] = spec.BTAG_PT_REF
    params[SCALE_VAR_UP] = spec.SCALE_VAR_UP
    params[SCALE_VAR_DOWN] = spec.SCALE_VAR_DOWN
    return params


@helper
def mix64(z: np.uint64) -> np.uint64:
    """The splitmix64 finalizer (wrapping uint64 arithmetic)."""
    z = (z ^ (z >> _SHIFT_30)) * _MIX_1
    z = (z ^ (z >> _SHIFT_27)) * _MIX_2
    return z ^ (z >> _SHIFT_31)


@helper
def pt_res_factor(run: np.uint32, lumi: np.uint32, event: np.uint64,
                  jet_index: int, width: float) -> float:
    """The deterministic ``pt_res_up`` factor of jet ``jet_index`` of an event.

    A Box-Muller normal deviate of mean 1 and the given width, from two
    uniform deviates hashed from (run, luminosity block, event, jet index).
    The hash is exact integer arithmetic; ``log`` and ``cos`` are the C
    library's, so the factor is bit-reproducible for a given libm (numpy's
    SIMD ``log`` can differ from it in the last bit, see tests/test_kernels).
    """
    h = _SEED
    h = mix64((h ^ np.uint64(run)) + _GOLDEN)
    h = mix64((h ^ np.uint64(lumi)) + _GOLDEN)
    h = mix64((h ^ np.uint64(event)) + _GOLDEN)
    h = mix64((h ^ np.uint64(jet_index)) + _GOLDEN)

    u1 = (np.float64(h >> _SHIFT_11) + 0.5) * _TWO_TO_MINUS_53
    u2 = np.float64(mix64(h + _GOLDEN) >> _SHIFT_11) * _TWO_TO_MINUS_53
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return 1.0 + width * z


@helper
def pt_res_cannot_pass(pt: float, cut: float, width: float) -> bool:
    """Whether no ``pt_res_up`` factor can lift ``pt`` above ``cut``."""
    return pt * (1.0 + abs(width) * PT_RES_MAX_Z) <= cut


# The per-object helpers take their cuts as tuples of scalars, not the
# parameter array: an array passed to an inlined helper is reference-counted
# at every call (two atomic operations), which made the jet and lepton loops
# several times slower than the cuts themselves.


@helper
def electron_cuts(params: np.ndarray) -> tuple[float, float, int, float]:
    """``(pt, |eta|, cutBased, sip3d)`` cuts of :func:`is_electron`."""
    return (params[EL_PT], params[EL_ABS_ETA], np.int64(params[EL_CUT_BASED]),
            params[EL_SIP3D])


@helper
def muon_cuts(params: np.ndarray) -> tuple[float, float, float, float]:
    """``(pt, |eta|, sip3d, pfRelIso04_all)`` cuts of :func:`is_muon`."""
    return (params[MU_PT], params[MU_ABS_ETA], params[MU_SIP3D],
            params[MU_PF_REL_ISO])


@helper
def jet_cuts(params: np.ndarray) -> tuple[float, int]:
    """``(|eta|, jetId bit)`` cuts of :func:`jet_passes_eta_id`."""
    return params[JET_ABS_ETA], np.int64(params[JET_ID_BIT])


@helper
def is_electron(pt: float, eta: float, cut_based: int, sip3d: float,
                cuts: tuple[float, float, int, float]) -> bool:
    """Whether an electron passes the lepton selection (:func:`electron_cuts`)."""
    return (
        np.float64(pt) > cuts[0]
        and abs(np.float64(eta)) < cuts[1]
        and cut_based == cuts[2]
        and np.float64(sip3d) < cuts[3]
    )


@helper
def is_muon(pt: float, eta: float, tight_id: bool, sip3d: float, iso: float,
            cuts: tuple[float, float, float, float]) -> bool:
    """Whether a muon passes the lepton selection (:func:`muon_cuts`)."""
    return (
        np.float64(pt) > cuts[0]
        and abs(np.float64(eta)) < cuts[1]
        and tight_id
        and np.float64(sip3d) < cuts[2]
        and np.float64(iso) < cuts[3]
    )


@helper
def count_leptons(electrons: tuple, muons: tuple, params: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Numbers of selected electrons and of selected muons of every event.

    ``electrons`` is ``(offsets, pt, eta, cutBased, sip3d)``; ``muons`` is
    ``(offsets, pt, eta, tightId, sip3d, pfRelIso04_all)``. Returns two int32
    arrays, one count per event.
    """
    el_offsets, el_pt, el_eta, el_cut_based, el_sip3d = electrons
    mu_offsets, mu_pt, mu_eta, mu_tight_id, mu_sip3d, mu_iso = muons
    el_cuts = electron_cuts(params)
    mu_cuts = muon_cuts(params)

    n_events = len(el_offsets) - 1
    n_el = np.zeros(n_events, dtype=np.int32)
    n_mu = np.zeros(n_events, dtype=np.int32)
    for i in range(n_events):
        for k in range(el_offsets[i], el_offsets[i + 1]):
            if is_electron(el_pt[k], el_eta[k], el_cut_based[k], el_sip3d[k],
                           el_cuts):
                n_el[i] += 1
        for k in range(mu_offsets[i], mu_offsets[i + 1]):
            if is_muon(mu_pt[k], mu_eta[k], mu_tight_id[k], mu_sip3d[k], mu_iso[k],
                       mu_cuts):
                n_mu[i] += 1
    return n_el, n_mu


@helper
def jet_passes_eta_id(eta: float, jet_id: int, cuts: tuple[float, int]) -> bool:
    """Whether a jet passes the |eta| and jet-ID cuts (:func:`jet_cuts`)."""
    return abs(np.float64(eta)) < cuts[0] and (np.int64(jet_id) & cuts[1]) != 0


@helper
def four_vector(pt: float, eta: float, phi: float, mass: float
                ) -> tuple[float, float, float, float]:
    """``(px, py, pz, E)`` of a (pT, eta, phi, m) object, in float64."""
    eta64 = np.float64(eta)
    phi64 = np.float64(phi)
    mass64 = np.float64(mass)
    px = pt * np.cos(phi64)
    py = pt * np.sin(phi64)
    pz = pt * np.sinh(eta64)
    energy = np.sqrt(px * px + py * py + pz * pz + mass64 * mass64)
    return px, py, pz, energy


@helper
def invariant_mass(energy: float, px: float, py: float, pz: float) -> float:
    """``sqrt(max(E^2 - p^2, 0))``; NaN stays NaN."""
    m2 = energy * energy - (px * px + py * py + pz * pz)
    if m2 < 0.0:
        m2 = 0.0
    return np.sqrt(m2)


@helper
def bin_index(value: float, edges: np.ndarray) -> int:
    """Index of ``value`` among ``len(edges) + 1`` bins with flow.

    Bins are half open ``[low, high)``; 0 is the underflow, ``len(edges)`` the
    overflow (values at or above the last edge, and NaN).
    """
    n = len(edges)
    if value != value or value >= edges[n - 1]:
        return n
    if value < edges[0]:
        return 0

    low = 0
    high = n - 1
    while high - low > 1:
        mid = (low + high) // 2
        if value >= edges[mid]:
            low = mid
        else:
            high = mid
    return low + 1


@kernel
def jet_pt_res_factors(jet_offsets: np.ndarray, run: np.ndarray, lumi: np.ndarray,
                       event: np.ndarray, width: float) -> np.ndarray:
    """The ``pt_res_up`` factor of every jet (flat, in file order).

    Not used by the jobs (the selection kernels compute the factor inline);
    for tests and diagnostics.
    """
    factors = np.empty(jet_offsets[-1], dtype=np.float64)
    for i in range(len(run)):
        first = jet_offsets[i]
        for j in range(first, jet_offsets[i + 1]):
            factors[j] = pt_res_factor(run[i], lumi[i], event[i], j - first, width)
    return factors
