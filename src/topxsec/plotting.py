"""Every PNG of the analysis, in CMS style (mplhep).

Five plots, each a pair of functions: ``*_figure`` builds and returns a
:class:`matplotlib.figure.Figure` (tests inspect its artists), ``plot_*``
builds the same figure, writes it as a PNG and returns the path.

- :func:`plot_stack`: stacked nominal processes of a region, pseudo-data,
  MC statistical band, ratio panel.
- :func:`plot_variations`: one process's nominal histogram and its systematic
  variations, ratio to nominal.
- :func:`plot_pulls`: post-fit pulls of the constrained nuisance parameters.
- :func:`plot_data_mc`: pre- or post-fit yields of one channel of the fit.
- :func:`plot_correlation`: the parameters' correlation matrix.

Figures are made on the Agg canvas directly, without :mod:`matplotlib.pyplot`:
nothing is registered with pyplot, so no figure stays open after a plot function
returns and the caller's backend is left alone. Every figure is drawn inside the
mplhep CMS style context. Only the regular bins are drawn unless ``flow=True``,
which adds the underflow to the first and the overflow to the last bin.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib.style
import mplhep
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine

from topxsec import spec
from topxsec.errors import ConfigError
from topxsec.hists import Histogram
from topxsec.outputs import atomic_output

logger = logging.getLogger(__name__)

#: Integrated luminosity shown in the labels, in fb^-1.
LUMINOSITY_FB = spec.LUMINOSITY_PB / 1000.0
#: Centre-of-mass energy shown in the labels, in TeV.
SQRT_S_TEV = 13

#: Legend label and fixed colour of each process.
PROCESS_STYLES: dict[str, tuple[str, str]] = {
    "ttbar": (r"$t\bar{t}$", "#f89c20"),
    "wjets": ("W+jets", "#5790fc"),
    "single_top_s_chan": ("Single top, s-channel", "#e42536"),
    "single_top_t_chan": ("Single top, t-channel", "#964a8b"),
    "single_top_tW": ("tW", "#7a21dd"),
}

#: Stacking order, bottom first: the small processes stay visible on a log scale.
STACK_ORDER: tuple[str, ...] = (
    "single_top_s_chan", "single_top_t_chan", "single_top_tW", "wjets", "ttbar",
)

#: Colours for samples that are not processes of the task, in order of use.
_FALLBACK_COLORS = ("#9c9ca1", "#a96b59", "#92dadd", "#717581", "#b9ac70")
#: Colours of the variation families in :func:`plot_variations`.
_VARIATION_COLORS = (
    "#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6", "#a96b59", "#e76300",
    "#b9ac70", "#717581", "#92dadd",
)

_OBSERVABLE_LABELS = {"H_T": r"$H_{T}$", "m_bjj": r"$m_{bjj}$"}
_REGION_LABELS = {
    "4j1b": r"1 $\ell$, $\geq$4 jets, 1 b-tag",
    "4j2b": r"1 $\ell$, $\geq$4 jets, $\geq$2 b-tags",
}
_VARIATION_LABELS = {
    "pt_scale_up": "Jet energy scale up",
    "pt_res_up": "Jet energy resolution up",
    "scale_var_up": "W+jets scale up",
    "scale_var_down": "W+jets scale down",
    "scaleup": r"$t\bar{t}$ scale up",
    "scaledown": r"$t\bar{t}$ scale down",
    "ME_var": "ME generator variation",
    "PS_var": "PS generator variation",
}
_BTAG_PATTERN = re.compile(r"^btag_var_(\d+)_(up|down)$")
_STATERROR_PATTERN = re.compile(r"^staterror_.*\[\d+\]$")

#: Nice half-ranges of ratio panels (around 1), smallest first.
_RATIO_RANGES = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)


# ---------------------------------------------------------------------------
# public plots


def plot_stack(histograms: Mapping[str, Histogram], region: str, path: str | Path,
               *, processes: Sequence[str] = STACK_ORDER, log: bool | None = None,
               flow: bool = False) -> Path:
    """Write the stacked nominal processes of a region with the pseudo-data.

    Args:
        histograms: Merged histograms by :func:`topxsec.spec.histogram_name`.
        region: A region of :data:`topxsec.spec.REGIONS`.
        path: The PNG to write.
        processes: The processes to stack, bottom first; those without a
            filled histogram are left out (logged at INFO).
        log: Log y axis; ``None`` chooses log when the bottom process is below
            3 % of the stack (too thin to see on a linear axis).
        flow: Add underflow and overflow to the first and last bin.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: If ``region`` is not a region of the task.
        ValueError: If the histograms of the region have different binnings.
    """
    with _style():
        fig = stack_figure(histograms, region, processes=processes, log=log,
                           flow=flow)
        return _save(fig, path, f"stack plot of region {region}")


def stack_figure(histograms: Mapping[str, Histogram], region: str,
                 *, processes: Sequence[str] = STACK_ORDER, log: bool | None = None,
                 flow: bool = False) -> Figure:
    """Build the figure of :func:`plot_stack` (same arguments, no path)."""
    _check_region(region)

    stacked = []
    for process in processes:
        name = spec.histogram_name(region, process, "nominal")
        hist = histograms.get(name)
        if hist is None or not hist.is_filled():
            logger.info("stack %s: no filled histogram %s, not drawn", region, name)
            continue
        stacked.append((process, hist))
    pseudodata = histograms.get(f"{region}_{spec.PSEUDODATA}")

    with _style():
        fig, ax, rax = _ratio_figure()
        if stacked or pseudodata is not None:
            _draw_stack(ax, rax, region, stacked, pseudodata, log=log, flow=flow)
        else:
            logger.warning("stack %s: no histograms of this region", region)
            _empty(ax, rax, f"No histograms in region {region}", region)
        _cms_label(ax, data=True)
    return fig


def _draw_stack(ax: Axes, rax: Axes, region: str,
                stacked: list[tuple[str, Histogram]], pseudodata: Histogram | None,
                *, log: bool | None, flow: bool) -> None:
    """Draw the panels of :func:`stack_figure`."""
    edges = _common_edges([h for _, h in stacked] + _optional(pseudodata), region)
    samples = [(p, _contents(h, flow)[0]) for p, h in stacked]
    variances = [_contents(h, flow)[1] for _, h in stacked]
    total = np.sum([v for _, v in samples], axis=0) if samples else None
    uncertainty = np.sqrt(np.sum(variances, axis=0)) if samples else None
    data = None if pseudodata is None else _contents(pseudodata, flow)[0]

    _axis_labels(ax, rax, edges, spec.OBSERVABLES[region])
    _stack_panels(ax, rax, edges, samples, total, uncertainty, data,
                  band_label="MC stat. unc.", ratio_label="Data / MC",
                  title=_REGION_LABELS[region], log=log)


def plot_variations(histograms: Mapping[str, Histogram], region: str, process: str,
                    variations: Sequence[str], path: str | Path,
                    title: str | None = None, *, flow: bool = False) -> Path:
    """Write a process's nominal histogram with some of its variations.

    Args:
        histograms: Merged histograms by :func:`topxsec.spec.histogram_name`.
        region: A region of :data:`topxsec.spec.REGIONS`.
        process: A process of :data:`topxsec.spec.PROCESSES`.
        variations: Variation names, e.g. ``["pt_scale_up", "pt_res_up"]``;
            those without a histogram are skipped (logged at INFO).
        path: The PNG to write.
        title: Legend title, e.g. ``"b-tag variations"``.
        flow: Add underflow and overflow to the first and last bin.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: If ``region`` or ``process`` is not one of the task.
        ValueError: If the histograms have different binnings.
    """
    with _style():
        fig = variations_figure(histograms, region, process, variations,
                                title=title, flow=flow)
        return _save(fig, path, f"variations of {process} in region {region}")


def variations_figure(histograms: Mapping[str, Histogram], region: str,
                      process: str, variations: Sequence[str],
                      title: str | None = None, *, flow: bool = False) -> Figure:
    """Build the figure of :func:`plot_variations` (same arguments, no path)."""
    _check_region(region)
    if process not in spec.PROCESSES:
        raise ConfigError("process", f"unknown process {process!r}; use one of "
                          f"{', '.join(spec.PROCESSES)}")

    nominal_name = spec.histogram_name(region, process, "nominal")
    nominal = histograms.get(nominal_name)
    present = []
    for variation in variations:
        name = spec.histogram_name(region, process, variation)
        if name not in histograms:
            logger.info("variations plot: no histogram %s, skipped", name)
            continue
        present.append((variation, histograms[name]))

    with _style():
        fig, ax, rax = _ratio_figure()
        if nominal is not None:
            _draw_variations(ax, rax, region, process, nominal, present,
                             families=variations, title=title, flow=flow)
        else:
            logger.warning("variations plot: no nominal histogram %s", nominal_name)
            _empty(ax, rax, f"No histogram {nominal_name}", region)
        _cms_label(ax, data=False)
    return fig


def _draw_variations(ax: Axes, rax: Axes, region: str, process: str,
                     nominal: Histogram, present: list[tuple[str, Histogram]],
                     *, families: Sequence[str], title: str | None,
                     flow: bool) -> None:
    """Draw the panels of :func:`variations_figure`.

    The colours follow the order of ``families`` (all requested variations), so
    that a missing one does not change the others' colours.
    """
    edges = _common_edges([nominal] + [h for _, h in present],
                          spec.histogram_name(region, process, "nominal"))
    values, variances = _contents(nominal, flow)
    error = np.sqrt(variances)
    ax.stairs(values, edges, baseline=None, color="black", lw=2,
              label=f"{_process_style(process, 0)[0]} nominal")
    _band(ax, edges, values - error, values + error, "Stat. unc.")
    _ratio_band(rax, edges, values, error)

    deviation = 0.0
    highest = float(np.max(values + error, initial=0.0))
    for variation, hist in present:
        varied = _contents(hist, flow)[0]
        color, linestyle = _variation_style(variation, families)
        ax.stairs(varied, edges, baseline=None, color=color, ls=linestyle,
                  lw=1.8, label=_variation_label(variation))
        ratio = _safe_ratio(varied, values)
        rax.stairs(ratio, edges, baseline=None, color=color, ls=linestyle, lw=1.8)
        deviation = max(deviation, _max_deviation(ratio))
        highest = max(highest, float(np.max(varied, initial=0.0)))

    rax.axhline(1.0, color="black", lw=1)
    rax.set_ylim(*_ratio_limits(deviation))
    rax.set_ylabel("Var. / nom.")
    _axis_labels(ax, rax, edges, spec.OBSERVABLES[region])
    _legend(ax, title="\n".join(filter(None, (title, _REGION_LABELS[region]))))
    _y_limits(ax, highest, None, log=False)


def plot_pulls(fit: Mapping[str, Any], path: str | Path, *,
               include_poi: bool = False, include_staterror: bool = False,
               prefit: Mapping[str, tuple[float, float]] | None = None) -> Path:
    """Write the pulls of the nuisance parameters, (value - prefit) / width.

    Constrained nuisance parameters have pre-fit value 0 and width 1. A
    staterror gamma has pre-fit value 1 and a width only the model knows, so
    including them needs ``prefit`` for each. The POI has no constraint; it is
    drawn as its shift from 1 (width 1) unless ``prefit`` says otherwise.

    Args:
        fit: The fit result (``parameters``, ``labels``, ``poi``, ...).
        path: The PNG to write.
        include_poi: Also draw the parameter of interest.
        include_staterror: Also draw the ``staterror_*[i]`` gammas.
        prefit: Parameter name -> (pre-fit value, pre-fit width), overriding
            the defaults above.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: If the fit result lacks ``parameters``, or a staterror
            gamma is included without its width in ``prefit``.
    """
    with _style():
        fig = pulls_figure(fit, include_poi=include_poi,
                           include_staterror=include_staterror, prefit=prefit)
        return _save(fig, path, "nuisance parameter pulls")


def pulls_figure(fit: Mapping[str, Any], *, include_poi: bool = False,
                 include_staterror: bool = False,
                 prefit: Mapping[str, tuple[float, float]] | None = None) -> Figure:
    """Build the figure of :func:`plot_pulls` (same arguments, no path)."""
    parameters = _fit_parameters(fit)
    poi = fit.get("poi")
    prefit = dict(prefit or {})

    names, pulls, errors = [], [], []
    for name in _fit_labels(fit):
        if (name == poi and not include_poi) or (
                _is_staterror(name) and not include_staterror):
            continue
        if name not in parameters:
            raise ValueError(f"fit result lists parameter {name!r} in 'labels' but "
                             "not in 'parameters'; pass an unmodified fit.json")
        value, width = _prefit(name, poi, prefit)
        names.append(name)
        pulls.append((parameters[name]["value"] - value) / width)
        errors.append(parameters[name]["error"] / width)
    _warn_invalid(fit)

    with _style():
        fig = Figure(figsize=(10.0, max(5.0, 0.55 * len(names) + 2.5)),
                     layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        if names:
            _draw_pulls(ax, names, np.asarray(pulls), np.asarray(errors))
        else:
            logger.warning("pulls plot: no parameter to draw")
            ax.text(0.5, 0.5, "No nuisance parameters", ha="center",
                    transform=ax.transAxes)
        _cms_label(ax, data=True)
    return fig


def _draw_pulls(ax: Axes, names: list[str], pulls: np.ndarray,
                errors: np.ndarray) -> None:
    """Draw the pulls, one row per parameter (first on top), on the sigma bands."""
    y = np.arange(len(names))[::-1]
    ax.axvspan(-2, 2, color="#ffdf20")
    ax.axvspan(-1, 1, color="#6fcf4a")
    ax.axvline(0, color="black", lw=1, ls="--")
    ax.errorbar(pulls, y, xerr=errors, fmt="o", color="black", ms=7, capsize=0)

    reach = max(3.0, 1.1 * float(np.max(np.abs(pulls) + errors)))
    ax.set_xlim(-reach, reach)
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.set_yticks(y, names, fontsize="small")
    ax.tick_params(axis="y", which="minor", left=False, right=False)
    ax.set_xlabel(r"$(\hat{\theta} - \theta_0) / \Delta\theta$")


def plot_data_mc(yields: Mapping[str, Any], channel: str, path: str | Path,
                 *, log: bool | None = None) -> Path:
    """Write the pre- or post-fit stacked yields of one channel with the data.

    Args:
        yields: ``{"stage": "prefit" | "postfit", "channels": {channel:
            {"edges", "observable", "data", "samples", "total",
            "total_uncertainty"}}}``.
        channel: A channel of ``yields["channels"]``. Its samples are stacked
            in their order there, first at the bottom (the model file's
            order); known processes keep their colours (matched by process
            name or label, e.g. ``"W+jets"``). The observable is the x-axis
            label, e.g. ``"$H_T$ [GeV]"``.
        path: The PNG to write.
        log: Log y axis; ``None`` chooses as :func:`plot_stack` does.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: If ``channel`` is not in the yields.
        ValueError: If the stage is unknown or a list has the wrong length.
    """
    with _style():
        fig = data_mc_figure(yields, channel, log=log)
        return _save(fig, path, f"{yields.get('stage')} yields of {channel}")


def data_mc_figure(yields: Mapping[str, Any], channel: str,
                   *, log: bool | None = None) -> Figure:
    """Build the figure of :func:`plot_data_mc` (same arguments, no path)."""
    stage = yields.get("stage")
    if stage not in ("prefit", "postfit"):
        raise ValueError(f"yields stage is {stage!r}; expected 'prefit' or 'postfit'")
    channels = yields.get("channels", {})
    if channel not in channels:
        raise ConfigError("channel", f"no channel {channel!r} in the {stage} yields "
                          f"(channels: {', '.join(channels) or 'none'}); use a "
                          "channel name of the statistical model")

    entry = channels[channel]
    edges = np.asarray(entry["edges"], dtype=float)
    bins = len(edges) - 1
    samples = [(name, _array(values, bins, f"{channel} sample {name}"))
               for name, values in entry["samples"].items()]
    total = _array(entry["total"], bins, f"{channel} total")
    uncertainty = _array(entry["total_uncertainty"], bins, f"{channel} uncertainty")
    data = _array(entry["data"], bins, f"{channel} data")
    stage_label = "Pre-fit" if stage == "prefit" else "Post-fit"

    with _style():
        fig, ax, rax = _ratio_figure()
        region = _REGION_LABELS.get(re.split(r"[ _]", channel)[0])
        title = f"{stage_label}, {channel}" + (f"\n{region}" if region else "")
        _axis_labels(ax, rax, edges, entry.get("observable", ""))
        _stack_panels(ax, rax, edges, samples, total, uncertainty, data,
                      band_label=f"{stage_label} unc.", ratio_label="Data / Pred.",
                      title=title, log=log)
        _cms_label(ax, data=True)
    return fig


def plot_correlation(fit: Mapping[str, Any], path: str | Path,
                     threshold: float = 0.0, *, include_staterror: bool = False,
                     annotate_max: int = 20) -> Path:
    """Write the correlation matrix of the fitted parameters as a heat map.

    Args:
        fit: The fit result (``labels``, ``correlation``, ...).
        path: The PNG to write.
        threshold: Keep only parameters with some correlation of at least this
            size (in absolute value) to another kept-or-not parameter; 0 keeps
            all.
        include_staterror: Also show the ``staterror_*[i]`` gammas.
        annotate_max: Write the values in the cells when at most this many
            parameters are shown.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: If the correlation matrix does not match the labels.
    """
    with _style():
        fig = correlation_figure(fit, threshold, include_staterror=include_staterror,
                                 annotate_max=annotate_max)
        return _save(fig, path, "correlation matrix")


def correlation_figure(fit: Mapping[str, Any], threshold: float = 0.0, *,
                       include_staterror: bool = False,
                       annotate_max: int = 20) -> Figure:
    """Build the figure of :func:`plot_correlation` (same arguments, no path)."""
    labels = _fit_labels(fit)
    matrix = np.asarray(fit.get("correlation", []), dtype=float)
    if matrix.shape != (len(labels), len(labels)):
        raise ValueError(f"fit correlation matrix has shape {matrix.shape}; expected "
                         f"{len(labels)} x {len(labels)} (one row per label)")

    candidates = [i for i, name in enumerate(labels)
                  if include_staterror or not _is_staterror(name)]
    off_diagonal = np.abs(matrix - np.diag(np.diag(matrix)))
    keep = [i for i in candidates if threshold <= 0 or
            np.max(off_diagonal[i, candidates], initial=0.0) >= threshold]
    logger.debug("correlation plot: %d of %d parameters kept", len(keep), len(labels))
    _warn_invalid(fit)

    with _style():
        size = min(30.0, max(8.0, 0.42 * len(keep) + 5.0))
        fig = Figure(figsize=(size + 1.5, size), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        if keep:
            _draw_correlation(ax, matrix[np.ix_(keep, keep)],
                              [labels[i] for i in keep], annotate_max)
        else:
            logger.warning("correlation plot: no parameter with |corr| >= %g",
                           threshold)
            ax.text(0.5, 0.5, f"No correlation above {threshold:g}", ha="center",
                    transform=ax.transAxes)
        _cms_label(ax, data=True)
    return fig


def _draw_correlation(ax: Axes, matrix: np.ndarray, names: list[str],
                      annotate_max: int) -> None:
    """Draw the heat map with a colour bar, and the values when few."""
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    _figure(ax).colorbar(image, ax=ax, label="Correlation", fraction=0.046,
                         pad=0.02)

    font = "small" if len(names) <= 25 else "x-small"
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=font)
    ax.set_yticks(range(len(names)), names, fontsize=font)
    ax.tick_params(which="both", length=0)
    if len(names) <= annotate_max:
        _annotate_cells(ax, matrix)


# ---------------------------------------------------------------------------
# figure parts


@contextmanager
def _style() -> Iterator[None]:
    """Apply the mplhep CMS style for the duration of the block."""
    with matplotlib.style.context(mplhep.style.CMS):
        yield


def _ratio_figure() -> tuple[Figure, Axes, Axes]:
    """Return a figure with a main panel and a ratio panel below it."""
    fig = Figure(figsize=(10.0, 10.0),
                 layout=ConstrainedLayoutEngine(h_pad=0.02, hspace=0.0))
    FigureCanvasAgg(fig)
    ax, rax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 1)})
    ax.tick_params(labelbottom=False)
    return fig, ax, rax


def _cms_label(ax: Axes, data: bool) -> None:
    """Put the CMS label ("Open Data" or "Simulation Open Data") above ``ax``.

    Called last: the label's pieces are placed for the current layout. The
    y axes show no offset or scientific multiplier (see :func:`_y_limits`), so
    mplhep's room for one is not needed; it is switched off because mplhep 1.3
    measures it on ``plt.gca()`` instead of ``ax``, which opens a stray pyplot
    figure.
    """
    _figure(ax).draw_without_rendering()
    mplhep.cms.label("Open Data", data=data, lumi=LUMINOSITY_FB, lumi_format="{0:.1f}",
                     com=SQRT_S_TEV, ax=ax, scilocator_adjust=False)


def _stack_panels(ax: Axes, rax: Axes, edges: np.ndarray,
                  samples: list[tuple[str, np.ndarray]], total: np.ndarray | None,
                  uncertainty: np.ndarray | None, data: np.ndarray | None, *,
                  band_label: str, ratio_label: str, title: str,
                  log: bool | None) -> None:
    """Draw stacked samples, their uncertainty band, data and the ratio panel.

    The data points carry Poisson errors sqrt(n), as the fit treats them.
    """
    if log is None:
        log = _prefer_log([v for _, v in samples])
    if samples:
        styles = [_process_style(name, i) for i, (name, _) in enumerate(samples)]
        mplhep.histplot([v for _, v in samples], edges, ax=ax, stack=True,
                        histtype="fill", label=[label for label, _ in styles],
                        color=[color for _, color in styles])

    if total is not None and uncertainty is not None:
        _band(ax, edges, total - uncertainty, total + uncertainty, band_label)
        _ratio_band(rax, edges, total, uncertainty)

    deviation = 0.0
    centers = 0.5 * (edges[1:] + edges[:-1])
    if data is not None:
        shown = data > 0 if log else np.isfinite(data)
        ax.errorbar(centers[shown], data[shown], yerr=_poisson(data)[shown],
                    fmt="o", color="black", ms=6, label="Pseudo-data")
    if data is not None and total is not None:
        valid = (total > 0) & (data > 0)
        ratio = _safe_ratio(data, total)
        ratio_error = _safe_ratio(_poisson(data), total)
        rax.errorbar(centers[valid], ratio[valid], yerr=ratio_error[valid], fmt="o",
                     color="black", ms=6)
        # The range shows the points with their error bars, and the band.
        deviation = max(_max_deviation(ratio[valid] + ratio_error[valid]),
                        _max_deviation(ratio[valid] - ratio_error[valid]))
        if uncertainty is not None:
            band = _safe_ratio(total + uncertainty, total)
            deviation = max(deviation, _max_deviation(band[total > 0]))

    rax.axhline(1.0, color="black", lw=1)
    rax.set_ylim(*_ratio_limits(deviation))
    rax.set_ylabel(ratio_label)

    order = ["Pseudo-data"] + [_process_style(n, i)[0] for i, (n, _) in
                               reversed(list(enumerate(samples)))] + [band_label]
    _legend(ax, title=title, order=order)
    tops = [np.zeros(1)]
    tops += [] if total is None else [total + uncertainty]
    tops += [] if data is None else [data + _poisson(data)]
    bottoms = [] if not samples else [samples[0][1]]
    bottoms += [] if data is None else [data]
    positive = np.concatenate([v[v > 0] for v in bottoms] + [np.zeros(0)])
    lowest = float(np.min(positive)) if positive.size else None
    _y_limits(ax, float(max(np.max(t) for t in tops)), lowest, log)


def _band(ax: Axes, edges: np.ndarray, low: np.ndarray, high: np.ndarray,
          label: str | None) -> None:
    """Draw a hatched uncertainty band between ``low`` and ``high``."""
    ax.stairs(high, edges, baseline=np.clip(low, 0.0, None), fill=True,
              facecolor="none", edgecolor="#555555", hatch="////", lw=0,
              label=label)


def _ratio_band(rax: Axes, edges: np.ndarray, values: np.ndarray,
                error: np.ndarray) -> None:
    """Draw the relative uncertainty band 1 +- error / values in the ratio panel."""
    relative = np.nan_to_num(_safe_ratio(error, values), nan=0.0)
    _band(rax, edges, 1.0 - relative, 1.0 + relative, None)


def _y_limits(ax: Axes, highest: float, lowest: float | None, log: bool) -> None:
    """Set the y range of ``ax`` so that what is drawn ends below its legend.

    Args:
        ax: The panel, its legend already drawn.
        highest: The largest value drawn (bin content plus error).
        lowest: The smallest positive value worth showing on a log axis.
        log: Whether the axis is logarithmic.
    """
    room = _free_fraction(ax)
    if not log:
        ax.set_ylim(0.0, highest / room if highest > 0 else 1.0)
        ax.ticklabel_format(axis="y", style="plain", useOffset=False)
        return

    ax.set_yscale("log")
    if highest <= 0:
        ax.set_ylim(0.1, 10.0)
        return
    bottom = max(0.5 * (lowest or highest), highest * 1e-5)
    decades = np.log10(highest / bottom)
    ax.set_ylim(bottom, bottom * 10 ** (decades / room))


def _free_fraction(ax: Axes) -> float:
    """Return the fraction of the panel's height below its legend."""
    legend = ax.get_legend()
    if legend is None:
        return 0.9

    _figure(ax).draw_without_rendering()
    box = legend.get_window_extent().transformed(ax.transAxes.inverted())
    return float(np.clip(box.y0 - 0.04, 0.3, 0.9))


def _axis_labels(ax: Axes, rax: Axes, edges: np.ndarray, observable: str) -> None:
    """Label the x axis with the observable and the y axis with events per bin.

    ``observable`` is a key of :data:`topxsec.spec.OBSERVABLES` (both in GeV)
    or a ready label; a unit in brackets at its end, as in ``"$H_T$ [GeV]"``,
    goes into the y label too.
    """
    if observable in _OBSERVABLE_LABELS:
        observable = f"{_OBSERVABLE_LABELS[observable]} [GeV]"
    rax.set_xlabel(observable)

    unit = re.search(r"\[([^\]]+)\]\s*$", observable)
    widths = np.diff(edges)
    if np.allclose(widths, widths[0]):
        suffix = f" {unit.group(1)}" if unit else ""
        ax.set_ylabel(f"Events / {widths[0]:g}{suffix}")
    else:
        ax.set_ylabel("Events / bin")
    rax.set_xlim(edges[0], edges[-1])


def _legend(ax: Axes, title: str | None = None,
            order: Sequence[str] | None = None) -> None:
    """Draw the legend of ``ax`` (two columns when long, small font).

    ``order`` lists the labels in legend order; labels without an artist are
    left out.
    """
    handles, labels = ax.get_legend_handles_labels()
    if order is not None:
        by_label = dict(zip(labels, handles, strict=True))
        labels = [label for label in order if label in by_label]
        handles = [by_label[label] for label in labels]
    font = "small" if len(labels) <= 6 else "x-small"
    options: dict[str, Any] = {
        "loc": "upper right", "fontsize": font, "ncols": 2 if len(labels) > 4 else 1,
        "title": title, "title_fontsize": font, "alignment": "left",
    }
    legend = ax.legend(handles, labels, **options)
    legend.set_in_layout(False)

    _figure(ax).draw_without_rendering()
    if legend.get_window_extent().width > 0.95 * ax.get_window_extent().width:
        legend.remove()
        options["ncols"] = 1
        ax.legend(handles, labels, **options).set_in_layout(False)


def _empty(ax: Axes, rax: Axes, text: str, region: str) -> None:
    """Mark a figure of ``region`` that has nothing to show."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center")
    ax.set_yticks([])
    rax.set_yticks([])
    binning = spec.Binning()
    _axis_labels(ax, rax, np.asarray(binning.edges()), spec.OBSERVABLES[region])


def _annotate_cells(ax: Axes, matrix: np.ndarray) -> None:
    """Write each cell's value, white on dark cells."""
    font = "x-small" if len(matrix) > 10 else "small"
    for (row, column), value in np.ndenumerate(matrix):
        color = "white" if abs(value) > 0.6 else "black"
        ax.text(column, row, f"{value:.2f}", ha="center", va="center",
                color=color, fontsize=font)


# ---------------------------------------------------------------------------
# helpers


def _figure(ax: Axes) -> Figure:
    """Return the figure of ``ax``."""
    fig = ax.get_figure(root=True)
    if not isinstance(fig, Figure):
        raise TypeError("axes without a figure; build it with a *_figure function")
    return fig


def _save(fig: Figure, path: str | Path, what: str) -> Path:
    """Write ``fig`` to ``path`` as a PNG (via a temporary name) and log it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temporary:
        fig.savefig(temporary, format="png", dpi=100)
    fig.clear()
    logger.info("wrote %s to %s", what, path)
    return path


def _check_region(region: str) -> None:
    if region not in spec.REGIONS:
        raise ConfigError("region", f"unknown region {region!r}; use one of "
                          f"{', '.join(spec.REGIONS)}")


def _contents(hist: Histogram, flow: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return the regular bins' values and variances (flow folded in if asked)."""
    values, variances = hist.values.copy(), hist.variances.copy()
    if flow:
        values[0] += hist.sumw[0]
        values[-1] += hist.sumw[-1]
        variances[0] += hist.sumw2[0]
        variances[-1] += hist.sumw2[-1]
    return values, variances


def _common_edges(hists: list[Histogram], where: str) -> np.ndarray:
    """Return the edges shared by ``hists``."""
    edges = hists[0].edges
    if any(not np.array_equal(h.edges, edges) for h in hists[1:]):
        raise ValueError(f"histograms of {where} have different binnings; they must "
                         "come from one merged histograms file")
    return edges


def _optional(hist: Histogram | None) -> list[Histogram]:
    return [] if hist is None else [hist]


def _array(values: Sequence[float], bins: int, what: str) -> np.ndarray:
    """Return ``values`` as an array after checking it has one entry per bin."""
    array = np.asarray(values, dtype=float)
    if array.shape != (bins,):
        raise ValueError(f"yields of {what} have {array.size} values; expected "
                         f"{bins} (one per bin)")
    return array


def _poisson(counts: np.ndarray) -> np.ndarray:
    """Return the Poisson errors sqrt(n) of (possibly non-integer) counts."""
    return np.sqrt(np.clip(counts, 0.0, None))


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Return numerator / denominator, NaN where the denominator is not positive."""
    out = np.full(np.shape(denominator), np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _max_deviation(ratio: np.ndarray) -> float:
    finite = ratio[np.isfinite(ratio)]
    return float(np.max(np.abs(finite - 1.0), initial=0.0))


def _ratio_limits(deviation: float) -> tuple[float, float]:
    """Return a nice ratio-panel range around 1 that shows ``deviation``."""
    half = next((r for r in _RATIO_RANGES if r >= 1.15 * deviation), _RATIO_RANGES[-1])
    return 1.0 - half, 1.0 + half


def _prefer_log(samples: list[np.ndarray]) -> bool:
    """Whether a log axis helps: the bottom layer is below 3 % of the stack.

    Only the bottom layer gains from a log axis; small samples stacked on top
    of a large one stay thin slivers either way, so then the axis is linear.
    """
    if len(samples) < 2:
        return False
    total = float(np.sum(samples))
    return bool(total > 0 and float(np.sum(samples[0])) < 0.03 * total)


def _normalized(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _process_style(name: str, index: int) -> tuple[str, str]:
    """Return (label, colour) of a sample: process name, its label, or fallback."""
    if name in PROCESS_STYLES:
        return PROCESS_STYLES[name]
    for process, (label, color) in PROCESS_STYLES.items():
        if _normalized(name) in (_normalized(process), _normalized(label)):
            return label, color
    return name, _FALLBACK_COLORS[index % len(_FALLBACK_COLORS)]


def _variation_family(variation: str) -> str:
    return re.sub(r"_?(up|down)$", "", variation)


def _variation_style(variation: str, variations: Sequence[str]) -> tuple[str, str]:
    """Return (colour, line style): one colour per up/down pair, down dashed."""
    families = list(dict.fromkeys(_variation_family(v) for v in variations))
    index = families.index(_variation_family(variation))
    linestyle = "--" if variation.endswith("down") else "-"
    return _VARIATION_COLORS[index % len(_VARIATION_COLORS)], linestyle


def _variation_label(variation: str) -> str:
    match = _BTAG_PATTERN.match(variation)
    if match:
        return f"b-tag NP {int(match.group(1)) + 1} {match.group(2)}"
    return _VARIATION_LABELS.get(variation, variation)


def _is_staterror(name: str) -> bool:
    return bool(_STATERROR_PATTERN.match(name))


def _fit_parameters(fit: Mapping[str, Any]) -> Mapping[str, Mapping[str, float]]:
    if "parameters" not in fit:
        raise ValueError("fit result has no 'parameters'; pass the dict of fit.json")
    return fit["parameters"]


def _fit_labels(fit: Mapping[str, Any]) -> list[str]:
    """Return the parameter names in fit order (``labels``, else ``parameters``)."""
    labels = fit.get("labels")
    return list(labels) if labels is not None else list(_fit_parameters(fit))


def _prefit(name: str, poi: str | None,
            prefit: Mapping[str, tuple[float, float]]) -> tuple[float, float]:
    """Return the pre-fit (value, width) of a parameter."""
    if name in prefit:
        value, width = prefit[name]
        return float(value), float(width)
    if _is_staterror(name):
        raise ValueError(f"pre-fit width of {name!r} unknown; pass it in 'prefit' "
                         "(the model's staterror sigma) to draw staterror pulls")
    return (1.0, 1.0) if name == poi else (0.0, 1.0)


def _warn_invalid(fit: Mapping[str, Any]) -> None:
    status = fit.get("status", {})
    if status and not status.get("valid", True):
        logger.warning("plotting a fit whose minimum is not valid (status %s)", status)
