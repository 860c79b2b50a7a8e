"""The numba kernels of the analysis, and their warm-up.

The kernels take the events as four tuples of arrays built by
:func:`kernel_inputs` from an :class:`topxsec.nanoaod.EventColumns`, plus the
parameter vector of :func:`topxsec.kernels.common.make_params`. numba compiles
one machine-code version per combination of argument types; real NanoAOD and
the skims written by :func:`topxsec.nanoaod.write_events` give the same types
(float32 kinematics, int32 ``jetId`` / ``cutBased``, bool ``tightId``, uint32
``run`` / ``luminosityBlock``, uint64 ``event``, int64 offsets), so one
version per kernel serves every job. :func:`warm_up` compiles it (or loads it
from the cache) before the fan-out; a job that finds no cache compiles it
itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from topxsec import spec
from topxsec.kernels.common import make_params
from topxsec.kernels.histograms import histogram_kernel
from topxsec.kernels.skim import skim_kernel
from topxsec.nanoaod import NANOAOD_DTYPES, EventColumns

log = logging.getLogger(__name__)

#: The kernels by the name the workflow's compile rule uses.
KERNELS: dict[str, Any] = {"skim": skim_kernel, "histograms": histogram_kernel}

JET_FIELDS = ("Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_btagCSVV2",
              "Jet_jetId")
ELECTRON_FIELDS = ("Electron_pt", "Electron_eta", "Electron_cutBased",
                   "Electron_sip3d")
MUON_FIELDS = ("Muon_pt", "Muon_eta", "Muon_tightId", "Muon_sip3d",
               "Muon_pfRelIso04_all")
ID_FIELDS = ("run", "luminosityBlock", "event")


def kernel_inputs(events: EventColumns) -> tuple[tuple, tuple, tuple, tuple]:
    """The ``(jets, electrons, muons, ids)`` argument tuples of the kernels.

    Args:
        events: Columns holding at least ``spec.NEEDED_BRANCHES``.

    Returns:
        ``jets = (offsets, pt, eta, phi, mass, btagCSVV2, jetId)``,
        ``electrons = (offsets, pt, eta, cutBased, sip3d)``,
        ``muons = (offsets, pt, eta, tightId, sip3d, pfRelIso04_all)``,
        ``ids = (run, luminosityBlock, event)``.
    """
    jets = (events.offsets["Jet"], *(events[name] for name in JET_FIELDS))
    electrons = (events.offsets["Electron"],
                 *(events[name] for name in ELECTRON_FIELDS))
    muons = (events.offsets["Muon"], *(events[name] for name in MUON_FIELDS))
    ids = tuple(events[name] for name in ID_FIELDS)
    return jets, electrons, muons, ids


def example_events(n_events: int = 3) -> EventColumns:
    """A few events with the NanoAOD dtypes (the warm-up's typed input)."""
    counts = np.arange(n_events, dtype=np.int64) % 3 + 4
    offsets = np.zeros(n_events + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    n_objects = int(offsets[-1])

    columns = {}
    for name in spec.NEEDED_BRANCHES:
        size = n_objects if "_" in name else n_events
        columns[name] = np.full(size, 40, dtype=NANOAOD_DTYPES[name])
    return EventColumns("<warm-up>", n_events, columns,
                        {"Jet": offsets, "Electron": offsets.copy(),
                         "Muon": offsets.copy()})


def _compile_one(name: str) -> dict[str, Any]:
    """Run one kernel on typed example input; report time and cache use."""
    events = example_events()
    inputs = kernel_inputs(events)
    params = make_params(spec.Cuts())
    dispatcher = KERNELS[name]

    started = time.perf_counter()
    if name == "skim":
        dispatcher(*inputs, params)
    else:
        edges = np.asarray(spec.Binning().edges(), dtype=np.float64)
        dispatcher(*inputs, params, edges, 3, True, True)
    seconds = time.perf_counter() - started

    stats = dispatcher.stats
    return {
        "seconds": round(seconds, 3),
        "cache_dir": stats.cache_path,
        "loaded_from_cache": sum(stats.cache_hits.values()) > 0,
        "signatures": [str(signature) for signature in dispatcher.signatures],
    }


def warm_up(kernels: Sequence[str] | None = None) -> dict[str, Any]:
    """Compile every kernel signature the jobs use, or load it from the cache.

    Run once per workflow (per CPU type) before the fan-out, with the same
    ``NUMBA_CACHE_DIR`` as the jobs; see :mod:`topxsec.numba_options`.

    Args:
        kernels: Names of :data:`KERNELS` to compile (default: all).

    Returns:
        ``numba_version``, ``cache_base`` and ``kernels``: name ->
        ``seconds``, ``cache_dir`` (None if caching is off),
        ``loaded_from_cache``, ``signatures``.

    Raises:
        KeyError: An unknown kernel name.
    """
    import numba

    from topxsec.numba_options import cache_base_dir

    names = list(KERNELS) if kernels is None else list(kernels)
    unknown = [name for name in names if name not in KERNELS]
    if unknown:
        raise KeyError(f"unknown kernel(s) {unknown}; known: {sorted(KERNELS)}")

    report = {}
    for name in names:
        report[name] = _compile_one(name)
        log.info("kernel %s ready in %.2f s (%s)", name, report[name]["seconds"],
                 "from cache" if report[name]["loaded_from_cache"] else "compiled")

    return {
        "numba_version": numba.__version__,
        "cache_base": str(cache_base_dir()),
        "kernels": report,
    }
