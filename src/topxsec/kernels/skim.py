"""The loose, lossless preselection kernel of the skim stage.

An event is kept if it has exactly one selected lepton, at least
``min_jets`` loose jets and at least one b-tag among them. A loose jet passes
|eta| and jet ID and has pT above the skim threshold or a ``pt_res_up``-varied
pT above the jet cut, so every jet that passes the jet cut in any variation is
loose (``docs/design.md``).
"""

from __future__ import annotations

import numpy as np

from topxsec.kernels.common import (
    BTAG_THRESHOLD,
    JET_PT,
    MIN_JETS,
    PT_RES_WIDTH,
    SKIM_JET_PT,
    count_leptons,
    jet_cuts,
    jet_passes_eta_id,
    pt_res_cannot_pass,
    pt_res_factor,
)
from topxsec.numba_options import kernel

#: Names of the sequential cutflow counts the kernel returns, in order.
CUTFLOW = ("all", "one_lepton", "four_jets", "btag")


@kernel
def skim_kernel(jets: tuple, electrons: tuple, muons: tuple, ids: tuple,
                params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Event mask of the loose preselection and its sequential cutflow.

    Args:
        jets: ``(offsets, pt, eta, phi, mass, btagCSVV2, jetId)``.
        electrons: ``(offsets, pt, eta, cutBased, sip3d)``.
        muons: ``(offsets, pt, eta, tightId, sip3d, pfRelIso04_all)``.
        ids: ``(run, luminosityBlock, event)``.
        params: :func:`topxsec.kernels.common.make_params` vector.

    Returns:
        The boolean keep mask (one per event) and the int64 counts of
        :data:`CUTFLOW`.
    """
    jet_offsets, jet_pt, jet_eta, _phi, _mass, jet_btag, jet_id = jets
    run, lumi, event = ids
    skim_pt = params[SKIM_JET_PT]
    jet_cut = params[JET_PT]
    btag_cut = params[BTAG_THRESHOLD]
    width = params[PT_RES_WIDTH]
    min_jets = np.int64(params[MIN_JETS])
    eta_id_cuts = jet_cuts(params)

    n_events = len(run)
    keep = np.zeros(n_events, dtype=np.bool_)
    counts = np.zeros(4, dtype=np.int64)
    counts[0] = n_events

    n_el, n_mu = count_leptons(electrons, muons, params)
    for i in range(n_events):
        if n_el[i] + n_mu[i] != 1:
            continue
        counts[1] += 1

        first = jet_offsets[i]
        n_loose = 0
        n_btag = 0
        for j in range(first, jet_offsets[i + 1]):
            if not jet_passes_eta_id(jet_eta[j], jet_id[j], eta_id_cuts):
                continue
            pt = np.float64(jet_pt[j])
            if not pt > skim_pt:
                if pt_res_cannot_pass(pt, jet_cut, width):
                    continue
                factor = pt_res_factor(run[i], lumi[i], event[i], j - first, width)
                if not pt * factor > jet_cut:
                    continue
            n_loose += 1
            if np.float64(jet_btag[j]) > btag_cut:
                n_btag += 1

        if n_loose < min_jets:
            continue
        counts[2] += 1
        if n_btag < 1:
            continue
        counts[3] += 1
        keep[i] = True
    return keep, counts
