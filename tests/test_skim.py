"""Tests of topxsec.skim: the skim file, its summary, and losslessness."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot

import awkward_reference as reference
from topxsec import errors, spec
from topxsec.histogramming import fill_file_histograms
from topxsec.nanoaod import NANOAOD_DTYPES, read_events, write_events
from topxsec.skim import skim_file

RandomEvents = Callable[..., dict[str, Any]]
SUMMARY_KEYS = {"source", "entry_start", "entry_stop", "events_read",
                "events_kept", "cutflow", "bytes_read", "seconds"}


@pytest.fixture(scope="module")
def random_file(tmp_path_factory: pytest.TempPathFactory,
                random_events: RandomEvents) -> Path:
    """A NanoAOD-layout file of random events."""
    path = tmp_path_factory.mktemp("input") / "random.root"
    write_events(path, random_events(8000, seed=21))
    return path


def test_real_file_keeps_one_event(real_file: str, tmp_path: Path,
                                   caplog: pytest.LogCaptureFixture) -> None:
    output = tmp_path / "skim.root"
    with caplog.at_level(logging.INFO, logger="topxsec.skim"):
        summary = skim_file(real_file, output)

    assert set(summary) == SUMMARY_KEYS
    assert summary["source"] == real_file
    assert (summary["entry_start"], summary["entry_stop"]) == (0, 200)
    assert summary["events_read"] == 200
    assert summary["events_kept"] == 1
    assert summary["cutflow"] == {"all": 200, "one_lepton": 14, "four_jets": 1,
                                  "btag": 1}
    assert summary["bytes_read"] > 0 and summary["seconds"] >= 0
    json.dumps(summary)  # the summary is written as JSON

    message = " ".join(record.getMessage() for record in caplog.records)
    assert real_file in message and "200 events read, 1 kept" in message

    histograms = fill_file_histograms(output, "ttbar", "nominal")
    assert histograms.events == 1
    assert not any(h.is_filled() for by_name in histograms.histograms.values()
                   for h in by_name.values())


def test_skim_output_layout(real_file: str, tmp_path: Path) -> None:
    output = tmp_path / "skim.root"
    skim_file(real_file, output)

    tree = uproot.open(output)["Events"]
    assert tree.num_entries == 1
    expected = set(spec.NEEDED_BRANCHES) | set(spec.COUNTER_BRANCHES)
    assert set(tree.keys()) == expected
    for name in spec.NEEDED_BRANCHES:
        interpretation = tree[name].interpretation
        stored = getattr(interpretation, "content", interpretation).to_dtype
        assert stored == NANOAOD_DTYPES[name], name
    arrays = tree.arrays(library="ak")
    for collection in ("Jet", "Electron", "Muon"):
        # uproot writes int32 counters; NanoAOD has uint32 (both read alike).
        counter = tree[f"n{collection}"].interpretation.to_dtype
        assert counter in (np.dtype(np.int32), np.dtype(np.uint32))
        np.testing.assert_array_equal(arrays[f"n{collection}"],
                                      ak.num(arrays[f"{collection}_pt"]))


def test_skim_keeps_all_objects_of_kept_events(real_file: str, tmp_path: Path) -> None:
    output = tmp_path / "skim.root"
    skim_file(real_file, output)

    original = read_events(real_file).to_awkward()
    kept = reference.skim_mask(original)
    skimmed = read_events(output).to_awkward()
    for name in spec.NEEDED_BRANCHES:
        assert ak.to_list(skimmed[name]) == ak.to_list(original[name][kept])


def test_skim_matches_reference_mask(random_file: Path, tmp_path: Path) -> None:
    output = tmp_path / "skim.root"
    summary = skim_file(random_file, output)

    original = read_events(random_file)
    mask = reference.skim_mask(original.to_awkward())
    skimmed = read_events(output)
    assert summary["events_kept"] == skimmed.n_events == mask.sum() > 100
    np.testing.assert_array_equal(skimmed["event"], original["event"][mask])
    cutflow = summary["cutflow"]
    assert cutflow["all"] == 8000 and cutflow["btag"] == mask.sum()


@pytest.mark.parametrize(("process", "variation"), [
    ("ttbar", "nominal"), ("ttbar", "ME_var"), ("wjets", "nominal"),
    ("single_top_t_chan", "nominal"),
])
def test_histograms_of_skim_equal_unskimmed(random_file: Path, tmp_path: Path,
                                            process: str, variation: str) -> None:
    """The preselection is lossless for every variation."""
    output = tmp_path / "skim.root"
    skim_file(random_file, output)

    full = fill_file_histograms(random_file, process, variation)
    skimmed = fill_file_histograms(output, process, variation)

    for region in spec.REGIONS:
        assert set(skimmed.histograms[region]) == set(full.histograms[region])
        for name, hist in full.histograms[region].items():
            assert hist.is_filled()
            np.testing.assert_array_equal(skimmed.histograms[region][name].sumw,
                                          hist.sumw)
            np.testing.assert_array_equal(skimmed.histograms[region][name].sumw2,
                                          hist.sumw2)
    # Events without a b-tag leave the skim; the region counts stay.
    for count in ("4j1b", "4j2b"):
        assert skimmed.cutflow[count] == full.cutflow[count]


def test_entry_ranges_partition_the_file(random_file: Path, tmp_path: Path) -> None:
    whole = skim_file(random_file, tmp_path / "whole.root")
    first = skim_file(random_file, tmp_path / "a.root", entry_stop=3000)
    second = skim_file(random_file, tmp_path / "b.root", entry_start=3000)

    assert (first["entry_start"], first["entry_stop"]) == (0, 3000)
    assert (second["entry_start"], second["entry_stop"]) == (3000, 8000)
    for key in whole["cutflow"]:
        assert first["cutflow"][key] + second["cutflow"][key] == whole["cutflow"][key]
    events = np.concatenate([read_events(tmp_path / name)["event"]
                             for name in ("a.root", "b.root")])
    np.testing.assert_array_equal(events, read_events(tmp_path / "whole.root")["event"])


def test_zero_kept_events_give_a_valid_empty_skim(random_events: RandomEvents,
                                                  tmp_path: Path) -> None:
    source = tmp_path / "no_leptons.root"
    columns = random_events(300, seed=5)
    columns["Electron_cutBased"] = ak.values_astype(
        columns["Electron_cutBased"] * 0, np.int32)
    columns["Muon_tightId"] = columns["Muon_tightId"] & False
    write_events(source, columns)
    output = tmp_path / "skim.root"

    summary = skim_file(source, output)

    assert summary["events_kept"] == 0 and summary["cutflow"]["one_lepton"] == 0
    tree = uproot.open(output)["Events"]
    assert tree.num_entries == 0
    assert set(spec.NEEDED_BRANCHES) <= set(tree.keys())
    empty = read_events(output)
    assert empty.n_events == 0
    assert all(empty[name].dtype == NANOAOD_DTYPES[name]
               for name in spec.NEEDED_BRANCHES)
    histograms = fill_file_histograms(output, "wjets", "nominal")
    assert histograms.events == 0
    assert not any(h.is_filled() for by_name in histograms.histograms.values()
                   for h in by_name.values())


def test_custom_cuts_are_used(random_file: Path, tmp_path: Path) -> None:
    loose = skim_file(random_file, tmp_path / "loose.root")
    tight = skim_file(random_file, tmp_path / "tight.root",
                      cuts=spec.Cuts(min_jets=6, btag_threshold=0.9))

    original = read_events(random_file).to_awkward()
    expected = reference.skim_mask(original, spec.Cuts(min_jets=6, btag_threshold=0.9))
    assert tight["events_kept"] == expected.sum() < loose["events_kept"]


def test_bad_input_leaves_no_output(tmp_path: Path) -> None:
    source = tmp_path / "text.root"
    source.write_text("not ROOT\n" * 30)
    output = tmp_path / "skim.root"

    with pytest.raises(errors.InputFileError, match="not a ROOT file"):
        skim_file(source, output)
    assert list(tmp_path.iterdir()) == [source]
