"""The fast read path: needed baskets straight from a local file into numpy.

For each wanted branch, :func:`read_baskets` takes the baskets that overlap
the entry range from the basket table of :mod:`topxsec.rootmeta`, fetches
their bytes in a few large reads (neighbouring baskets, and the small gaps
between them, in one ``pread``), decompresses them with libdeflate (in a
thread pool if asked: decompression releases the GIL) and decodes the
big-endian values straight into preallocated native arrays. A jagged
branch's offsets come from the entry offsets stored in its baskets; the
branches of a collection whose baskets hold the same number of values share
one offsets array. No awkward array and no uproot object is made.

The result is what :func:`topxsec.nanoaod.read_branches` returns, value for
value (tests compare the two on the real file, demo files, many-basket files
and entry ranges that start and stop inside baskets).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from topxsec import rootmeta

log = logging.getLogger(__name__)

#: Baskets closer than this are fetched in one read, with the gap (bytes).
MERGE_GAP = 64 * 1024

#: Largest single read (bytes).
MAX_READ = 64 * 1024 * 1024

_OFFSET_DTYPE = np.dtype(">i4")


@dataclass
class _Plan:
    """What to decode of one branch: its baskets and where their values go."""

    info: rootmeta.BranchInfo
    first: int
    last: int
    #: entry of the first selected basket
    entry_base: int
    values: np.ndarray
    offsets: np.ndarray | None
    #: per selected basket: values before it in ``values``
    item_starts: np.ndarray | None = None
    #: per selected basket: the sum of its entries' first value indices, a
    #: checksum of its counts (branches sharing offsets must agree)
    checks: np.ndarray | None = None


def _select(info: rootmeta.BranchInfo, start: int, stop: int) -> tuple[int, int]:
    """Indices ``[first, last)`` of the baskets overlapping ``[start, stop)``."""
    if start >= stop:
        return 0, 0
    bounds = info.basket_entry
    first = int(np.searchsorted(bounds, start, side="right")) - 1
    last = int(np.searchsorted(bounds, stop, side="left"))
    return max(first, 0), last


def _fetch(fd: int, spans: list[tuple[int, int]]) -> dict[int, memoryview]:
    """Read byte ranges ``(position, length)`` in coalesced reads.

    Returns:
        Position -> a view of that range's bytes.
    """
    spans = sorted(set(spans))
    runs: list[tuple[int, int, list[tuple[int, int]]]] = []  # start, end, spans
    for position, length in spans:
        if runs:
            run_start, run_end, members = runs[-1]
            end = max(run_end, position + length)
            if position - run_end <= MERGE_GAP and end - run_start <= MAX_READ:
                members.append((position, length))
                runs[-1] = (run_start, end, members)
                continue
        runs.append((position, position + length, [(position, length)]))

    views: dict[int, memoryview] = {}
    for run_start, run_end, members in runs:
        buffer = bytearray(run_end - run_start)
        view = memoryview(buffer)
        done = 0
        while done < len(buffer):
            n = os.preadv(fd, [view[done:]], run_start + done)
            if n <= 0:
                raise rootmeta.CorruptData(
                    f"the file ends before byte {run_end} (baskets at "
                    f"{run_start}); it is probably truncated")
            done += n
        for position, length in members:
            views[position] = view[position - run_start:position - run_start + length]
    return views


def _plan(info: rootmeta.BranchInfo, first: int, last: int,
          keys: list[tuple[int, int, int, int, int]]) -> _Plan:
    """Allocate the outputs of one branch from its baskets' keys."""
    native = info.dtype.newbyteorder("=")
    entry_base = int(info.basket_entry[first])
    n_entries = int(info.basket_entry[last]) - entry_base
    if not info.jagged:
        return _Plan(info, first, last, entry_base, np.empty(n_entries, native), None)

    items = np.array([(k[4] - k[2]) // info.dtype.itemsize for k in keys],
                     dtype=np.int64)
    item_starts = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum(items, out=item_starts[1:])
    values = np.empty(int(item_starts[-1]), native)
    offsets = np.empty(n_entries + 1, dtype=np.int64)
    offsets[-1] = item_starts[-1]
    return _Plan(info, first, last, entry_base, values, offsets, item_starts,
                 np.zeros(len(keys), dtype=np.int64))


def _decode(plan: _Plan, k: int, key: tuple[int, int, int, int, int],
            data: memoryview, with_offsets: bool) -> None:
    """Decompress basket ``plan.first + k`` and write its values (and offsets)."""
    info = plan.info
    nbytes, objlen, keylen, entries, last = key
    index = plan.first + k
    entry = int(info.basket_entry[index]) - plan.entry_base
    expected = int(info.basket_entry[index + 1] - info.basket_entry[index])
    border = last - keylen
    embedded = nbytes < 0  # a record from the metadata, already uncompressed
    on_disk = -1 if embedded else int(info.basket_bytes[index])
    if entries != expected or nbytes != on_disk or not 0 <= border <= objlen:
        raise rootmeta.CorruptData(
            f"basket {index} of branch {info.name} has a key that disagrees with "
            "the branch's basket table")

    raw = data if embedded else rootmeta.decompress(data[keylen:nbytes], objlen)
    itemsize = info.dtype.itemsize
    if plan.offsets is None:
        if border != entries * itemsize:
            raise rootmeta.CorruptData(
                f"basket {index} of branch {info.name} holds {border} bytes for "
                f"{entries} entries")
        plan.values[entry:entry + entries] = np.frombuffer(raw, info.dtype, entries)
        return

    assert plan.item_starts is not None
    start = int(plan.item_starts[k])
    n_items = int(plan.item_starts[k + 1]) - start
    plan.values[start:start + n_items] = np.frombuffer(raw, info.dtype, n_items)
    if objlen < border + 4 * (entries + 1):
        raise rootmeta.CorruptData(
            f"basket {index} of branch {info.name} has no entry offsets")
    local = np.frombuffer(raw, _OFFSET_DTYPE, entries, border + 4)
    assert plan.checks is not None
    plan.checks[k] = ((int(local.sum(dtype=np.int64)) - entries * keylen)
                      // itemsize)
    if not with_offsets:
        return
    target = plan.offsets[entry:entry + entries]
    np.subtract(local, keylen - start * itemsize, out=target)
    if itemsize > 1:
        np.floor_divide(target, itemsize, out=target)
    if entries and (target[0] != start or target[-1] > start + n_items):
        raise rootmeta.CorruptData(
            f"basket {index} of branch {info.name} has entry offsets outside its "
            "values")


def _decode_all(tasks: list[tuple]) -> None:
    """Decode a list of ``_decode`` argument tuples in order."""
    for task in tasks:
        _decode(*task)


def _collection(name: str) -> str:
    return name.split("_", 1)[0]


def read_baskets(path: str | os.PathLike[str], tree: rootmeta.TreeInfo,
                 branches: Sequence[str], entry_start: int, entry_stop: int,
                 threads: int = 1) -> tuple[dict[str, object], int]:
    """Read branches of a local file through the basket table.

    Args:
        path: The local ROOT file.
        tree: Its tree's metadata, with every branch of ``branches``.
        branches: Branches to read.
        entry_start: First entry.
        entry_stop: One past the last entry.
        threads: Decompression threads (1: in the calling thread).

    Returns:
        ``(values, bytes_read)``: branch -> numpy array, or ``(int64 offsets
        from 0, contents)`` for a jagged branch (as :func:`topxsec.nanoaod.
        read_branches`), and the on-disk bytes of the baskets read.

    Raises:
        rootmeta.Unsupported: A basket uses a compression other than ZLIB.
        rootmeta.CorruptData: Basket bytes are truncated or do not decode.
    """
    selected = {name: _select(tree.branches[name], entry_start, entry_stop)
                for name in branches}
    spans = []
    embedded_bytes = 0
    for name, (first, last) in selected.items():
        info = tree.branches[name]
        n_free = len(info.basket_seek)
        spans.extend((int(info.basket_seek[i]), int(info.basket_bytes[i]))
                     for i in range(first, min(last, n_free)))
        for i in range(max(first, n_free), last):
            _record, key = info.embedded[i - n_free]
            embedded_bytes += key[4] - key[2]

    fd = os.open(os.fspath(path), os.O_RDONLY)
    try:
        views = _fetch(fd, spans)
    finally:
        os.close(fd)

    plans: dict[str, _Plan] = {}
    tasks = []
    shared: dict[str, str] = {}  # branch -> branch whose offsets it shares
    owners: dict[str, str] = {}  # collection -> branch computing its offsets
    for name in branches:
        info = tree.branches[name]
        first, last = selected[name]
        data, keys = _basket_data(info, first, last, views)
        plan = _plan(info, first, last, keys)
        plans[name] = plan

        with_offsets = True
        owner = owners.get(_collection(name)) if info.jagged else None
        if owner is not None and _same_layout(plans[owner], plan):
            plan.offsets = plans[owner].offsets
            shared[name] = owner
            with_offsets = False
        elif info.jagged:
            owners.setdefault(_collection(name), name)
        tasks.extend((plan, k, key, view, with_offsets)
                     for k, (key, view) in enumerate(zip(keys, data, strict=True)))

    if threads > 1 and len(tasks) > 1:
        # one long-running job per thread (a future per basket costs more
        # than decompressing a small basket); baskets dealt out by size
        shares: list[list[tuple]] = [[] for _ in range(threads)]
        loads = [0] * threads
        for task in sorted(tasks, key=lambda task: -task[2][1]):
            least = loads.index(min(loads))
            shares[least].append(task)
            loads[least] += task[2][1]
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for future in [pool.submit(_decode_all, share) for share in shares]:
                future.result()
    else:
        _decode_all(tasks)

    for name, owner in shared.items():
        if not np.array_equal(plans[name].checks, plans[owner].checks):
            raise rootmeta.CorruptData(
                f"branch {name} has other counts than {owner} of collection "
                f"{_collection(name)}; the file is corrupt or not NanoAOD")

    out = _cut(plans, shared, entry_start, entry_stop)
    bytes_read = sum(length for _position, length in spans) + embedded_bytes
    return out, bytes_read


def _basket_data(info: rootmeta.BranchInfo, first: int, last: int,
                 views: dict[int, memoryview]
                 ) -> tuple[list[memoryview], list[tuple[int, int, int, int, int]]]:
    """Bytes and keys of baskets ``[first, last)``: fetched, or embedded."""
    n_free = len(info.basket_seek)
    data = []
    keys = []
    for i in range(first, last):
        if i < n_free:
            view = views[int(info.basket_seek[i])]
            data.append(view)
            keys.append(rootmeta.basket_key(view))
        else:
            record, key = info.embedded[i - n_free]
            data.append(memoryview(record))
            keys.append(key)
    return data, keys


def _same_layout(a: _Plan, b: _Plan) -> bool:
    """Whether two jagged branches' baskets hold the same entries and values."""
    return (a.first == b.first and a.last == b.last
            and np.array_equal(a.info.basket_entry[a.first:a.last + 1],
                               b.info.basket_entry[b.first:b.last + 1])
            and a.item_starts is not None and b.item_starts is not None
            and np.array_equal(a.item_starts, b.item_starts))


def _cut(plans: dict[str, _Plan], shared: dict[str, str], entry_start: int,
         entry_stop: int) -> dict[str, object]:
    """Cut the decoded baskets to the entry range."""
    out: dict[str, object] = {}
    cut_offsets: dict[str, np.ndarray] = {}
    for name, plan in plans.items():
        begin = max(entry_start - plan.entry_base, 0)
        end = max(entry_stop - plan.entry_base, begin)
        if plan.offsets is None:
            out[name] = plan.values[begin:end]
            continue

        owner = shared.get(name, name)
        offsets = cut_offsets.get(owner)
        if offsets is None:
            full = plans[owner].offsets
            assert full is not None
            if end - begin == 0:
                offsets = np.zeros(1, dtype=np.int64)
            elif begin == 0 and end + 1 == len(full):
                offsets = full
            else:
                offsets = full[begin:end + 1] - full[begin]
            cut_offsets[owner] = offsets
        full = plan.offsets
        first_item = int(full[begin]) if end > begin else 0
        out[name] = (offsets, plan.values[first_item:first_item + int(offsets[-1])])
    return out
