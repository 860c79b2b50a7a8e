"""Tests of topxsec.inference and its plots on the public reference histograms.

Each study is checked against an independent calculation: the impacts against
fixed-parameter fits made directly with pyhf and against cabinetry's ranking,
the scan against cabinetry's scan and against the MINUIT uncertainty, the
breakdown against refits with the groups frozen and against the analytic
statistical uncertainty of the Asimov data, the goodness of fit against the
Poisson deviance and pulls computed with numpy and against cabinetry.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyhf
import pytest
from scipy.stats import chi2

from topxsec import inference
from topxsec import fit as fitting
from topxsec import plotting_inference as plots
from topxsec import workspace as wsp
from topxsec.errors import WorkspaceError
from topxsec.hists import Histogram

# pyhf 0.7.6 validates with jsonschema.RefResolver, deprecated since jsonschema
# 4.18; goes away with a pyhf release that has scikit-hep/pyhf#2716 (issue #2139).
pytestmark = pytest.mark.filterwarnings(
    "ignore:jsonschema.RefResolver is deprecated:DeprecationWarning"
)

log = logging.getLogger(__name__)

POI = "ttbar_norm"
#: Parameters whose impacts are checked against direct pyhf fits: the largest
#: ones of each kind, and the ME variation whose pre-fit fits are hard.
CHECKED = ["ME variation", "b-tag NP 3", "Jet energy scale", "Luminosity",
           "W+jets scale variations", "staterror_4j1b CR[9]", "staterror_4j2b SR[0]"]


@pytest.fixture(scope="module")
def impacts(workspace: dict[str, Any],
            result: fitting.FitResult) -> list[dict[str, Any]]:
    return inference.parameter_impacts(workspace, result, CHECKED)


@pytest.fixture(scope="module")
def scan(workspace: dict[str, Any], result: fitting.FitResult) -> dict[str, Any]:
    return inference.likelihood_scan(workspace, result, points=13, span=2.5)


def _pyhf_fit(workspace: dict[str, Any], fixed: dict[str, float],
              start: np.ndarray) -> tuple[np.ndarray, float]:
    """A fixed-parameter fit made directly with pyhf (tight tolerance)."""
    pdf, data = fitting.model_and_data(workspace)
    labels = list(pdf.config.par_names)
    init = np.array(start, dtype=float)
    fix = list(pdf.config.suggested_fixed())
    for name, value in fixed.items():
        init[labels.index(name)] = value
        fix[labels.index(name)] = True
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(tolerance=1e-3))
    values, twice_nll = pyhf.infer.mle.fit(data, pdf, init_pars=init.tolist(),
                                           fixed_params=fix, return_fitted_val=True)
    return np.asarray(values), float(twice_nll) / 2.0


# --- parameters from the model file -----------------------------------------


def test_nuisance_parameters_are_the_workspace_parameters(
    model: dict[str, Any], workspace: dict[str, Any]
) -> None:
    names = inference.nuisance_parameters(model)

    pdf = pyhf.Workspace(workspace).model()
    assert sorted(names) == sorted(set(pdf.config.par_names) - {POI})
    assert names[:11] == [s["name"] for s in model["systematics"]]
    assert names[11] == "staterror_4j1b CR[0]" and len(names) == 33


def test_nuisance_parameters_without_mc_stat(model: dict[str, Any]) -> None:
    changed = copy.deepcopy(model)
    changed["mc_stat"]["enabled"] = False
    assert inference.nuisance_parameters(changed) == [
        s["name"] for s in model["systematics"]]


@pytest.mark.parametrize("per_job", [1, 6, 11, 40])
def test_impact_groups_split_in_order(model: dict[str, Any], per_job: int) -> None:
    names = inference.nuisance_parameters(model)
    groups = inference.impact_groups(names, per_job)
    assert [n for group in groups for n in group] == names
    assert all(0 < len(group) <= per_job for group in groups)
    assert len(groups) == -(-len(names) // per_job)


def test_impact_groups_need_a_positive_size() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        inference.impact_groups(["a"], 0)


def test_parameter_groups(model: dict[str, Any], result: fitting.FitResult) -> None:
    groups = inference.parameter_groups(model, result.labels)
    assert groups["b-tagging"] == [f"b-tag NP {i}" for i in range(1, 5)]
    assert groups["ttbar modelling"] == ["ME variation", "PS variation",
                                         "ttbar scale variations"]
    assert len(groups[inference.MC_STAT_GROUP]) == 22
    assert sum(len(v) for v in groups.values()) == len(result.labels) - 1


# --- impacts ------------------------------------------------------------------


def test_impact_entries(impacts: list[dict[str, Any]],
                        result: fitting.FitResult) -> None:
    assert [e["parameter"] for e in impacts] == CHECKED
    for entry in impacts:
        name = entry["parameter"]
        assert entry["status"] == "ok" and entry["valid"], entry
        assert entry["postfit"] == {"value": result.value(name),
                                    "error": result.error(name)}
        fixed = entry["fixed_at"]
        assert fixed["postfit_up"] == pytest.approx(
            result.value(name) + result.error(name))
        assert fixed["prefit_down"] == pytest.approx(
            result.value(name) - entry["prefit"]["width"])
        assert set(entry["impacts"]) == set(inference.IMPACT_KEYS)
    lumi = next(e for e in impacts if e["parameter"] == "Luminosity")
    assert lumi["prefit"] == {"value": 0.0, "width": 1.0}
    gamma = next(e for e in impacts if e["parameter"] == "staterror_4j1b CR[9]")
    assert gamma["prefit"]["value"] == 1.0
    assert 0.0 < gamma["prefit"]["width"] < 0.5
    # a higher luminosity means fewer ttbar events needed
    assert lumi["impacts"]["postfit_up"] < 0 < lumi["impacts"]["postfit_down"]


def test_impacts_agree_with_direct_pyhf_fits(
    workspace: dict[str, Any], result: fitting.FitResult,
    impacts: list[dict[str, Any]],
) -> None:
    reference_values, reference_nll = _pyhf_fit(workspace, {}, result.values)
    poi = result.index(POI)
    for entry in impacts:
        for key in inference.IMPACT_KEYS:
            values, nll = _pyhf_fit(workspace,
                                    {entry["parameter"]: entry["fixed_at"][key]},
                                    result.values)
            theirs = values[poi] - reference_values[poi]
            ours = entry["impacts"][key]
            log.info("%-22s %-12s ours %+.5f (nll %.4f)  pyhf %+.5f (nll %.4f)",
                     entry["parameter"], key, ours, entry["nll"][key], theirs, nll)
            if abs(entry["nll"][key] - nll) < 1e-3:
                assert ours == pytest.approx(theirs, abs=5e-4), (entry, key)
            else:
                # two minima: ours must be the lower one (the profile's)
                assert key.startswith("prefit"), (entry, key)
                assert entry["nll"][key] < nll, (entry, key)
    assert reference_nll == pytest.approx(result.min_nll, abs=1e-3)


def test_ranking_order(impacts: list[dict[str, Any]]) -> None:
    extra = {"parameter": "gone", "status": "absent", "impacts": {}}
    ranked = inference.rank_impacts([extra, *impacts])
    sizes = [inference.impact_size(e) for e in ranked[:-1]]
    assert sizes == sorted(sizes, reverse=True)
    assert ranked[-1]["parameter"] == "gone"
    assert inference.impact_size(ranked[0]) == max(
        abs(ranked[0]["impacts"]["postfit_up"]),
        abs(ranked[0]["impacts"]["postfit_down"]))


def test_fixed_absent_and_poi_parameters(
    reference: dict[str, Histogram], model: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    histograms = dict(reference)
    # no simulated events (and no data) from 510 to 550 GeV in 4j2b: a fixed gamma
    for name, hist in reference.items():
        if name.startswith("4j2b_"):
            sumw = hist.sumw.copy()
            sumw[24:26] = 0.0
            histograms[name] = Histogram(hist.edges, sumw, sumw)
    # PS variation equal to the nominal everywhere: pruned, no parameter
    for region in ("4j1b", "4j2b"):
        histograms[f"{region}_ttbar_PS_var"] = histograms[f"{region}_ttbar"]
    ws = wsp.build_workspace(histograms, model)
    fit = fitting.fit_workspace(ws)

    with caplog.at_level(logging.INFO, logger="topxsec.inference"):
        got = inference.parameter_impacts(
            ws, fit, ["staterror_4j2b SR[10]", "PS variation", "Luminosity"])

    assert [e["status"] for e in got] == ["fixed", "absent", "ok"]
    assert got[0]["impacts"] == {} and got[1]["impacts"] == {}
    assert "PS variation: not a parameter of the workspace" in caplog.text
    with pytest.raises(WorkspaceError, match="parameter of interest"):
        inference.parameter_impacts(ws, fit, [POI])


def test_fit_of_another_workspace_is_refused(
    workspace: dict[str, Any], result: fitting.FitResult
) -> None:
    other = copy.deepcopy(workspace)
    for channel in other["channels"]:
        for sample in channel["samples"]:
            sample["modifiers"] = [m for m in sample["modifiers"]
                                   if m["name"] != "Luminosity"]
    with pytest.raises(WorkspaceError, match="do not match"):
        inference.parameter_impacts(other, result, ["b-tag NP 1"])


def test_impacts_agree_with_cabinetry(
    workspace: dict[str, Any], model: dict[str, Any], reference: dict[str, Histogram]
) -> None:
    import cabinetry

    # without the 22 MC-stat parameters, to keep cabinetry's 44 fits short
    changed = copy.deepcopy(model)
    changed["mc_stat"]["enabled"] = False
    ws = wsp.build_workspace(reference, changed)
    fit = fitting.fit_workspace(ws)
    ours = {e["parameter"]: e for e in inference.parameter_impacts(
        ws, fit, inference.nuisance_parameters(changed))}

    pdf, data = fitting.model_and_data(ws)
    theirs_fit = cabinetry.fit.FitResults(fit.values, fit.errors, fit.labels,
                                          fit.correlation, 2.0 * fit.min_nll)
    ranking = cabinetry.fit.ranking(pdf, data, fit_results=theirs_fit,
                                    init_pars=fit.values.tolist())
    for i, name in enumerate(ranking.labels):
        mine = ours[name]["impacts"]
        for key, values in (("postfit_up", ranking.postfit_up),
                            ("postfit_down", ranking.postfit_down),
                            ("prefit_up", ranking.prefit_up),
                            ("prefit_down", ranking.prefit_down)):
            log.info("%-24s %-12s ours %+.5f cabinetry %+.5f", name, key, mine[key],
                     values[i])
            if abs(mine[key] - values[i]) < 2e-3:
                continue
            # two minima (the pre-fit ME variation down): cabinetry's is the one
            # pyhf finds from the best fit, and ours is lower
            fixed = {name: ours[name]["fixed_at"][key]}
            pars, nll = _pyhf_fit(ws, fixed, fit.values)
            assert key.startswith("prefit"), (name, key)
            assert pars[fit.index(POI)] - fit.value(POI) == pytest.approx(
                values[i], abs=2e-3), (name, key)
            assert ours[name]["nll"][key] < nll - 1e-3, (name, key)


# --- likelihood scan ----------------------------------------------------------


def test_scan_interval_agrees_with_minuit(scan: dict[str, Any],
                                         result: fitting.FitResult) -> None:
    one = scan["intervals"]["68"]
    half_width = 0.5 * (one["plus"] + one["minus"])
    assert half_width == pytest.approx(result.error(POI), rel=0.10)
    assert scan["half_width_over_hesse"] == pytest.approx(
        half_width / result.error(POI))
    assert scan["best_fit"] == pytest.approx(result.value(POI), abs=1e-3)
    two = scan["intervals"]["95"]
    assert two["low"] < one["low"] < scan["best_fit"] < one["high"] < two["high"]
    # about 1.96 times wider for a near-parabolic curve
    assert (two["high"] - two["low"]) / (one["high"] - one["low"]) == pytest.approx(
        1.96, rel=0.05)
    assert not any(v[f"{s}_at_bound"] for v in (one, two) for s in ("low", "high"))
    assert scan["valid"]


def test_scan_interval_ends_are_on_the_levels(
    workspace: dict[str, Any], result: fitting.FitResult, scan: dict[str, Any]
) -> None:
    _, minimum = _pyhf_fit(workspace, {}, result.values)
    for label, level in inference.INTERVAL_LEVELS.items():
        for side in ("low", "high"):
            _, nll = _pyhf_fit(workspace, {POI: scan["intervals"][label][side]},
                               result.values)
            assert 2.0 * (nll - minimum) == pytest.approx(level, abs=0.01), (
                label, side)


def test_scan_grid(scan: dict[str, Any], result: fitting.FitResult) -> None:
    values = np.array(scan["values"])
    curve = np.array(scan["twice_delta_nll"])
    assert values.size == 13 and curve.size == 13
    np.testing.assert_allclose(values[[0, -1]], scan["best_fit"]
                               + np.array([-2.5, 2.5]) * result.error(POI))
    assert curve.min() >= -1e-4 and curve[6] == pytest.approx(0.0, abs=1e-4)
    assert np.all(np.diff(curve[:7]) < 0) and np.all(np.diff(curve[6:]) > 0)


def test_scan_agrees_with_cabinetry(workspace: dict[str, Any],
                                    scan: dict[str, Any]) -> None:
    import cabinetry

    pdf, data = fitting.model_and_data(workspace)
    values = scan["values"]
    theirs = cabinetry.fit.scan(pdf, data, POI, par_range=(values[0], values[-1]),
                                n_steps=len(values), tolerance=1e-3)
    np.testing.assert_allclose(theirs.parameter_values, values, rtol=1e-12)
    np.testing.assert_allclose(scan["twice_delta_nll"], theirs.delta_nlls, atol=2e-3,
                               rtol=1e-3)


def _small_workspace(ttbar_scale: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """One channel, ttbar and W+jets, luminosity only; data = W+jets + s x ttbar."""
    model = wsp.validate_model({
        "measurement": "small",
        "poi": {"name": POI, "nominal": 1.0, "bounds": [0.0, 10.0],
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
    edges = np.linspace(50.0, 550.0, 26)
    ttbar = np.r_[0.0, np.linspace(10.0, 1.0, 25), 0.0]
    wjets = np.r_[0.0, np.linspace(200.0, 400.0, 25), 0.0]
    data = ttbar_scale * ttbar + wjets
    histograms = {name: Histogram(edges, values, values) for name, values in
                  (("4j2b_ttbar", ttbar), ("4j2b_wjets", wjets),
                   ("4j2b_pseudodata", data))}
    return wsp.build_workspace(histograms, model), model


def test_scan_interval_at_the_bound() -> None:
    ws, _ = _small_workspace(0.05)
    fit = fitting.fit_workspace(ws)

    got = inference.likelihood_scan(ws, fit, points=7)

    one = got["intervals"]["68"]
    assert got["values"][0] == 0.0
    assert one["low_at_bound"] and one["low"] == 0.0
    assert not one["high_at_bound"] and one["high"] > got["best_fit"]


@pytest.mark.parametrize(("points", "span"), [(2, 3.0), (11, 0.0)])
def test_scan_bad_grid(workspace: dict[str, Any], result: fitting.FitResult,
                       points: int, span: float) -> None:
    with pytest.raises(ValueError, match="scan needs"):
        inference.likelihood_scan(workspace, result, points=points, span=span)


# --- sensitivity --------------------------------------------------------------


@pytest.fixture(scope="module")
def breakdown(workspace: dict[str, Any], result: fitting.FitResult,
              model: dict[str, Any]) -> dict[str, Any]:
    return inference.sensitivity(workspace, result, model)


def test_breakdown_of_the_observed_fit(breakdown: dict[str, Any],
                                       result: fitting.FitResult) -> None:
    observed = breakdown["observed"]
    assert observed["value"] == result.value(POI)
    # HESSE's error and its covariance differ in the last digits (bounds)
    assert observed["total"] == pytest.approx(result.error(POI), rel=1e-3)
    assert observed["statistical"] < observed["total"]
    assert observed["total"] ** 2 == pytest.approx(
        observed["statistical"] ** 2 + observed["systematic"] ** 2)
    groups = observed["groups"]
    assert set(groups) == {"ttbar modelling", "jet energy", "b-tagging",
                           "W+jets modelling", "luminosity",
                           inference.MC_STAT_GROUP}
    for entry in groups.values():
        assert 0.0 <= entry["impact"] <= observed["total"]
        assert entry["frozen"] ** 2 + entry["impact"] ** 2 == pytest.approx(
            observed["total"] ** 2)


@pytest.mark.parametrize("group", ["luminosity", "b-tagging", "statistical"])
def test_breakdown_agrees_with_refits(
    workspace: dict[str, Any], result: fitting.FitResult,
    breakdown: dict[str, Any], group: str,
) -> None:
    pdf = pyhf.Workspace(workspace).model()
    if group == "statistical":
        names = [n for n in inference.constrained_parameters(pdf)
                 if n not in result.fixed]
        want = breakdown["observed"]["statistical"]
    else:
        names = breakdown["observed"]["groups"][group]["parameters"]
        want = breakdown["observed"]["groups"][group]["frozen"]

    refit = fitting.fit_workspace(workspace, init=dict(zip(result.labels,
                                                           result.values)),
                                  fixed={n: result.value(n) for n in names})

    assert refit.value(POI) == pytest.approx(result.value(POI), abs=2e-3)
    assert refit.error(POI) == pytest.approx(want, rel=0.03)


def test_expected_sensitivity_of_the_asimov_data(
    breakdown: dict[str, Any], workspace: dict[str, Any]
) -> None:
    expected = breakdown["expected"]
    assert expected["asimov_poi"] == 1.0
    assert expected["value"] == pytest.approx(1.0, abs=2e-3)
    assert expected["valid"] and breakdown["observed"]["valid"]

    # statistical only: sigma = 1 / sqrt(sum s^2 / (s + b)) at the expectation
    signal = np.concatenate([
        next(s for s in c["samples"] if s["name"] == "ttbar")["data"]
        for c in workspace["channels"]])
    total = np.concatenate([np.sum([s["data"] for s in c["samples"]], axis=0)
                            for c in workspace["channels"]])
    analytic = 1.0 / np.sqrt(np.sum(signal**2 / total))
    assert expected["statistical"] == pytest.approx(analytic, rel=0.01)
    assert expected["total"] > 5 * expected["statistical"]


def test_sensitivity_table(breakdown: dict[str, Any]) -> None:
    page = inference.sensitivity_html(breakdown)
    for text in ("Uncertainty on ttbar_norm", "expected (Asimov)", "statistical",
                 "b-tagging", inference.MC_STAT_GROUP):
        assert text in page


def test_breakdown_refuses_unknown_parameters(result: fitting.FitResult) -> None:
    with pytest.raises(WorkspaceError, match="unknown parameters"):
        inference.uncertainty_breakdown(result, {"x": ["nope"]}, [])


# --- goodness of fit ----------------------------------------------------------


@pytest.fixture(scope="module")
def gof(workspace: dict[str, Any], result: fitting.FitResult) -> dict[str, Any]:
    return inference.goodness_of_fit(workspace, result)


def test_gof_p_values(gof: dict[str, Any]) -> None:
    tests = [gof["combined"], *gof["channels"].values()]
    for test in tests:
        assert 0.0 < test["p_value"] <= 1.0
        assert test["q"] >= 0.0 and test["valid"]
    assert gof["combined"]["dof"] == 21 and gof["combined"]["bins"] == 22
    assert [t["dof"] for t in gof["channels"].values()] == [10, 10]
    assert sum(gof["combined"]["per_channel"].values()) == pytest.approx(
        gof["combined"]["deviance"])


def test_gof_statistic_is_deviance_plus_pulls(
    gof: dict[str, Any], workspace: dict[str, Any], result: fitting.FitResult
) -> None:
    pdf, data = fitting.model_and_data(workspace)
    n = data[:pdf.config.nmaindata]
    nu = np.asarray(pdf.expected_actualdata(result.values))
    deviance = 2.0 * np.sum(nu - n + np.where(n > 0, n * np.log(n / nu), 0.0))

    widths = fitting.prefit_widths(pdf)
    nominal = np.asarray(pdf.config.suggested_init())
    pulls = [(result.value(name) - nominal[i]) / widths[i]
             for i, name in enumerate(result.labels) if widths[i] > 0]

    combined = gof["combined"]
    assert combined["deviance"] == pytest.approx(deviance, rel=1e-9)
    assert combined["constraints"] == pytest.approx(np.sum(np.square(pulls)),
                                                    rel=1e-9)
    assert combined["p_value"] == pytest.approx(chi2.sf(combined["q"], 21))


def test_gof_agrees_with_cabinetry_on_fluctuated_data(
    workspace: dict[str, Any],
) -> None:
    import cabinetry

    # Poisson-fluctuated pseudo-data: a test statistic of the size of its dof
    rng = np.random.default_rng(7)
    fluctuated = copy.deepcopy(workspace)
    for observation in fluctuated["observations"]:
        observation["data"] = rng.poisson(observation["data"]).astype(float).tolist()
    fit = fitting.fit_workspace(fluctuated)

    ours = inference.goodness_of_fit(fluctuated, fit)["combined"]

    pdf, data = fitting.model_and_data(fluctuated)
    theirs = cabinetry.fit.fit(pdf, data, goodness_of_fit=True)
    # the same statistic (deviance and constraint terms) and degrees of freedom
    assert ours["p_value"] == pytest.approx(theirs.goodness_of_fit, abs=2e-3)
    assert 0.0 < ours["p_value"] < 1.0
    # the MC-stat gammas absorb part of the fluctuations: q below its 21 dof
    assert 5.0 < ours["q"] < 40.0 and ours["constraints"] > 1.0


def test_gof_table(gof: dict[str, Any]) -> None:
    page = inference.gof_html(gof)
    assert "4j1b CR (fitted alone)" in page and "all channels" in page
    assert "p-value" in page


# --- the undefined model --------------------------------------------------------


def test_profiler_reports_an_undefined_model(
    workspace: dict[str, Any], result: fitting.FitResult,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # a template that leaves no ttbar events in a bin at alpha = -1
    broken = copy.deepcopy(workspace)
    ttbar = next(s for s in broken["channels"][0]["samples"] if s["name"] == "ttbar")
    shape = next(m for m in ttbar["modifiers"]
                 if m["name"] == "ttbar scale variations" and m["type"] == "histosys")
    shape["data"]["lo_data"][5] = 0.0
    pdf, data = fitting.model_and_data(broken)
    profiler = inference.Profiler(pdf, data, start=result.values,
                                  covariance=result.covariance)

    with caplog.at_level(logging.WARNING, logger="topxsec.inference"):
        point = profiler.minimize({"ttbar scale variations": -3.0,
                                   "ttbar_norm": 1.0})

    assert point.nll == float("inf") and not point.valid
    assert "undefined" in caplog.text


# --- plots --------------------------------------------------------------------


def test_ranking_figure(impacts: list[dict[str, Any]], tmp_path: Path) -> None:
    fig = plots.ranking_figure(impacts, POI, top=5)
    pulls_ax, impacts_ax = fig.axes[:2]
    labels = [t.get_text() for t in pulls_ax.get_yticklabels()]
    ranked = inference.rank_impacts(impacts)[:5]
    assert labels == [e["parameter"] for e in ranked]
    # four bar families of five bars each
    assert len(impacts_ax.patches) == 20
    assert POI in impacts_ax.get_xlabel()

    path = plots.plot_ranking(impacts, POI, tmp_path / "ranking.png")
    assert path.stat().st_size > 10_000


def test_ranking_of_nothing(tmp_path: Path) -> None:
    path = plots.plot_ranking([{"parameter": "x", "status": "fixed", "impacts": {}}],
                              POI, tmp_path / "ranking.png")
    assert path.exists()
    with pytest.raises(ValueError, match="top"):
        plots.ranking_figure([], POI, top=0)


def test_scan_figure(scan: dict[str, Any], tmp_path: Path) -> None:
    fig = plots.scan_figure(scan)
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert "Profile likelihood" in labels
    assert any(label.startswith("68 % CL") for label in labels)
    assert ax.get_ylim()[1] > inference.INTERVAL_LEVELS["95"]

    path = plots.plot_scan(scan, tmp_path / "scan.png")
    assert path.stat().st_size > 10_000
