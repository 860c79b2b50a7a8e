"""NanoAOD-layout ROOT files: reading the analysis branches, writing skims.

:func:`read_events` reads the needed branches of one file (or entry range) into
an :class:`EventColumns`: per collection one int64 offsets array and per branch
one flat numpy array of the stored values (no awkward records, no conversion
of float32 to float64; the kernels read them as stored). Local files are read
by the fast path of :mod:`topxsec.fastread` (metadata from
:mod:`topxsec.rootmeta`, no uproot); remote files and layouts it does not
handle by uproot through :func:`read_branches`, which a caller can also
replace (``reader=``). Both give the same values, and the same checks apply
around them. :func:`write_events` writes a NanoAOD-layout tree (ZLIB through
libdeflate when installed).

uproot and awkward are imported lazily so that importing this module stays
cheap, and a job that only reads local files never imports them.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import struct
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from topxsec import errors, spec
from topxsec.outputs import atomic_output

log = logging.getLogger(__name__)

TREE_NAME = "Events"

#: URL schemes read remotely (through uproot's XRootD and HTTP sources).
REMOTE_SCHEMES: tuple[str, ...] = ("root://", "http://", "https://")

#: The stored dtypes of the analysis branches in CMS NanoAOD. Skims are
#: written with these; the kernels are warmed up for them.
NANOAOD_DTYPES: dict[str, np.dtype] = {
    **{name: np.dtype(np.float32) for name in spec.NEEDED_BRANCHES},
    "Jet_jetId": np.dtype(np.int32),
    "Electron_cutBased": np.dtype(np.int32),
    "Muon_tightId": np.dtype(np.bool_),
    "run": np.dtype(np.uint32),
    "luminosityBlock": np.dtype(np.uint32),
    "event": np.dtype(np.uint64),
}

#: Parallel range requests of an HTTP(S) read.
HTTP_WORKERS = 8

#: A branch reader: (tree, branch names, entry_start, entry_stop) -> branch
#: name -> flat values, or (offsets, contents) for a jagged branch.
BranchReader = Callable[
    [Any, Sequence[str], int, int],
    dict[str, "np.ndarray | tuple[np.ndarray, np.ndarray]"],
]


def is_remote(source: str | os.PathLike[str]) -> bool:
    """Whether ``source`` is a URL read remotely (``root://``, ``http(s)://``)."""
    return str(source).startswith(REMOTE_SCHEMES)


def collection_of(branch: str) -> str:
    """Return the collection of a jagged branch: ``"Jet"`` for ``"Jet_pt"``."""
    return branch.split("_", 1)[0]


@dataclass
class EventColumns:
    """The branches of a range of events as flat numpy arrays.

    ``columns`` maps each branch to its values: one per event for a flat branch
    (``run``), one per object for a jagged branch (``Jet_pt``), whose event
    boundaries are ``offsets[collection_of(branch)]`` (int64, ``n_events + 1``
    values starting at 0). Arrays are C-contiguous, native-endian and writable
    (what the compiled kernels were warmed up for).
    """

    source: str
    n_events: int
    columns: dict[str, np.ndarray]
    offsets: dict[str, np.ndarray] = field(default_factory=dict)
    entry_start: int = 0
    entry_stop: int = 0
    #: compressed bytes of the baskets read (0 for events not read from a file)
    bytes_read: int = 0

    def __getitem__(self, branch: str) -> np.ndarray:
        return self.columns[branch]

    def is_jagged(self, branch: str) -> bool:
        """Whether ``branch`` holds one value per object rather than per event."""
        return "_" in branch and collection_of(branch) in self.offsets

    def counts(self, collection: str) -> np.ndarray:
        """Number of objects of ``collection`` per event."""
        return np.diff(self.offsets[collection])

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any], source: str = "<memory>"
                    ) -> EventColumns:
        """Build from numpy arrays (flat) and awkward ``var *`` arrays (jagged).

        Args:
            arrays: Branch name -> values, e.g. random test events.
            source: A label for messages.

        Returns:
            The columns, with the jagged collections' offsets.

        Raises:
            errors.InputFileError: If the branches disagree on the number of
                events or the branches of a collection on their counts.
        """
        import awkward as ak

        values: dict[str, np.ndarray | tuple[np.ndarray, np.ndarray]] = {}
        for name, array in arrays.items():
            if isinstance(array, ak.Array) and array.ndim == 2:
                values[name] = _offsets_and_contents(array)
            else:
                values[name] = np.asarray(array)
        return _assemble(source, values, 0, None, 0)

    def select(self, mask: np.ndarray) -> EventColumns:
        """Return the events where ``mask`` is true, all their objects kept.

        Args:
            mask: One boolean per event.

        Returns:
            New columns in the same layout (file order kept).
        """
        mask = np.asarray(mask, dtype=np.bool_)
        events = np.flatnonzero(mask)

        # Work in proportion to the kept objects: per collection, the indices
        # of the kept events' objects, as concatenated ranges.
        offsets = {}
        objects = {}
        for name, old in self.offsets.items():
            starts = old[events]
            counts = old[events + 1] - starts
            new = np.zeros(len(events) + 1, dtype=np.int64)
            np.cumsum(counts, out=new[1:])
            offsets[name] = new
            objects[name] = (np.arange(int(new[-1]), dtype=np.int64)
                             + np.repeat(starts - new[:-1], counts))

        columns = {}
        for name, values in self.columns.items():
            index = objects[collection_of(name)] if self.is_jagged(name) else events
            columns[name] = values[index]
        return EventColumns(self.source, len(events), columns, offsets,
                            self.entry_start, self.entry_stop, self.bytes_read)

    def as_arrays(self) -> dict[str, Any]:
        """Branch -> numpy array (flat) or awkward ``var *`` array (jagged).

        The awkward arrays share the numpy buffers (no copy); this is the input
        of :func:`write_events`.
        """
        import awkward as ak

        out: dict[str, Any] = {}
        for name, values in self.columns.items():
            if self.is_jagged(name):
                index = ak.index.Index64(self.offsets[collection_of(name)])
                layout = ak.contents.ListOffsetArray(index,
                                                     ak.contents.NumpyArray(values))
                out[name] = ak.Array(layout)
            else:
                out[name] = values
        return out

    def to_awkward(self) -> Any:
        """One awkward record per event with a field per branch (for tests)."""
        import awkward as ak

        return ak.zip(self.as_arrays(), depth_limit=1)


def _offsets_and_contents(array: Any) -> tuple[np.ndarray, np.ndarray]:
    """Offsets from 0 and the matching contents of an awkward ``var *`` array."""
    import awkward as ak

    layout = ak.to_layout(array)
    if not isinstance(layout, ak.contents.ListOffsetArray):
        layout = layout.to_ListOffsetArray64(True)
    offsets = np.asarray(layout.offsets.data, dtype=np.int64)
    contents = np.asarray(layout.content.data)
    start, stop = int(offsets[0]), int(offsets[-1])
    return offsets - start, contents[start:stop]


def _kernel_ready(values: np.ndarray) -> np.ndarray:
    """C-contiguous, native-endian, writable (copied only if needed)."""
    values = np.ascontiguousarray(values)
    if not values.dtype.isnative:
        values = values.astype(values.dtype.newbyteorder("="))
    if not values.flags.writeable:
        values = values.copy()
    return values


def _assemble(source: str,
              values: Mapping[str, np.ndarray | tuple[np.ndarray, np.ndarray]],
              entry_start: int, entry_stop: int | None, bytes_read: int
              ) -> EventColumns:
    """Check and collect what a reader returned into an :class:`EventColumns`."""
    offsets: dict[str, np.ndarray] = {}
    given: dict[str, np.ndarray] = {}  # the reader's offsets, as returned
    columns: dict[str, np.ndarray] = {}
    n_events: int | None = None
    for name, value in values.items():
        if isinstance(value, tuple):
            branch_offsets, contents = value
            collection = collection_of(name)
            known = offsets.get(collection)
            if known is None:
                offsets[collection] = _kernel_ready(
                    np.asarray(branch_offsets, dtype=np.int64))
                given[collection] = branch_offsets
            elif branch_offsets is given[collection]:
                pass  # one offsets array shared by the collection's branches
            elif not np.array_equal(known, branch_offsets):
                raise errors.InputFileError(
                    source, f"branch {name} has other counts than the rest of "
                    f"collection {collection}; the file is corrupt or not NanoAOD")
            length = len(branch_offsets) - 1
            columns[name] = _kernel_ready(contents)
        else:
            length = len(value)
            columns[name] = _kernel_ready(value)

        if n_events is None:
            n_events = length
        elif length != n_events:
            raise errors.InputFileError(
                source, f"branch {name} has {length} entries, others {n_events}; "
                "the file is corrupt")
        _check_dtype(source, name, columns[name].dtype)

    n_events = n_events or 0
    stop = entry_start + n_events if entry_stop is None else entry_stop
    return EventColumns(source, n_events, columns, offsets, entry_start, stop,
                        bytes_read)


def _check_dtype(source: str, branch: str, dtype: np.dtype) -> None:
    """Log when a branch is not stored as in NanoAOD (the kernels still work)."""
    expected = NANOAOD_DTYPES.get(branch)
    if expected is not None and dtype != expected:
        log.warning("%s: branch %s is %s, NanoAOD stores %s; the kernels compile "
                    "for this type on first use (not covered by the warm-up)",
                    source, branch, dtype, expected)


def read_branches(tree: Any, branches: Sequence[str], entry_start: int,
                  entry_stop: int) -> dict[str, Any]:
    """Read and decompress branches of an open uproot TTree (the read path).

    This is the one function a faster read path replaces; it must return, per
    branch, the flat values or ``(offsets, contents)``, as stored (native
    byte order).

    Args:
        tree: An uproot TTree.
        branches: Names of branches of the tree.
        entry_start: First entry.
        entry_stop: One past the last entry.

    Returns:
        Branch name -> numpy array, or ``(int64 offsets from 0, contents)``.
    """
    import awkward as ak

    arrays = tree.arrays(list(branches), entry_start=entry_start,
                         entry_stop=entry_stop, library="ak", how=dict)
    out: dict[str, np.ndarray | tuple[np.ndarray, np.ndarray]] = {}
    for name, array in arrays.items():
        if array.ndim == 2:
            out[name] = _offsets_and_contents(array)
        else:
            out[name] = ak.to_numpy(array)
    return out


def basket_bytes(tree: Any, branches: Sequence[str], entry_start: int,
                 entry_stop: int) -> int:
    """Compressed bytes of the baskets holding ``[entry_start, entry_stop)``.

    Counts the on-disk size (TKey included) of every basket of the branches
    that overlaps the range. Baskets embedded in the TTree metadata (small or
    unclosed files) are stored uncompressed there and count their data bytes.
    """
    total = 0
    if entry_start >= entry_stop:
        return total
    for name in branches:
        branch = tree[name]
        bounds = branch.entry_offsets
        embedded = branch.embedded_baskets
        n_free = branch.num_baskets - len(embedded)
        for index in range(branch.num_baskets):
            if bounds[index] >= entry_stop or bounds[index + 1] <= entry_start:
                continue
            if index < n_free:
                total += branch.basket_compressed_bytes(index)
            else:
                total += embedded[index - n_free].border
    return total


def read_events(source: str | os.PathLike[str],
                branches: Sequence[str] = spec.NEEDED_BRANCHES,
                entry_start: int | None = None, entry_stop: int | None = None,
                *, reader: BranchReader | None = None,
                threads: int | None = None) -> EventColumns:
    """Read the analysis branches of one NanoAOD file (or entry range).

    A local file is read by the fast path of :mod:`topxsec.fastread` when
    its layout allows (:mod:`topxsec.rootmeta`: ZLIB or uncompressed, flat
    branches, closed file); anything else, and every remote file, by uproot
    through :func:`read_branches`. Both give the same values.

    Args:
        source: Local path, ``root://`` or ``http(s)://`` URL.
        branches: Branches to read (default: all the analysis needs).
        entry_start: First entry (default 0).
        entry_stop: One past the last entry (default: the tree's end; a larger
            value is clipped with a warning).
        reader: Replacement for :func:`read_branches`; given, the file is read
            through uproot and this function.
        threads: Decompression threads of the fast path (default
            :func:`read_threads`).

    Returns:
        The events, with the compressed bytes of the baskets read.

    Raises:
        errors.InputFileError: The file is missing, truncated, not a ROOT file
            or has no TTree ``Events``.
        errors.MissingBranchError: Some of ``branches`` are not in the tree.
        errors.RemoteReadError: A remote file cannot be opened or read.
        ValueError: A negative entry number.
    """
    name = os.fspath(source)
    started = time.perf_counter()
    if reader is None and not is_remote(name):
        _check_local(name)
        events = _read_fast(name, branches, entry_start, entry_stop,
                            read_threads() if threads is None else threads)
        if events is not None:
            log.debug("read %s entries [%d, %d) directly: %d bytes of baskets in "
                      "%.3f s", name, events.entry_start, events.entry_stop,
                      events.bytes_read, time.perf_counter() - started)
            return events

    read = read_branches if reader is None else reader
    with _open_tree(name) as tree:
        missing = [branch for branch in branches if branch not in tree]
        if missing:
            raise errors.MissingBranchError(name, missing)

        start, stop = _entry_range(name, tree.num_entries, entry_start, entry_stop)
        with _input_errors(name, "reading the branches"):
            values = read(tree, branches, start, stop)
            n_bytes = basket_bytes(tree, branches, start, stop)

    events = _assemble(name, values, start, stop, n_bytes)
    log.debug("read %s entries [%d, %d): %d bytes of baskets in %.2f s", name,
              start, stop, n_bytes, time.perf_counter() - started)
    return events


def read_threads() -> int:
    """Decompression threads of the fast path: ``$TOPXSEC_READ_THREADS`` or 1."""
    configured = os.environ.get("TOPXSEC_READ_THREADS", "")
    return max(int(configured), 1) if configured.strip() else 1


def _check_local(name: str) -> None:
    """Fail early, with a clear message, on a missing local input."""
    path = Path(name)
    if not path.exists():
        raise errors.InputFileError(
            name, "does not exist; check the path in the file set (or fetch "
            "the file again)")
    if not path.is_file():
        raise errors.InputFileError(name, "is not a file; give a ROOT file")
    if path.stat().st_size == 0:
        raise errors.InputFileError(
            name, "is empty (0 bytes), probably an interrupted copy: copy or "
            "download it again")


def _read_fast(name: str, branches: Sequence[str], entry_start: int | None,
               entry_stop: int | None, threads: int) -> EventColumns | None:
    """Read through :mod:`topxsec.fastread`; None where it does not apply."""
    from topxsec import fastread, rootmeta

    try:
        tree = rootmeta.read_tree_info(name, TREE_NAME, frozenset(branches))
        absent = [branch for branch in branches if branch not in tree.branches]
        if absent:
            raise rootmeta.Unsupported(f"no top-level branch {absent[0]}")
        start, stop = _entry_range(name, tree.num_entries, entry_start, entry_stop)
        values, n_bytes = fastread.read_baskets(name, tree, branches, start, stop,
                                                threads)
    except rootmeta.Unsupported as exc:
        log.debug("%s: read through uproot (%s)", name, exc)
        return None
    except rootmeta.CorruptData as exc:
        raise errors.InputFileError(
            name, f"cannot be decoded ({exc}); it is probably truncated or "
            "corrupt: copy or download it again") from exc
    except OSError as exc:
        raise errors.InputFileError(
            name, f"cannot be read ({_first_line(exc)}); check its permissions, "
            "or copy it again") from exc
    return _assemble(name, values, start, stop, n_bytes)


def _entry_range(source: str, num_entries: int, entry_start: int | None,
                 entry_stop: int | None) -> tuple[int, int]:
    """Regularize an entry range against the tree's number of entries."""
    start = 0 if entry_start is None else int(entry_start)
    stop = num_entries if entry_stop is None else int(entry_stop)
    if start < 0 or stop < 0:
        raise ValueError(f"{source}: entry range [{entry_start}, {entry_stop}) "
                         "must not be negative")
    if stop > num_entries:
        log.warning("%s has %d entries; entry_stop %d is clipped to it", source,
                    num_entries, stop)
        stop = num_entries
    return min(start, stop), stop


def _source_options(name: str) -> dict[str, Any]:
    """uproot source options for a path or URL (no fsspec layer, no aiohttp).

    HTTP(S) uses one range request per basket from a few threads rather than
    uproot's multipart ``HTTPSource``: in uproot 5.7 the latter fails on a
    read with no free baskets (all embedded in the TTree, as in small files)
    and mis-batches very long ``Range`` headers (fixed upstream in
    scikit-hep/uproot5#1653); revisit when the environment has that fix.
    """
    import uproot

    if name.startswith("root://"):
        return {"handler": uproot.source.xrootd.XRootDSource}
    if name.startswith(("http://", "https://")):
        return {"handler": uproot.source.http.MultithreadedHTTPSource,
                "num_workers": HTTP_WORKERS}
    return {"handler": uproot.source.file.MemmapSource}


@contextlib.contextmanager
def _open_tree(name: str) -> Iterator[Any]:
    """Open ``name`` and yield its ``Events`` TTree, mapping failures to errors."""
    import uproot

    if not is_remote(name):
        _check_local(name)

    with _input_errors(name, "opening"):
        target = name if is_remote(name) else Path(name)
        file = uproot.open(target, **_source_options(name))
    try:
        with _input_errors(name, "reading the directory of"):
            if TREE_NAME not in file:
                keys = ", ".join(sorted(set(file.keys(cycle=False)))[:10]) or "none"
                raise errors.InputFileError(
                    name, f"has no TTree '{TREE_NAME}' (keys: {keys}); the "
                    "analysis needs CMS NanoAOD files")
            tree = file[TREE_NAME]
        if not isinstance(tree, uproot.TTree):
            raise errors.InputFileError(
                name, f"'{TREE_NAME}' is a {type(tree).__name__}, not a TTree; the "
                "analysis needs CMS NanoAOD files")
        yield tree
    finally:
        file.close()


@contextlib.contextmanager
def _input_errors(name: str, action: str) -> Iterator[None]:
    """Turn the reading failures of uproot into the package's named errors."""
    import uproot

    try:
        yield
    except errors.InputFileError:
        raise
    except FileNotFoundError as exc:
        if is_remote(name):
            raise errors.RemoteReadError(
                name, f"not found on the server while {action} it "
                f"({_first_line(exc)}); check the URL and the mirror prefix") from exc
        raise errors.InputFileError(
            name, f"does not exist ({_first_line(exc)}); check the path in the file "
            "set") from exc
    except (OSError, http.client.HTTPException) as exc:
        if is_remote(name):
            raise errors.RemoteReadError(
                name, f"remote read failed while {action} it ({_first_line(exc)}); "
                "check the URL, that the server is reachable and your credentials "
                "(grid proxy or token for root://); retrying may help") from exc
        raise errors.InputFileError(
            name, f"cannot be read while {action} it ({_first_line(exc)}); it is "
            "probably truncated or corrupt: copy or download it again") from exc
    except ValueError as exc:
        if str(exc).startswith("not a ROOT file"):
            raise errors.InputFileError(
                name, f"is not a ROOT file ({_first_line(exc)}); the analysis needs "
                "CMS NanoAOD ROOT files") from exc
        raise errors.InputFileError(
            name, f"cannot be decoded while {action} it ({_first_line(exc)}); it "
            "is probably corrupt: copy or download it again") from exc
    except (KeyError, EOFError, zlib.error, struct.error,
            uproot.deserialization.DeserializationError) as exc:
        raise errors.InputFileError(
            name, f"cannot be decoded while {action} it ({type(exc).__name__}: "
            f"{_first_line(exc)}); it is probably truncated or corrupt: copy or "
            "download it again") from exc


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (uproot's are long)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def write_skim(path: str | Path, events: EventColumns,
               compression_level: int = 1) -> None:
    """Write events as a NanoAOD-layout skim (see :func:`write_events`).

    Args:
        path: Output ROOT file, written atomically.
        events: The kept events with all their objects.
        compression_level: ZLIB level.
    """
    write_events(path, events.as_arrays(), compression_level=compression_level)


def _group_collections(columns: Mapping[str, Any]) -> dict[str, Any]:
    """Group ``Coll_field`` jagged columns into ``{Coll: ak.zip(...)}`` records.

    Flat (one value per event) columns, and jagged ones without a ``Coll_``
    prefix (``LHEPdfWeight``), are passed through. The branch order is kept: a
    collection takes the place of its first field.
    """
    import awkward as ak

    grouped: dict[str, dict[str, Any]] = {}
    out: dict[str, Any] = {}
    for name, values in columns.items():
        is_jagged = isinstance(values, ak.Array) and values.ndim == 2
        if is_jagged and "_" in name:
            collection, field = name.split("_", 1)
            out.setdefault(collection, None)
            grouped.setdefault(collection, {})[field] = values
        elif is_jagged:
            out[name] = values
        else:
            out[name] = np.asarray(values)

    for collection, fields in grouped.items():
        out[collection] = ak.zip(fields)
    return out


def _deflate_available() -> bool:
    """Whether libdeflate's Python binding (PyPI ``deflate``) is installed."""
    import importlib.util

    return importlib.util.find_spec("deflate") is not None


def write_events(path: str | Path, columns: Mapping[str, Any],
                 compression_level: int = 1, tree_name: str = TREE_NAME,
                 cluster_events: int | None = None) -> None:
    """Write columns as a NanoAOD-layout TTree, atomically.

    Jagged columns named ``Coll_field`` become branches ``Coll_field`` with a
    generated counter ``nColl``; flat columns become flat branches with their
    own dtype. The file is written under a temporary name and renamed, so a
    crash never leaves a file that looks complete.

    Args:
        path: Output file.
        columns: Branch name -> numpy array (flat) or awkward array (jagged,
            ``var * dtype``). All jagged columns of one collection must share
            their counts.
        compression_level: ZLIB level (NanoAOD uses ZLIB or LZMA; 1 is fast).
        tree_name: The tree's name.
        cluster_events: Events per cluster: every branch gets one basket per
            this many events, as ROOT's auto-flush makes them (real NanoAOD:
            clusters of a few thousand events). None writes one basket per
            branch.

    Note:
        uproot generates the counters as int32; real NanoAOD stores them as
        uint32. Readers (uproot, ROOT, coffea) accept either. Writing uint32
        counters would need uproot to let callers choose the counter type.
    """
    import uproot

    path = Path(path)
    data = _group_collections(columns)
    types = {name: (arr.type.content if hasattr(arr, "type") else arr.dtype)
             for name, arr in data.items()}

    n_events = max((len(array) for array in data.values()), default=0)
    step = max(n_events, 1) if cluster_events is None else int(cluster_events)
    if step < 1:
        raise ValueError(f"{path}: cluster_events must be at least 1, not {step}")
    starts = range(0, max(n_events, 1), step)

    compression = uproot.ZLIB(compression_level)
    if _deflate_available():
        # libdeflate: 2-3 times zlib's speed, smaller output, same format
        compression.library = "deflate"

    with (atomic_output(path) as tmp,
          uproot.recreate(tmp, compression=compression) as f):
        # room for every basket up front: growing it rewrites the metadata
        tree = f.mktree(tree_name, types, initial_basket_capacity=len(starts) + 2)
        for start in starts:
            tree.extend({name: array[start:start + step]
                         for name, array in data.items()})
    log.debug("wrote %s (%d branches)", path, len(columns))
