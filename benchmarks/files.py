"""The benchmark file set: demo events in the full branch layout of real NanoAOD.

A real CMS 2015 NanoAOD file has about 950 branches, of which the analysis
reads 25. Reading speed depends on what surrounds the needed baskets, on the
cluster and basket sizes and on how well each branch compresses, so the
benchmark files reproduce those properties:

- the analysis branches are the demo generator's events
  (:func:`topxsec.demo.generate_columns`), their floats rounded to the
  mantissa precision the real file stores them with (NanoAOD keeps, e.g.,
  10 bits for jet pT and mass and 12 for eta and phi);
- every other branch of the real file (names, order, types, collections) is
  added, with values drawn from that branch's distribution in the real file:
  resampled, smeared by 2 % where the branch is continuous, rounded to the
  branch's stored precision. Collections the demo makes (jets, electrons,
  muons) keep the demo's multiplicities; the others draw theirs from the
  real file;
- ZLIB level 1, one basket per branch per cluster of ``cluster_events``
  events (default 2,000: real NanoAOD clusters hold a few thousand events
  and its baskets tens of kB).

The real file is read at benchmark time (``skhep_testdata``); nothing of it
is stored here.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

REAL_FILE = "nanoAOD_2015_CMS_Open_Data_ttbar.root"

#: Collections whose multiplicities come from the demo generator.
DEMO_COLLECTIONS = ("Jet", "Electron", "Muon")

#: Relative smearing of continuous float branches (fills the gaps between
#: the few hundred values a 200-event file has).
SMEAR = 0.02

#: A float branch with at most this many distinct values is discrete (flags
#: stored as floats, constants): resampled without smearing.
DISCRETE_VALUES = 16

DEFAULT_CLUSTER_EVENTS = 2000


@dataclass(frozen=True)
class BranchModel:
    """How to make one branch: its real values and storage facts."""

    name: str
    dtype: np.dtype
    #: the counter branch of a jagged branch (``"nJet"``), None if flat
    counter: str | None
    values: np.ndarray
    #: mantissa bits kept (floats), 23 for full precision
    mantissa_bits: int
    continuous: bool


def mantissa_bits(values: np.ndarray) -> int:
    """Mantissa bits a float32 array uses (23 minus the common trailing zeros)."""
    if values.dtype != np.float32 or len(values) == 0:
        return 23
    bits = np.bitwise_or.reduce(values.view(np.uint32) & np.uint32(0x7FFFFF))
    if bits == 0:
        return 0
    trailing = (int(bits) & -int(bits)).bit_length() - 1
    return 23 - trailing


def round_mantissa(values: np.ndarray, bits: int) -> np.ndarray:
    """Round float32 values to ``bits`` mantissa bits (to nearest, ties up)."""
    if values.dtype != np.float32 or bits >= 23:
        return values
    drop = 23 - bits
    raw = values.view(np.uint32).astype(np.uint64)
    half = np.uint64(1 << (drop - 1)) if drop > 0 else np.uint64(0)
    mask = np.uint64((1 << 32) - (1 << drop))
    rounded = ((raw + half) & mask).astype(np.uint32).view(np.float32)
    finite = np.isfinite(values)
    return np.where(finite, rounded, values)


def load_models(real_path: str | Path) -> tuple[list[BranchModel],
                                                dict[str, np.ndarray], list[str]]:
    """Branch models, counter values and branch order of the real file.

    Args:
        real_path: The real NanoAOD file.

    Returns:
        ``(models, counts, order)``: a model per data branch (counters
        excluded), the real per-event values of every counter, and every
        branch name in file order.
    """
    import awkward as ak
    import uproot

    with uproot.open(real_path) as file:
        tree = file["Events"]
        arrays = tree.arrays(library="ak", how=dict)
        counters = {branch.count_branch.name for branch in tree.branches
                    if branch.count_branch is not None}
        order = [branch.name for branch in tree.branches]
        jagged = {branch.name: branch.count_branch.name for branch in tree.branches
                  if branch.count_branch is not None}

    counts = {name: np.asarray(arrays[name]).astype(np.int64) for name in counters}
    models = []
    for name in order:
        if name in counters:
            continue
        array = arrays[name]
        flat = np.asarray(ak.flatten(array) if name in jagged else array)
        dtype = flat.dtype.newbyteorder("=")
        flat = flat.astype(dtype)
        models.append(BranchModel(
            name=name, dtype=dtype, counter=jagged.get(name), values=flat,
            mantissa_bits=mantissa_bits(flat),
            continuous=(dtype.kind == "f"
                        and len(np.unique(flat)) > DISCRETE_VALUES)))
    return models, counts, order


def _draw(model: BranchModel, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` values like the real branch's."""
    if n == 0 or len(model.values) == 0:
        return np.zeros(n, dtype=model.dtype)
    values = model.values[rng.integers(0, len(model.values), n)]
    if model.continuous:
        smear = 1.0 + SMEAR * rng.standard_normal(n).astype(np.float32)
        values = (values * smear).astype(np.float32)
    if model.dtype == np.float32:
        values = round_mantissa(values, model.mantissa_bits)
    return values


def benchmark_columns(process: str, variation: str, index: int, n_events: int,
                      models: list[BranchModel], real_counts: dict[str, np.ndarray],
                      order: list[str], seed: int = 2015) -> dict[str, Any]:
    """All branches of one benchmark file, in the real file's order.

    Args:
        process: Demo file set's process.
        variation: Its variation.
        index: File index in the set.
        n_events: Events (the ttbar demo is unfiltered: all are written).
        models: From :func:`load_models`.
        real_counts: From :func:`load_models`.
        order: From :func:`load_models`.
        seed: Demo seed.

    Returns:
        Branch name -> numpy (flat) or awkward (jagged) array.
    """
    import awkward as ak

    from topxsec import demo

    demo_columns, entries = demo.generate_columns(process, variation, index,
                                                  n_events, seed)
    rng = np.random.default_rng([seed, index, 7])
    by_name = {model.name: model for model in models}

    counts: dict[str, np.ndarray] = {}
    for collection in DEMO_COLLECTIONS:
        counts[f"n{collection}"] = np.asarray(
            ak.num(demo_columns[f"{collection}_pt"]), dtype=np.int64)
    for counter, values in real_counts.items():
        if counter not in counts:
            counts[counter] = values[rng.integers(0, len(values), entries)]

    columns: dict[str, Any] = {}
    for name in order:
        if name in counts:
            continue
        model = by_name[name]
        if name in demo_columns:
            values = demo_columns[name]
            if model.dtype == np.float32:
                flat = np.asarray(ak.flatten(values) if model.counter else values)
                flat = round_mantissa(flat, model.mantissa_bits)
                values = (ak.unflatten(flat, ak.num(values)) if model.counter
                          else flat)
            columns[name] = values
            continue

        if model.counter is None:
            columns[name] = _draw(model, entries, rng)
        else:
            n = counts[model.counter]
            columns[name] = ak.unflatten(_draw(model, int(n.sum()), rng), n)
    return columns


def make_file(path: Path, process: str, variation: str, index: int,
              n_events: int, cluster_events: int = DEFAULT_CLUSTER_EVENTS,
              seed: int = 2015, real_path: str | Path | None = None
              ) -> dict[str, Any]:
    """Write one benchmark file (skipped if it exists with the same settings).

    Args:
        path: Output ROOT file.
        process: Demo process (``"ttbar"`` is unfiltered).
        variation: Demo variation.
        index: File index in the set.
        n_events: Events.
        cluster_events: Events per basket.
        seed: Demo seed.
        real_path: The real file (default: from scikit-hep-testdata).

    Returns:
        ``path``, ``events``, ``branches``, ``bytes``, the settings, and
        ``seconds`` spent writing (0 when reused).
    """
    from topxsec.nanoaod import write_events

    settings = {"process": process, "variation": variation, "index": index,
                "events": n_events, "cluster_events": cluster_events,
                "seed": seed, "version": 1}
    stamp = path.with_suffix(".json")
    if path.exists() and stamp.exists():
        known = json.loads(stamp.read_text())
        if known.get("settings") == settings:
            return {**known, "seconds": 0.0}

    if real_path is None:
        import skhep_testdata

        real_path = skhep_testdata.data_path(REAL_FILE)
    started = time.perf_counter()
    models, counts, order = load_models(real_path)
    columns = benchmark_columns(process, variation, index, n_events, models,
                                counts, order, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_events(path, columns, compression_level=1, cluster_events=cluster_events)
    info = {"path": str(path), "events": n_events, "branches": len(order),
            "bytes": path.stat().st_size, "settings": settings}
    stamp.write_text(json.dumps(info, indent=1))
    seconds = time.perf_counter() - started
    log.info("benchmark file %s: %d events, %.0f MB, %.0f s", path, n_events,
             info["bytes"] / 1e6, seconds)
    return {**info, "seconds": seconds}
