"""Fixtures of general use: the real NanoAOD test file, random events, and the
statistics inputs (the model file, the public reference histograms, their
workspace and fit).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest

REAL_FILE = "nanoAOD_2015_CMS_Open_Data_ttbar.root"
MODEL_FILE = Path(__file__).resolve().parents[1] / "config" / "model.yaml"

# No HTCondor pool here: give the bindings an empty config instead of a warning
# (which the test settings would turn into an error) on import.
os.environ.setdefault("CONDOR_CONFIG", "/dev/null")


@pytest.fixture(scope="session")
def real_file() -> str:
    """Path of the 200-event CMS 2015 ttbar NanoAOD file (scikit-hep-testdata)."""
    import skhep_testdata

    return skhep_testdata.data_path(REAL_FILE)


def _jagged(counts: np.ndarray, values: np.ndarray) -> ak.Array:
    """A ``var *`` awkward array from per-event counts and flat values."""
    return ak.unflatten(values, counts)


def _with_exact(rng: np.random.Generator, values: np.ndarray,
                specials: tuple[float, ...], fraction: float) -> np.ndarray:
    """Replace a fraction of ``values`` with values exactly at cut boundaries."""
    pick = rng.random(len(values)) < fraction
    values[pick] = rng.choice(np.asarray(specials, dtype=values.dtype),
                              size=int(pick.sum()))
    return values


def make_random_events(n_events: int = 4000, seed: int = 1) -> dict[str, Any]:
    """Random NanoAOD-like events with the NanoAOD dtypes.

    Built to exercise the selection: many events with exactly one good lepton
    and four or more jets (so both regions fill in every variation), empty
    collections, values exactly at the cuts, jetId 0/2/6 (and a few other bit
    patterns), b-tag values at the threshold, jets that tie in pT and phi but
    differ in eta and mass (exact m_bjj ties), a few NaN jet masses, and event
    numbers spanning the full uint64 range.

    Returns:
        Branch -> numpy array (``run``, ``luminosityBlock``, ``event``) or
        awkward ``var *`` array (the collections), as :func:`write_events`
        takes them.
    """
    rng = np.random.default_rng(seed)
    f32 = np.float32
    out: dict[str, Any] = {}

    n_jets = rng.choice([0, 1, 3, 4, 4, 5, 5, 6, 6, 7, 8, 10, 13], size=n_events)
    total = int(n_jets.sum())
    pt = (15.0 + rng.exponential(35.0, total)).astype(f32)
    pt = _with_exact(rng, pt, (25.0, 30.0, 29.5, 31.0), 0.05)
    eta = rng.uniform(-3.0, 3.0, total).astype(f32)
    eta = _with_exact(rng, eta, (2.4, -2.4, 0.0), 0.02)
    phi = rng.uniform(-np.pi, np.pi, total).astype(f32)
    mass = rng.uniform(0.0, 25.0, total).astype(f32)
    btag = rng.uniform(0.0, 1.0, total).astype(f32)
    btag = _with_exact(rng, btag, (0.5,), 0.03)
    jet_id = rng.choice(np.array([0, 2, 6, 6, 6, 6, 4, 7, 1], dtype=np.int32),
                        size=total)

    # Ties: copy pT and phi of the previous jet of the same event onto some
    # jets, with another eta and mass, so two triplets have equal pT exactly.
    first = np.repeat(np.cumsum(n_jets) - n_jets, n_jets)
    index = np.arange(total)
    tie = (index > first) & (rng.random(total) < 0.08)
    pt[tie] = pt[index[tie] - 1]
    phi[tie] = phi[index[tie] - 1]
    mass[rng.random(total) < 0.002] = np.nan

    out["Jet_pt"] = _jagged(n_jets, pt)
    out["Jet_eta"] = _jagged(n_jets, eta)
    out["Jet_phi"] = _jagged(n_jets, phi)
    out["Jet_mass"] = _jagged(n_jets, mass)
    out["Jet_btagCSVV2"] = _jagged(n_jets, btag)
    out["Jet_jetId"] = _jagged(n_jets, jet_id)

    n_el = rng.choice([0, 0, 1, 1, 1, 2, 3], size=n_events)
    total = int(n_el.sum())
    out["Electron_pt"] = _jagged(n_el, _with_exact(
        rng, (20.0 + rng.exponential(30.0, total)).astype(f32), (30.0,), 0.05))
    out["Electron_eta"] = _jagged(n_el, _with_exact(
        rng, rng.uniform(-2.5, 2.5, total).astype(f32), (2.1, -2.1), 0.03))
    out["Electron_phi"] = _jagged(n_el, rng.uniform(-3, 3, total).astype(f32))
    out["Electron_mass"] = _jagged(n_el, np.full(total, 0.000511, dtype=f32))
    out["Electron_cutBased"] = _jagged(
        n_el, rng.choice(np.array([0, 1, 2, 3, 4, 4, 4], dtype=np.int32), total))
    out["Electron_sip3d"] = _jagged(n_el, _with_exact(
        rng, rng.exponential(2.0, total).astype(f32), (4.0,), 0.03))

    n_mu = rng.choice([0, 0, 0, 1, 1, 2], size=n_events)
    total = int(n_mu.sum())
    out["Muon_pt"] = _jagged(n_mu, _with_exact(
        rng, (20.0 + rng.exponential(30.0, total)).astype(f32), (30.0,), 0.05))
    out["Muon_eta"] = _jagged(n_mu, _with_exact(
        rng, rng.uniform(-2.5, 2.5, total).astype(f32), (2.1,), 0.03))
    out["Muon_phi"] = _jagged(n_mu, rng.uniform(-3, 3, total).astype(f32))
    out["Muon_mass"] = _jagged(n_mu, np.full(total, 0.1057, dtype=f32))
    out["Muon_tightId"] = _jagged(n_mu, rng.random(total) < 0.8)
    out["Muon_sip3d"] = _jagged(n_mu, _with_exact(
        rng, rng.exponential(2.0, total).astype(f32), (4.0,), 0.03))
    out["Muon_pfRelIso04_all"] = _jagged(n_mu, _with_exact(
        rng, rng.exponential(0.08, total).astype(f32), (0.15,), 0.03))

    out["run"] = rng.integers(0, 2**32, n_events, dtype=np.uint32)
    out["luminosityBlock"] = rng.integers(0, 2**32, n_events, dtype=np.uint32)
    out["event"] = rng.integers(0, 2**64, n_events, dtype=np.uint64)
    return out


@pytest.fixture(scope="session")
def random_events() -> Callable[..., dict[str, Any]]:
    """Factory ``random_events(n_events=4000, seed=1)`` of random columns."""
    return make_random_events


# --- the statistics stage on the public reference histograms -----------------
# Module-scoped: every test module builds its own, as it did with these
# fixtures defined in the module.


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    """The checked model of config/model.yaml."""
    from topxsec import workspace as wsp

    return wsp.load_model(MODEL_FILE)


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    """The public reference histograms for one file per set (variances = contents)."""
    from topxsec import fileset, merge

    return merge.read_histograms(fileset.public_file("histos_1_file_per_process.json"))


@pytest.fixture(scope="module")
def workspace(reference: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """The pyhf workspace of the reference histograms and the model."""
    from topxsec import workspace as wsp

    return wsp.build_workspace(reference, model)


@pytest.fixture(scope="module")
def result(workspace: dict[str, Any]) -> Any:
    """The fit (:class:`topxsec.fit.FitResult`) of that workspace."""
    from topxsec import fit as fitting

    return fitting.fit_workspace(workspace)
