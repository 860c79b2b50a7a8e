"""The skim stage: one input file (or entry range) -> a skim and its summary.

The skim keeps, in NanoAOD layout, every event that passes the loose,
lossless preselection of :mod:`topxsec.kernels.skim`, with all its jets,
electrons and muons in file order (the ``pt_res_up`` draw is keyed on a jet's
index in its event).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from topxsec import nanoaod, numba_options, spec
from topxsec.kernels import kernel_inputs
from topxsec.kernels.common import make_params
from topxsec.kernels.skim import CUTFLOW, skim_kernel

log = logging.getLogger(__name__)


def skim_file(source: str | os.PathLike[str], output: str | Path,
              cuts: spec.Cuts = spec.Cuts(), entry_start: int | None = None,
              entry_stop: int | None = None, compression_level: int = 1,
              threads: int | None = None) -> dict[str, Any]:
    """Skim one NanoAOD file (or entry range) into a NanoAOD-layout file.

    Args:
        source: Local path or ``root://`` / ``http(s)://`` URL.
        output: The skim ROOT file, written atomically; zero kept events give
            a valid tree with every branch and no entries.
        cuts: Selection thresholds.
        entry_start: First entry (default 0).
        entry_stop: One past the last entry (default: the end of the tree).
        compression_level: ZLIB level of the skim.
        threads: Decompression threads of the read (default
            :func:`topxsec.nanoaod.read_threads`: 1 unless
            ``$TOPXSEC_READ_THREADS`` says otherwise).

    Returns:
        The summary: ``source``, ``entry_start``, ``entry_stop``,
        ``events_read``, ``events_kept``, ``cutflow`` (sequential ``all``,
        ``one_lepton``, ``four_jets``, ``btag``), ``bytes_read``, ``seconds``.

    Raises:
        errors.InputFileError: The input cannot be read (or a subclass:
            ``MissingBranchError``, ``RemoteReadError``).
    """
    started = time.perf_counter()
    events = nanoaod.read_events(source, spec.NEEDED_BRANCHES, entry_start,
                                 entry_stop, threads=threads)

    keep, counts = skim_kernel(*kernel_inputs(events), make_params(cuts))
    numba_options.log_cache_use(skim_kernel)
    kept = events.select(keep)
    nanoaod.write_skim(output, kept, compression_level=compression_level)

    seconds = time.perf_counter() - started
    log.info("skimmed %s [%d, %d): %d events read, %d kept, %.2f s", source,
             events.entry_start, events.entry_stop, events.n_events,
             kept.n_events, seconds)
    return {
        "source": os.fspath(source),
        "entry_start": events.entry_start,
        "entry_stop": events.entry_stop,
        "events_read": events.n_events,
        "events_kept": kept.n_events,
        "cutflow": {name: int(count) for name, count in zip(CUTFLOW, counts)},
        "bytes_read": events.bytes_read,
        "seconds": round(seconds, 3),
    }
