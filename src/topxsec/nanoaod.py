"""NanoAOD-layout ROOT files: writing a tree of jagged collections.

Reading the analysis branches lives here too (added with the kernels). This
module imports uproot and awkward lazily so that importing it stays cheap.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

TREE_NAME = "Events"


def _group_collections(columns: Mapping[str, Any]) -> dict[str, Any]:
    """Group ``Coll_field`` jagged columns into ``{Coll: ak.zip(...)}`` records.

    Flat (one value per event) columns are passed through unchanged.
    """
    import awkward as ak

    grouped: dict[str, dict[str, Any]] = {}
    out: dict[str, Any] = {}
    for name, values in columns.items():
        is_jagged = isinstance(values, ak.Array) and values.ndim == 2
        if is_jagged and "_" in name:
            collection, field = name.split("_", 1)
            grouped.setdefault(collection, {})[field] = values
        else:
            out[name] = np.asarray(values)

    for collection, fields in grouped.items():
        out[collection] = ak.zip(fields)
    return out


def write_events(path: str | Path, columns: Mapping[str, Any],
                 compression_level: int = 1, tree_name: str = TREE_NAME) -> None:
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

    Note:
        uproot generates the counters as int32; real NanoAOD stores them as
        uint32. Readers (uproot, ROOT, coffea) accept either. Writing uint32
        counters would need uproot to let callers choose the counter type.
    """
    import uproot

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    data = _group_collections(columns)
    types = {name: (arr.type.content if hasattr(arr, "type") else arr.dtype)
             for name, arr in data.items()}

    try:
        with uproot.recreate(tmp, compression=uproot.ZLIB(compression_level)) as f:
            tree = f.mktree(tree_name, types)
            tree.extend(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    log.debug("wrote %s (%d branches)", path, len(columns))
