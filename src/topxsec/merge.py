"""Merge per-file histograms into the analysis histograms.

The merge sums the per-file histograms of every (process, variation) file set,
applies the sigma * L / N normalization (N: all events of the set's processed
files, known from the file set, not from what the jobs read), adds the
pseudo-data and writes ``histograms.root`` (TH1D with sums of squared weights,
named as in :func:`topxsec.spec.histogram_name`) and the same content as JSON.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from topxsec import spec
from topxsec.hists import FileHistograms, Histogram

log = logging.getLogger(__name__)


def sum_file_histograms(
    files: Iterable[FileHistograms],
) -> dict[tuple[str, str], dict[str, dict[str, Histogram]]]:
    """Sum per-file histograms per file set.

    Args:
        files: Per-file histograms, in any order.

    Returns:
        ``(process, variation) -> region -> histogram variation -> Histogram``,
        unnormalized.
    """
    sums: dict[tuple[str, str], dict[str, dict[str, Histogram]]] = {}
    for item in files:
        by_region = sums.setdefault((item.process, item.variation), {})
        for region, by_name in item.histograms.items():
            target = by_region.setdefault(region, {})
            for name, hist in by_name.items():
                target[name] = target[name] + hist if name in target else hist
    return sums


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

    Args:
        histograms: Name -> histogram.
        root_path: The ROOT file to write.
        json_path: If given, also write ``{name: {edges, contents, variances}}``.
    """
    import boost_histogram as bh
    import uproot

    with uproot.recreate(root_path) as f:
        for name, hist in sorted(histograms.items()):
            h = bh.Histogram(bh.axis.Variable(hist.edges), storage=bh.storage.Weight())
            view = h.view(flow=True)
            view.value = hist.sumw
            view.variance = hist.sumw2
            f[name] = h

    if json_path is not None:
        doc = {name: hist.to_dict() for name, hist in sorted(histograms.items())}
        Path(json_path).write_text(json.dumps(doc, indent=1))


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
