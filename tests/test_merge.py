"""Tests of topxsec.merge: sums per file set, the event-count check, the writers."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import boost_histogram as bh
import numpy as np
import pytest

from topxsec import merge
from topxsec.hists import FileHistograms, Histogram

EDGES = np.array([0.0, 1.0, 2.0, 3.0])


def _file(process: str, variation: str, source: str, events: int,
          counts: list[int]) -> FileHistograms:
    """A per-file histogram of unit weights with ``counts`` per bin (flow too)."""
    units = [n << 96 for n in counts]
    hist = Histogram.from_exact(EDGES, units, units)
    return FileHistograms(process, variation, EDGES, {"4j1b": {"nominal": hist}},
                          source=source, events=events)


def test_sums_per_file_set() -> None:
    files = [_file("ttbar", "nominal", "a.root", 10, [0, 1, 2, 0, 1]),
             _file("wjets", "nominal", "b.root", 10, [1, 0, 0, 0, 0]),
             _file("ttbar", "nominal", "c.root", 10, [2, 0, 1, 1, 0])]

    sums = merge.sum_file_histograms(files)

    assert set(sums) == {("ttbar", "nominal"), ("wjets", "nominal")}
    np.testing.assert_array_equal(sums[("ttbar", "nominal")]["4j1b"]["nominal"].sumw,
                                  [2, 1, 3, 1, 1])


@pytest.mark.parametrize(("events", "claimed", "warned"), [
    ((600, 500), 1000, True),          # the skims alone hold more than N
    ((600, 400), 1000, False),         # exactly N
    ((60, 40), 1000, False),           # the preselection keeps fewer: normal
    ((2000,), 1000, True),             # one file
])
def test_more_events_than_the_file_set_claims_warn(
    caplog: pytest.LogCaptureFixture, events: tuple[int, ...], claimed: int,
    warned: bool,
) -> None:
    files = [_file("ttbar", "PS_var", f"skims/ttbar/PS_var/{i:04d}.root", n,
                   [0, 1, 0, 0, 0]) for i, n in enumerate(events)]

    with caplog.at_level(logging.WARNING, logger="topxsec.merge"):
        merge.sum_file_histograms(files, events_per_set={("ttbar", "PS_var"): claimed})

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == warned
    if warned:
        assert "ttbar/PS_var" in warnings[0]
        assert f"hold {sum(events)} events" in warnings[0]
        assert f"N = {claimed} events" in warnings[0]
        assert f"skims/ttbar/PS_var/0000.root: {events[0]}" in warnings[0]
        assert "correct the files' nevts" in warnings[0]


def test_event_count_check_lists_the_largest_files(
    caplog: pytest.LogCaptureFixture
) -> None:
    events = {("wjets", "nominal"): [(f"f{i}.root", 100 + i) for i in range(8)],
              ("ttbar", "nominal"): [("t.root", 5)]}

    with caplog.at_level(logging.WARNING, logger="topxsec.merge"):
        flagged = merge.check_event_counts(
            events, {("wjets", "nominal"): 500, ("ttbar", "nominal"): 10})

    assert flagged == [("wjets", "nominal")]
    message = caplog.records[0].getMessage()
    assert "f7.root: 107, f6.root: 106" in message and "3 more" in message
    assert "f0.root" not in message


def test_without_event_counts_nothing_is_checked(
    caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="topxsec.merge"):
        merge.sum_file_histograms([_file("ttbar", "nominal", "a.root", 10**9,
                                         [0, 1, 0, 0, 0])])
    assert not caplog.records


def _histograms() -> dict[str, Histogram]:
    return {name: Histogram(EDGES, np.arange(5.0) * k, np.arange(5.0) * k**2)
            for k, name in enumerate(("4j1b_ttbar", "4j1b_wjets", "4j2b_ttbar"), 1)}


def test_write_and_read_back(tmp_path: Path) -> None:
    histograms = _histograms()

    merge.write_histograms(histograms, tmp_path / "h.root", tmp_path / "h.json")

    for path in (tmp_path / "h.root", tmp_path / "h.json"):
        back = merge.read_histograms(path)
        assert set(back) == set(histograms)
        for name, hist in histograms.items():
            np.testing.assert_array_equal(back[name].sumw, hist.sumw)
            np.testing.assert_array_equal(back[name].sumw2, hist.sumw2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.json", "h.root"]


def test_failed_root_write_leaves_no_file(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The second histogram fails: the first is already in the (temporary) file."""
    made = []
    real = bh.Histogram

    def failing(*args: Any, **kwargs: Any) -> bh.Histogram:
        made.append(1)
        if len(made) == 2:
            raise RuntimeError("simulated failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(bh, "Histogram", failing)
    with pytest.raises(RuntimeError, match="simulated failure"):
        merge.write_histograms(_histograms(), tmp_path / "h.root", tmp_path / "h.json")

    assert list(tmp_path.iterdir()) == []


def test_failed_json_write_leaves_no_file(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def dump_half(doc: Any, stream: Any, **kwargs: Any) -> None:
        stream.write(json.dumps(doc)[:50])
        raise OSError("disk full")

    monkeypatch.setattr(merge.json, "dump", dump_half)
    with pytest.raises(OSError, match="disk full"):
        merge.write_histograms(_histograms(), tmp_path / "h.root", tmp_path / "h.json")

    assert [p.name for p in tmp_path.iterdir()] == ["h.root"]  # complete, renamed
    assert set(merge.read_histograms(tmp_path / "h.root")) == set(_histograms())
