"""Merge per-file histograms into the analysis histograms.

The merge sums the per-file histograms of every (process, variation) file set,
applies the sigma * L / N normalization (N: all events of the set's processed
files, known from the file set, not from what the jobs read), adds the
pseudo-data and writes ``histograms.root`` (TH1D with sums of squared weights,
named as in :func:`topxsec.spec.histogram_name`) and the same content as JSON.

N comes from the file set; what reaches the merge from the jobs is each
per-file histogram's ``events``, the events of its skim (only the preselected
ones, so at most the events read). :func:`check_event_counts` warns when a
set's skims alone hold more events than its N: then more events were read
than the file set claims, and sigma * L / N is too large.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from topxsec import spec
from topxsec.hists import FileHistograms, Histogram
from topxsec.outputs import atomic_output

log = logging.getLogger(__name__)


def sum_file_histograms(
    files: Iterable[FileHistograms],
    events_per_set: Mapping[tuple[str, str], int] | None = None,
) -> dict[tuple[str, str], dict[str, dict[str, Histogram]]]:
    """Sum per-file histograms per file set.

    Args:
        files: Per-file histograms, in any order.
        events_per_set: If given, ``(process, variation) -> N`` of the file
            set, checked against the files' events (:func:`check_event_counts`).

    Returns:
        ``(process, variation) -> region -> histogram variation -> Histogram``,
        unnormalized.
    """
    sums: dict[tuple[str, str], dict[str, dict[str, Histogram]]] = {}
    events: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for item in files:
        key = (item.process, item.variation)
        events.setdefault(key, []).append((item.source, item.events))
        by_region = sums.setdefault(key, {})
        for region, by_name in item.histograms.items():
            target = by_region.setdefault(region, {})
            for name, hist in by_name.items():
                target[name] = target[name] + hist if name in target else hist

    if events_per_set is not None:
        check_event_counts(events, events_per_set)
    return sums


#: Most files a warning of :func:`check_event_counts` lists by name.
LISTED_FILES = 5


def check_event_counts(
    events: Mapping[tuple[str, str], Sequence[tuple[str, int]]],
    events_per_set: Mapping[tuple[str, str], int],
) -> list[tuple[str, str]]:
    """Warn for every file set whose files hold more events than its N.

    A per-file histogram's ``events`` counts the events of its skim, which
    keeps only preselected events: at most the events read from the input
    file. So a set whose skims hold more than N events (the file set's
    ``nevts``, summed over its processed files) read more events than the
    file set claims, and its sigma * L / N weight is too large. Holding fewer
    is normal (the preselection; the demo's filtered sets record the larger
    unfiltered count their entries stand for).

    Args:
        events: ``(process, variation) -> [(source, events), ...]``, one entry
            per per-file histogram (skim path and its events).
        events_per_set: ``(process, variation) -> N``.

    Returns:
        The file sets warned about, in order.
    """
    flagged = []
    for key, files in sorted(events.items()):
        held = sum(n for _source, n in files)
        claimed = events_per_set.get(key)
        if claimed is None or held <= claimed:
            continue

        largest = sorted(files, key=lambda item: -item[1])[:LISTED_FILES]
        listed = ", ".join(f"{source}: {n}" for source, n in largest)
        more = len(files) - len(largest)
        log.warning(
            "file set %s/%s: the skims of its %d histogram job(s) hold %d events "
            "after the preselection (%s%s), more than the N = %d events the file set "
            "claims (nevts), so more events were read than claimed and sigma*L/N "
            "is too large: correct the files' nevts in the file set (the total "
            "events of each input file) and rerun",
            *key, len(files), held, listed, f", {more} more" if more else "",
            claimed,
        )
        flagged.append(key)
    return flagged


def normalize(
    sums: Mapping[tuple[str, str], Mapping[str, Mapping[str, Histogram]]],
    events_per_set: Mapping[tuple[str, str], int],
) -> dict[str, Histogram]:
    """Apply sigma * L / N and name the histograms as in ``histograms.root``.

    Args:
        sums: Output of :func:`sum_file_histograms`.
        events_per_set: ``(process, variation) -> N``, the events of the files
            of each set that are processed.

    Returns:
        Histogram name -> normalized histogram, for histograms that received
        events only.

    Raises:
        KeyError: If a file set has no event count.
    """
    out: dict[str, Histogram] = {}
    for (process, variation), by_region in sorted(sums.items()):
        if (process, variation) not in events_per_set:
            raise KeyError(f"no event count for file set {process}/{variation}")
        weight = spec.normalization(process, events_per_set[(process, variation)])
        log.info(
            "%s/%s: sigma*L/N = %.6g (N = %d)",
            process, variation, weight, events_per_set[(process, variation)],
        )
        for region, by_name in by_region.items():
            for name, hist in by_name.items():
                if hist.is_filled():
                    out[spec.histogram_name(region, process, name)] = hist.scaled(weight)
    return out


def add_pseudodata(histograms: dict[str, Histogram]) -> None:
    """Add ``{region}_pseudodata`` as defined by :data:`spec.PSEUDODATA_TERMS`.

    A term whose histogram is missing (no event selected) contributes nothing;
    the log says so.
    """
    for region in spec.REGIONS:
        total: Histogram | None = None
        for process, variation, factor in spec.PSEUDODATA_TERMS:
            name = spec.histogram_name(region, process, variation)
            if name not in histograms:
                log.warning("pseudo-data %s: %s is empty, adds nothing", region, name)
                continue
            term = histograms[name].scaled(factor)
            total = term if total is None else total + term
        if total is not None:
            histograms[spec.histogram_name(region, spec.PSEUDODATA, "nominal")] = total


def write_histograms(histograms: Mapping[str, Histogram], root_path: str | Path,
                     json_path: str | Path | None = None) -> None:
    """Write histograms as TH1D (with sums of squared weights) and as JSON.

    Each file is written under a temporary name and renamed when complete
    (:func:`topxsec.outputs.atomic_output`).

    Args:
        histograms: Name -> histogram.
        root_path: The ROOT file to write.
        json_path: If given, also write ``{name: {edges, contents, variances}}``.
    """
    import boost_histogram as bh
    import uproot

    with atomic_output(root_path) as tmp, uproot.recreate(tmp) as f:
        for name, hist in sorted(histograms.items()):
            h = bh.Histogram(bh.axis.Variable(hist.edges), storage=bh.storage.Weight())
            view = h.view(flow=True)
            view.value = hist.sumw
            view.variance = hist.sumw2
            f[name] = h

    if json_path is not None:
        doc = {name: hist.to_dict() for name, hist in sorted(histograms.items())}
        with atomic_output(json_path) as tmp, tmp.open("w") as stream:
            json.dump(doc, stream, indent=1)


def read_histograms(path: str | Path) -> dict[str, Histogram]:
    """Read histograms written by :func:`write_histograms` (ROOT or JSON).

    A JSON file without variances (like the public reference histograms) gets
    variances equal to its contents.
    """
    path = Path(path)
    if path.suffix == ".json":
        doc = json.loads(path.read_text())
        return {name: Histogram.from_dict(item) for name, item in doc.items()}

    import uproot

    out: dict[str, Histogram] = {}
    with uproot.open(path) as f:
        for key in f.keys(cycle=False, filter_classname="TH1*"):
            h = f[key]
            out[key] = Histogram(
                np.asarray(h.axis().edges()),
                np.asarray(h.values(flow=True)),
                np.asarray(h.variances(flow=True)),
            )
    return out
