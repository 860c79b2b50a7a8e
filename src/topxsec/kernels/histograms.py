"""One pass over the events filling every histogram variation of a file.

Per event the kernel counts the selected leptons once, then runs the jet
selection for each jet-pT variation (nominal, ``pt_scale_up``, ``pt_res_up``),
classifies the event into a region and fills the region's observable (H_T in
``4j1b``, m_bjj in ``4j2b``) with unit weight; the nominal selection also fills
the b-tag and W+jets scale weights. Output histograms are indexed
``[region, slot, bin, limb]`` with the slots of :data:`SLOT_NAMES`, the bins of
:func:`topxsec.kernels.common.bin_index` (flow included) and the limbs of an
exact fixed-point sum.

Sums are exact: every weight (and squared weight) is added as the integer
``round(w * 2**EXACT_FRACTION_BITS)`` (exact for ``|w| >= 2**-43``), held in
:data:`EXACT_LIMBS` signed 32-bit digits per bin. Integer sums do not depend on
the order of the events, so a file split into entry ranges merges to exactly
the single-job result (:class:`topxsec.hists.Histogram` keeps the integers).
"""

from __future__ import annotations

import math

import numpy as np

from topxsec.kernels.common import (
    BTAG_PT_REF,
    BTAG_SLOPE,
    BTAG_THRESHOLD,
    JET_PT,
    MIN_JETS,
    PT_RES_WIDTH,
    PT_SCALE_UP,
    SCALE_VAR_DOWN,
    SCALE_VAR_UP,
    bin_index,
    count_leptons,
    four_vector,
    invariant_mass,
    jet_cuts,
    jet_passes_eta_id,
    pt_res_cannot_pass,
    pt_res_factor,
)
from topxsec.numba_options import helper, kernel

#: Histogram slots, in kernel order. Literal here (not taken from ``spec``) so
#: that the cached machine code and this table cannot disagree; a test checks
#: that they are the names of ``spec.HISTOGRAM_VARIATIONS``.
SLOT_NAMES: tuple[str, ...] = (
    "nominal", "pt_scale_up", "pt_res_up",
    "btag_var_0_up", "btag_var_0_down", "btag_var_1_up", "btag_var_1_down",
    "btag_var_2_up", "btag_var_2_down", "btag_var_3_up", "btag_var_3_down",
    "scale_var_up", "scale_var_down",
)
N_SLOTS = 13
N_JET_VARIATIONS = 3
SLOT_BTAG = 3
N_BTAG_JETS = 4
SLOT_SCALE_UP = 11
SLOT_SCALE_DOWN = 12

#: Exact sums: weights in units of 2**-EXACT_FRACTION_BITS, in EXACT_LIMBS
#: digits of EXACT_LIMB_BITS bits (limb k weighs 2**(32 k)). Literal here, as
#: in ``topxsec.hists`` (a test checks that they agree). Up to 2**31 entries
#: per bin and job; weights must be finite with ``|w| < 2**64``.
EXACT_FRACTION_BITS = 96
EXACT_LIMB_BITS = 32
EXACT_LIMBS = 6
_MAX_WEIGHT = 2.0**64

#: Regions, in kernel order (``spec.REGIONS``): 0 is 4j1b, 1 is 4j2b.
REGION_4J1B = 0
REGION_4J2B = 1

#: Names of the nominal cutflow counts the kernel returns, in order.
CUTFLOW = ("one_lepton", "one_electron", "four_jets", "one_lepton_four_jets",
           "4j1b", "4j2b")


@helper
def _add_exact(acc: np.ndarray, region: int, slot: int, index: int,
               value: float) -> None:
    """Add ``value`` to the fixed-point sum ``acc[region, slot, index, :]``.

    Scaling by powers of two, flooring and subtracting the digit are all exact
    in float64, so the digits are those of ``|value| * 2**96``; the remainder
    below the last digit rounds half up.
    """
    if not abs(value) < _MAX_WEIGHT:
        raise ValueError("histogram weight is not finite or exceeds 2**64")
    sign = -1 if value < 0.0 else 1
    rest = math.ldexp(abs(value), EXACT_FRACTION_BITS)
    for limb in range(EXACT_LIMBS - 1, -1, -1):
        scale = math.ldexp(1.0, EXACT_LIMB_BITS * limb)
        digit = np.floor(rest / scale)
        rest -= digit * scale
        acc[region, slot, index, limb] += sign * np.int64(digit)
    if rest >= 0.5:
        acc[region, slot, index, 0] += sign


@helper
def _fill(sumw: np.ndarray, sumw2: np.ndarray, region: int, slot: int, index: int,
          weight: float) -> None:
    """Add one weighted entry to bin ``index`` of a histogram (exactly)."""
    _add_exact(sumw, region, slot, index, weight)
    _add_exact(sumw2, region, slot, index, weight * weight)


@helper
def _count_nominal(cutflow: np.ndarray, one_lepton: bool, is_electron: bool,
                   four_jets: bool, n_btag: int) -> None:
    """Add an event to the nominal cutflow counts of :data:`CUTFLOW`."""
    if one_lepton:
        cutflow[0] += 1
        if is_electron:
            cutflow[1] += 1
    if four_jets:
        cutflow[2] += 1
        if one_lepton:
            cutflow[3] += 1
            if n_btag == 1:
                cutflow[4] += 1
            elif n_btag >= 2:
                cutflow[5] += 1


@helper
def _m_bjj(n_sel: int, sel_index: np.ndarray, sel_pt: np.ndarray, jets: tuple,
           btag_cut: float, scratch: np.ndarray, is_b: np.ndarray) -> float:
    """Mass of the b-containing selected-jet triplet of largest vector-sum pT.

    Triplets are enumerated ``a < b < c`` in selected-jet order; the first one
    wins an exact tie. ``scratch`` is a ``(4, max_jets)`` work array.
    """
    _offsets, _pt, eta, phi, mass, btag, _jet_id = jets
    for a in range(n_sel):
        j = sel_index[a]
        px, py, pz, energy = four_vector(sel_pt[a], eta[j], phi[j], mass[j])
        scratch[0, a] = px
        scratch[1, a] = py
        scratch[2, a] = pz
        scratch[3, a] = energy
        is_b[a] = np.float64(btag[j]) > btag_cut

    # The pT comparison is on sqrt(pT^2), as written in the spec: two pT^2
    # that differ may round to one pT, which is then an exact tie. The sqrt is
    # skipped where pT^2 alone shows that the triplet cannot win.
    best_pt = -1.0
    best_pt2 = -1.0
    best_mass = np.nan
    for a in range(n_sel - 2):
        for b in range(a + 1, n_sel - 1):
            for c in range(b + 1, n_sel):
                if not (is_b[a] or is_b[b] or is_b[c]):
                    continue
                sx = scratch[0, a] + scratch[0, b] + scratch[0, c]
                sy = scratch[1, a] + scratch[1, b] + scratch[1, c]
                pt2 = sx * sx + sy * sy
                if not pt2 > best_pt2:
                    continue
                triplet_pt = np.sqrt(pt2)
                if triplet_pt > best_pt:
                    best_pt = triplet_pt
                    best_pt2 = pt2
                    sz = scratch[2, a] + scratch[2, b] + scratch[2, c]
                    se = scratch[3, a] + scratch[3, b] + scratch[3, c]
                    best_mass = invariant_mass(se, sx, sy, sz)
    return best_mass


@kernel
def histogram_kernel(jets: tuple, electrons: tuple, muons: tuple, ids: tuple,
                     params: np.ndarray, edges: np.ndarray, n_jet_variations: int,
                     fill_btag: bool, fill_scale: bool
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill every histogram variation and count the nominal cutflow.

    Args:
        jets: ``(offsets, pt, eta, phi, mass, btagCSVV2, jetId)``.
        electrons: ``(offsets, pt, eta, cutBased, sip3d)``.
        muons: ``(offsets, pt, eta, tightId, sip3d, pfRelIso04_all)``.
        ids: ``(run, luminosityBlock, event)``.
        params: :func:`topxsec.kernels.common.make_params` vector.
        edges: float64 bin edges.
        n_jet_variations: 1 (nominal only) or 3 (also pT scale and resolution).
        fill_btag: Whether to fill the b-tag weight slots.
        fill_scale: Whether to fill the W+jets scale weight slots.

    Returns:
        ``sumw`` and ``sumw2``, each ``(2, N_SLOTS, len(edges) + 1,
        EXACT_LIMBS)`` int64 digits of the exact sums (see the module
        docstring; :func:`topxsec.hists.exact_from_digits` turns them into
        integers), and the int64 counts of :data:`CUTFLOW`. Slots not asked
        for stay 0.

    Raises:
        ValueError: A weight is not finite or too large to sum exactly.
    """
    jet_offsets, jet_pt, jet_eta, _phi, _mass, jet_btag, jet_id = jets
    run, lumi, event = ids
    jet_cut = params[JET_PT]
    btag_cut = params[BTAG_THRESHOLD]
    min_jets = np.int64(params[MIN_JETS])
    scale_up = params[PT_SCALE_UP]
    width = params[PT_RES_WIDTH]
    btag_slope = params[BTAG_SLOPE]
    btag_pt_ref = params[BTAG_PT_REF]
    eta_id_cuts = jet_cuts(params)

    n_events = len(run)
    n_bins = len(edges) + 1
    sumw = np.zeros((2, N_SLOTS, n_bins, EXACT_LIMBS), dtype=np.int64)
    sumw2 = np.zeros((2, N_SLOTS, n_bins, EXACT_LIMBS), dtype=np.int64)
    cutflow = np.zeros(len(CUTFLOW), dtype=np.int64)

    max_jets = 0
    for i in range(n_events):
        max_jets = max(max_jets, jet_offsets[i + 1] - jet_offsets[i])
    good = np.empty(max_jets, dtype=np.bool_)
    is_b = np.empty(max_jets, dtype=np.bool_)
    sel_index = np.empty(max_jets, dtype=np.int64)
    sel_pt = np.empty(max_jets, dtype=np.float64)
    scratch = np.empty((4, max_jets), dtype=np.float64)

    n_electrons, n_muons = count_leptons(electrons, muons, params)
    for i in range(n_events):
        n_el = n_electrons[i]
        one_lepton = n_el + n_muons[i] == 1
        first = jet_offsets[i]
        n_jets = jet_offsets[i + 1] - first
        n_good = 0
        for k in range(n_jets):
            good[k] = jet_passes_eta_id(jet_eta[first + k], jet_id[first + k],
                                        eta_id_cuts)
            if good[k]:
                n_good += 1

        for variation in range(n_jet_variations):
            if variation > 0 and not (one_lepton and n_good >= min_jets):
                break

            n_sel = 0
            n_btag = 0
            ht = 0.0
            for k in range(n_jets):
                if not good[k]:
                    continue
                pt = np.float64(jet_pt[first + k])
                if variation == 1:
                    pt = pt * scale_up
                elif variation == 2:
                    if pt_res_cannot_pass(pt, jet_cut, width):
                        continue
                    pt = pt * pt_res_factor(run[i], lumi[i], event[i], k, width)
                if not pt > jet_cut:
                    continue
                sel_index[n_sel] = first + k
                sel_pt[n_sel] = pt
                n_sel += 1
                ht += pt
                if np.float64(jet_btag[first + k]) > btag_cut:
                    n_btag += 1

            four_jets = n_sel >= min_jets
            if variation == 0:
                _count_nominal(cutflow, one_lepton, n_el == 1, four_jets, n_btag)
            if not (one_lepton and four_jets and n_btag >= 1):
                continue

            if n_btag == 1:
                region = REGION_4J1B
                value = ht
            else:
                region = REGION_4J2B
                value = _m_bjj(n_sel, sel_index, sel_pt, jets, btag_cut, scratch,
                               is_b)
            index = bin_index(value, edges)
            _fill(sumw, sumw2, region, variation, index, 1.0)
            if variation != 0:
                continue

            if fill_btag:
                for q in range(N_BTAG_JETS):
                    pt_q = sel_pt[q] if q < n_sel else 0.0
                    shift = btag_slope * pt_q / btag_pt_ref
                    _fill(sumw, sumw2, region, SLOT_BTAG + 2 * q, index, 1.0 + shift)
                    _fill(sumw, sumw2, region, SLOT_BTAG + 2 * q + 1, index,
                          1.0 - shift)
            if fill_scale:
                _fill(sumw, sumw2, region, SLOT_SCALE_UP, index, params[SCALE_VAR_UP])
                _fill(sumw, sumw2, region, SLOT_SCALE_DOWN, index,
                      params[SCALE_VAR_DOWN])
    return sumw, sumw2, cutflow
