"""One measured task, in a process of its own (started by benchmarks/run.py).

``python benchmarks/worker.py '<json spec>'``: the spec names the task, its
input files, the CPU to pin the process to and scratch paths. The worker
imports what the task needs and runs it once on a small input (imports,
compiled kernels, first-use costs are not part of the event loop), prints
``ready`` and waits for a line on stdin, touches memory (:func:`_pretouch`),
prints ``touched`` and waits again, then runs the event loop and prints one
JSON line: ``start`` and ``stop`` (``time.time()``), ``seconds`` and
``events``. Tasks:

- ``ours``: this project's skim stage, then its histogram stage on the skim
  (:func:`topxsec.skim.skim_file`, :func:`topxsec.histogramming.
  fill_file_histograms`), one file after the other;
- ``read``: this project's read of the needed branches alone
  (:func:`topxsec.nanoaod.read_events`);
- ``uproot``: ``uproot.open(...)["Events"].arrays(needed branches)``, the
  bare read through uproot's default path (the floor of the issue);
- ``inflate``: libdeflate alone on the needed baskets, their bytes already
  in memory;
- ``coffea``: the coffea processor of benchmarks/coffea_agc.py
  (``IterativeExecutor``; with ``workers`` > 1 a ``FuturesExecutor`` whose
  process pool is started before the loop).

``compare`` is not timed: it prints how coffea's histograms of the first
file compare with the project's (:func:`compare`).
"""

from __future__ import annotations

import json
import mmap
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _pin(cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def _prepare_ours(spec: dict[str, Any]) -> Any:
    from topxsec.histogramming import fill_file_histograms
    from topxsec.kernels import warm_up
    from topxsec.skim import skim_file

    warm_up()
    scratch = Path(spec["scratch"])
    scratch.mkdir(parents=True, exist_ok=True)
    first = spec["files"][0]
    skim_file(first, scratch / "warm.root", entry_stop=2000)  # uproot writer etc.
    fill_file_histograms(scratch / "warm.root", "ttbar", "nominal")

    def loop() -> dict[str, Any]:
        events = read = 0
        for k, path in enumerate(spec["files"]):
            skim = scratch / f"skim_{k}.root"
            summary = skim_file(path, skim)
            fill_file_histograms(skim, "ttbar", "nominal")
            events += summary["events_read"]
            read += summary["bytes_read"]
        return {"events": events, "bytes_read": read}

    return loop


def _prepare_read(spec: dict[str, Any]) -> Any:
    from topxsec.nanoaod import read_events

    read_events(spec["files"][0], entry_stop=2000)

    def loop() -> dict[str, Any]:
        events = 0
        for path in spec["files"]:
            events += read_events(path, threads=spec.get("threads", 1)).n_events
        return {"events": events}

    return loop


def _prepare_uproot(spec: dict[str, Any]) -> Any:
    import uproot

    from topxsec import spec as task

    branches = list(task.NEEDED_BRANCHES)
    with uproot.open(spec["files"][0]) as file:
        file["Events"].arrays(branches, entry_stop=2000)

    def loop() -> dict[str, Any]:
        events = 0
        for path in spec["files"]:
            with uproot.open(path) as file:
                arrays = file["Events"].arrays(branches)
                events += len(arrays)
        return {"events": events}

    return loop


def _prepare_inflate(spec: dict[str, Any]) -> Any:
    import deflate

    from topxsec import rootmeta
    from topxsec import spec as task

    blocks = []
    events = 0
    for path in spec["files"]:
        tree = rootmeta.read_tree_info(path, "Events", frozenset(task.NEEDED_BRANCHES))
        events += tree.num_entries
        with open(path, "rb") as file, mmap.mmap(file.fileno(), 0,
                                                 access=mmap.ACCESS_READ) as data:
            for info in tree.branches.values():
                for seek, size in zip(info.basket_seek.tolist(),
                                      info.basket_bytes.tolist(), strict=True):
                    basket = data[seek:seek + size]
                    _nbytes, objlen, keylen, _n, _last = rootmeta.basket_key(basket)
                    if size - keylen != objlen:  # compressed: one ZLIB block here
                        blocks.append((basket[keylen + 9:], objlen))

    def loop() -> dict[str, Any]:
        for block, size in blocks:
            deflate.zlib_decompress(block, size)
        return {"events": events}

    return loop


def _prepare_coffea(spec: dict[str, Any]) -> Any:
    warnings.filterwarnings("ignore")  # the schema's notes on missing indices
    sys.path.insert(0, str(HERE))
    import coffea_agc

    workers = spec.get("workers", 1)
    pool = None
    if workers > 1:
        import loky

        pool = loky.get_reusable_executor(max_workers=workers)
        # start the workers and import coffea in them before the loop
        list(pool.map(_import_coffea, range(2 * workers)))
    coffea_agc.run({"ttbar__nominal": [spec["warm_file"]]}, workers=workers,
                   pool=pool)

    def loop() -> dict[str, Any]:
        _output, events = coffea_agc.run({"ttbar__nominal": spec["files"]},
                                         workers=workers, pool=pool)
        return {"events": events}

    return loop


def _import_coffea(_: int) -> int:
    warnings.filterwarnings("ignore")
    sys.path.insert(0, str(HERE))
    import coffea_agc  # noqa: F401

    return os.getpid()


def compare(spec: dict[str, Any]) -> dict[str, Any]:
    """Histograms of coffea and of the project's skim + histogram stages.

    Unit-weight histograms must agree exactly; weighted ones to 1e-12
    (relative): the project sums exactly, hist in float64 in its own order.
    """
    import numpy as np

    from topxsec.histogramming import fill_file_histograms
    from topxsec.skim import skim_file

    warnings.filterwarnings("ignore")
    sys.path.insert(0, str(HERE))
    import coffea_agc

    path = spec["files"][0]
    output, _events = coffea_agc.run({"ttbar__nominal": [path]})
    theirs = coffea_agc.as_arrays(output, "ttbar__nominal")
    scratch = Path(spec["scratch"])
    scratch.mkdir(parents=True, exist_ok=True)
    skim_file(path, scratch / "compare.root")
    ours = fill_file_histograms(scratch / "compare.root", "ttbar", "nominal")

    report: dict[str, Any] = {"exact": [], "within_1e-12": [], "different": []}
    for region, by_name in ours.histograms.items():
        for name, histogram in by_name.items():
            zero = np.zeros(len(histogram.sumw))
            sumw, sumw2 = theirs.get((region, name), (zero, zero))
            label = f"{region} {name}"
            if (np.array_equal(histogram.sumw, sumw)
                    and np.array_equal(histogram.sumw2, sumw2)):
                report["exact"].append(label)
            elif (np.allclose(histogram.sumw, sumw, rtol=1e-12, atol=0)
                  and np.allclose(histogram.sumw2, sumw2, rtol=1e-12, atol=0)):
                report["within_1e-12"].append(label)
            else:
                report["different"].append(label)
    return report


PREPARE = {"ours": _prepare_ours, "read": _prepare_read, "uproot": _prepare_uproot,
           "inflate": _prepare_inflate, "coffea": _prepare_coffea}


#: Memory touched (then freed) before the loop, bytes: see :func:`_pretouch`.
PRETOUCH_BYTES = 1536 << 20


def _pretouch(n_bytes: int) -> None:
    """Touch and free memory, so that the loop runs on memory the host backs.

    The test machine is a virtual machine that hands freed memory back to its
    host (virtio-balloon free page reporting); the first touch of such memory
    costs about 2 ms per MB there, which says nothing about the code under
    test and made the results depend on how much memory the task before had
    freed. Pages freed just before the loop are reused by it before they are
    reported.
    """
    import numpy as np

    block = np.ones(n_bytes, dtype=np.uint8)
    del block


def main() -> None:
    """Prepare the task of ``sys.argv[1]``, then time its loop (module docstring)."""
    spec = json.loads(sys.argv[1])
    _pin(spec.get("cpu"))
    if spec["task"] == "compare":
        sys.stdout.write(json.dumps(compare(spec)) + "\n")
        return
    loop = PREPARE[spec["task"]](spec)
    for step in ("ready", "touched"):  # the runner answers each line
        sys.stdout.write(step + "\n")
        sys.stdout.flush()
        sys.stdin.readline()
        if step == "ready":
            _pretouch(spec.get("pretouch_bytes", PRETOUCH_BYTES))

    start = time.time()
    started = time.perf_counter()
    result = loop()
    seconds = time.perf_counter() - started
    stop = time.time()
    sys.stdout.write(json.dumps({**result, "start": start, "stop": stop,
                                 "seconds": seconds}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
