"""Robust fitting: templates that would break the fit are handled, with a log line.

Each case starts from the public reference histograms (one file per set),
spoils one thing the way real inputs do, and checks that the workspace builder
says what it did and that the fit ends valid with finite values.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyhf
import pytest

from topxsec import fit as fitting
from topxsec import workspace as wsp
from topxsec.errors import WorkspaceError
from topxsec.hists import Histogram

# pyhf 0.7.6 validates with jsonschema.RefResolver, deprecated since jsonschema
# 4.18; goes away with a pyhf release that has scikit-hep/pyhf#2716 (issue #2139).
pytestmark = pytest.mark.filterwarnings(
    "ignore:jsonschema.RefResolver is deprecated:DeprecationWarning"
)

#: Input bins (flow included) of the fit range 110 to 550 GeV.
FIT_RANGE = slice(4, 26)


def _sample(ws: dict[str, Any], channel: str, sample: str) -> dict[str, Any] | None:
    ch = next(c for c in ws["channels"] if c["name"] == channel)
    return next((s for s in ch["samples"] if s["name"] == sample), None)


def _modifiers(sample: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(m["name"], m["type"]): m["data"] for m in sample["modifiers"]}


def _with_bins(hist: Histogram, bins: slice | list[int], value: float) -> Histogram:
    """A copy of ``hist`` with the given input bins (flow included) set."""
    sumw, sumw2 = hist.sumw.copy(), hist.sumw2.copy()
    sumw[bins] = value
    sumw2[bins] = value**2
    return Histogram(hist.edges, sumw, sumw2)


def _fit_is_sound(ws: dict[str, Any]) -> fitting.FitResult:
    """Fit and check: valid, every value and error finite, min NLL finite."""
    result = fitting.fit_workspace(ws)
    assert result.status["valid"], result.status
    assert np.all(np.isfinite(result.values)) and np.all(np.isfinite(result.errors))
    assert np.isfinite(result.min_nll)
    assert 0.5 < result.value("ttbar_norm") < 1.5
    return result


# --- empty bins ---------------------------------------------------------------


def test_bin_with_data_but_no_simulated_events_is_floored(
    reference: dict[str, Histogram], model: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 510 to 550 GeV of 4j2b: every sample and variation emptied, 3 data events
    histograms = {
        name: _with_bins(hist, [24, 25], 0.0) if name.startswith("4j2b_")
        else hist
        for name, hist in reference.items()
    }
    histograms["4j2b_pseudodata"] = _with_bins(reference["4j2b_pseudodata"],
                                               [24, 25], 1.5)
    with caplog.at_level(logging.WARNING, logger="topxsec.workspace"):
        ws = wsp.build_workspace(histograms, model)

    assert ("channel '4j2b SR': bin [510, 550) GeV with data (3 events) but no "
            "simulated events; every sample set to 1e-06 events") in caplog.text
    channel = next(c for c in ws["channels"] if c["name"] == "4j2b SR")
    for sample in channel["samples"]:
        assert sample["data"][-1] == wsp.YIELD_FLOOR
        staterror = _modifiers(sample)[("staterror_4j2b SR", "staterror")]
        assert staterror[-1] == 0.0
    result = _fit_is_sound(ws)
    assert "staterror_4j2b SR[10]" in result.fixed


def test_empty_bins_of_one_sample_are_left_alone(
    reference: dict[str, Histogram], model: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    histograms = dict(reference)
    for name in [n for n in reference if n.startswith("4j1b_single_top_tW")]:
        histograms[name] = _with_bins(reference[name], [6, 7, 8, 9], 0.0)

    with caplog.at_level(logging.WARNING, logger="topxsec.workspace"):
        ws = wsp.build_workspace(histograms, model)

    tw = _sample(ws, "4j1b CR", "tW")
    assert tw is not None and tw["data"][1:3] == [0.0, 0.0]
    assert "4j1b CR" not in caplog.text   # other samples fill these bins
    _fit_is_sound(ws)


def test_variation_with_empty_bins(
    reference: dict[str, Histogram], model: dict[str, Any]
) -> None:
    histograms = dict(reference)
    name = "4j2b_ttbar_pt_scale_up"
    histograms[name] = _with_bins(reference[name], [20, 21, 22, 23, 24, 25], 0.0)

    ws = wsp.build_workspace(histograms, model)

    shape = _modifiers(_sample(ws, "4j2b SR", "ttbar"))[("Jet energy scale",
                                                          "histosys")]
    assert shape["hi_data"][-3:] == [0.0, 0.0, 0.0]
    assert min(shape["lo_data"]) >= 0.0
    _fit_is_sound(ws)


# --- negative bins ------------------------------------------------------------


def test_negative_bin_after_symmetrization_is_floored(
    reference: dict[str, Histogram], model: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    histograms = dict(reference)
    name = "4j1b_ttbar_PS_var"
    hist = reference[name]
    sumw = hist.sumw.copy()
    sumw[20:22] *= 5.0          # 430 to 470 GeV: up far above twice the nominal
    histograms[name] = Histogram(hist.edges, sumw, hist.sumw2)

    with caplog.at_level(logging.WARNING, logger="topxsec.workspace"):
        ws = wsp.build_workspace(histograms, model)

    assert ("systematic 'PS variation' for ttbar in 4j1b: down shape template "
            "(symmetrized) is negative in bin [430, 470) GeV") in caplog.text
    assert "floored at 0" in caplog.text
    mods = _modifiers(_sample(ws, "4j1b CR", "ttbar"))
    lo_data = np.array(mods[("PS variation", "histosys")]["lo_data"])
    assert lo_data[8] == 0.0 and np.all(lo_data >= 0.0)
    hi = mods[("PS variation", "normsys")]["hi"]
    nominal = np.array(_sample(ws, "4j1b CR", "ttbar")["data"])
    # the other bins keep the mirrored template
    up = hist.sumw[FIT_RANGE].reshape(11, 2).sum(axis=1)
    up[8] = sumw[20:22].sum()
    mirrored = 2 * nominal - up / hi
    keep = np.arange(11) != 8
    np.testing.assert_allclose(lo_data[keep], np.maximum(mirrored, 0.0)[keep])
    _fit_is_sound(ws)


def test_negative_nominal_bin_is_floored(
    reference: dict[str, Histogram], model: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    histograms = dict(reference)
    name = "4j2b_single_top_t_chan"
    hist = reference[name]
    sumw = hist.sumw.copy()
    sumw[24:26] = [-0.5, -0.25]   # negative weights: 510 to 550 GeV
    histograms[name] = Histogram(hist.edges, sumw, hist.sumw2)

    with caplog.at_level(logging.WARNING, logger="topxsec.workspace"):
        ws = wsp.build_workspace(histograms, model)

    assert "nominal 4j2b_single_top_t_chan is negative in bin [510, 550)" in (
        caplog.text)
    assert _sample(ws, "4j2b SR", "single top, t-channel")["data"][-1] == 0.0
    _fit_is_sound(ws)


# --- systematics without effect ---------------------------------------------


def test_systematic_equal_to_the_nominal_is_pruned(
    reference: dict[str, Histogram], model: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    histograms = dict(reference)
    for region in ("4j1b", "4j2b"):
        for direction in ("up", "down"):
            histograms[f"{region}_ttbar_btag_var_2_{direction}"] = (
                reference[f"{region}_ttbar"])

    with caplog.at_level(logging.INFO, logger="topxsec.workspace"):
        ws = wsp.build_workspace(histograms, model)

    assert ("systematic 'b-tag NP 3' pruned for ttbar in 4j2b: 4j2b_ttbar_btag_"
            "var_2_up and 4j2b_ttbar_btag_var_2_down equal the nominal") in caplog.text
    for channel in ("4j1b CR", "4j2b SR"):
        ttbar = _modifiers(_sample(ws, channel, "ttbar"))
        assert ("b-tag NP 3", "normsys") not in ttbar
        assert ("b-tag NP 3", "histosys") not in ttbar
        assert ("b-tag NP 3", "histosys") in _modifiers(_sample(ws, channel, "tW"))
    _fit_is_sound(ws)


def test_systematic_without_effect_anywhere_is_no_parameter(
    reference: dict[str, Histogram], model: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    histograms = dict(reference)
    for region in ("4j1b", "4j2b"):
        histograms[f"{region}_ttbar_PS_var"] = reference[f"{region}_ttbar"]
    changed = wsp.validate_model(model)
    luminosity = next(s for s in changed["systematics"] if s["name"] == "Luminosity")
    luminosity["up"] = luminosity["down"] = 0.0

    with caplog.at_level(logging.INFO, logger="topxsec.workspace"):
        ws = wsp.build_workspace(histograms, changed)

    assert "'Luminosity' pruned for sample 'tW' in channel '4j1b CR'" in caplog.text
    for name in ("PS variation", "Luminosity"):
        assert (f"systematic '{name}' acts on no sample in any channel"
                in caplog.text)
    pdf = pyhf.Workspace(ws).model()
    assert "PS variation" not in pdf.config.parameters
    assert "Luminosity" not in pdf.config.parameters
    _fit_is_sound(ws)


# --- samples absent from a region -------------------------------------------


def test_sample_absent_from_a_region_is_dropped_there(
    reference: dict[str, Histogram], model: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    histograms = {name: hist for name, hist in reference.items()
                  if not name.startswith("4j2b_single_top_s_chan")}

    with caplog.at_level(logging.WARNING, logger="topxsec.workspace"):
        ws = wsp.build_workspace(histograms, model)

    assert ("sample 'single top, s-channel' in channel '4j2b SR' dropped: "
            "histogram 4j2b_single_top_s_chan is missing") in caplog.text
    assert _sample(ws, "4j2b SR", "single top, s-channel") is None
    assert _sample(ws, "4j1b CR", "single top, s-channel") is not None
    pdf = pyhf.Workspace(ws).model()
    assert pdf.config.channel_nbins == {"4j1b CR": 11, "4j2b SR": 11}
    _fit_is_sound(ws)


def test_sample_without_events_in_the_fit_range_is_dropped(
    reference: dict[str, Histogram], model: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    histograms = dict(reference)
    name = "4j1b_single_top_t_chan"
    histograms[name] = _with_bins(reference[name], FIT_RANGE, 0.0)

    with caplog.at_level(logging.WARNING, logger="topxsec.workspace"):
        ws = wsp.build_workspace(histograms, model)

    assert ("sample 'single top, t-channel' in channel '4j1b CR' dropped: "
            "4j1b_single_top_t_chan has no events from 110 to 550 GeV") in caplog.text
    assert _sample(ws, "4j1b CR", "single top, t-channel") is None
    _fit_is_sound(ws)


def test_channel_without_any_sample_is_an_error(
    reference: dict[str, Histogram], model: dict[str, Any]
) -> None:
    histograms = {name: hist for name, hist in reference.items()
                  if not name.startswith("4j1b_") or "pseudodata" in name}
    with pytest.raises(WorkspaceError, match="channel '4j1b CR' has no sample with "
                       "simulated events"):
        wsp.build_workspace(histograms, model)


def test_poi_sample_absent_everywhere_is_an_error(
    reference: dict[str, Histogram], model: dict[str, Any]
) -> None:
    histograms = {name: hist for name, hist in reference.items()
                  if "_ttbar" not in name}
    with pytest.raises(WorkspaceError, match="'ttbar_norm' acts on sample"):
        wsp.build_workspace(histograms, model)
