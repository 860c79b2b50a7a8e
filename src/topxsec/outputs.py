"""Outputs written atomically: under a temporary name, renamed when complete.

A job that fails (or is killed) mid-write leaves no file at the output path
that looks complete; the temporary name is hidden (``.<name>.tmp<pid>``) and
in the same directory, so the rename is one step on one filesystem. Cheap to
import (the Snakefile's modules use it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Give a temporary path beside ``path``; rename it to ``path`` when done.

    Write the output to the yielded path. When the ``with`` block ends
    normally the file replaces ``path`` in one rename (same directory, so the
    same filesystem); when it raises, the temporary file is removed and
    ``path`` is left as it was.

    Args:
        path: The output file.

    Yields:
        The temporary path (hidden: ``.<name>.tmp<pid>``).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)
