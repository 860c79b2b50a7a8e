"""Tests of the fast read path (topxsec.rootmeta, topxsec.fastread).

The fast path must give, value for value, what uproot's path
(:func:`topxsec.nanoaod.read_branches`) gives: on the real file (whose
baskets are embedded in the tree's metadata), demo files, files of many
clusters read in entry ranges that start and stop inside baskets, with and
without decompression threads; and it must hand anything it does not handle
back to uproot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot

from topxsec import demo, errors, fastread, rootmeta, spec
from topxsec.nanoaod import (
    EventColumns,
    _assemble,
    read_branches,
    read_events,
    write_events,
)

RandomEvents = Callable[..., dict[str, Any]]
BRANCHES = spec.NEEDED_BRANCHES


def _through_uproot(path: Path | str, start: int | None = None,
                    stop: int | None = None) -> EventColumns:
    return read_events(path, entry_start=start, entry_stop=stop,
                       reader=read_branches)


def _direct(path: Path | str, start: int, stop: int, threads: int = 1
            ) -> EventColumns:
    tree = rootmeta.read_tree_info(path, "Events", frozenset(BRANCHES))
    values, n_bytes = fastread.read_baskets(path, tree, BRANCHES, start, stop,
                                            threads)
    return _assemble(str(path), values, start, stop, n_bytes)


def _assert_same(got: EventColumns, expected: EventColumns) -> None:
    assert got.n_events == expected.n_events
    assert (got.entry_start, got.entry_stop) == (expected.entry_start,
                                                 expected.entry_stop)
    assert got.bytes_read == expected.bytes_read
    for name in BRANCHES:
        assert got[name].dtype == expected[name].dtype, name
        assert got[name].flags.c_contiguous and got[name].flags.writeable
        # bit for bit, NaN included
        np.testing.assert_array_equal(got[name].view(np.uint8),
                                      expected[name].view(np.uint8), err_msg=name)
    assert set(got.offsets) == set(expected.offsets)
    for collection, offsets in expected.offsets.items():
        np.testing.assert_array_equal(got.offsets[collection], offsets)
        assert got.offsets[collection].dtype == np.int64


@pytest.fixture(scope="module")
def clustered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 random events in clusters of 250 (12 baskets per branch)."""
    from conftest import make_random_events

    path = tmp_path_factory.mktemp("fastread") / "clusters.root"
    write_events(path, make_random_events(3000, seed=12), cluster_events=250)
    return path


def test_metadata_agrees_with_uproot(real_file: str, clustered: Path) -> None:
    for path in (real_file, clustered):
        wanted = frozenset({*BRANCHES, "nJet"})
        info = rootmeta.read_tree_info(path, "Events", wanted)
        tree = uproot.open(path)["Events"]

        assert info.num_entries == tree.num_entries
        assert info.names == [branch.name for branch in tree.branches]
        assert set(info.branches) == wanted
        for name, branch in info.branches.items():
            interpretation = tree[name].interpretation
            jagged = hasattr(interpretation, "content")
            stored = (interpretation.content if jagged else interpretation)
            assert branch.jagged == jagged, name
            assert branch.dtype == stored.from_dtype, name
            np.testing.assert_array_equal(branch.basket_entry,
                                          tree[name].entry_offsets)


def test_clusters_make_one_basket_each(clustered: Path) -> None:
    tree = uproot.open(clustered)["Events"]
    for name in BRANCHES:
        assert tree[name].num_baskets == 12
        assert list(tree[name].entry_offsets[:3]) == [0, 250, 500]


def test_real_file_is_read_directly(real_file: str) -> None:
    """Its baskets are all embedded in the metadata; the fast path reads them."""
    info = rootmeta.read_tree_info(real_file, "Events", frozenset(BRANCHES))
    assert all(branch.embedded for branch in info.branches.values())

    _assert_same(_direct(real_file, 0, 200), _through_uproot(real_file))


@pytest.mark.parametrize(("start", "stop"), [
    (0, 3000), (0, 1), (249, 251), (250, 500), (100, 2900), (1234, 2345),
    (2999, 3000), (600, 600), (0, 250),
])
@pytest.mark.parametrize("threads", [1, 2])
def test_entry_ranges_inside_baskets(clustered: Path, start: int, stop: int,
                                     threads: int) -> None:
    _assert_same(_direct(clustered, start, stop, threads),
                 _through_uproot(clustered, start, stop))


@pytest.mark.parametrize(("start", "stop"), [(0, 200), (37, 163), (199, 200)])
def test_real_file_ranges(real_file: str, start: int, stop: int) -> None:
    _assert_same(_direct(real_file, start, stop),
                 _through_uproot(real_file, start, stop))


def test_demo_file(tmp_path: Path) -> None:
    path = tmp_path / "demo.root"
    demo.generate_file(path, "ttbar", "PS_var", 0, 3000)
    _assert_same(_direct(path, 0, 3000), _through_uproot(path))
    _assert_same(_direct(path, 1000, 2001, threads=2),
                 _through_uproot(path, 1000, 2001))


def test_read_events_uses_the_fast_path(clustered: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="topxsec.nanoaod"):
        events = read_events(clustered, entry_start=10, entry_stop=2000)
    assert "directly" in caplog.text
    _assert_same(events, _through_uproot(clustered, 10, 2000))


def test_collection_branches_share_offsets(clustered: Path) -> None:
    tree = rootmeta.read_tree_info(clustered, "Events", frozenset(BRANCHES))
    values, _ = fastread.read_baskets(clustered, tree, BRANCHES, 5, 2500)
    assert values["Jet_pt"][0] is values["Jet_jetId"][0]
    assert values["Muon_pt"][0] is values["Muon_tightId"][0]


def test_uncompressed_file(tmp_path: Path, random_events: RandomEvents) -> None:
    path = tmp_path / "stored.root"
    write_events(path, random_events(800, seed=5), compression_level=0,
                 cluster_events=300)
    _assert_same(_direct(path, 100, 700), _through_uproot(path, 100, 700))


def test_other_compression_falls_back_to_uproot(
        tmp_path: Path, random_events: RandomEvents,
        caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "lzma.root"
    columns = random_events(500, seed=6)
    with uproot.recreate(path, compression=uproot.LZMA(1)) as file:
        file.mktree("Events", {name: (array.type.content
                                      if isinstance(array, ak.Array)
                                      else array.dtype)
                               for name, array in columns.items()})
        file["Events"].extend(columns)

    with pytest.raises(rootmeta.Unsupported, match="compression"):
        _direct(path, 0, 500)
    with caplog.at_level(logging.DEBUG, logger="topxsec.nanoaod"):
        events = read_events(path)
    assert "read through uproot" in caplog.text
    _assert_same(events, _through_uproot(path))


def test_counts_that_differ_within_a_collection_are_rejected(tmp_path: Path) -> None:
    """Two Jet_ branches with their own counters and other counts per event."""
    path = tmp_path / "odd.root"
    rng = np.random.default_rng(3)
    first = rng.integers(0, 4, 400)
    second = np.roll(first, 1)  # same total, other counts per event
    columns = {
        "Jet_pt": ak.unflatten(rng.random(first.sum()).astype(np.float32), first),
        "Jet_eta": ak.unflatten(rng.random(second.sum()).astype(np.float32), second),
    }
    with uproot.recreate(path) as file:
        file.mktree("Events", {name: array.type.content
                               for name, array in columns.items()})
        file["Events"].extend(columns)

    with pytest.raises(errors.InputFileError, match="other counts"):
        read_events(path, ("Jet_pt", "Jet_eta"))


def test_corrupt_basket_names_the_file(clustered: Path, tmp_path: Path) -> None:
    info = rootmeta.read_tree_info(clustered, "Events", frozenset({"Jet_pt"}))
    seek = int(info.branches["Jet_pt"].basket_seek[3])
    data = bytearray(clustered.read_bytes())
    data[seek + 120:seek + 400] = bytes(280)  # inside the compressed stream
    path = tmp_path / "corrupt.root"
    path.write_bytes(bytes(data))

    with pytest.raises(errors.InputFileError, match="corrupt") as info_:
        read_events(path)
    assert str(path) in str(info_.value)


def test_no_uproot_needed(clustered: Path) -> None:
    """The fast path neither imports nor calls uproot (a job that only reads)."""
    import subprocess
    import sys

    code = ("import sys; from topxsec.nanoaod import read_events; "
            f"e = read_events({str(clustered)!r}); "
            "print(e.n_events, 'uproot' in sys.modules, 'awkward' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True, timeout=120)
    assert run.stdout.split() == ["3000", "False", "False"]


@pytest.mark.parametrize(("setting", "expected"), [("", 1), ("2", 2), ("0", 1)])
def test_read_threads_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                           setting: str, expected: int) -> None:
    from topxsec.nanoaod import read_threads

    monkeypatch.setenv("TOPXSEC_READ_THREADS", setting)
    assert read_threads() == expected


def test_threads_give_the_same_events(clustered: Path) -> None:
    _assert_same(read_events(clustered, entry_start=7, entry_stop=2990, threads=2),
                 read_events(clustered, entry_start=7, entry_stop=2990, threads=1))
