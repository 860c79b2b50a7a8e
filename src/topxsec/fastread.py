"""The fast read path: needed baskets straight from a local file into numpy.

For each wanted branch, :func:`read_baskets` takes the baskets that overlap
the entry range from the basket table of :mod:`topxsec.rootmeta`, takes their
bytes from a memory map of the file (no copy and no system call per basket),
decompresses them with libdeflate (in a thread pool if asked: decompression
releases the GIL) and decodes the big-endian values straight into
preallocated native arrays. A jagged branch's offsets come from the entry
offsets stored in its baskets; the branches of a collection whose baskets
hold the same number of values share one offsets array (a per-basket
checksum of the counts guards the sharing). No awkward array and no uproot
object is made.

The result is what :func:`topxsec.nanoaod.read_branches` returns, value for
value (tests compare the two on the real file, demo files, many-basket files
and entry ranges that start and stop inside baskets).
"""

from __future__ import annotations

import logging
import mmap
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from topxsec import rootmeta

log = logging.getLogger(__name__)

_OFFSET_DTYPE = np.dtype(">i4")


@dataclass
class _Plan:
    """What to decode of one branch: its baskets and where their values go.

    The per-basket tables are Python lists: the decoder reads them once per
    basket, where numpy scalars would cost more than the decoding itself.
    """

    info: rootmeta.BranchInfo
    first: int
    last: int
    #: entry of the first selected basket
    entry_base: int
    values: np.ndarray
    offsets: np.ndarray | None
    #: first entry of each selected basket and the end, from ``entry_base``
    entries: list[int]
    #: on-disk bytes of each selected basket (-1: embedded)
    sizes: list[int]
    #: per selected basket: values before it in ``values`` (jagged only)
    item_starts: list[int] | None = None
    #: per selected basket: the sum of its entries' first value indices, a
    #: checksum of its counts (branches sharing offsets must agree)
    checks: list[int] | None = None


def _select(info: rootmeta.BranchInfo, start: int, stop: int) -> tuple[int, int]:
    """Indices ``[first, last)`` of the baskets overlapping ``[start, stop)``."""
    if start >= stop:
        return 0, 0
    bounds = info.basket_entry
    first = int(np.searchsorted(bounds, start, side="right")) - 1
    last = int(np.searchsorted(bounds, stop, side="left"))
    return max(first, 0), last


def _map(path: str, spans: list[tuple[int, int]]) -> tuple[memoryview, np.ndarray]:
    """A read-only memory map of a local file, as a memoryview and as bytes.

    A basket's bytes are then decompressed straight from the page cache,
    with no copy and no system call per basket (faster here than coalesced
    ``pread`` calls, see benchmarks/README.md). The map stays open while any
    view of it is alive.

    Raises:
        rootmeta.CorruptData: A range ``(position, length)`` of ``spans`` lies
            beyond the end of the file.
    """
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size == 0 or not spans:
            empty = memoryview(b"")
            return empty, np.frombuffer(b"", dtype=np.uint8)
        mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    end = max(position + length for position, length in spans)
    if end > size:
        raise rootmeta.CorruptData(
            f"the file ends at byte {size}, before the baskets it lists (up to "
            f"byte {end}); it is probably truncated")
    view = memoryview(mapped)
    return view, np.frombuffer(view, dtype=np.uint8)


def _be(data: np.ndarray, at: np.ndarray, width: int) -> np.ndarray:
    """Big-endian unsigned integers of ``width`` bytes at positions ``at``."""
    value = np.zeros(len(at), dtype=np.int64)
    for k in range(width):
        value = (value << 8) | data[at + k]
    return value


def _keys(data: np.ndarray, seeks: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """:func:`topxsec.rootmeta.basket_key` of many baskets at once."""
    if len(seeks) == 0:
        return []
    keylen = _be(data, seeks + 14, 2)
    header = seeks + keylen - 19
    fields = np.stack([_be(data, seeks, 4), _be(data, seeks + 6, 4), keylen,
                       _be(data, header + 10, 4), _be(data, header + 14, 4)], axis=1)
    return [tuple(row) for row in fields.tolist()]


def _plan(info: rootmeta.BranchInfo, first: int, last: int,
          keys: list[tuple[int, int, int, int, int]]) -> _Plan:
    """Allocate the outputs of one branch from its baskets' keys."""
    native = info.dtype.newbyteorder("=")
    bounds = info.basket_entry[first:last + 1].tolist()
    entry_base = bounds[0] if bounds else 0
    entries = [bound - entry_base for bound in bounds]
    n_free = len(info.basket_bytes)
    sizes = [int(info.basket_bytes[i]) if i < n_free else -1
             for i in range(first, last)]
    n_entries = entries[-1] if entries else 0
    if not info.jagged:
        return _Plan(info, first, last, entry_base, np.empty(n_entries, native),
                     None, entries, sizes)

    item_starts = [0]
    for key in keys:
        item_starts.append(item_starts[-1] + (key[4] - key[2]) // info.dtype.itemsize)
    values = np.empty(item_starts[-1], native)
    offsets = np.empty(n_entries + 1, dtype=np.int64)
    offsets[-1] = item_starts[-1]
    return _Plan(info, first, last, entry_base, values, offsets, entries, sizes,
                 item_starts, [0] * len(keys))


def _decode(plan: _Plan, k: int, key: tuple[int, int, int, int, int],
            data: memoryview, with_offsets: bool) -> None:
    """Decompress basket ``plan.first + k`` and write its values (and offsets)."""
    info = plan.info
    nbytes, objlen, keylen, entries, last = key
    entry = plan.entries[k]
    border = last - keylen
    if (entries != plan.entries[k + 1] - entry or nbytes != plan.sizes[k]
            or not 0 <= border <= objlen):
        raise rootmeta.CorruptData(
            f"basket {plan.first + k} of branch {info.name} has a key that "
            "disagrees with the branch's basket table")

    if nbytes < 0:  # a record from the metadata, already uncompressed
        raw: bytes | memoryview = data
    else:
        raw = _uncompressed(data[keylen:nbytes], objlen)
    itemsize = info.dtype.itemsize
    if plan.offsets is None:
        if border != entries * itemsize:
            raise rootmeta.CorruptData(
                f"basket {plan.first + k} of branch {info.name} holds {border} "
                f"bytes for {entries} entries")
        plan.values[entry:entry + entries] = np.frombuffer(raw, info.dtype, entries)
        return

    assert plan.item_starts is not None and plan.checks is not None
    start = plan.item_starts[k]
    n_items = plan.item_starts[k + 1] - start
    plan.values[start:start + n_items] = np.frombuffer(raw, info.dtype, n_items)
    if objlen < border + 4 * (entries + 1):
        raise rootmeta.CorruptData(
            f"basket {plan.first + k} of branch {info.name} has no entry offsets")
    local = np.frombuffer(raw, _OFFSET_DTYPE, entries, border + 4)
    plan.checks[k] = (int(local.sum(dtype=np.int64)) - entries * keylen) // itemsize
    if not with_offsets:
        return
    target = plan.offsets[entry:entry + entries]
    np.subtract(local, keylen - start * itemsize, out=target)
    if itemsize > 1:
        np.floor_divide(target, itemsize, out=target)
    if entries and (target[0] != start or target[-1] > start + n_items):
        raise rootmeta.CorruptData(
            f"basket {plan.first + k} of branch {info.name} has entry offsets "
            "outside its values")


def _uncompressed(body: memoryview, objlen: int) -> bytes | memoryview:
    """A basket's payload: one ZLIB block inflated directly, else the general way."""
    if len(body) > 9 and body[0] == 0x5A and body[1] == 0x4C \
            and 9 + (body[3] | body[4] << 8 | body[5] << 16) == len(body) \
            and (body[6] | body[7] << 8 | body[8] << 16) == objlen:  # b"ZL", one block
        return rootmeta.inflate(body[9:], objlen)
    return rootmeta.decompress(body, objlen)


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

    view, file_bytes = _map(os.fspath(path), spans)

    plans: dict[str, _Plan] = {}
    tasks = []
    shared: dict[str, str] = {}  # branch -> branch whose offsets it shares
    owners: dict[str, str] = {}  # collection -> branch computing its offsets
    for name in branches:
        info = tree.branches[name]
        first, last = selected[name]
        data, keys = _basket_data(info, first, last, view, file_bytes)
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
        if plans[name].checks != plans[owner].checks:
            raise rootmeta.CorruptData(
                f"branch {name} has other counts than {owner} of collection "
                f"{_collection(name)}; the file is corrupt or not NanoAOD")

    out = _cut(plans, shared, entry_start, entry_stop)
    bytes_read = sum(length for _position, length in spans) + embedded_bytes
    return out, bytes_read


def _basket_data(info: rootmeta.BranchInfo, first: int, last: int,
                 view: memoryview, file_bytes: np.ndarray
                 ) -> tuple[list[memoryview], list[tuple[int, int, int, int, int]]]:
    """Bytes and keys of baskets ``[first, last)``: in the file, or embedded."""
    n_free = len(info.basket_seek)
    stop = min(last, n_free)
    seeks = info.basket_seek[first:stop]
    data = [view[position:position + length] for position, length in
            zip(seeks.tolist(), info.basket_bytes[first:stop].tolist(), strict=True)]
    keys = _keys(file_bytes, seeks)
    for i in range(max(first, n_free), last):
        record, key = info.embedded[i - n_free]
        data.append(memoryview(record))
        keys.append(key)
    return data, keys


def _same_layout(a: _Plan, b: _Plan) -> bool:
    """Whether two jagged branches' baskets hold the same entries and values."""
    return (a.first == b.first and a.last == b.last
            and np.array_equal(a.info.basket_entry[a.first:a.last + 1],
                               b.info.basket_entry[b.first:b.last + 1])
            and a.item_starts is not None and a.item_starts == b.item_starts)


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
