"""The kernels' numba options: the cache-use line every job logs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from topxsec import numba_options


def _total(values: np.ndarray) -> float:
    result = 0.0
    for value in values:
        result += value
    return result


def test_cache_use_is_logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache"))
    caplog.set_level(logging.INFO, logger="topxsec.numba_options")

    compiled = numba_options.kernel(_total)
    assert compiled(np.arange(4.0)) == 6.0
    numba_options.log_cache_use(compiled)
    assert "compiled in this job" in caplog.text
    caplog.clear()

    # A second process would see this: the same kernel, from the cache.
    loaded = numba_options.kernel(_total)
    assert loaded(np.arange(4.0)) == 6.0
    numba_options.log_cache_use(loaded)
    assert "loaded from the cache" in caplog.text


def test_unwritable_cache_is_logged(tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch,
                                    caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory should be\n")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(blocked))

    compiled = numba_options.kernel(_total)
    assert compiled(np.ones(3)) == 3.0
    numba_options.log_cache_use(compiled)
    assert "compiled in memory" in caplog.text
