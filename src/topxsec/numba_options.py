"""The one place with the ``numba.njit`` options of the analysis kernels.

Why these options:

- ``cache=True``: a job runs one kernel over one file; compiling costs seconds
  per process, so the compiled code is cached on disk and a workflow rule
  compiles it once before the fan-out (:func:`topxsec.kernels.warm_up`).
- ``error_model="numpy"``: no per-division zero checks in the hot loop; a
  division by zero gives inf/NaN as in numpy (the kernels divide only by
  constants).
- ``fastmath=False``: the kernels must reproduce the plain-array reference
  bit for bit wherever IEEE arithmetic allows (no reassociation, no FMA
  contraction), and compare NaN correctly.
- ``nogil=True``: lets a caller run kernels on chunks in a thread pool.
- ``boundscheck=False`` (numba's default, stated for clarity).

numba's cache checks only the source file of the cached function itself, not
the helpers it inlines from other modules. So that an edited helper never
leaves a stale kernel in a shared cache, each kernel is cached in a
sub-directory named after a fingerprint of its own source file, the helpers'
``kernels/common.py``, this file and the numba version:
``<base>/topxsec-<fingerprint>/`` (the same files the workflow's compile rule
depends on). Helpers shared by kernels therefore belong in
``kernels/common.py``. ``<base>`` is ``$NUMBA_CACHE_DIR`` if set, else
``$XDG_CACHE_HOME/topxsec-numba`` (default ``~/.cache/topxsec-numba``). If
that directory cannot be written, the kernels compile in memory in every
process (slower start, same results).

Other packages' numba extensions (awkward's, vector's: numba's
``numba_extensions`` entry points) are not loaded for the kernels, which take
only numpy arrays: loading them imports awkward (and vector) in every job and
doubled the time to load a cached kernel (0.28 s instead of 0.57 s here).
Set ``TOPXSEC_NUMBA_EXTENSIONS=1`` to load them anyway; awkward registers
itself when an awkward array reaches numba.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numba
from numba.core import config as numba_config

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def _skip_numba_extensions() -> None:
    """Mark numba's extension entry points as loaded (see the module docstring).

    Uses numba's own once-only flag (``numba.core.entrypoints``); without it
    (another numba version) nothing changes.
    """
    if os.environ.get("TOPXSEC_NUMBA_EXTENSIONS", "").strip() not in ("", "0"):
        return
    from numba.core import entrypoints

    if hasattr(entrypoints, "_already_initialized"):
        entrypoints._already_initialized = True


_skip_numba_extensions()

#: Options of every event-loop kernel (see the module docstring for why).
KERNEL_OPTIONS: dict[str, Any] = {
    "error_model": "numpy",
    "fastmath": False,
    "nogil": True,
    "boundscheck": False,
}

#: Options of the scalar helpers: inlined into the kernels at numba IR level,
#: so they are compiled (and cached) as part of each kernel.
HELPER_OPTIONS: dict[str, Any] = {**KERNEL_OPTIONS, "inline": "always"}

_PACKAGE_DIR = Path(__file__).resolve().parent

#: Sources every kernel depends on besides its own module.
SHARED_KERNEL_SOURCES: tuple[Path, ...] = (
    _PACKAGE_DIR / "numba_options.py",
    _PACKAGE_DIR / "kernels" / "common.py",
)


@functools.lru_cache(maxsize=None)
def kernel_fingerprint(source_file: str | Path) -> str:
    """Return a short hash of a kernel's sources and the numba version.

    Args:
        source_file: The module that defines the kernel.

    Returns:
        16 hex digits; they change whenever the kernel's module, the shared
        helpers or this file change.
    """
    digest = hashlib.sha256(numba.__version__.encode())
    sources = dict.fromkeys([*SHARED_KERNEL_SOURCES, Path(source_file).resolve()])
    for path in sources:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_base_dir() -> Path:
    """Return the base cache directory (``$NUMBA_CACHE_DIR`` or the user's)."""
    configured = os.environ.get("NUMBA_CACHE_DIR") or numba_config.CACHE_DIR
    if configured:
        return Path(configured)

    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "topxsec-numba"


def kernel_cache_dir(source_file: str | Path) -> Path | None:
    """Return the writable cache directory of a kernel module, or None.

    Args:
        source_file: The module that defines the kernel.

    Returns:
        ``<base>/topxsec-<fingerprint>``, created; None if it is not writable.
    """
    path = cache_base_dir() / f"topxsec-{kernel_fingerprint(source_file)}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as exc:
        log.warning("numba cache %s is not writable (%s); kernels compile in "
                    "memory in every process", path, exc)
        return None
    return path


@contextlib.contextmanager
def _numba_cache_dir(path: Path) -> Iterator[None]:
    """Point numba's cache locator at ``path`` while a kernel is decorated.

    numba picks a function's cache directory when ``njit(cache=True)`` is
    applied, from ``numba.config.CACHE_DIR``; it is restored afterwards so that
    other packages' caches are unaffected.
    """
    saved = numba_config.CACHE_DIR
    numba_config.CACHE_DIR = str(path)
    try:
        yield
    finally:
        numba_config.CACHE_DIR = saved


def kernel(func: F) -> F:
    """Compile ``func`` as an event-loop kernel, cached when possible.

    Args:
        func: A Python function numba can compile in nopython mode.

    Returns:
        The numba dispatcher; it compiles lazily for the argument types of
        each call, or loads the compiled code from the cache.
    """
    path = kernel_cache_dir(inspect.getfile(func))
    if path is not None:
        with _numba_cache_dir(path):
            try:
                return numba.njit(cache=True, **KERNEL_OPTIONS)(func)
            except RuntimeError as exc:  # numba found no usable cache locator
                log.warning("cannot cache kernel %s (%s)", func.__name__, exc)
    return numba.njit(cache=False, **KERNEL_OPTIONS)(func)


def helper(func: F) -> F:
    """Compile ``func`` as a scalar helper that is inlined into the kernels.

    Args:
        func: A small Python function on scalars.

    Returns:
        The numba dispatcher (callable from kernels and, for tests, Python).
    """
    return numba.njit(**HELPER_OPTIONS)(func)


def log_cache_use(dispatcher: Any) -> None:
    """Log whether a kernel was loaded from the cache or compiled here.

    A job that compiles spends seconds it should not: the shared cache was not
    reachable, was built for another CPU, or is stale. The line in the job's
    log tells an operator which.

    Args:
        dispatcher: A kernel made by :func:`kernel`, after it has run.
    """
    stats = getattr(dispatcher, "stats", None)
    if stats is None:
        return

    name = getattr(dispatcher, "__name__", repr(dispatcher))
    if stats.cache_path is None:
        log.warning("kernel %s compiled in memory: no writable cache directory",
                    name)
    elif stats.cache_hits:
        log.info("kernel %s loaded from the cache in %s", name, stats.cache_path)
    elif stats.cache_misses:
        log.warning("kernel %s compiled in this job: no usable cache in %s "
                    "(compile it first, share the directory, or set "
                    "numba.cpu_name: generic for mixed CPUs)", name,
                    stats.cache_path)
