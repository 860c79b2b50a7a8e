"""The metadata a basket reader needs, read from a ROOT file without uproot.

uproot deserializes every branch of a tree when it opens it: about 0.2 s for
the 950 branches of a NanoAOD file, as long as the analysis takes to read
half a million events. This module reads only what the fast read path of
:mod:`topxsec.fastread` needs: the file header, the top directory's keys, and
of the tree's branches the names of all and, for the wanted ones, the type,
whether they are jagged and their basket table (entry boundaries, file
positions and sizes). The branches it does not want are skipped by their
byte counts.

It handles what ROOT 6 and uproot write for flat NanoAOD trees: a ``TTree``
of class version 20 at the top of the file, plain ``TBranch`` objects
(version 13) with one ``TLeafF/D/I/L/S/B/O`` leaf each (scalar or counted by
another leaf), ZLIB-compressed or uncompressed metadata, and every entry in a
basket of its own in the file (closed files). Anything else raises
:class:`Unsupported`, and the caller reads the file with uproot instead.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

try:  # libdeflate: about twice as fast as zlib on ROOT's ZLIB baskets
    import deflate as _deflate
except ImportError:  # pragma: no cover - the package is a dependency
    _deflate = None

# ROOT streamer constants (TBufferFile).
_BYTE_COUNT_MASK = 0x40000000
_BYTE_COUNT_V_MASK = 0x4000
_CLASS_MASK = 0x80000000
_NEW_CLASS_TAG = 0xFFFFFFFF
_MAP_OFFSET = 2
_IS_REFERENCED = 1 << 4

_FILE_SMALL = struct.Struct(">4siiiiiiiBiiiH")
_FILE_BIG = struct.Struct(">4siiqqiiiBiqiH")
_DIRECTORY_SMALL = struct.Struct(">hIIiiiii")
_DIRECTORY_BIG = struct.Struct(">hIIiiqqq")
_KEY_SMALL = struct.Struct(">ihiIhhii")
_KEY_BIG = struct.Struct(">ihiIhhqq")
_BASKET_KEY = struct.Struct(">ihiIhh")
_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
_U16 = struct.Struct(">H")
_TTREE20 = struct.Struct(">qqqqqdiiiiIqqqqqq")
_TBRANCH13_A = struct.Struct(">iiiiq")
_TBRANCH13_B = struct.Struct(">iIiqqqq")
_TLEAF = struct.Struct(">iii??")
_OBJARRAY = struct.Struct(">ii")

#: Stored (big-endian) dtypes of the leaf classes, signed and unsigned.
LEAF_DTYPES: dict[str, tuple[str, str]] = {
    "TLeafF": (">f4", ">f4"), "TLeafD": (">f8", ">f8"),
    "TLeafI": (">i4", ">u4"), "TLeafL": (">i8", ">u8"),
    "TLeafS": (">i2", ">u2"), "TLeafB": ("i1", "u1"), "TLeafO": ("?", "?"),
}

#: Bytes read to find the directory and keys (header, directory record).
_HEAD_BYTES = 512


class Unsupported(Exception):
    """The file uses a feature this reader does not handle (read it with uproot)."""


class CorruptData(Exception):
    """Bytes that the metadata says are compressed data do not decompress."""


@dataclass(frozen=True)
class BranchInfo:
    """A wanted branch: its stored type and its baskets in the file."""

    name: str
    #: stored dtype of one value (big-endian)
    dtype: np.dtype
    #: whether a counter leaf gives the number of values per entry
    jagged: bool
    #: first entry of each basket, then the number of entries (int64)
    basket_entry: np.ndarray
    #: file position of each basket's key (int64)
    basket_seek: np.ndarray
    #: bytes of each basket on disk, key included (int64)
    basket_bytes: np.ndarray
    #: baskets kept in the branch's metadata (after the free ones): each the
    #: basket's uncompressed record laid out as a free basket's, and its key
    embedded: tuple[tuple[bytes, tuple[int, int, int, int, int]], ...] = ()


@dataclass
class TreeInfo:
    """The tree's entries, every branch name, and the wanted branches."""

    path: str
    num_entries: int
    names: list[str] = field(default_factory=list)
    branches: dict[str, BranchInfo] = field(default_factory=dict)


def decompress(data: bytes | memoryview, objlen: int) -> bytes | memoryview:
    """Decompress a ROOT record (one or more ZLIB blocks, or stored as is).

    Args:
        data: The bytes after the key.
        objlen: The uncompressed size.

    Returns:
        ``objlen`` bytes (``data`` itself if it is stored uncompressed).

    Raises:
        Unsupported: A block uses another algorithm than ZLIB (LZMA, LZ4,
            ZSTD, ROOT's old "CS").
        CorruptData: A block does not decompress to its stated size.
    """
    if len(data) == objlen:
        return data

    view = memoryview(data)
    parts = []
    pos = 0
    while pos < len(view):
        head = view[pos:pos + 9]
        if len(head) < 9:
            raise CorruptData(f"compressed block header cut at byte {pos}")
        if head[:2] != b"ZL":
            raise Unsupported(f"compression {bytes(head[:2])!r} (only ZLIB is "
                              "read directly)")
        compressed = head[3] | head[4] << 8 | head[5] << 16
        size = head[6] | head[7] << 8 | head[8] << 16
        block = view[pos + 9:pos + 9 + compressed]
        parts.append(inflate(block, size))
        pos += 9 + compressed

    out = parts[0] if len(parts) == 1 else b"".join(parts)
    if len(out) != objlen:
        raise CorruptData(f"decompressed to {len(out)} bytes, expected {objlen}")
    return out


def inflate(block: bytes | memoryview, size: int) -> bytes:
    """One ZLIB stream of ``size`` uncompressed bytes (libdeflate if present).

    Raises:
        CorruptData: The stream does not decompress (to that size).
    """
    try:
        if _deflate is not None:  # checks the size itself
            return _deflate.zlib_decompress(block, size)
        out = zlib.decompress(block, bufsize=size)
    except (zlib.error, ValueError) as exc:
        raise CorruptData(f"ZLIB block does not decompress ({exc})") from exc
    except Exception as exc:
        if _deflate is not None and isinstance(exc, _deflate.DeflateError):
            raise CorruptData(f"ZLIB block does not decompress ({exc})") from exc
        raise
    if len(out) != size:
        raise CorruptData(f"ZLIB block gave {len(out)} bytes, expected {size}")
    return out


class _Reader:
    """Bounds-checked reads of a positioned file (``os.pread``)."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size

    def read(self, position: int, length: int) -> bytes:
        if position < 0 or length < 0 or position + length > self.size:
            raise Unsupported(f"record at byte {position} ({length} bytes) lies "
                              f"beyond the end of the file ({self.size} bytes)")
        data = os.pread(self.fd, length, position)
        if len(data) != length:
            raise Unsupported(f"short read at byte {position}")
        return data


class _Buffer:
    """A cursor over one deserialized record (positions as ROOT counts them)."""

    def __init__(self, data: bytes, displacement: int) -> None:
        self.data = data
        self.pos = 0
        #: ROOT's positions (class and object references) count from the key
        self.displacement = displacement
        self.classes: dict[int, str] = {}

    def unpack(self, fmt: struct.Struct) -> tuple:
        values = fmt.unpack_from(self.data, self.pos)
        self.pos += fmt.size
        return values

    def skip(self, n: int) -> None:
        self.pos += n

    def string(self) -> str:
        length = self.data[self.pos]
        self.pos += 1
        if length == 255:
            (length,) = self.unpack(_I32)
        text = self.data[self.pos:self.pos + length]
        self.pos += length
        return text.decode(errors="surrogateescape")

    def cstring(self, at: int) -> tuple[str, int]:
        end = self.data.index(b"\0", at)
        return self.data[at:end].decode(errors="surrogateescape"), end + 1

    def header(self) -> tuple[int | None, int]:
        """A streamer's byte count and version: (end position or None, version)."""
        (count,) = _U32.unpack_from(self.data, self.pos)
        if count & _BYTE_COUNT_MASK:
            end = self.pos + 4 + (count & ~_BYTE_COUNT_MASK)
            self.pos += 4
        else:
            end = None
        (version,) = self.unpack(_U16)
        return end, version

    def skip_object(self) -> None:
        """Skip a streamed sub-object that carries a byte count."""
        end, _ = self.header()
        if end is None:
            raise Unsupported("a streamed object without a byte count")
        self.pos = end

    def tobject(self) -> None:
        """Skip a TObject header."""
        (version,) = self.unpack(_U16)
        if version & _BYTE_COUNT_V_MASK:
            self.skip(4)
        _unique_id, bits = self.unpack(struct.Struct(">II"))
        if bits & _IS_REFERENCED:
            self.skip(2)

    def tnamed(self) -> tuple[str, str]:
        """Name and title of a TNamed."""
        end, _ = self.header()
        self.tobject()
        name = self.string()
        title = self.string()
        if end is not None:
            self.pos = end
        return name, title

    def object_pointer(self) -> tuple[str | None, int | None, bool]:
        """Start of a ``ReadObjectAny`` item: ``(class name, end, is_null)``.

        For a new object, returns its class name and its end (from its byte
        count, None without one), positioned at the object's data. For a null
        pointer or a reference to an object already read, returns
        ``(None, None, is_null)``, positioned after it.
        """
        begin = self.pos
        (count,) = self.unpack(_U32)
        if count & _BYTE_COUNT_MASK and count != _NEW_CLASS_TAG:
            end = begin + 4 + (count & ~_BYTE_COUNT_MASK)
            tag_at = self.pos
            (tag,) = self.unpack(_U32)
        else:
            end = None
            tag_at = begin
            tag = count
        if not tag & _CLASS_MASK:
            if end is not None:
                self.pos = end
            return None, None, tag == 0
        if tag == _NEW_CLASS_TAG:
            name, self.pos = self.cstring(self.pos)
            self.classes[tag_at + self.displacement + _MAP_OFFSET] = name
        else:
            name = self._class_at(tag & ~_CLASS_MASK)
        return name, end, False

    def _class_at(self, reference: int) -> str:
        """Class name of a reference, also to a tag inside a skipped object."""
        known = self.classes.get(reference)
        if known is not None:
            return known
        at = reference - _MAP_OFFSET - self.displacement
        if at < 0 or _U32.unpack_from(self.data, at)[0] != _NEW_CLASS_TAG:
            raise Unsupported(f"class reference {reference} does not point to a "
                              "class tag")
        name, _ = self.cstring(at + 4)
        self.classes[reference] = name
        return name


def _file_layout(reader: _Reader) -> tuple[int, int]:
    """(position, bytes) of the top directory's key list."""
    head = reader.read(0, min(_HEAD_BYTES, reader.size))
    if len(head) < _FILE_SMALL.size or head[:4] != b"root":
        raise Unsupported("not a ROOT file")
    (version,) = _I32.unpack_from(head, 4)
    fields = (_FILE_BIG if version >= 1000000 else _FILE_SMALL).unpack_from(head)
    begin, name_bytes = fields[2], fields[7]

    directory = reader.read(begin + name_bytes, _DIRECTORY_BIG.size)
    (dir_version,) = struct.unpack_from(">h", directory)
    layout = _DIRECTORY_BIG if dir_version > 1000 else _DIRECTORY_SMALL
    values = layout.unpack_from(directory)
    keys_bytes, seek_keys = values[3], values[7]
    if seek_keys == 0:
        raise Unsupported("the file has no keys")
    return seek_keys, keys_bytes


def _key(buf: _Buffer) -> dict[str, int | str]:
    """One TKey header at the buffer's position."""
    (_nbytes, version) = struct.unpack_from(">ih", buf.data, buf.pos)
    nbytes, version, objlen, _datime, keylen, cycle, seek, _pdir = buf.unpack(
        _KEY_BIG if version > 1000 else _KEY_SMALL)
    classname = buf.string()
    name = buf.string()
    buf.string()
    return {"nbytes": nbytes, "objlen": objlen, "keylen": keylen, "cycle": cycle,
            "seek": seek, "classname": classname, "name": name}


def _tree_key(reader: _Reader, tree_name: str) -> dict[str, int | str]:
    """The key of the highest cycle of ``tree_name`` in the top directory."""
    seek_keys, keys_bytes = _file_layout(reader)
    buf = _Buffer(reader.read(seek_keys, keys_bytes), 0)
    _key(buf)  # the key of the key list itself
    (n_keys,) = buf.unpack(_I32)
    found = None
    for _ in range(n_keys):
        key = _key(buf)
        newer = found is None or key["cycle"] > found["cycle"]
        if key["name"] == tree_name and newer:
            found = key
    if found is None or found["classname"] != "TTree":
        raise Unsupported(f"no TTree {tree_name!r} at the top of the file")
    return found


def read_tree_info(path: str | os.PathLike[str], tree_name: str,
                   wanted: set[str] | frozenset[str]) -> TreeInfo:
    """Read a tree's entries, branch names and the wanted branches' baskets.

    Args:
        path: A local ROOT file.
        tree_name: The tree at the top of the file (``"Events"``).
        wanted: Names of the branches whose baskets are needed.

    Returns:
        The tree's metadata; ``branches`` holds those of ``wanted`` that are
        top-level branches of the tree.

    Raises:
        Unsupported: The file or tree is not in the layout this reader
            handles (including truncated or unreadable metadata).
        OSError: The file cannot be opened.
    """
    name = os.fspath(path)
    fd = os.open(name, os.O_RDONLY)
    try:
        reader = _Reader(fd, os.fstat(fd).st_size)
        try:
            key = _tree_key(reader, tree_name)
            record = reader.read(int(key["seek"]), int(key["nbytes"]))
            keylen = int(key["keylen"])
            data = bytes(decompress(memoryview(record)[keylen:], int(key["objlen"])))
            return _parse_tree(name, _Buffer(data, keylen), wanted)
        except (struct.error, IndexError, ValueError, CorruptData) as exc:
            raise Unsupported(f"unexpected metadata layout ({exc})") from exc
    finally:
        os.close(fd)


def _parse_tree(path: str, buf: _Buffer, wanted: set[str] | frozenset[str]
                ) -> TreeInfo:
    """The TTree streamer up to its branch list, then the branches."""
    _end, version = buf.header()
    if version != 20:
        raise Unsupported(f"TTree class version {version} (reads version 20)")
    for _base in ("TNamed", "TAttLine", "TAttFill", "TAttMarker"):
        buf.skip_object()
    fields = buf.unpack(_TTREE20)
    num_entries, n_cluster_ranges = fields[0], fields[10]
    buf.skip(2 * (1 + 8 * n_cluster_ranges))  # fClusterRangeEnd, fClusterSize
    buf.skip_object()  # fIOFeatures

    info = TreeInfo(path, int(num_entries))
    buf.header()  # fBranches: TObjArray
    buf.tobject()
    buf.string()
    size, _lower = buf.unpack(_OBJARRAY)
    for _ in range(size):
        classname, end, _null = buf.object_pointer()
        if classname is None:
            continue
        if end is None:
            raise Unsupported(f"a {classname} without a byte count")
        branch = _parse_branch(buf, classname, end, wanted, info.num_entries)
        if branch is not None:
            info.names.append(branch if isinstance(branch, str) else branch.name)
            if isinstance(branch, BranchInfo):
                info.branches[branch.name] = branch
        buf.pos = end
    return info


def _parse_branch(buf: _Buffer, classname: str, end: int,
                  wanted: set[str] | frozenset[str], num_entries: int
                  ) -> BranchInfo | str | None:
    """A branch's name, or its :class:`BranchInfo` if it is wanted."""
    start = buf.pos
    _bend, version = buf.header()
    name, _title = buf.tnamed()
    if name not in wanted:
        return name
    if classname != "TBranch" or version != 13:
        raise Unsupported(f"branch {name} is a {classname} version {version} "
                          "(reads TBranch version 13)")
    buf.skip_object()  # TAttFill
    _compress, _size, _offset_len, write_basket, _number = buf.unpack(_TBRANCH13_A)
    buf.skip_object()  # fIOFeatures
    (_offset, max_baskets, _split, entries, _first, _tot,
     _zip) = buf.unpack(_TBRANCH13_B)

    if _object_array_size(buf) != 0:
        raise Unsupported(f"branch {name} has sub-branches")
    dtype, jagged = _leaf(buf, name)
    embedded = _embedded_baskets(buf, name)

    buf.skip(1)
    sizes = np.frombuffer(buf.data, ">i4", max_baskets, buf.pos).astype(np.int64)
    buf.skip(4 * max_baskets + 1)
    firsts = np.frombuffer(buf.data, ">i8", max_baskets, buf.pos).astype(np.int64)
    buf.skip(8 * max_baskets + 1)
    seeks = np.frombuffer(buf.data, ">i8", max_baskets, buf.pos).astype(np.int64)
    buf.skip(8 * max_baskets)
    if buf.string():
        raise Unsupported(f"branch {name} keeps its baskets in another file")
    if buf.pos != end or end - start < 0:
        raise Unsupported(f"branch {name}: streamer length mismatch")

    n = int(write_basket)
    if entries != num_entries or n > max_baskets:
        raise Unsupported(f"branch {name}: {entries} entries in a tree of "
                          f"{num_entries}")
    free_entries = int(firsts[n]) if n < max_baskets else int(entries)
    starts = [*firsts[:n].tolist(), free_entries]
    for _record, key in embedded:
        starts.append(starts[-1] + key[3])
    basket_entry = np.asarray(starts, dtype=np.int64)
    if basket_entry[0] != 0 or basket_entry[-1] != entries \
            or np.any(np.diff(basket_entry[:n + 1]) <= 0) \
            or np.any(seeks[:n] <= 0) or np.any(sizes[:n] <= 0):
        raise Unsupported(f"branch {name}: its baskets do not cover its "
                          f"{entries} entries")
    if not embedded:
        basket_entry = basket_entry[:n + 1]
    return BranchInfo(name, dtype, jagged, basket_entry, seeks[:n], sizes[:n],
                      embedded)


def _embedded_baskets(buf: _Buffer, branch: str
                      ) -> tuple[tuple[bytes, tuple[int, int, int, int, int]], ...]:
    """The non-empty baskets of a branch's ``fBaskets`` array.

    Each is returned as a record laid out like a decompressed free basket
    (values, then the count and entry offsets) with its key, so that one
    decoder reads both kinds.
    """
    end, _ = buf.header()
    if end is None:
        raise Unsupported(f"branch {branch}: fBaskets without a byte count")
    buf.tobject()
    buf.string()
    size, _lower = buf.unpack(_OBJARRAY)
    out = []
    for _ in range(size):
        classname, item_end, _null = buf.object_pointer()
        if classname is None:
            continue
        if classname != "TBasket" or item_end is None:
            raise Unsupported(f"branch {branch}: a {classname} in fBaskets")
        key = basket_key(buf.data, buf.pos)
        nbytes, _objlen, keylen, n_entries, _last = key
        flag = buf.data[buf.pos + keylen - 1]
        if n_entries > 0:
            # ROOT's flag: 1 with entry offsets, 2 without; +10 with the buffer
            if nbytes > keylen or flag not in (11, 12):
                raise Unsupported(f"branch {branch}: embedded basket flag {flag}")
            out.append(_embedded_record(buf, key, flag == 11, branch))
        buf.pos = item_end
    buf.pos = end
    return tuple(out)


def _embedded_record(buf: _Buffer, key: tuple[int, int, int, int, int],
                     has_offsets: bool, branch: str
                     ) -> tuple[bytes, tuple[int, int, int, int, int]]:
    """One embedded basket as (record, key): see :func:`_embedded_baskets`.

    The stream holds the key and header (``keylen`` bytes), the entry offsets
    if there are any (a count, then one ``int32`` per entry), then the
    basket's buffer (``last`` bytes: header space, then the values).
    """
    _nbytes, _objlen, keylen, n_entries, last = key
    at = buf.pos + keylen
    offsets = b""
    if has_offsets:
        (count,) = _I32.unpack_from(buf.data, at)
        if count != n_entries:
            raise Unsupported(f"branch {branch}: embedded basket with {count} "
                              f"offsets for {n_entries} entries")
        offsets = (_I32.pack(n_entries + 1) + buf.data[at + 4:at + 4 + 4 * n_entries]
                   + _I32.pack(last))
        at += 4 + 4 * n_entries
    values = buf.data[at + keylen:at + last]
    if len(values) != last - keylen:
        raise Unsupported(f"branch {branch}: embedded basket cut short")
    record = values + offsets
    return record, (-1, len(record), keylen, n_entries, last)


def _object_array_size(buf: _Buffer) -> int:
    """Skip a TObjArray, returning its number of slots."""
    end, _ = buf.header()
    if end is None:
        raise Unsupported("a TObjArray without a byte count")
    buf.tobject()
    buf.string()
    size, _lower = buf.unpack(_OBJARRAY)
    buf.pos = end
    return size


def _leaf(buf: _Buffer, branch: str) -> tuple[np.dtype, bool]:
    """The one leaf of a branch: stored dtype and whether it is counted."""
    array_end, _ = buf.header()
    buf.tobject()
    buf.string()
    size, _lower = buf.unpack(_OBJARRAY)
    if size != 1 or array_end is None:
        raise Unsupported(f"branch {branch} has {size} leaves")
    classname, _end, _null = buf.object_pointer()
    if classname not in LEAF_DTYPES:
        raise Unsupported(f"branch {branch} has a {classname} leaf")
    buf.header()  # the TLeafX streamer
    buf.header()  # its TLeaf base
    buf.tnamed()
    length, length_type, _offset, _is_range, unsigned = buf.unpack(_TLEAF)
    _counter, _counter_end, no_counter = buf.object_pointer()
    jagged = not no_counter
    dtype = np.dtype(LEAF_DTYPES[classname][1 if unsigned else 0])
    if length != 1 or length_type != dtype.itemsize:
        raise Unsupported(f"branch {branch}: {length} values of {length_type} "
                          "bytes per item")
    buf.pos = array_end
    return dtype, jagged


def basket_key(data: bytes | memoryview, at: int = 0) -> tuple[int, int, int, int,
                                                                int]:
    """A basket's key: ``(nbytes, objlen, keylen, entries, last)``.

    ``last`` (ROOT's ``fLast``) is where the values end and, for a jagged
    branch, the entry offsets begin (counted from the key's start).
    """
    nbytes, _version, objlen, _datime, keylen, _cycle = _BASKET_KEY.unpack_from(
        data, at)
    _bversion, _bufsize, _nevbufsize, entries, last = struct.unpack_from(
        ">Hiiii", data, at + keylen - 19)
    return nbytes, objlen, keylen, entries, last
