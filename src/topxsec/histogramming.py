"""The histogram stage: one skim (or raw NanoAOD file) -> FileHistograms.

Every histogram variation of the file set is filled in one pass of
:func:`topxsec.kernels.histograms.histogram_kernel`; the results are
unnormalized (the sigma * L / N weight is applied at the merge).
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from topxsec import hists, nanoaod, numba_options, spec
from topxsec.errors import InputFileError
from topxsec.kernels import kernel_inputs
from topxsec.kernels.common import make_params
from topxsec.kernels.histograms import (
    CUTFLOW,
    N_JET_VARIATIONS,
    SLOT_NAMES,
    histogram_kernel,
)

log = logging.getLogger(__name__)


def fill_events(events: nanoaod.EventColumns, process: str, variation: str,
                binning: spec.Binning = spec.Binning(), cuts: spec.Cuts = spec.Cuts()
                ) -> hists.FileHistograms:
    """Fill the histograms of events already read.

    Args:
        events: The events (``spec.NEEDED_BRANCHES``).
        process: The file set's process, e.g. ``"ttbar"``.
        variation: The file set's variation, e.g. ``"nominal"`` or ``"PS_var"``.
        binning: Histogram binning.
        cuts: Selection thresholds.

    Returns:
        Region -> every name of ``spec.histogram_variations(process,
        variation)`` -> histogram, with the nominal cutflow and event count.

    Raises:
        errors.InputFileError: A weight cannot be summed exactly: an event's
            b-tag weight (linear in jet pT) is not finite or exceeds 2**64,
            from a non-finite or absurd jet pT in ``events.source``.
    """
    names = spec.histogram_variations(process, variation)
    alternative = variation != "nominal"
    edges = np.asarray(binning.edges(), dtype=np.float64)

    try:
        sumw, sumw2, cutflow = histogram_kernel(
            *kernel_inputs(events), make_params(cuts), edges,
            1 if alternative else N_JET_VARIATIONS,
            any(name.startswith("btag_var_") for name in names),
            any(name in spec.SCALE_VARIATIONS for name in names),
        )
    except ValueError as exc:
        # the kernel's only ValueError: a weight outside the exact sums' range
        raise InputFileError(events.source, _bad_weight_message(events, exc)) from exc

    histograms: dict[str, dict[str, hists.Histogram]] = {}
    for r, region in enumerate(spec.REGIONS):
        histograms[region] = {}
        for name in names:
            slot = 0 if alternative else SLOT_NAMES.index(name)
            histograms[region][name] = hists.Histogram.from_exact(
                edges, hists.exact_from_digits(sumw[r, slot]),
                hists.exact_from_digits(sumw2[r, slot]))
    return hists.FileHistograms(
        process=process, variation=variation, edges=edges, histograms=histograms,
        source=events.source, events=events.n_events,
        cutflow={name: int(count) for name, count in zip(CUTFLOW, cutflow)},
    )


def _bad_weight_message(events: nanoaod.EventColumns, exc: ValueError) -> str:
    """Say which jets make a weight unsummable, and what to do."""
    pt = np.asarray(events["Jet_pt"], dtype=np.float64)
    bad = ~np.isfinite(pt)
    finite = pt[~bad]
    largest = float(np.max(np.abs(finite), initial=0.0))

    where = ""
    if np.any(bad):
        jet = int(np.argmax(bad))
        entry = int(np.searchsorted(events.offsets["Jet"], jet, side="right")) - 1
        where = (f"; the first is in entry {events.entry_start + entry} (run "
                 f"{int(events['run'][entry])}, event {int(events['event'][entry])})")
    return (
        f"{exc}: the input holds {int(np.sum(bad))} jet(s) with a non-finite "
        f"Jet_pt{where}, and the largest finite |Jet_pt| is {largest:.6g} GeV. "
        "The b-tag weights grow with jet pT, and the exact histogram sums need "
        "every weight finite and below 2**64 (no event is dropped silently). "
        "The file is corrupt or not the NanoAOD expected: check it (and its "
        "skim) and replace it, or remove it from the file set"
    )


def fill_file_histograms(source: str | os.PathLike[str], process: str,
                         variation: str, binning: spec.Binning = spec.Binning(),
                         cuts: spec.Cuts = spec.Cuts(), threads: int | None = None
                         ) -> hists.FileHistograms:
    """Read one skim (or raw NanoAOD file) and fill all its histograms.

    Args:
        source: The skim, a raw NanoAOD file, or a URL of one.
        process: The file set's process.
        variation: The file set's variation.
        binning: Histogram binning.
        cuts: Selection thresholds (those of the skim, or tighter).
        threads: Decompression threads of the read (default
            :func:`topxsec.nanoaod.read_threads`).

    Returns:
        The unnormalized histograms, with ``cutflow`` and ``events`` (the
        number of events in ``source``) set.

    Raises:
        errors.InputFileError: The input cannot be read, or holds a jet pT
            that makes a weight non-finite or too large to sum exactly.
    """
    started = time.perf_counter()
    events = nanoaod.read_events(source, threads=threads)
    result = fill_events(events, process, variation, binning, cuts)
    numba_options.log_cache_use(histogram_kernel)
    log.info("filled %d histograms of %s (%s %s): %d events, %d in 4j1b, "
             "%d in 4j2b, %.2f s", len(result.histograms[spec.REGIONS[0]]),
             source, process, variation, events.n_events, result.cutflow["4j1b"],
             result.cutflow["4j2b"], time.perf_counter() - started)
    return result
