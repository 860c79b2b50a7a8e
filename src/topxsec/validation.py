"""Validation of the merged histograms against the public reference histograms.

The public AGC reference ``histos_N_file_per_process.json`` holds, for a run
over the first N files of every file set of the public catalogue, the contents
(27 values: underflow, 25 bins, overflow) of every histogram of
``histograms.root``. :func:`validate` compares the two bin by bin:

- a bin agrees if it differs by at most ``rtol`` of its content (plus a tiny
  absolute tolerance for empty bins);
- an event whose observable lies at a bin edge can land on the other side
  through floating-point differences (float32 against float64 arithmetic).
  So a run of up to ``max_migration_bins`` neighbouring bins that disagree is
  accepted as a *migration* when their summed content agrees and what moved
  across each inner edge is at most the weight of ``migration_events`` events
  (see :func:`event_weights`); anything else that disagrees fails. The bound
  is in events, not a fraction of the content: an edge crossing moves a
  handful of events, while a systematic shift (a jet-energy-like scale) moves
  a fixed fraction of every bin, hundreds of events in the large bins;
- only what the reference draws at random is skipped: the ``pt_res_up``
  histograms (an unseeded smearing);
- a reference histogram that is missing from ours fails unless it is empty
  (the merge writes only histograms that received events), and so does one of
  ours that the reference lacks.

The result (:func:`validate`) is plain data for JSON; :func:`validation_html`
renders it as the pass/fail table of the report.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from topxsec import spec, tables
from topxsec.errors import ConfigError
from topxsec.fileset import PUBLIC_FILES
from topxsec.hists import Histogram

log = logging.getLogger(__name__)

#: Histogram variations the reference fills from an unseeded random draw.
RANDOM_IN_REFERENCE = ("pt_res_up",)
#: Relative difference under which a bin agrees.
RTOL = 1e-6
#: Absolute tolerance, as a fraction of the histogram's largest bin.
ATOL_FRACTION = 1e-9
#: Most neighbouring bins one migration may span.
MAX_MIGRATION_BINS = 3
#: Most events a migration may move across one bin edge. Floating-point edge
#: crossings (float32 against float64 kinematics) move single events; three
#: leave room for a few such events at one edge, while a systematic shift of a
#: few per cent of a bin (a mis-applied jet energy scale) moves far more. The
#: bound is in events, as their weight (:func:`event_weights`), so that it
#: does not grow with the bin content.
MIGRATION_EVENTS = 3.0

PASS = "pass"
MIGRATION = "pass (migration)"
FAIL = "fail"
MISSING = "missing"
EXTRA = "not in reference"
SKIPPED = "skipped (random in reference)"
#: The statuses that count as passing.
PASSING = (PASS, MIGRATION, SKIPPED)


def reference_name(files_per_set: int | str | None) -> str:
    """Return the public reference file of a run over N files per set.

    Args:
        files_per_set: N, or ``"all"`` / None for every file of the catalogue.

    Returns:
        The file name, e.g. ``histos_10_file_per_process.json``.

    Raises:
        ConfigError: If the public reference has no file for N (key
            ``validation.reference_files``).
    """
    n = "all" if files_per_set is None else files_per_set
    name = f"histos_{n}_file_per_process.json"
    if name not in PUBLIC_FILES:
        known = [key.split("_")[1] for key in PUBLIC_FILES if key.startswith("histos_")]
        raise ConfigError(
            "validation.reference_files",
            f"there is no public reference for {n} files per set; there are "
            f"references for {', '.join(known)} files per set: set "
            "fileset.max_files_per_set (or validation.reference_files) to one "
            "of them",
        )
    return name


def compare_contents(
    ours: np.ndarray,
    reference: np.ndarray,
    *,
    event_weight: float,
    rtol: float = RTOL,
    max_migration_bins: int = MAX_MIGRATION_BINS,
    migration_events: float = MIGRATION_EVENTS,
) -> dict[str, Any]:
    """Compare two histograms' contents bin by bin (flow bins included).

    Args:
        ours: Our contents.
        reference: The reference contents, the same length.
        event_weight: The weight of one event of the histogram (see
            :func:`event_weights`); 0 allows no migration.
        rtol: Relative difference under which a bin agrees.
        max_migration_bins: Most bins one migration may span.
        migration_events: Most events a migration may move across an inner
            edge, in units of ``event_weight``.

    Returns:
        ``{"status", "max_rel_diff", "migrations", "failing_bins"}``: status
        :data:`PASS`, :data:`MIGRATION` or :data:`FAIL`; ``migrations`` lists
        the accepted runs as ``[first, last]`` bin indices (0 is the
        underflow), ``failing_bins`` the bins that fail.

    Raises:
        ValueError: If the lengths differ.
    """
    ours = np.asarray(ours, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if ours.shape != reference.shape:
        raise ValueError(f"cannot compare {ours.size} bins with {reference.size}")

    scale = float(np.max(np.abs(reference), initial=0.0))
    atol = ATOL_FRACTION * max(scale, 1.0)
    difference = ours - reference
    tolerance = rtol * np.maximum(np.abs(ours), np.abs(reference)) + atol
    bad = np.abs(difference) > tolerance
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(reference != 0, np.abs(difference) / np.abs(reference),
                            np.where(difference != 0, np.inf, 0.0))

    largest_move = migration_events * abs(event_weight)
    migrations: list[list[int]] = []
    failing: list[int] = []
    i = 0
    while i < len(ours):
        if not bad[i]:
            i += 1
            continue
        end = _migration_end(difference, tolerance, i, max_migration_bins,
                             largest_move)
        if end is None:
            failing.append(i)
            i += 1
        else:
            migrations.append([i, end])
            i = end + 1

    status = FAIL if failing else (MIGRATION if migrations else PASS)
    return {"status": status, "max_rel_diff": float(np.max(relative, initial=0.0)),
            "migrations": migrations, "failing_bins": failing}


def _migration_end(difference: np.ndarray, tolerance: np.ndarray, start: int,
                   max_bins: int, largest_move: float) -> int | None:
    """Return the last bin of a migration starting at ``start``, or None.

    The run grows bin by bin; it is a migration as soon as the summed
    difference of its bins agrees within their summed tolerance, provided no
    inner edge carried more than ``largest_move`` (plus the run's tolerance,
    so that exactly the largest move is not lost to rounding).
    """
    flow = 0.0
    for end in range(start, min(start + max_bins, len(difference))):
        flow += difference[end]
        slack = float(np.sum(tolerance[start:end + 1]))
        if end > start and abs(flow) <= slack:
            inner = np.cumsum(difference[start:end])
            if np.all(np.abs(inner) <= largest_move + slack):
                return end
            return None
    return None


def event_weights(histograms: Mapping[str, Histogram]) -> dict[str, float]:
    """Estimate the weight of one event of every histogram.

    The weight of a histogram is its sum of squared weights over its sum of
    weights (over all bins): the weight itself when every event weighs the
    same (sigma * L / N of its file set), a content-weighted mean otherwise
    (b-tag and scale variations). The pseudo-data mix file sets of very
    different weights (ttbar about 1, W+jets about 40 for one file per set),
    so a pseudo-data histogram takes the largest weight of its terms
    (:data:`topxsec.spec.PSEUDODATA_TERMS`, each times its factor), or its
    own estimate when none of its terms is there.

    A histogram without squared weights (read from a JSON file without
    variances, whose variances are taken as the contents) gets weight 1.

    Args:
        histograms: Name -> histogram, ours (``histograms.root``).

    Returns:
        Name -> the weight of one event; 0 for an empty histogram.
    """
    weights: dict[str, float] = {}
    for name, hist in histograms.items():
        total = float(np.sum(np.abs(hist.sumw)))
        weights[name] = float(np.sum(hist.sumw2)) / total if total > 0 else 0.0

    for region in spec.REGIONS:
        name = spec.histogram_name(region, spec.PSEUDODATA, "nominal")
        terms = [factor * weights[term]
                 for process, variation, factor in spec.PSEUDODATA_TERMS
                 if (term := spec.histogram_name(region, process, variation))
                 in weights]
        if name in weights and terms:
            weights[name] = max(terms)
    return weights


def validate(
    histograms: Mapping[str, Histogram],
    reference: Mapping[str, Histogram],
    *,
    reference_label: str = "reference",
    rtol: float = RTOL,
    max_migration_bins: int = MAX_MIGRATION_BINS,
    migration_events: float = MIGRATION_EVENTS,
) -> dict[str, Any]:
    """Compare every histogram with the reference (see the module docstring).

    Args:
        histograms: Ours, as :func:`topxsec.merge.read_histograms` returns them.
        reference: The reference histograms (read the same way from the JSON).
        reference_label: Name of the reference, for the table and the log.
        rtol: Relative difference under which a bin agrees.
        max_migration_bins: Most bins one migration may span.
        migration_events: Most events a migration may move across an edge,
            each of the weight :func:`event_weights` estimates.

    Returns:
        ``{"reference", "passed", "counts": {status: n}, "tolerances",
        "histograms": [{"name", "status", "max_rel_diff", "event_weight",
        "migrations", "failing_bins", "note"}]}``, the histograms in name
        order.
    """
    weights = event_weights(histograms)
    rows = []
    for name in sorted(set(reference) | set(histograms)):
        rows.append(_compare_one(name, histograms.get(name), reference.get(name),
                                 weights.get(name, 0.0), rtol, max_migration_bins,
                                 migration_events))

    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    passed = all(row["status"] in PASSING for row in rows)
    failed = [row["name"] for row in rows if row["status"] not in PASSING]
    log.info("validation against %s: %d histograms, %s", reference_label, len(rows),
             ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    if failed:
        log.error("validation against %s FAILED for %d histograms: %s",
                  reference_label, len(failed), ", ".join(failed))
    return {
        "reference": reference_label,
        "passed": passed,
        "counts": counts,
        "tolerances": {"rtol": rtol, "max_migration_bins": max_migration_bins,
                       "migration_events": migration_events},
        "histograms": rows,
    }


def _compare_one(name: str, ours: Histogram | None, reference: Histogram | None,
                 event_weight: float, rtol: float, max_migration_bins: int,
                 migration_events: float) -> dict[str, Any]:
    """Return the table row of one histogram name."""
    row: dict[str, Any] = {"name": name, "status": FAIL, "max_rel_diff": None,
                           "event_weight": event_weight, "migrations": [],
                           "failing_bins": [], "note": ""}
    if name.endswith(tuple(f"_{v}" for v in RANDOM_IN_REFERENCE)):
        row.update(status=SKIPPED, note="unseeded random draw in the reference")
        return row
    if reference is None:
        row.update(status=EXTRA, note="written by us, absent from the reference")
        return row
    if ours is None:
        if not np.any(reference.sumw):
            row.update(status=PASS, max_rel_diff=0.0,
                       note="empty in the reference; not written by us (no events)")
        else:
            row.update(status=MISSING, note="in the reference, not in our histograms")
        return row
    if (ours.edges.shape != reference.edges.shape
            or not np.allclose(ours.edges, reference.edges, rtol=1e-12, atol=0.0)):
        row["note"] = (f"bin edges differ: ours {len(ours.edges) - 1} bins from "
                       f"{ours.edges[0]:g} to {ours.edges[-1]:g}, reference "
                       f"{len(reference.edges) - 1} from {reference.edges[0]:g} to "
                       f"{reference.edges[-1]:g} (run with the task's binning)")
        return row

    result = compare_contents(ours.sumw, reference.sumw, event_weight=event_weight,
                              rtol=rtol, max_migration_bins=max_migration_bins,
                              migration_events=migration_events)
    row.update(result)
    if result["failing_bins"]:
        bins = result["failing_bins"]
        row["note"] = "bins " + ", ".join(
            f"{i} (ours {ours.sumw[i]:.6g}, reference {reference.sumw[i]:.6g})"
            for i in bins[:4]) + (" ..." if len(bins) > 4 else "")
    elif result["migrations"]:
        row["note"] = "; ".join(
            f"migration between bins {a} and {b}" if b == a + 1
            else f"migration across bins {a} to {b}"
            for a, b in result["migrations"])
    return row


def validation_html(doc: Mapping[str, Any]) -> str:
    """The validation result as an HTML pass/fail table, failures first."""
    order = {status: i for i, status in enumerate((MISSING, FAIL, EXTRA, MIGRATION,
                                                   PASS, SKIPPED))}
    rows = sorted(doc["histograms"], key=lambda r: (order.get(r["status"], 0),
                                                    r["name"]))
    table = [[r["name"], r["status"].upper() if r["status"] not in PASSING
              else r["status"], _relative(r["max_rel_diff"]), r["note"]]
             for r in rows]
    counts = ", ".join(f"{n} {status}" for status, n in sorted(doc["counts"].items()))
    verdict = "PASSED" if doc["passed"] else "FAILED"
    tol = doc["tolerances"]
    return tables.render_html(
        f"Validation against {doc['reference']}: {verdict}",
        ["histogram", "status", "largest relative difference", "note"], table,
        f"{counts}. A bin agrees within a relative {tol['rtol']:g}; up to "
        f"{tol['max_migration_bins']} neighbouring bins whose summed content "
        "agrees count as a migration across a bin edge if at most "
        f"{tol['migration_events']:g} events' weight crossed each edge (the "
        "weight of an event: sum of squared weights over sum of weights of our "
        "histogram; for the pseudo-data the largest of its terms'). Bins are "
        "numbered from 0, the underflow.",
    )


def _relative(value: float | None) -> str:
    if value is None:
        return ""
    return "inf" if not np.isfinite(value) else f"{value:.3g}"
