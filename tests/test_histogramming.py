"""Tests of topxsec.histogramming: FileHistograms of skims and raw NanoAOD."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest

import awkward_reference as reference
from topxsec import errors, hists, outputs, spec
from topxsec.histogramming import fill_file_histograms
from topxsec.nanoaod import read_events, write_events

RandomEvents = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def random_file(tmp_path_factory: pytest.TempPathFactory,
                random_events: RandomEvents) -> Path:
    """A NanoAOD-layout file of random events."""
    path = tmp_path_factory.mktemp("input") / "random.root"
    write_events(path, random_events(6000, seed=31))
    return path


def test_real_file_cutflow_and_empty_histograms(real_file: str) -> None:
    result = fill_file_histograms(real_file, "ttbar", "nominal")

    assert result.cutflow == {"one_lepton": 14, "one_electron": 14, "four_jets": 2,
                              "one_lepton_four_jets": 0, "4j1b": 0, "4j2b": 0}
    assert result.events == 200
    assert result.source == real_file
    for region in spec.REGIONS:
        assert set(result.histograms[region]) == set(
            spec.histogram_variations("ttbar", "nominal"))
        assert not any(h.is_filled() for h in result.histograms[region].values())


def test_real_file_cutflow_matches_reference(real_file: str) -> None:
    result = fill_file_histograms(real_file, "wjets", "nominal")
    assert result.cutflow == reference.nominal_cutflow(
        read_events(real_file).to_awkward())


@pytest.mark.parametrize(("process", "variation"), [
    (process, variation)
    for process, variations in spec.FILE_SETS.items() for variation in variations
])
def test_histogram_names_follow_the_spec(random_file: Path, process: str,
                                         variation: str) -> None:
    result = fill_file_histograms(random_file, process, variation)

    assert (result.process, result.variation) == (process, variation)
    expected = set(spec.histogram_variations(process, variation))
    for region in spec.REGIONS:
        assert set(result.histograms[region]) == expected
        for hist in result.histograms[region].values():
            assert len(hist.sumw) == spec.Binning().bins + 2
            assert hist.is_filled()


def test_alternative_sample_is_the_nominal_selection(random_file: Path) -> None:
    nominal = fill_file_histograms(random_file, "ttbar", "nominal")
    alternative = fill_file_histograms(random_file, "ttbar", "scaleup")

    for region in spec.REGIONS:
        np.testing.assert_array_equal(alternative.histograms[region]["scaleup"].sumw,
                                      nominal.histograms[region]["nominal"].sumw)
    assert alternative.cutflow == nominal.cutflow


def test_weights_of_the_variations(random_file: Path) -> None:
    """Scale weights are constant factors; b-tag up and down straddle 1."""
    result = fill_file_histograms(random_file, "wjets", "nominal")

    for region in spec.REGIONS:
        by_name = result.histograms[region]
        nominal = by_name["nominal"]
        np.testing.assert_allclose(by_name["scale_var_up"].sumw,
                                   nominal.sumw * spec.SCALE_VAR_UP, rtol=1e-12)
        np.testing.assert_allclose(by_name["scale_var_down"].sumw2,
                                   nominal.sumw2 * spec.SCALE_VAR_DOWN**2, rtol=1e-12)
        for i in range(4):
            up = by_name[f"btag_var_{i}_up"].sumw
            down = by_name[f"btag_var_{i}_down"].sumw
            np.testing.assert_allclose(up + down, 2 * nominal.sumw, rtol=1e-12)
            assert up.sum() > nominal.sumw.sum() > down.sum()


def test_entries_add_up_to_the_cutflow(random_file: Path) -> None:
    result = fill_file_histograms(random_file, "ttbar", "nominal")

    for region in spec.REGIONS:
        nominal = result.histograms[region]["nominal"]
        assert nominal.sumw.sum() == result.cutflow[region] > 50
        np.testing.assert_array_equal(nominal.sumw, nominal.sumw2)


def test_custom_binning_and_cuts(random_file: Path) -> None:
    binning = spec.Binning(bins=10, low=0.0, high=1000.0)
    cuts = spec.Cuts(jet_pt=40.0)
    result = fill_file_histograms(random_file, "single_top_tW", "nominal",
                                  binning=binning, cuts=cuts)

    events = read_events(random_file).to_awkward()
    expected = reference.reference_histograms(
        events, "single_top_tW", "nominal", np.asarray(binning.edges()), cuts)
    np.testing.assert_array_equal(result.edges, binning.edges())
    for region in spec.REGIONS:
        for name, (sumw, sumw2) in expected[region].items():
            np.testing.assert_allclose(result.histograms[region][name].sumw, sumw,
                                       rtol=1e-12, atol=0)
            np.testing.assert_allclose(result.histograms[region][name].sumw2, sumw2,
                                       rtol=1e-12, atol=0)


def test_json_round_trip(random_file: Path, tmp_path: Path) -> None:
    result = fill_file_histograms(random_file, "wjets", "nominal")
    path = tmp_path / "histograms.json"

    result.write(path)
    back = hists.FileHistograms.read(path)

    assert back.cutflow == result.cutflow and back.events == result.events
    assert back.source == str(random_file)
    for region in spec.REGIONS:
        for name, hist in result.histograms[region].items():
            np.testing.assert_array_equal(back.histograms[region][name].sumw,
                                          hist.sumw)


def test_logs_the_file(random_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="topxsec.histogramming"):
        fill_file_histograms(random_file, "ttbar", "PS_var")
    assert any(str(random_file) in record.getMessage() for record in caplog.records)


def test_missing_branch_is_reported(tmp_path: Path, random_events: RandomEvents
                                    ) -> None:
    path = tmp_path / "no_btag.root"
    columns = random_events(10)
    del columns["Jet_btagCSVV2"]
    write_events(path, columns)

    with pytest.raises(errors.MissingBranchError, match="Jet_btagCSVV2"):
        fill_file_histograms(path, "ttbar", "nominal")


@pytest.mark.parametrize("bad_pt", [np.inf, 1e30])
def test_absurd_jet_pt_names_the_file(tmp_path: Path, random_events: RandomEvents,
                                      bad_pt: float) -> None:
    """One selected jet at pT = inf (or 1e30): its b-tag weight cannot be summed."""
    columns = random_events(400, seed=7)
    events = ak.Array(columns)
    cuts = spec.Cuts()
    el, mu = reference.lepton_masks(events, cuts)
    jets = reference.jet_mask(events, reference.varied_jet_pt(events, "nominal"),
                              cuts)
    btag = jets & (ak.values_astype(events.Jet_btagCSVV2, np.float64)
                   > cuts.btag_threshold)
    selected = ((ak.sum(el, axis=1) + ak.sum(mu, axis=1) == 1)
                & (ak.sum(jets, axis=1) >= cuts.min_jets) & (ak.sum(btag, axis=1) >= 1))
    event = int(np.argmax(ak.to_numpy(selected)))
    assert selected[event]

    jet = int(np.argmax(ak.to_numpy(jets[event])))
    flat = ak.to_numpy(ak.flatten(columns["Jet_pt"])).copy()
    flat[int(np.sum(ak.to_numpy(ak.num(columns["Jet_pt"]))[:event])) + jet] = bad_pt
    columns["Jet_pt"] = ak.unflatten(flat, ak.num(columns["Jet_pt"]))
    path = tmp_path / "bad_pt.root"
    write_events(path, columns)

    with pytest.raises(errors.InputFileError) as err:
        fill_file_histograms(path, "ttbar", "nominal")

    message = str(err.value)
    assert err.value.path == str(path) and str(path) in message
    assert "not finite or exceeds 2**64" in message
    assert "Jet_pt" in message and "replace it" in message
    if np.isinf(bad_pt):
        assert f"1 jet(s) with a non-finite Jet_pt; the first is in entry {event}" in (
            message)
    else:
        assert "largest finite |Jet_pt| is 1e+30 GeV" in message


def test_failed_write_leaves_no_file(random_file: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    result = fill_file_histograms(random_file, "ttbar", "PS_var")
    path = tmp_path / "part.json"

    def dump_half(doc: Any, stream: Any, **kwargs: Any) -> None:
        stream.write(json.dumps(doc)[:100])
        raise OSError("disk full")

    monkeypatch.setattr(hists.json, "dump", dump_half)
    with pytest.raises(OSError, match="disk full"):
        result.write(path)

    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    result.write(path)
    assert hists.FileHistograms.read(path).cutflow == result.cutflow
    assert [p.name for p in tmp_path.iterdir()] == ["part.json"]


def test_atomic_text_write_keeps_the_old_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer of the report tables: all or nothing, never half a page."""
    path = tmp_path / "table.html"
    path.write_text("old page")
    real = Path.write_text

    def write_half(self: Path, text: str, *args: Any, **kwargs: Any) -> int:
        real(self, text[:10])
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", write_half)
    with pytest.raises(OSError, match="disk full"):
        outputs.write_text_atomic(path, "<html>new page</html>")
    monkeypatch.undo()

    assert [p.name for p in tmp_path.iterdir()] == ["table.html"]
    assert path.read_text() == "old page"
    outputs.write_text_atomic(path, "<html>new page</html>")
    assert path.read_text() == "<html>new page</html>"
    assert [p.name for p in tmp_path.iterdir()] == ["table.html"]
