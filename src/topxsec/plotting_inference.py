"""Plots of the inference studies: the impact ranking and the likelihood scan.

Same conventions as :mod:`topxsec.plotting` (whose figure helpers it uses):
``*_figure`` builds a :class:`matplotlib.figure.Figure` on the Agg canvas,
``plot_*`` writes it as a PNG and returns the path; every figure is drawn in
the mplhep CMS style.

- :func:`plot_ranking`: the parameters with the largest post-fit impact on the
  POI, largest on top: their pulls (left panel) and their pre- and post-fit
  impacts as bars (right panel).
- :func:`plot_scan`: the profile likelihood ``2 Delta NLL`` of the POI, the
  HESSE parabola for comparison, the 68 % and 95 % levels and intervals.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from topxsec.inference import INTERVAL_LEVELS, rank_impacts
from topxsec.plotting import _cms_label, _save, _style

logger = logging.getLogger(__name__)

#: Bar colours of the impacts: parameter moved up / down.
_UP_COLOR = "#3f90da"
_DOWN_COLOR = "#e42536"
#: Empty rows below the ranking that hold its legend.
_LEGEND_ROWS = 2
#: Line styles of the scan's levels (68 %, 95 %).
_LEVEL_STYLES = {"68": ("#6fcf4a", "--"), "95": ("#ffa90e", ":")}


def plot_ranking(impacts: Sequence[Mapping[str, Any]], poi: str, path: str | Path,
                 *, top: int = 20) -> Path:
    """Write the ranking plot of the impacts on the POI.

    Args:
        impacts: Impact entries of :func:`topxsec.inference.parameter_impacts`
            (any order; only status ``ok`` is drawn).
        poi: Name of the POI, for the axis label.
        path: The PNG to write.
        top: Draw at most this many parameters.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: If ``top`` is below 1.
    """
    with _style():
        fig = ranking_figure(impacts, poi, top=top)
        return _save(fig, path, f"ranking of the impacts on {poi}")


def ranking_figure(impacts: Sequence[Mapping[str, Any]], poi: str, *,
                   top: int = 20) -> Figure:
    """Build the figure of :func:`plot_ranking` (same arguments, no path)."""
    if top < 1:
        raise ValueError(f"ranking plot needs top >= 1, got {top}")
    ranked = [e for e in rank_impacts(impacts) if e["status"] == "ok"][:top]
    logger.debug("ranking plot: %d of %d parameters", len(ranked), len(impacts))

    with _style():
        rows = len(ranked) + _LEGEND_ROWS
        fig = Figure(figsize=(13.0, max(6.0, 0.5 * rows + 3.0)),
                     layout="constrained")
        FigureCanvasAgg(fig)
        pulls_ax, impacts_ax = fig.subplots(
            1, 2, sharey=True, gridspec_kw={"width_ratios": (1.0, 1.4)})
        if ranked:
            _draw_ranking(pulls_ax, impacts_ax, ranked, poi)
        else:
            logger.warning("ranking plot: no parameter with an impact")
            impacts_ax.text(0.5, 0.5, "No impacts", ha="center",
                            transform=impacts_ax.transAxes)
        _cms_label(impacts_ax, data=True)
    return fig


def _draw_ranking(pulls_ax: Axes, impacts_ax: Axes,
                  ranked: list[Mapping[str, Any]], poi: str) -> None:
    """Draw pulls (left) and impact bars (right), one row per parameter."""
    y = np.arange(len(ranked))[::-1]
    pulls, constraints = [], []
    for entry in ranked:
        width = entry["prefit"]["width"] or 1.0
        pulls.append((entry["postfit"]["value"] - entry["prefit"]["value"]) / width)
        constraints.append(entry["postfit"]["error"] / width)
    pulls_ax.axvspan(-2, 2, color="#ffdf20")
    pulls_ax.axvspan(-1, 1, color="#6fcf4a")
    pulls_ax.axvline(0, color="black", lw=1, ls="--")
    pulls_ax.errorbar(pulls, y, xerr=constraints, fmt="o", color="black", ms=6)
    reach = max(2.5, 1.1 * float(np.max(np.abs(pulls) + np.asarray(constraints))))
    pulls_ax.set_xlim(-reach, reach)
    pulls_ax.set_xlabel(r"$(\hat{\theta} - \theta_0) / \Delta\theta$")
    pulls_ax.set_yticks(y, [e["parameter"] for e in ranked], fontsize="small")
    pulls_ax.tick_params(axis="y", which="minor", left=False, right=False)
    # two empty rows at the bottom hold the legend
    pulls_ax.set_ylim(-_LEGEND_ROWS - 0.7, len(ranked) - 0.3)

    bars = (("prefit_up", _UP_COLOR, True, r"pre-fit $\hat{\theta} + \Delta\theta$"),
            ("prefit_down", _DOWN_COLOR, True,
             r"pre-fit $\hat{\theta} - \Delta\theta$"),
            ("postfit_up", _UP_COLOR, False, r"post-fit $\hat{\theta} + \sigma$"),
            ("postfit_down", _DOWN_COLOR, False,
             r"post-fit $\hat{\theta} - \sigma$"))
    reach = 0.0
    for key, color, hollow, label in bars:
        shifts = np.array([e["impacts"].get(key) or 0.0 for e in ranked])
        reach = max(reach, float(np.max(np.abs(shifts), initial=0.0)))
        if hollow:
            impacts_ax.barh(y, shifts, height=0.7, fill=False, edgecolor=color,
                            lw=1.5, label=label)
        else:
            impacts_ax.barh(y, shifts, height=0.45, color=color, alpha=0.85,
                            label=label)
    impacts_ax.axvline(0, color="black", lw=1)
    reach = 1.15 * reach if reach > 0 else 1.0
    impacts_ax.set_xlim(-reach, reach)
    impacts_ax.set_xlabel(rf"$\Delta\hat{{\mu}}$ ({poi})")
    impacts_ax.tick_params(axis="y", which="both", left=False, right=False)
    impacts_ax.legend(loc="lower right", fontsize="x-small", ncols=2,
                      framealpha=0.9)


def plot_scan(scan: Mapping[str, Any], path: str | Path) -> Path:
    """Write the profile likelihood scan of a parameter.

    Args:
        scan: The result of :func:`topxsec.inference.likelihood_scan`.
        path: The PNG to write.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: If the scan has fewer than two points.
    """
    with _style():
        fig = scan_figure(scan)
        return _save(fig, path, f"likelihood scan of {scan['parameter']}")


def scan_figure(scan: Mapping[str, Any]) -> Figure:
    """Build the figure of :func:`plot_scan` (same argument, no path)."""
    values = np.asarray(scan["values"], dtype=float)
    # None (where -log L is undefined) becomes NaN, a gap in the curve
    curve = np.asarray(scan["twice_delta_nll"], dtype=float)
    if values.size < 2 or values.shape != curve.shape:
        raise ValueError(f"scan has {values.size} values and {curve.size} curve "
                         "points; it needs at least two of each, as many")
    name, center = scan["parameter"], float(scan["best_fit"])
    sigma = float(scan["hesse_error"])

    with _style():
        fig = Figure(figsize=(10.0, 8.0), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        fine = np.linspace(values[0], values[-1], 400)
        ax.plot(fine, ((fine - center) / sigma) ** 2, color="#94a4a2", ls="-.",
                lw=1.5, label=rf"HESSE: $\pm${sigma:.4f}")
        ax.plot(values, curve, "o-", color="black", ms=5, lw=1.5,
                label="Profile likelihood")
        for label, level in INTERVAL_LEVELS.items():
            _draw_interval(ax, scan["intervals"][label], level, label)
        highest = float(np.nanmax(curve)) if np.any(np.isfinite(curve)) else 0.0
        top = max(1.3 * INTERVAL_LEVELS["95"], 1.05 * highest)
        ax.set_xlim(values[0], values[-1])
        ax.set_ylim(0.0, top)
        ax.set_xlabel(name)
        ax.set_ylabel(r"$-2\,\Delta\ln L$")
        one = scan["intervals"]["68"]
        ax.legend(loc="upper center", fontsize="small",
                  title=(rf"{name} = {center:.4f} $_{{-{one['minus']:.4f}}}"
                         rf"^{{+{one['plus']:.4f}}}$"),
                  title_fontsize="small")
        _cms_label(ax, data=True)
    return fig


def _draw_interval(ax: Axes, interval: Mapping[str, Any], level: float,
                   label: str) -> None:
    """Draw a level line and the interval's ends."""
    color, style = _LEVEL_STYLES[label]
    ax.axhline(level, color=color, ls=style, lw=1.5,
               label=f"{label} % CL: [{interval['low']:.4f}, {interval['high']:.4f}]")
    for side in ("low", "high"):
        if not interval[f"{side}_at_bound"]:
            ax.plot([interval[side]] * 2, [0.0, level], color=color, ls=style, lw=1.2)
