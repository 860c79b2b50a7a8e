"""Tests of the plots: valid PNGs, the expected artists, graceful gaps."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import matplotlib.colors
import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.patches import StepPatch

from topxsec import plotting, spec
from topxsec.errors import ConfigError
from topxsec.hists import Histogram

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EDGES = np.asarray(spec.Binning().edges())
#: Rough relative sizes of the processes, so that a log axis is chosen.
SCALES = {"ttbar": 3000.0, "wjets": 800.0, "single_top_s_chan": 5.0,
          "single_top_t_chan": 60.0, "single_top_tW": 150.0}
NUISANCES = ["ME variation", "PS variation", "ttbar scale variations",
             "Jet energy scale", "Jet energy resolution", "b-tag NP 1",
             "b-tag NP 2", "b-tag NP 3", "b-tag NP 4", "W+jets scale variations",
             "Luminosity"]
STATERRORS = [f"staterror_{channel}[{i}]" for channel in ("4j1b CR", "4j2b SR")
              for i in range(3)]
BTAG = list(spec.BTAG_VARIATIONS)
JET = ["pt_scale_up", "pt_res_up"]
ALTERNATIVES = ["scaledown", "scaleup", "ME_var", "PS_var"]


def _histogram(rng: np.random.Generator, scale: float, shift: float = 0.0
               ) -> Histogram:
    """A smooth falling spectrum with flow bins, weights of about scale / 1000."""
    centers = 0.5 * (EDGES[1:] + EDGES[:-1])
    shape = np.exp(-((centers - 200.0 - shift) / 120.0) ** 2)
    values = scale * shape * rng.uniform(0.9, 1.1, size=centers.size)
    sumw = np.concatenate([[0.01 * scale], values, [0.3 * scale]])
    return Histogram(EDGES, sumw, sumw * scale / 1000.0)


def _histograms(seed: int = 1) -> dict[str, Histogram]:
    rng = np.random.default_rng(seed)
    out = {}
    for region in spec.REGIONS:
        for process, scale in SCALES.items():
            out[spec.histogram_name(region, process, "nominal")] = _histogram(
                rng, scale)
            for i, variation in enumerate(BTAG + JET):
                name = spec.histogram_name(region, process, variation)
                out[name] = _histogram(rng, scale * (1 + 0.02 * (i - 4)), 5.0 * i)
        for variation in ALTERNATIVES:
            name = spec.histogram_name(region, "ttbar", variation)
            out[name] = _histogram(rng, 3000.0 * rng.uniform(0.9, 1.1))
        out[f"{region}_{spec.PSEUDODATA}"] = _histogram(rng, 4100.0)
    return out


def _fit(n_staterror: int = len(STATERRORS)) -> dict[str, Any]:
    labels = ["ttbar_norm", *NUISANCES, *STATERRORS[:n_staterror]]
    rng = np.random.default_rng(7)
    values = {name: (rng.normal(0.0, 0.3), rng.uniform(0.2, 1.0)) for name in labels}
    values["ttbar_norm"] = (0.97, 0.1)
    for name in STATERRORS:
        values[name] = (1.0 + rng.normal(0.0, 0.01), 0.02)

    a = rng.normal(size=(len(labels), len(labels)))
    covariance = a @ a.T
    sigma = np.sqrt(np.diag(covariance))
    return {
        "parameters": {n: {"value": v, "error": e} for n, (v, e) in values.items()},
        "labels": labels,
        "correlation": (covariance / np.outer(sigma, sigma)).tolist(),
        "covariance": covariance.tolist(),
        "min_nll": 123.4,
        "status": {"valid": True, "accurate": True, "edm": 1e-6, "nfcn": 300},
        "poi": "ttbar_norm",
    }


def _yields(stage: str) -> dict[str, Any]:
    rng = np.random.default_rng(3)
    edges = list(np.arange(110.0, 551.0, 40.0))
    channels = {}
    names = {"ttbar": "ttbar", "wjets": "W+jets",
             "single_top_s_chan": "single top, s-channel",
             "single_top_t_chan": "single top, t-channel", "single_top_tW": "tW"}
    for channel, observable in (("4j1b CR", "$H_T$ [GeV]"),
                                ("4j2b SR", "$m_{bjj}$ [GeV]")):
        samples = {names[p]: (s * rng.uniform(0.5, 1.0, size=11)).tolist()
                   for p, s in SCALES.items()}
        total = np.sum(list(samples.values()), axis=0)
        channels[channel] = {
            "edges": edges, "observable": observable,
            "data": (total * rng.uniform(0.95, 1.05, size=11)).tolist(),
            "samples": samples, "total": total.tolist(),
            "total_uncertainty": (0.05 * total).tolist(),
        }
    return {"stage": stage, "channels": channels}


def _check_png(path: Path, shape: tuple[int, int] | None = (1000, 1000)) -> None:
    """The file is a PNG of the expected size, and not a blank canvas."""
    assert path.stat().st_size > 0
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    if shape is not None:
        assert image.shape[:2] == shape
    assert image.shape[2] == 4
    assert np.std(image[..., :3]) > 0.05


def _stacked(fig: Figure) -> list[StepPatch]:
    """The filled stack layers of the main panel, bottom first (the hatched
    band has no face colour)."""
    layers = [p for p in fig.axes[0].patches if isinstance(p, StepPatch)
              and p.get_fill() and p.get_facecolor()[3] > 0]
    return sorted(layers, key=lambda p: float(np.sum(p.get_data().baseline)))


def _texts(fig: Figure) -> str:
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None:
            texts += [t.get_text() for t in legend.get_texts()]
            texts.append(legend.get_title().get_text())
    return "\n".join(texts)


def _cell_texts(fig: Figure) -> list[Any]:
    """The values written in the cells of a correlation matrix."""
    return [t for t in fig.axes[0].texts if re.fullmatch(r"-?\d\.\d\d", t.get_text())]


@pytest.fixture(scope="module")
def histograms() -> dict[str, Histogram]:
    return _histograms()


# ---------------------------------------------------------------------------
# stack


@pytest.mark.parametrize("log", [None, False, True])
@pytest.mark.parametrize("region", spec.REGIONS)
def test_plot_stack_writes_png(histograms: dict[str, Histogram], region: str,
                               log: bool | None, tmp_path: Path,
                               caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "plots" / f"stack_{region}.png"

    with caplog.at_level(logging.INFO, logger="topxsec.plotting"):
        returned = plotting.plot_stack(histograms, region, path, log=log)

    assert returned == path
    _check_png(path)
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    assert any(str(path) in r.getMessage() for r in caplog.records
               if r.levelno == logging.INFO)
    assert plt.get_fignums() == []


@pytest.mark.parametrize("missing", [(), ("single_top_s_chan",),
                                     ("wjets", "single_top_tW")])
def test_stack_has_one_layer_per_present_process(
        histograms: dict[str, Histogram], missing: tuple[str, ...]) -> None:
    present = {k: v for k, v in histograms.items()
               if not any(k == f"4j1b_{process}" for process in missing)}

    fig = plotting.stack_figure(present, "4j1b")

    layers = _stacked(fig)
    assert len(layers) == len(spec.PROCESSES) - len(missing)
    labels = [plotting.PROCESS_STYLES[p][0] for p in plotting.STACK_ORDER
              if p not in missing]
    assert [p.get_label() for p in layers] == labels
    colors = {p.get_label(): p.get_facecolor()[:3] for p in layers}
    for process, (label, color) in plotting.PROCESS_STYLES.items():
        if process not in missing:
            assert np.allclose(colors[label], matplotlib.colors.to_rgb(color))
    legend = _texts(fig)
    assert "Pseudo-data" in legend and "MC stat. unc." in legend
    assert len([c for c in fig.axes[0].containers
                if isinstance(c, ErrorbarContainer)]) == 1


def test_stack_in_the_given_order(histograms: dict[str, Histogram]) -> None:
    order = ["ttbar", "wjets", "single_top_tW"]

    fig = plotting.stack_figure(histograms, "4j2b", processes=order)

    labels = [plotting.PROCESS_STYLES[p][0] for p in order]
    assert [p.get_label() for p in _stacked(fig)] == labels
    assert np.allclose(_stacked(fig)[0].get_data().values,
                       histograms["4j2b_ttbar"].values)


def test_stack_top_layer_is_the_total(histograms: dict[str, Histogram]) -> None:
    fig = plotting.stack_figure(histograms, "4j2b", flow=True)

    top = _stacked(fig)[-1].get_data().values
    total = sum(histograms[f"4j2b_{p}"].sumw for p in spec.PROCESSES)
    expected = total[1:-1].copy()
    expected[0] += total[0]
    expected[-1] += total[-1]
    assert np.allclose(top, expected)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("region", spec.REGIONS)
def test_stack_legend_above_the_data(histograms: dict[str, Histogram], region: str,
                                     log: bool) -> None:
    fig = plotting.stack_figure(histograms, region, log=log)
    fig.draw_without_rendering()
    ax = fig.axes[0]

    legend_bottom = ax.get_legend().get_window_extent().y0
    points = next(c for c in ax.containers if isinstance(c, ErrorbarContainer))
    x, y = points.lines[0].get_data()
    error = np.sqrt(y)
    highest = ax.transData.transform(np.column_stack([x, y + error]))[:, 1]
    stack_top = _stacked(fig)[-1].get_data().values
    tops = ax.transData.transform(np.column_stack([x, stack_top]))[:, 1]
    assert np.max(highest) < legend_bottom
    assert np.max(tops) < legend_bottom
    assert ax.get_yscale() == ("log" if log else "linear")


def test_stack_without_pseudodata(histograms: dict[str, Histogram]) -> None:
    no_data = {k: v for k, v in histograms.items() if "pseudodata" not in k}

    fig = plotting.stack_figure(no_data, "4j1b")

    assert len(_stacked(fig)) == len(spec.PROCESSES)
    assert not [c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer)]


def test_stack_of_an_empty_region(histograms: dict[str, Histogram], tmp_path: Path,
                                  caplog: pytest.LogCaptureFixture) -> None:
    only_4j2b = {k: v for k, v in histograms.items() if k.startswith("4j2b")}

    with caplog.at_level(logging.WARNING, logger="topxsec.plotting"):
        path = plotting.plot_stack(only_4j2b, "4j1b", tmp_path / "empty.png")

    _check_png(path)
    assert any("no histograms" in r.getMessage() for r in caplog.records)
    fig = plotting.stack_figure(only_4j2b, "4j1b")
    assert "No histograms in region 4j1b" in _texts(fig)
    assert _stacked(fig) == []
    assert fig.axes[1].get_xlabel() == "$H_{T}$ [GeV]"


def test_stack_skips_unfilled_histograms(histograms: dict[str, Histogram]) -> None:
    some = dict(histograms)
    some["4j1b_single_top_s_chan"] = Histogram.empty(EDGES)

    fig = plotting.stack_figure(some, "4j1b")

    assert len(_stacked(fig)) == len(spec.PROCESSES) - 1


def test_stack_rejects_unknown_region(histograms: dict[str, Histogram],
                                      tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="4j3b"):
        plotting.plot_stack(histograms, "4j3b", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_stack_rejects_mixed_binnings(histograms: dict[str, Histogram]) -> None:
    mixed = dict(histograms)
    mixed["4j1b_wjets"] = Histogram(EDGES[:-1], np.ones(EDGES.size),
                                    np.ones(EDGES.size))

    with pytest.raises(ValueError, match="different binnings"):
        plotting.stack_figure(mixed, "4j1b")


# ---------------------------------------------------------------------------
# variations


@pytest.mark.parametrize(("process", "variations"), [
    ("ttbar", BTAG), ("wjets", JET + list(spec.SCALE_VARIATIONS)),
    ("ttbar", ALTERNATIVES), ("single_top_tW", JET),
])
@pytest.mark.parametrize("region", spec.REGIONS)
def test_plot_variations_writes_png(histograms: dict[str, Histogram], region: str,
                                    process: str, variations: list[str],
                                    tmp_path: Path) -> None:
    path = tmp_path / f"{region}_{process}.png"

    plotting.plot_variations(histograms, region, process, variations, path,
                             title="some variations")

    _check_png(path)


def test_variations_lines_and_ratios(histograms: dict[str, Histogram]) -> None:
    fig = plotting.variations_figure(histograms, "4j2b", "ttbar", JET, title="JES")
    ax, rax = fig.axes

    lines = [p for p in ax.patches if not p.get_fill()]
    assert [p.get_label() for p in lines] == [
        r"$t\bar{t}$ nominal", "Jet energy scale up", "Jet energy resolution up"]
    nominal = histograms["4j2b_ttbar"].values
    ratios = [p.get_data().values for p in rax.patches if not p.get_fill()]
    for variation, ratio in zip(JET, ratios, strict=True):
        assert np.allclose(ratio, histograms[f"4j2b_ttbar_{variation}"].values
                           / nominal)
    assert "JES" in _texts(fig)
    assert rax.get_ylim()[0] < 1.0 < rax.get_ylim()[1]


def test_variations_up_and_down_share_a_colour(
        histograms: dict[str, Histogram]) -> None:
    fig = plotting.variations_figure(histograms, "4j1b", "ttbar", BTAG)

    lines = {p.get_label(): p for p in fig.axes[0].patches if not p.get_fill()}
    up, down = lines["b-tag NP 2 up"], lines["b-tag NP 2 down"]
    assert up.get_edgecolor() == down.get_edgecolor()
    assert up.get_linestyle() != down.get_linestyle()
    assert lines["b-tag NP 1 up"].get_edgecolor() != up.get_edgecolor()


def test_variations_skips_missing_ones(histograms: dict[str, Histogram],
                                       caplog: pytest.LogCaptureFixture) -> None:
    partial = {k: v for k, v in histograms.items() if "btag_var_3" not in k}

    with caplog.at_level(logging.INFO, logger="topxsec.plotting"):
        fig = plotting.variations_figure(partial, "4j1b", "wjets",
                                         [*BTAG, "no_such_variation"])

    lines = [p for p in fig.axes[0].patches if not p.get_fill()]
    assert len(lines) == 1 + 6
    skipped = " ".join(r.getMessage() for r in caplog.records)
    for name in ("4j1b_wjets_btag_var_3_up", "4j1b_wjets_btag_var_3_down",
                 "4j1b_wjets_no_such_variation"):
        assert name in skipped


def test_variations_without_nominal(histograms: dict[str, Histogram], tmp_path: Path,
                                    caplog: pytest.LogCaptureFixture) -> None:
    partial = {k: v for k, v in histograms.items() if k != "4j2b_wjets"}

    with caplog.at_level(logging.WARNING, logger="topxsec.plotting"):
        path = plotting.plot_variations(partial, "4j2b", "wjets", JET,
                                        tmp_path / "v.png")

    _check_png(path)
    assert any("4j2b_wjets" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("region", "process", "key"), [
    ("5j", "ttbar", "region"), ("4j1b", "zjets", "process"),
])
def test_variations_rejects_unknown_names(histograms: dict[str, Histogram],
                                          region: str, process: str,
                                          key: str) -> None:
    with pytest.raises(ConfigError) as error:
        plotting.variations_figure(histograms, region, process, JET)
    assert error.value.key == key


# ---------------------------------------------------------------------------
# pulls


def _pull_rows(fig: Figure) -> tuple[list[str], np.ndarray, np.ndarray]:
    ax = fig.axes[0]
    names = [t.get_text() for t in ax.get_yticklabels()]
    points = ax.containers[0]
    x, y = points.lines[0].get_data()
    order = np.argsort(-np.asarray(y))
    segments = points.lines[2][0].get_segments()
    widths = np.array([abs(s[1][0] - s[0][0]) / 2 for s in segments])
    ticks = ax.get_yticks()
    names = [names[i] for i in np.argsort(-ticks)]
    return names, np.asarray(x)[order], widths[order]


def test_plot_pulls_writes_png(tmp_path: Path) -> None:
    path = plotting.plot_pulls(_fit(), tmp_path / "pulls.png")

    _check_png(path, shape=None)


def test_pulls_default_rows() -> None:
    fit = _fit()

    names, pulls, errors = _pull_rows(plotting.pulls_figure(fit))

    assert names == NUISANCES
    expected = [fit["parameters"][n]["value"] for n in NUISANCES]
    assert np.allclose(pulls, expected)
    assert np.allclose(errors, [fit["parameters"][n]["error"] for n in NUISANCES])


def test_pulls_with_poi_and_staterror() -> None:
    fit = _fit()
    prefit = {name: (1.0, 0.02) for name in STATERRORS}

    names, pulls, errors = _pull_rows(plotting.pulls_figure(
        fit, include_poi=True, include_staterror=True, prefit=prefit))

    assert names == fit["labels"]
    gamma = fit["parameters"][STATERRORS[0]]
    row = names.index(STATERRORS[0])
    assert pulls[row] == pytest.approx((gamma["value"] - 1.0) / 0.02)
    assert errors[row] == pytest.approx(gamma["error"] / 0.02)
    assert pulls[0] == pytest.approx(0.97 - 1.0)


def test_pulls_need_staterror_widths() -> None:
    with pytest.raises(ValueError, match=r"staterror_4j1b CR\[0\]"):
        plotting.pulls_figure(_fit(), include_staterror=True)


def test_pulls_wide_ones_stay_in_view() -> None:
    fit = _fit()
    fit["parameters"]["Luminosity"] = {"value": -4.0, "error": 0.5}

    fig = plotting.pulls_figure(fit)

    low, high = fig.axes[0].get_xlim()
    assert low < -4.5 and high > 4.5


def test_pulls_without_nuisance_parameters(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    fit = {"parameters": {"ttbar_norm": {"value": 1.0, "error": 0.1}},
           "labels": ["ttbar_norm"], "poi": "ttbar_norm"}

    with caplog.at_level(logging.WARNING, logger="topxsec.plotting"):
        path = plotting.plot_pulls(fit, tmp_path / "p.png")

    _check_png(path, shape=None)
    assert caplog.records


def test_pulls_reject_inconsistent_fit() -> None:
    fit = _fit()
    del fit["parameters"]["Luminosity"]

    with pytest.raises(ValueError, match="Luminosity"):
        plotting.pulls_figure(fit)
    with pytest.raises(ValueError, match="parameters"):
        plotting.pulls_figure({"labels": []})


# ---------------------------------------------------------------------------
# data / MC


@pytest.mark.parametrize(("stage", "title"), [("prefit", "Pre-fit"),
                                              ("postfit", "Post-fit")])
@pytest.mark.parametrize("channel", ["4j1b CR", "4j2b SR"])
def test_plot_data_mc(stage: str, title: str, channel: str, tmp_path: Path) -> None:
    yields = _yields(stage)

    path = plotting.plot_data_mc(yields, channel, tmp_path / f"{stage}.png")
    fig = plotting.data_mc_figure(yields, channel)

    _check_png(path)
    assert f"{title}, {channel}" in _texts(fig)
    assert f"{title} unc." in _texts(fig)
    layers = _stacked(fig)
    assert len(layers) == len(spec.PROCESSES)
    for layer, process in zip(layers, SCALES, strict=True):
        label, color = plotting.PROCESS_STYLES[process]
        assert layer.get_label() == label
        assert np.allclose(layer.get_facecolor()[:3], matplotlib.colors.to_rgb(color))
    assert np.allclose(layers[-1].get_data().values,
                       yields["channels"][channel]["total"])
    assert fig.axes[0].get_ylabel() == "Events / 40 GeV"
    assert fig.axes[1].get_xlabel() == yields["channels"][channel]["observable"]


def test_data_mc_unknown_sample_gets_a_fallback_colour() -> None:
    yields = _yields("postfit")
    channel = yields["channels"]["4j1b CR"]
    channel["samples"] = {"fakes": channel["samples"]["ttbar"],
                          "W+jets": channel["samples"]["W+jets"]}

    fig = plotting.data_mc_figure(yields, "4j1b CR")

    layers = _stacked(fig)
    assert [p.get_label() for p in layers] == ["fakes", "W+jets"]
    process_colors = [matplotlib.colors.to_rgb(c)
                      for _, c in plotting.PROCESS_STYLES.values()]
    assert not any(np.allclose(layers[0].get_facecolor()[:3], c)
                   for c in process_colors)
    assert np.allclose(layers[1].get_facecolor()[:3],
                       matplotlib.colors.to_rgb(plotting.PROCESS_STYLES["wjets"][1]))


def test_data_mc_rejects_bad_input() -> None:
    yields = _yields("prefit")

    with pytest.raises(ConfigError, match="4j3b SR"):
        plotting.data_mc_figure(yields, "4j3b SR")
    with pytest.raises(ValueError, match="stage"):
        plotting.data_mc_figure({**yields, "stage": "fitted"}, "4j1b CR")
    yields["channels"]["4j1b CR"]["data"] = [1.0, 2.0]
    with pytest.raises(ValueError, match="data have 2 values"):
        plotting.data_mc_figure(yields, "4j1b CR")


def test_data_mc_axis_scale() -> None:
    """The model's order puts ttbar at the bottom: a log axis would not help."""
    yields = _yields("postfit")

    assert plotting.data_mc_figure(yields, "4j1b CR").axes[0].get_yscale() == "linear"
    forced = plotting.data_mc_figure(yields, "4j1b CR", log=True)
    assert forced.axes[0].get_yscale() == "log"
    samples = yields["channels"]["4j1b CR"]["samples"]
    bottom = "single top, s-channel"
    yields["channels"]["4j1b CR"]["samples"] = {
        bottom: samples[bottom], **{k: v for k, v in samples.items() if k != bottom}}
    assert plotting.data_mc_figure(yields, "4j1b CR").axes[0].get_yscale() == "log"


# ---------------------------------------------------------------------------
# correlation


def test_plot_correlation_writes_png(tmp_path: Path) -> None:
    path = plotting.plot_correlation(_fit(), tmp_path / "corr.png")

    _check_png(path, shape=None)


@pytest.mark.parametrize(("include_staterror", "expected"), [
    (False, 1 + len(NUISANCES)), (True, 1 + len(NUISANCES) + len(STATERRORS)),
])
def test_correlation_parameters(include_staterror: bool, expected: int) -> None:
    fig = plotting.correlation_figure(_fit(), include_staterror=include_staterror)

    ax = fig.axes[0]
    image = ax.get_images()[0]
    assert image.get_array().shape == (expected, expected)
    assert len(ax.get_xticklabels()) == expected
    values = [float(t.get_text()) for t in _cell_texts(fig)]
    assert np.allclose(values, np.round(image.get_array(), 2).ravel())


def test_correlation_threshold() -> None:
    fit = _fit()
    labels = fit["labels"]
    matrix = np.eye(len(labels))
    i, j = labels.index("Jet energy scale"), labels.index("b-tag NP 2")
    matrix[i, j] = matrix[j, i] = -0.6
    fit["correlation"] = matrix.tolist()

    fig = plotting.correlation_figure(fit, threshold=0.5)

    names = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert names == ["Jet energy scale", "b-tag NP 2"]
    assert np.allclose(fig.axes[0].get_images()[0].get_array(),
                       [[1.0, -0.6], [-0.6, 1.0]])


def test_correlation_no_cell_values_when_many() -> None:
    fig = plotting.correlation_figure(_fit(), annotate_max=5)

    assert _cell_texts(fig) == []


def test_correlation_nothing_above_threshold(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    fit = _fit()
    fit["correlation"] = np.eye(len(fit["labels"])).tolist()

    with caplog.at_level(logging.WARNING, logger="topxsec.plotting"):
        path = plotting.plot_correlation(fit, tmp_path / "c.png", threshold=0.1)

    _check_png(path, shape=None)
    assert any("0.1" in r.getMessage() for r in caplog.records)


def test_correlation_rejects_wrong_shape() -> None:
    fit = _fit()
    fit["correlation"] = [[1.0]]

    with pytest.raises(ValueError, match="shape"):
        plotting.correlation_figure(fit)


# ---------------------------------------------------------------------------
# labels


@pytest.mark.parametrize(("make", "text"), [
    (lambda h: plotting.stack_figure(h, "4j1b"), "Open Data"),
    (lambda h: plotting.variations_figure(h, "4j1b", "ttbar", JET),
     "Simulation Open Data"),
    (lambda h: plotting.pulls_figure(_fit()), "Open Data"),
    (lambda h: plotting.correlation_figure(_fit()), "Open Data"),
    (lambda h: plotting.data_mc_figure(_yields("prefit"), "4j2b SR"), "Open Data"),
])
def test_cms_label(histograms: dict[str, Histogram], make: Any, text: str) -> None:
    fig = make(histograms)

    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "CMS" in texts
    assert text in texts
    assert r"3.4 $\mathrm{fb^{-1}}$ (13 TeV)" in texts
