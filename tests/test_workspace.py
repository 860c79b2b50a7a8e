"""Tests of topxsec.workspace: the model file, the building blocks, the workspace."""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import boost_histogram as bh
import numpy as np
import pyhf
import pytest
import yaml

from topxsec import workspace as wsp
from topxsec.errors import ConfigError, WorkspaceError
from topxsec.hists import Histogram

# pyhf 0.7.6 validates with jsonschema.RefResolver, deprecated since jsonschema
# 4.18; goes away with a pyhf release that has scikit-hep/pyhf#2716 (issue #2139).
pytestmark = pytest.mark.filterwarnings(
    "ignore:jsonschema.RefResolver is deprecated:DeprecationWarning"
)

MODEL_FILE = Path(__file__).resolve().parents[1] / "config" / "model.yaml"

#: The systematics of the analysis specification's table.
SPEC_SYSTEMATICS = [
    "ME variation", "PS variation", "ttbar scale variations", "Jet energy scale",
    "Jet energy resolution", "b-tag NP 1", "b-tag NP 2", "b-tag NP 3", "b-tag NP 4",
    "W+jets scale variations", "Luminosity",
]
SAMPLES = ["ttbar", "W+jets", "single top, s-channel", "single top, t-channel", "tW"]


@pytest.fixture(scope="module")
def reference_workspace(
    reference: dict[str, Histogram], model: dict[str, Any]
) -> dict[str, Any]:
    return wsp.build_workspace(reference, model)


def _sample(ws: dict[str, Any], channel: str, sample: str) -> dict[str, Any]:
    ch = next(c for c in ws["channels"] if c["name"] == channel)
    return next(s for s in ch["samples"] if s["name"] == sample)


def _modifiers(sample: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(m["name"], m["type"]): m["data"] for m in sample["modifiers"]}


# --- the model file ---------------------------------------------------------


def test_model_file_has_the_spec_model(model: dict[str, Any]) -> None:
    assert [c["name"] for c in model["channels"]] == ["4j1b CR", "4j2b SR"]
    assert [c["region"] for c in model["channels"]] == ["4j1b", "4j2b"]
    assert [s["name"] for s in model["samples"]] == SAMPLES
    assert [s["name"] for s in model["systematics"]] == SPEC_SYSTEMATICS
    assert model["poi"] == {"name": "ttbar_norm", "nominal": 1.0,
                            "bounds": [0.0, 10.0], "samples": ["ttbar"]}
    assert model["rebinning"]["edges"] == [110.0 + 40.0 * i for i in range(12)]
    assert model["data"] == "pseudodata"
    assert model["mc_stat"] == {"enabled": True}

    by_name = {s["name"]: s for s in model["systematics"]}
    assert by_name["Jet energy scale"]["samples"] == SAMPLES
    assert by_name["Jet energy scale"]["symmetrize"] is True
    assert by_name["ttbar scale variations"]["down"] == "scaledown"
    assert by_name["W+jets scale variations"]["samples"] == ["W+jets"]
    assert by_name["Luminosity"]["up"] == pytest.approx(0.03)
    assert by_name["Luminosity"]["down"] == pytest.approx(-0.03)


def test_validation_is_idempotent(model: dict[str, Any]) -> None:
    assert wsp.validate_model(copy.deepcopy(model)) == model


def _set(doc: dict[str, Any], path: list[Any], value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    if value is _DELETE:
        del doc[path[-1]]
    else:
        doc[path[-1]] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        (["systematics", 3, "up"], 5, "systematics[3].up"),
        (["systematics", 2, "down"], _DELETE, "systematics[2].down"),
        (["systematics", 0, "down"], "ME_var_down", "systematics[0].down"),
        (["systematics", 0, "samples"], ["ttbar", "QCD"], "systematics[0].samples[1]"),
        (["systematics", 10, "type"], "shapesys", "systematics[10].type"),
        (["systematics", 10, "down"], -1.5, "systematics[10].down"),
        (["systematics", 4, "name"], "ME variation", "systematics[4].name"),
        (["systematics", 1, "symmetrise"], True, "systematics[1].symmetrise"),
        (["poi", "bounds"], [0.0], "poi.bounds"),
        (["poi", "nominal"], 20.0, "poi.bounds"),
        (["poi", "name"], "", "poi.name"),
        (["rebinning", "edges", 1], 100, "rebinning.edges[1]"),
        (["rebinning", "edges"], "110:550", "rebinning.edges"),
        (["channels", 1, "name"], "4j1b CR", "channels[1].name"),
        (["channels", 0, "observable"], None, "channels[0].observable"),
        (["samples", 2, "channels"], ["4j3b"], "samples[2].channels[0]"),
        (["samples", 2, "process"], 7, "samples[2].process"),
        (["mc_stat", "enabled"], "yes", "mc_stat.enabled"),
        (["data"], _DELETE, "data"),
        (["sytematics"], [], "sytematics"),
        # Names the analysis does not write histograms for: typos.
        (["samples", 1, "process"], "wjet", "samples[1].process"),
        (["channels", 1, "region"], "4j2B", "channels[1].region"),
        (["systematics", 3, "up"], "pt_scale_upp", "systematics[3].up"),
        (["systematics", 5, "down"], "btag_var_0_dn", "systematics[5].down"),
        (["systematics", 2, "up"], "nominal", "systematics[2].up"),
        (["systematics", 9, "samples"], "all", "systematics[9].up"),
        (["data"], "pseudo_data", "data"),
    ],
)
def test_bad_model_value_names_its_key(
    tmp_path: Path, path: list[Any], value: Any, key: str
) -> None:
    doc = yaml.safe_load(MODEL_FILE.read_text())
    _set(doc, path, value)
    bad = tmp_path / "model.yaml"
    bad.write_text(yaml.safe_dump(doc))

    with pytest.raises(ConfigError) as err:
        wsp.load_model(bad)
    assert err.value.key == f"{bad}: {key}"
    assert f"model.yaml: {key}" in str(err.value)


@pytest.mark.parametrize(
    ("path", "value", "named", "allowed"),
    [
        (["samples", 1, "process"], "wjet", "'wjet'", "wjets"),
        (["channels", 0, "region"], "4j1B", "'4j1B'", "4j1b, 4j2b"),
        (["systematics", 3, "up"], "pt_scale_upp", "'pt_scale_upp'", "pt_scale_up"),
        # ME_var exists for ttbar only
        (["systematics", 0, "samples"], "all", "'ME_var'", "wjets has: pt_scale_up"),
    ],
)
def test_unknown_name_lists_the_allowed_ones(
    path: list[Any], value: Any, named: str, allowed: str
) -> None:
    doc = yaml.safe_load(MODEL_FILE.read_text())
    _set(doc, path, value)
    with pytest.raises(ConfigError) as err:
        wsp.validate_model(doc, source="model.yaml")
    assert named in str(err.value) and allowed in str(err.value)


@pytest.mark.parametrize("text", ["channels: [unclosed", "- just\n- a list\n"])
def test_model_file_that_is_not_a_model(tmp_path: Path, text: str) -> None:
    bad = tmp_path / "model.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match="model.yaml"):
        wsp.load_model(bad)


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the model file"):
        wsp.load_model(tmp_path / "nope.yaml")


# --- building blocks --------------------------------------------------------


def _histogram(seed: int) -> Histogram:
    rng = np.random.default_rng(seed)
    edges = np.linspace(50.0, 550.0, 26)
    sumw = rng.uniform(0.0, 100.0, 27)
    return Histogram(edges, sumw, sumw * rng.uniform(0.5, 2.0, 27))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rebin_matches_boost_histogram(seed: int) -> None:
    hist = _histogram(seed)
    edges = [110.0 + 40.0 * i for i in range(12)]

    got = wsp.rebin(hist, edges)

    bhist = bh.Histogram(bh.axis.Variable(hist.edges), storage=bh.storage.Weight())
    bhist.view(flow=True).value = hist.sumw
    bhist.view(flow=True).variance = hist.sumw2
    want = bhist[bh.loc(110)::bh.rebin(2)]
    np.testing.assert_allclose(got.edges, want.axes[0].edges)
    np.testing.assert_allclose(got.values, want.values())
    np.testing.assert_allclose(got.variances, want.variances())
    # the flow bins collect everything outside
    np.testing.assert_allclose(got.sumw[0], hist.sumw[:4].sum())
    np.testing.assert_allclose(got.sumw[-1], hist.sumw[-1])
    np.testing.assert_allclose(got.sumw.sum(), hist.sumw.sum())


@pytest.mark.parametrize(
    ("edges", "bins"),
    [([50.0, 550.0], [slice(1, 26)]),
     ([70.0, 110.0, 530.0], [slice(2, 4), slice(4, 25)]),
     (list(np.linspace(50.0, 550.0, 26)), [slice(i, i + 1) for i in range(1, 26)])],
)
def test_rebin_other_edges(edges: list[float], bins: list[slice]) -> None:
    hist = _histogram(4)
    got = wsp.rebin(hist, edges)
    np.testing.assert_allclose(got.values, [hist.sumw[s].sum() for s in bins])
    np.testing.assert_allclose(got.variances, [hist.sumw2[s].sum() for s in bins])


def test_rebin_edge_not_in_histogram() -> None:
    with pytest.raises(WorkspaceError, match="'4j1b_ttbar'.*115"):
        wsp.rebin(_histogram(1), [110.0, 115.0, 550.0], "4j1b_ttbar")


def test_symmetrize() -> None:
    np.testing.assert_allclose(
        wsp.symmetrize(np.array([1.0, 2.0, 4.0]), np.array([1.5, 1.0, 4.0])),
        [0.5, 3.0, 4.0],
    )


def test_split_norm_shape_two_sided() -> None:
    nominal = np.array([10.0, 20.0, 30.0])
    up = np.array([12.0, 22.0, 32.0])
    down = np.array([9.0, 19.0, 26.0])

    norm, shape = wsp.split_norm_shape(nominal, up, down)

    assert norm["hi"] == pytest.approx(66.0 / 60.0)
    assert norm["lo"] == pytest.approx(54.0 / 60.0)
    for key, template in (("hi_data", up), ("lo_data", down)):
        assert sum(shape[key]) == pytest.approx(60.0)
        ratio = norm["hi"] if key == "hi_data" else norm["lo"]
        np.testing.assert_allclose(np.array(shape[key]) * ratio, template)


def test_split_norm_shape_symmetrized() -> None:
    nominal = np.array([10.0, 20.0, 30.0])
    up = np.array([14.0, 20.0, 32.0])

    norm, shape = wsp.split_norm_shape(nominal, up, None)

    assert norm["hi"] == pytest.approx(1.1)
    assert norm["lo"] == pytest.approx(0.9)
    np.testing.assert_allclose(shape["hi_data"], up / 1.1)
    np.testing.assert_allclose(
        np.array(shape["hi_data"]) + np.array(shape["lo_data"]), 2 * nominal
    )
    assert sum(shape["lo_data"]) == pytest.approx(60.0)


@pytest.mark.parametrize(
    ("nominal", "up", "down"),
    [([0.0, 0.0], [1.0, 1.0], None),
     ([1.0, 1.0], [0.0, 0.0], [1.0, 1.0]),
     ([1.0, 1.0], [3.0, 2.0], None),
     ([1.0, 1.0], [1.0, 1.0], [-1.0, 0.5])],
)
def test_split_norm_shape_unusable(
    nominal: list[float], up: list[float], down: list[float] | None
) -> None:
    with pytest.raises(WorkspaceError, match="not"):
        wsp.split_norm_shape(np.array(nominal), np.array(up),
                             None if down is None else np.array(down))


# --- the workspace of the reference histograms ------------------------------


def test_reference_workspace_is_valid(reference_workspace: dict[str, Any]) -> None:
    pyhf.schema.validate(reference_workspace, "workspace.json")
    pdf = pyhf.Workspace(reference_workspace).model()

    assert pdf.config.channels == ["4j1b CR", "4j2b SR"]
    assert pdf.config.channel_nbins == {"4j1b CR": 11, "4j2b SR": 11}
    assert sorted(pdf.config.samples) == sorted(SAMPLES)
    assert pdf.config.poi_name == "ttbar_norm"
    expected = SPEC_SYSTEMATICS + ["ttbar_norm", "staterror_4j1b CR",
                                   "staterror_4j2b SR"]
    assert sorted(pdf.config.parameters) == sorted(expected)
    assert "staterror_4j2b SR[3]" in pdf.config.par_names
    assert list(pdf.config.suggested_bounds()[pdf.config.poi_index]) == [0.0, 10.0]


def test_reference_workspace_passes_pyhf_inspect(
    reference_workspace: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "workspace.json"
    path.write_text(json.dumps(reference_workspace))
    pyhf_cli = Path(sys.executable).with_name("pyhf")

    done = subprocess.run([str(pyhf_cli), "inspect", str(path)], capture_output=True,
                          text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stderr
    assert "channels  2" in done.stdout
    assert "samples  5" in done.stdout
    for name in SPEC_SYSTEMATICS + ["ttbar_norm"]:
        assert name in done.stdout


def test_reference_workspace_contents(
    reference_workspace: dict[str, Any], reference: dict[str, Histogram]
) -> None:
    def rebinned(name: str) -> np.ndarray:
        contents = reference[name].sumw
        return contents[4:26].reshape(11, 2).sum(axis=1)   # 110 ... 550 GeV

    ttbar = _sample(reference_workspace, "4j2b SR", "ttbar")
    nominal = rebinned("4j2b_ttbar")
    np.testing.assert_allclose(ttbar["data"], nominal)

    mods = _modifiers(ttbar)
    # variances are the contents in the JSON reference
    np.testing.assert_allclose(mods[("staterror_4j2b SR", "staterror")],
                               np.sqrt(nominal))
    assert mods[("ttbar_norm", "normfactor")] is None
    assert mods[("Luminosity", "normsys")] == pytest.approx({"hi": 1.03, "lo": 0.97})

    ps_up = rebinned("4j2b_ttbar_PS_var")
    hi = ps_up.sum() / nominal.sum()
    assert mods[("PS variation", "normsys")] == pytest.approx({"hi": hi, "lo": 2 - hi})
    shape = mods[("PS variation", "histosys")]
    np.testing.assert_allclose(shape["hi_data"], ps_up / hi)
    np.testing.assert_allclose(shape["lo_data"], 2 * nominal - ps_up / hi)

    down = rebinned("4j2b_ttbar_scaledown")
    assert mods[("ttbar scale variations", "normsys")]["lo"] == pytest.approx(
        down.sum() / nominal.sum())

    wjets = _modifiers(_sample(reference_workspace, "4j1b CR", "W+jets"))
    assert ("W+jets scale variations", "histosys") in wjets
    assert ("ME variation", "normsys") not in wjets
    assert ("ttbar_norm", "normfactor") not in wjets

    observations = reference_workspace["observations"]
    data = next(o for o in observations if o["name"] == "4j1b CR")
    np.testing.assert_allclose(data["data"], rebinned("4j1b_pseudodata"))


# --- deliberate handling of missing or unusable histograms ------------------


def test_missing_variation_drops_that_modifier(
    reference: dict[str, Histogram], model: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    histograms = dict(reference)
    del histograms["4j2b_single_top_s_chan_pt_scale_up"]

    with caplog.at_level(logging.WARNING, logger="topxsec.workspace"):
        ws = wsp.build_workspace(histograms, model)

    s_chan = _modifiers(_sample(ws, "4j2b SR", "single top, s-channel"))
    assert ("Jet energy scale", "normsys") not in s_chan
    assert ("Jet energy resolution", "normsys") in s_chan
    assert ("Jet energy scale", "histosys") in _modifiers(_sample(ws, "4j2b SR", "tW"))
    assert ("Jet energy scale", "normsys") in _modifiers(
        _sample(ws, "4j1b CR", "single top, s-channel"))
    assert "4j2b_single_top_s_chan_pt_scale_up" in caplog.text
    pyhf.Workspace(ws).model()


def test_variation_without_events_in_the_fit_range(
    reference: dict[str, Histogram], model: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    histograms = dict(reference)
    name = "4j1b_wjets_scale_var_down"
    hist = histograms[name]
    emptied = hist.sumw.copy()
    emptied[4:26] = 0.0
    histograms[name] = Histogram(hist.edges, emptied, emptied)

    with caplog.at_level(logging.WARNING, logger="topxsec.workspace"):
        ws = wsp.build_workspace(histograms, model)

    wjets = _modifiers(_sample(ws, "4j1b CR", "W+jets"))
    assert ("W+jets scale variations", "normsys") not in wjets
    assert "W+jets scale variations" in caplog.text and "wjets in 4j1b" in caplog.text


# A missing nominal histogram drops its sample (tests/test_robustness.py).
@pytest.mark.parametrize("name", ["4j1b_pseudodata", "4j2b_pseudodata"])
def test_missing_data_is_an_error(
    reference: dict[str, Histogram], model: dict[str, Any], name: str
) -> None:
    histograms = dict(reference)
    del histograms[name]
    with pytest.raises(WorkspaceError, match=f"'{name}' is missing"):
        wsp.build_workspace(histograms, model)


def test_sample_left_out_of_a_channel_and_no_mc_stat(
    reference: dict[str, Histogram], model: dict[str, Any]
) -> None:
    changed = copy.deepcopy(model)
    changed["samples"][2]["channels"] = ["4j1b CR"]
    changed["mc_stat"]["enabled"] = False
    histograms = dict(reference)
    del histograms["4j2b_single_top_s_chan"]

    ws = wsp.build_workspace(histograms, changed)

    sr = next(c for c in ws["channels"] if c["name"] == "4j2b SR")
    assert "single top, s-channel" not in [s["name"] for s in sr["samples"]]
    assert all(m["type"] != "staterror"
               for c in ws["channels"] for s in c["samples"] for m in s["modifiers"])


def test_histograms_without_the_rebinning_edges(
    reference: dict[str, Histogram], model: dict[str, Any]
) -> None:
    changed = copy.deepcopy(model)
    changed["rebinning"]["edges"] = [110.0, 145.0, 550.0]
    with pytest.raises(WorkspaceError, match="145"):
        wsp.build_workspace(reference, changed)
