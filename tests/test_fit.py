"""Tests of topxsec.fit: the fit, its result file and the model yields."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import boost_histogram as bh
import numpy as np
import pyhf
import pytest
import uproot

from topxsec import fileset, spec
from topxsec import fit as fitting
from topxsec import workspace as wsp
from topxsec.errors import WorkspaceError
from topxsec.hists import Histogram

# pyhf 0.7.6 validates with jsonschema.RefResolver, deprecated since jsonschema
# 4.18; goes away with a pyhf release that has scikit-hep/pyhf#2716 (issue #2139).
pytestmark = pytest.mark.filterwarnings(
    "ignore:jsonschema.RefResolver is deprecated:DeprecationWarning"
)

log = logging.getLogger(__name__)


#: The public ROOT/RooFit fit of the one-file reference (analysis spec table).
ROOT_FIT = {
    "ttbar_norm": (0.966725, 0.105986),
    "ME variation": (0.463339, 0.154278),
    "PS variation": (0.413533, 0.171845),
    "ttbar scale variations": (0.052596, 0.408778),
    "Jet energy scale": (-0.043666, 0.258774),
    "Jet energy resolution": (0.048056, 0.251315),
    "b-tag NP 1": (-0.046870, 0.516),
    "b-tag NP 2": (0.070466, 0.779),
    "b-tag NP 3": (-0.090591, 0.900),
    "b-tag NP 4": (-0.126675, 0.945),
    "W+jets scale variations": (-0.071429, 0.989150),
    "Luminosity": (-0.123998, 0.981438),
}

PROCESS_OF = {"ttbar": "ttbar", "W+jets": "wjets",
              "single top, s-channel": "single_top_s_chan",
              "single top, t-channel": "single_top_t_chan", "tW": "single_top_tW"}


def _small_model() -> dict[str, Any]:
    """Two samples in one channel, luminosity only, no MC statistics."""
    return wsp.validate_model({
        "measurement": "small",
        "poi": {"name": "ttbar_norm", "nominal": 1.0, "bounds": [0.0, 10.0],
                "samples": ["ttbar"]},
        "rebinning": {"edges": [110.0, 190.0, 270.0, 550.0]},
        "data": "pseudodata",
        "channels": [{"name": "4j2b SR", "region": "4j2b", "observable": "m"}],
        "samples": [{"name": "ttbar", "process": "ttbar"},
                    {"name": "W+jets", "process": "wjets"}],
        "mc_stat": {"enabled": False},
        "systematics": [{"name": "Luminosity", "type": "normalization",
                         "samples": "all", "up": 0.03, "down": -0.03}],
    })


def _small_histograms() -> dict[str, Histogram]:
    edges = np.linspace(50.0, 550.0, 26)
    ttbar = np.r_[0.0, np.linspace(100.0, 10.0, 25), 5.0]
    wjets = np.r_[0.0, np.linspace(20.0, 40.0, 25), 1.0]
    data = 1.2 * ttbar + wjets
    return {name: Histogram(edges, values, values) for name, values in
            (("4j2b_ttbar", ttbar), ("4j2b_wjets", wjets),
             ("4j2b_pseudodata", data))}


# --- the reference fit ------------------------------------------------------


def test_reference_fit_matches_the_root_fit(
    result: fitting.FitResult, caplog: pytest.LogCaptureFixture
) -> None:
    assert result.status["valid"] and result.status["accurate"]
    assert result.poi == "ttbar_norm"
    assert abs(result.value("ttbar_norm") - ROOT_FIT["ttbar_norm"][0]) < 0.03

    # No true variances in the JSON: only loosely, within the ROOT uncertainty.
    for name, (value, error) in ROOT_FIT.items():
        log.info("%-24s ours %+.4f +- %.4f  ROOT %+.4f +- %.4f", name,
                 result.value(name), result.error(name), value, error)
        assert abs(result.value(name) - value) < error, name


def _with_event_weight_variances(
    reference: dict[str, Histogram]
) -> dict[str, Histogram]:
    """The reference with sumw2 = w x sumw, w = sigma L / N of its first file.

    Every event of a set has the weight w (times 1.025 / 0.975 for the W+jets
    scale weights), so for the nominal histograms, the only ones whose sumw2
    enters the model, this is exact. (The b-tag weights make it approximate for
    their variations, which the model takes no variances from.)
    """
    catalogue = json.loads(fileset.public_file("nanoaod_inputs.json").read_text())
    scale = {"scale_var_up": spec.SCALE_VAR_UP, "scale_var_down": spec.SCALE_VAR_DOWN}
    out = dict(reference)
    for process, sets in spec.FILE_SETS.items():
        for region in spec.REGIONS:
            for file_set in sets:
                for variation in spec.histogram_variations(process, file_set):
                    name = spec.histogram_name(region, process, variation)
                    nevts = catalogue[process][file_set]["files"][0]["nevts"]
                    weight = spec.normalization(process, nevts)
                    hist = reference[name]
                    out[name] = Histogram(hist.edges, hist.sumw, hist.sumw * weight
                                          * scale.get(variation, 1.0))
    return out


def test_reference_with_true_variances_reproduces_the_root_fit(
    reference: dict[str, Histogram], model: dict[str, Any]
) -> None:
    histograms = _with_event_weight_variances(reference)
    got = fitting.fit_workspace(wsp.build_workspace(histograms, model))

    assert got.status["valid"]
    for name, (value, error) in ROOT_FIT.items():
        log.info("%-24s ours %+.4f +- %.4f  ROOT %+.4f +- %.4f", name,
                 got.value(name), got.error(name), value, error)
        if name == "Jet energy resolution":
            # the public pt_res_up histograms come from an unseeded random draw,
            # not the one of the ROOT fit
            assert abs(got.value(name) - value) < error
            continue
        assert abs(got.value(name) - value) < 0.03, name
        # pyhf's code4 / code4p interpolation is not HistFactory's in ROOT
        assert got.error(name) == pytest.approx(error, rel=0.15), name
    assert abs(got.value("ttbar_norm") - ROOT_FIT["ttbar_norm"][0]) < 0.01
    assert got.error("ttbar_norm") == pytest.approx(ROOT_FIT["ttbar_norm"][1],
                                                    rel=0.05)


def test_fit_logs_the_poi(workspace: dict[str, Any],
                          caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="topxsec.fit"):
        got = fitting.fit_workspace(workspace)
    value, error = got.value("ttbar_norm"), got.error("ttbar_norm")
    line = f"ttbar_norm = {value:.4f} +- {error:.4f}"
    assert line in caplog.messages


def test_min_nll_is_minus_log_likelihood(
    workspace: dict[str, Any], result: fitting.FitResult
) -> None:
    pdf, data = fitting.model_and_data(workspace)
    logpdf = float(pdf.logpdf(result.values, data)[0])
    assert result.min_nll == pytest.approx(-logpdf, rel=1e-12)

    # a minimum: moving any parameter by a tenth of its error raises -log L
    for i in range(len(result.labels)):
        for sign in (-1.0, 1.0):
            pars = result.values.copy()
            pars[i] += sign * 0.1 * result.errors[i]
            assert -float(pdf.logpdf(pars, data)[0]) > result.min_nll - 1e-4


def test_hesse_agrees_with_a_finite_difference_hessian(
    workspace: dict[str, Any], result: fitting.FitResult
) -> None:
    pdf, data = fitting.model_and_data(workspace)
    x0, steps = result.values, 1e-3 * result.errors

    def nll(shift: np.ndarray) -> float:
        return -float(pdf.logpdf(x0 + shift, data)[0])

    n = len(x0)
    hessian = np.zeros((n, n))
    basis = np.diag(steps)
    for i in range(n):
        for j in range(i, n):
            a, b = basis[i], basis[j]
            value = (nll(a + b) - nll(a - b) - nll(b - a) + nll(-a - b)) / (
                4 * steps[i] * steps[j])
            hessian[i, j] = hessian[j, i] = value
    errors = np.sqrt(np.diag(np.linalg.inv(hessian)))

    for name, mine, fd in zip(result.labels, result.errors, errors, strict=True):
        log.info("%-24s HESSE %.5f  finite differences %.5f", name, mine, fd)
    # with HESSE started afresh from small steps (refine_hesse) it agrees to
    # about 2 % on this ill-conditioned problem (nearly degenerate b-tag NPs)
    np.testing.assert_allclose(result.errors, errors, rtol=0.03)
    i = result.index("ttbar_norm")
    assert result.errors[i] == pytest.approx(errors[i], rel=0.01)


# --- cabinetry on the same histograms ---------------------------------------


def _write_cabinetry_inputs(histograms: dict[str, Histogram], path: Path) -> None:
    """Write the histograms, rebinned with boost-histogram, as TH1 to ``path``."""
    with uproot.recreate(path) as f:
        for name, hist in histograms.items():
            h = bh.Histogram(bh.axis.Variable(hist.edges), storage=bh.storage.Weight())
            h.view(flow=True).value = hist.sumw
            h.view(flow=True).variance = hist.sumw2
            f[name] = h[bh.loc(110)::bh.rebin(2)]


def _cabinetry_config(root_file: Path, folder: Path) -> dict[str, Any]:
    """A cabinetry configuration equivalent to config/model.yaml."""
    everything = list(PROCESS_OF)

    def varied(name: str, samples: Any, up: str, down: str | None) -> dict[str, Any]:
        entry = {"Name": name, "Type": "NormPlusShape", "Samples": samples,
                 "Up": {"VariationPath": f"_{up}"}}
        entry["Down"] = ({"Symmetrize": True} if down is None
                         else {"VariationPath": f"_{down}"})
        return entry

    systematics = [
        varied("ME variation", "ttbar", "ME_var", None),
        varied("PS variation", "ttbar", "PS_var", None),
        varied("ttbar scale variations", "ttbar", "scaleup", "scaledown"),
        varied("Jet energy scale", everything, "pt_scale_up", None),
        varied("Jet energy resolution", everything, "pt_res_up", None),
    ]
    systematics += [
        varied(f"b-tag NP {i + 1}", everything, f"btag_var_{i}_up",
               f"btag_var_{i}_down")
        for i in range(4)
    ]
    systematics += [
        varied("W+jets scale variations", "W+jets", "scale_var_up", "scale_var_down"),
        {"Name": "Luminosity", "Type": "Normalization", "Samples": everything,
         "Up": {"Normalization": 0.03}, "Down": {"Normalization": -0.03}},
    ]
    samples = [{"Name": "pseudo-data", "SamplePath": "pseudodata", "Data": True}]
    samples += [{"Name": name, "SamplePath": process}
                for name, process in PROCESS_OF.items()]
    return {
        "General": {
            "Measurement": "ttbar_cross_section",
            "POI": "ttbar_norm",
            "InputPath": f"{root_file}:{{RegionPath}}_{{SamplePath}}{{VariationPath}}",
            "HistogramFolder": str(folder),
        },
        "Regions": [{"Name": "4j1b CR", "RegionPath": "4j1b"},
                    {"Name": "4j2b SR", "RegionPath": "4j2b"}],
        "Samples": samples,
        "NormFactors": [{"Name": "ttbar_norm", "Samples": "ttbar", "Nominal": 1.0,
                         "Bounds": [0.0, 10.0]}],
        "Systematics": systematics,
    }


def _same_names(workspace: dict[str, Any]) -> dict[str, Any]:
    """cabinetry writes spaces in staterror names as dashes; undo that.

    Our builder floors negative shape-template bins (a symmetrized down
    template of the reference has some) at zero; cabinetry keeps them, so the
    same floor is applied to its templates here.
    """
    ws = copy.deepcopy(workspace)
    for channel in ws["channels"]:
        for sample in channel["samples"]:
            for modifier in sample["modifiers"]:
                if modifier["type"] == "staterror":
                    modifier["name"] = wsp.staterror_name(channel["name"])
                if modifier["type"] == "histosys":
                    for key in ("hi_data", "lo_data"):
                        modifier["data"][key] = np.maximum(
                            modifier["data"][key], 0.0).tolist()
    return ws


def _modifier_table(workspace: dict[str, Any]) -> dict[tuple, Any]:
    return {
        (c["name"], s["name"], m["name"], m["type"]): m["data"]
        for c in workspace["channels"] for s in c["samples"] for m in s["modifiers"]
    }


def test_cabinetry_builds_and_fits_the_same(
    reference: dict[str, Histogram], workspace: dict[str, Any],
    result: fitting.FitResult, tmp_path: Path,
) -> None:
    import cabinetry

    root_file = tmp_path / "histograms.root"
    _write_cabinetry_inputs(reference, root_file)
    config = _cabinetry_config(root_file, tmp_path / "cabinetry")
    cabinetry.configuration.validate(config)
    cabinetry.templates.collect(config)
    cabinetry.templates.postprocess(config)
    theirs = _same_names(cabinetry.workspace.build(config))

    ours_table, their_table = _modifier_table(workspace), _modifier_table(theirs)
    assert sorted(ours_table) == sorted(their_table)
    for key, data in ours_table.items():
        if isinstance(data, dict):
            for part, values in data.items():
                np.testing.assert_allclose(values, their_table[key][part], rtol=1e-10,
                                           err_msg=str(key))
        elif data is not None:
            np.testing.assert_allclose(data, their_table[key], rtol=1e-10)
    for ours, other in zip(workspace["channels"], theirs["channels"], strict=True):
        for a, b in zip(ours["samples"], other["samples"], strict=True):
            assert a["name"] == b["name"]
            np.testing.assert_allclose(a["data"], b["data"], rtol=1e-12)
    assert workspace["observations"] == theirs["observations"]

    pdf, data = cabinetry.model_utils.model_and_data(theirs)
    fit = cabinetry.fit.fit(pdf, data)
    values = dict(zip(fit.labels, fit.bestfit, strict=True))
    errors = dict(zip(fit.labels, fit.uncertainty, strict=True))
    assert abs(values["ttbar_norm"] - result.value("ttbar_norm")) < 0.001
    assert fit.best_twice_nll / 2 == pytest.approx(result.min_nll, abs=1e-4)
    plain = fitting.fit_workspace(workspace, refine_hesse=False)
    for name in result.labels:
        log.info("%-24s value diff %+.2e, error %.5f (plain HESSE %.5f) vs "
                 "cabinetry %.5f", name, result.value(name) - values[name],
                 result.error(name), plain.error(name), errors[name])
        assert abs(result.value(name) - values[name]) < 1e-3, name
        # The same HESSE as cabinetry's; it moves by a few per cent with the
        # last bits of the (bitwise different) workspaces. The refined HESSE
        # corrects its bias of up to 7 % on the b-tag NPs.
        assert plain.error(name) == pytest.approx(errors[name], rel=0.05), name
        assert result.error(name) == pytest.approx(errors[name], rel=0.1), name


# --- options ----------------------------------------------------------------


def test_fixed_and_initial_values(workspace: dict[str, Any],
                                  result: fitting.FitResult) -> None:
    got = fitting.fit_workspace(workspace, fixed={"Luminosity": 0.5},
                                init={"ttbar_norm": 2.0})

    i = got.index("Luminosity")
    assert got.values[i] == 0.5 and got.errors[i] == 0.0
    assert got.fixed == ["Luminosity"]
    assert np.all(got.covariance[i] == 0.0)
    assert got.correlation[i, i] == 1.0 and np.sum(np.abs(got.correlation[i])) == 1.0
    # the luminosity pull was about -0.4; fixing it higher lowers ttbar_norm
    assert got.value("ttbar_norm") < result.value("ttbar_norm")
    assert got.min_nll > result.min_nll

    again = fitting.fit_workspace(workspace, init={"ttbar_norm": 2.0})
    assert again.value("ttbar_norm") == pytest.approx(result.value("ttbar_norm"),
                                                      abs=1e-3)


@pytest.mark.parametrize("poi", [1.0, 1.5])
def test_asimov_fit_returns_the_injected_values(
    workspace: dict[str, Any], poi: float
) -> None:
    got = fitting.fit_workspace(workspace, data="asimov",
                                asimov_values={"ttbar_norm": poi, "b-tag NP 2": 0.5})
    assert got.value("ttbar_norm") == pytest.approx(poi, abs=2e-3)
    assert got.value("b-tag NP 2") == pytest.approx(0.5, abs=0.02)
    assert got.value("ME variation") == pytest.approx(0.0, abs=0.02)


def test_explicit_data_array(workspace: dict[str, Any],
                             result: fitting.FitResult) -> None:
    _, data = fitting.model_and_data(workspace)
    got = fitting.fit_workspace(workspace, data=list(data))
    assert got.value("ttbar_norm") == pytest.approx(result.value("ttbar_norm"))
    with pytest.raises(WorkspaceError, match="needs"):
        fitting.fit_workspace(workspace, data=list(data)[:-1])


@pytest.mark.parametrize(
    "options",
    [{"fixed": {"Lumi": 0.0}}, {"init": {"staterror_4j2b SR[11]": 1.0}},
     {"data": "asimov", "asimov_values": {"mu": 1.0}}, {"data": "observe"},
     {"asimov_values": {"ttbar_norm": 2.0}}],
)
def test_bad_options(workspace: dict[str, Any], options: dict[str, Any]) -> None:
    with pytest.raises(WorkspaceError):
        fitting.fit_workspace(workspace, **options)


def test_bins_without_simulated_events() -> None:
    histograms = _small_histograms()
    for name in ("4j2b_ttbar", "4j2b_wjets", "4j2b_pseudodata"):
        hist = histograms[name]
        values = hist.sumw.copy()
        values[4:8] = 0.0       # 110 to 190 GeV: the first rebinned bin
        histograms[name] = Histogram(hist.edges, values, values)
    model = _small_model()
    model["mc_stat"]["enabled"] = True
    ws = wsp.build_workspace(histograms, model)

    got = fitting.fit_workspace(ws)

    assert got.status["valid"]
    assert got.fixed == ["staterror_4j2b SR[0]"]
    assert got.error("staterror_4j2b SR[0]") == 0.0
    assert got.value("ttbar_norm") == pytest.approx(1.2, rel=1e-3)
    yields = fitting.model_yields(ws, got, model=model)["channels"]["4j2b SR"]
    assert yields["total"][0] == 0.0 and yields["total_uncertainty"][0] == 0.0
    prefit = fitting.model_yields(ws, model=model)["channels"]["4j2b SR"]
    assert prefit["total_uncertainty"][0] == 0.0


def test_failed_fit_is_returned_invalid(
    workspace: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="topxsec.fit"):
        got = fitting.fit_workspace(workspace, maxiter=20)
    assert got.status["valid"] is False
    assert "not valid" in caplog.text


def test_fit_result_round_trip(result: fitting.FitResult) -> None:
    doc = json.loads(json.dumps(result.to_dict()))

    assert set(doc) >= {"parameters", "labels", "correlation", "covariance",
                        "min_nll", "status", "poi"}
    assert set(doc["status"]) == {"valid", "accurate", "edm", "nfcn"}
    assert doc["labels"] == result.labels and len(doc["parameters"]) == 34
    assert set(doc["parameters"]["staterror_4j2b SR[3]"]) == {"value", "error"}
    assert np.shape(doc["correlation"]) == (34, 34)

    back = fitting.FitResult.from_dict(doc)
    assert back.labels == result.labels
    np.testing.assert_array_equal(back.values, result.values)
    np.testing.assert_array_equal(back.errors, result.errors)
    np.testing.assert_array_equal(back.covariance, result.covariance)
    np.testing.assert_array_equal(back.correlation, result.correlation)
    assert (back.min_nll, back.status, back.poi, back.fixed) == (
        result.min_nll, result.status, result.poi, result.fixed)


def test_correlation_from_covariance() -> None:
    cov = np.array([[4.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(fitting.correlation_from_covariance(cov),
                               [[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]])


# --- model yields -----------------------------------------------------------


def _rebinned_nominal(reference: dict[str, Histogram], region: str,
                      process: str) -> np.ndarray:
    name = f"{region}_{process}"
    return reference[name].sumw[4:26].reshape(11, 2).sum(axis=1)


def test_prefit_yields(workspace: dict[str, Any], model: dict[str, Any],
                       reference: dict[str, Histogram]) -> None:
    got = fitting.model_yields(workspace, model=model)

    assert got["stage"] == "prefit"
    assert list(got["channels"]) == ["4j1b CR", "4j2b SR"]
    for channel, region in (("4j1b CR", "4j1b"), ("4j2b SR", "4j2b")):
        entry = got["channels"][channel]
        assert set(entry) == {"edges", "observable", "data", "samples", "total",
                              "total_uncertainty"}
        assert entry["edges"] == [110.0 + 40.0 * i for i in range(12)]
        assert entry["observable"] == next(
            c["observable"] for c in model["channels"] if c["name"] == channel)
        assert list(entry["samples"]) == list(PROCESS_OF)
        expected = {name: _rebinned_nominal(reference, region, process)
                    for name, process in PROCESS_OF.items()}
        for name, values in entry["samples"].items():
            np.testing.assert_allclose(values, expected[name], rtol=1e-12)
        np.testing.assert_allclose(entry["total"], sum(expected.values()), rtol=1e-12)
        np.testing.assert_allclose(
            entry["data"], _rebinned_nominal(reference, region, "pseudodata"))
        assert all(len(entry[k]) == 11 for k in ("data", "total", "total_uncertainty"))
        assert np.all(np.array(entry["total_uncertainty"]) > 0)


def test_prefit_uncertainty_of_a_luminosity_only_model() -> None:
    ws = wsp.build_workspace(_small_histograms(), _small_model())
    got = fitting.model_yields(ws, model=_small_model())["channels"]["4j2b SR"]
    # normsys 1.03 / 0.97 at +-1 sigma: half the difference is 3 % of the total
    np.testing.assert_allclose(got["total_uncertainty"], 0.03 * np.array(got["total"]),
                               rtol=1e-9)
    assert got["edges"] == [110.0, 190.0, 270.0, 550.0]


def test_postfit_yields(workspace: dict[str, Any], model: dict[str, Any],
                        result: fitting.FitResult) -> None:
    prefit = fitting.model_yields(workspace, model=model)
    got = fitting.model_yields(workspace, result, model=model)

    assert got["stage"] == "postfit"
    pdf, _ = fitting.model_and_data(workspace)
    expected = pdf.main_model.expected_data(result.values)
    for channel, entry in got["channels"].items():
        bins = pdf.config.channel_slices[channel]
        np.testing.assert_allclose(entry["total"], expected[bins], rtol=1e-10)
        np.testing.assert_allclose(np.sum(list(entry["samples"].values()), axis=0),
                                   entry["total"], rtol=1e-12)
        before = np.array(prefit["channels"][channel]["total_uncertainty"])
        after = np.array(entry["total_uncertainty"])
        assert np.all(after < before)
        assert entry["data"] == prefit["channels"][channel]["data"]


def test_postfit_uncertainty_of_a_luminosity_only_model() -> None:
    ws = wsp.build_workspace(_small_histograms(), _small_model())
    fitted = fitting.fit_workspace(ws)
    got = fitting.model_yields(ws, fitted, model=_small_model())["channels"]["4j2b SR"]

    # independent linear propagation: J C J^T with a numerical Jacobian
    pdf, _ = fitting.model_and_data(ws)
    jacobian = np.zeros((3, len(fitted.labels)))
    for i in range(len(fitted.labels)):
        step = np.zeros(len(fitted.labels))
        step[i] = 1e-6
        jacobian[:, i] = (pdf.main_model.expected_data(fitted.values + step)
                          - pdf.main_model.expected_data(fitted.values - step)) / 2e-6
    variance = np.einsum("bi,ij,bj->b", jacobian, fitted.covariance, jacobian)
    # +-1 sigma secants vs tangents: they differ by the curvature of the code4
    # normsys interpolation, a few per mille here
    np.testing.assert_allclose(got["total_uncertainty"], np.sqrt(variance), rtol=1e-2)
    assert not np.allclose(got["total_uncertainty"], 0.03 * np.array(got["total"]),
                           rtol=1e-2)


def test_yields_need_the_matching_model_and_fit(
    workspace: dict[str, Any], model: dict[str, Any], result: fitting.FitResult
) -> None:
    small = _small_model()
    with pytest.raises(WorkspaceError, match="4j1b CR"):
        fitting.model_yields(workspace, model=small)

    other = wsp.build_workspace(_small_histograms(), small)
    with pytest.raises(WorkspaceError, match="do not match"):
        fitting.model_yields(other, result, model=small)

    fewer_bins = copy.deepcopy(model)
    fewer_bins["rebinning"]["edges"] = [110.0, 550.0]
    with pytest.raises(WorkspaceError, match="bins"):
        fitting.model_yields(workspace, model=fewer_bins)


def test_pyhf_default_interpolation(workspace: dict[str, Any]) -> None:
    pdf, _ = fitting.model_and_data(workspace)
    assert pdf.config.modifier_settings == {
        "normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}}
    assert isinstance(pyhf.tensorlib, pyhf.tensor.numpy_backend)
