"""Inference beyond the fit: impacts, likelihood scan, sensitivity, goodness of fit.

Every study starts from a pyhf workspace and its maximum-likelihood fit (a
:class:`topxsec.fit.FitResult`, the contents of ``results/fit.json``) and
returns plain data for JSON:

- :func:`parameter_impacts`: for each nuisance parameter, the shift of the POI
  when the parameter is fixed at its post-fit value plus or minus its post-fit
  uncertainty and plus or minus its pre-fit width, the other parameters
  refitted; :func:`rank_impacts` orders them by the larger post-fit shift.
- :func:`likelihood_scan`: the profile likelihood ``2 (NLL(mu) - NLL_min)`` of
  the POI on a grid, and the 68 % and 95 % intervals where it crosses 1 and
  3.84 (found by root finding, not read off the grid).
- :func:`sensitivity`: the uncertainty on the POI in the fit to the data and
  in the fit to the Asimov data (the model's expectation at the nominal
  parameters), each broken down by freezing groups of parameters
  (:func:`uncertainty_breakdown`).
- :func:`goodness_of_fit`: the saturated-model test statistic and its p-value
  for every channel alone and for all channels combined.

The fits with parameters held fixed run MIGRAD alone (:class:`Profiler`),
started from the best fit with its uncertainties as step sizes and with a
tolerance ten times tighter than the main fit's, so that differences of fits
(impacts, the scan) are not lost in the minimizer's noise.

:func:`nuisance_parameters` needs only the model file, so that the workflow can
fan the impact fits out over jobs when it builds the DAG; importing this module
is cheap (numpy; pyhf, iminuit and scipy are imported when used).

The impact entries, one per parameter::

    {"parameter": str, "status": "ok" | "fixed" | "absent",
     "prefit": {"value", "width"}, "postfit": {"value", "error"},
     "fixed_at": {"postfit_up", "postfit_down", "prefit_up", "prefit_down"},
     "impacts": {same keys: POI shift}, "nll": {same keys: -log L},
     "undefined": [keys], "valid": bool}

``fixed`` parameters (a staterror of a bin without simulated events, which
the fit holds constant) and ``absent`` ones (pruned from every sample) have
empty ``fixed_at``, ``impacts`` and ``nll``. A shift is ``None`` when its
variation is undefined: the pre-fit width of an unconstrained parameter, or a
fixed value at which the model predicts a negative yield whatever the other
parameters do (templates with large statistical fluctuations, extrapolated
beyond one standard deviation); the latter are listed in ``undefined`` and
make the entry not ``valid``.

A parameter fixed far from its best fit (a pre-fit width is often many
post-fit uncertainties) can leave the others with more than one minimum.
Starting each fit at the linear response of the others (see
:class:`Profiler`) finds the lower one in the cases met so far, where a fit
started at the best fit or at the nominal values can stop in a higher one;
``nll`` records what was reached.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from topxsec import fit as fitting
from topxsec import tables
from topxsec.errors import WorkspaceError
from topxsec.workspace import staterror_name

if TYPE_CHECKING:
    import pyhf

log = logging.getLogger(__name__)

#: Group of the MC statistical (staterror) parameters in the breakdown.
MC_STAT_GROUP = "MC statistics"
#: 2 Delta NLL levels of the intervals: 68.27 % and 95 % for one parameter.
INTERVAL_LEVELS: dict[str, float] = {"68": 1.0, "95": 3.841458820694124}
#: MIGRAD tolerance of the profile fits (EDM goal 0.002 x tolerance; pyhf: 0.1).
PROFILE_TOLERANCE = 0.01
#: What MIGRAD sees where -log L is undefined (negative predicted yields).
NAN_WALL = 1e12
#: 2 Delta NLL the interval search gives a point where -log L is undefined.
UNDEFINED_LEVEL = 1e6
#: The four fixed values of an impact, in order.
IMPACT_KEYS = ("postfit_up", "postfit_down", "prefit_up", "prefit_down")


# --- parameters known from the model file ----------------------------------


def nuisance_parameters(model: Mapping[str, Any]) -> list[str]:
    """Return the names of a model's nuisance parameters, as pyhf names them.

    Only the model file is read (no histograms, no pyhf): the systematics in
    file order, then one staterror gamma per bin and channel
    (``staterror_{channel}[i]``). A workspace may have fewer (a systematic
    pruned everywhere), never more.

    Args:
        model: A checked model, from :func:`topxsec.workspace.load_model`.

    Returns:
        The parameter names.
    """
    names = [systematic["name"] for systematic in model["systematics"]]
    if model["mc_stat"]["enabled"]:
        bins = len(model["rebinning"]["edges"]) - 1
        for channel in model["channels"]:
            names += [f"{staterror_name(channel['name'])}[{i}]" for i in range(bins)]
    return names


def impact_groups(names: Sequence[str], per_job: int) -> list[list[str]]:
    """Split parameter names into the groups of the impact jobs, in order.

    Args:
        names: Parameter names, e.g. from :func:`nuisance_parameters`.
        per_job: Parameters per job (at least 1).

    Returns:
        Consecutive groups of at most ``per_job`` names.

    Raises:
        ValueError: If ``per_job`` is below 1.
    """
    if per_job < 1:
        raise ValueError(f"parameters per impact job must be at least 1, got {per_job}")
    return [list(names[i:i + per_job]) for i in range(0, len(names), per_job)]


def parameter_groups(model: Mapping[str, Any],
                     labels: Sequence[str]) -> dict[str, list[str]]:
    """Return the breakdown groups: group name -> parameters of the fit.

    Systematics go to their model file ``group``, staterror gammas to
    :data:`MC_STAT_GROUP`; parameters missing from ``labels`` are left out, and
    so are groups left empty.

    Args:
        model: A checked model.
        labels: The fit's parameter names.
    """
    present = set(labels)
    groups: dict[str, list[str]] = {}
    for systematic in model["systematics"]:
        if systematic["name"] in present:
            groups.setdefault(systematic["group"], []).append(systematic["name"])
    prefixes = tuple(f"{staterror_name(c['name'])}[" for c in model["channels"])
    staterrors = [name for name in labels if name.startswith(prefixes)]
    if staterrors:
        groups[MC_STAT_GROUP] = staterrors
    return groups


# --- profile fits -------------------------------------------------------------


@dataclass
class ProfilePoint:
    """The minimum of -log L with some parameters held fixed."""

    values: np.ndarray
    #: -log L at the minimum (not twice it)
    nll: float
    valid: bool
    nfcn: int


class Profiler:
    """Minimizes -log L of a pyhf model with chosen parameters held fixed.

    MIGRAD only (strategy 1, no HESSE): the profile fits need the minimum, not
    the uncertainties. Parameters pyhf suggests fixing stay fixed. Given the
    best fit's covariance, a fit with parameters moved away from the start
    begins at the linear response of the others (``start + C_RF C_FF^-1
    delta_F``) with their conditional uncertainties as step sizes, which
    halves MIGRAD's function calls here.

    Args:
        model: The pyhf model.
        data: Main and auxiliary data.
        start: Initial values (default: pyhf's suggested ones), e.g. the best
            fit.
        covariance: The best fit's covariance (optional, see above).
        tolerance: MIGRAD tolerance.
    """

    def __init__(self, model: pyhf.pdf.Model, data: np.ndarray,
                 start: Sequence[float] | np.ndarray | None = None,
                 covariance: np.ndarray | None = None,
                 tolerance: float = PROFILE_TOLERANCE) -> None:
        self.model = model
        self.data = np.asarray(data, dtype=float)
        self.labels = list(model.config.par_names)
        self.bounds = [tuple(b) for b in model.config.suggested_bounds()]
        self.fixed = np.asarray(model.config.suggested_fixed(), dtype=bool)
        initial = model.config.suggested_init() if start is None else start
        self.start = np.asarray(initial, dtype=float)
        self.covariance = None if covariance is None else np.asarray(covariance)
        if self.covariance is None:
            self.steps = 0.1 * fitting.prefit_widths(model)
        else:
            self.steps = np.sqrt(np.clip(np.diag(self.covariance), 0.0, None))
        self.tolerance = tolerance
        self.fits = 0
        self.walls = 0

    def index(self, name: str) -> int:
        """Return the position of a parameter.

        Raises:
            WorkspaceError: If there is no such parameter.
        """
        if name not in self.labels:
            raise WorkspaceError(f"'{name}' is not a parameter of the model; "
                                 f"parameters are {', '.join(self.labels)}")
        return self.labels.index(name)

    def twice_nll(self, pars: np.ndarray) -> float:
        """Return -2 log L at ``pars`` (NaN where a predicted yield is negative)."""
        import pyhf

        value = pyhf.infer.mle.twice_nll(np.asarray(pars), self.data, self.model)
        return float(np.squeeze(value))

    def _objective(self, pars: np.ndarray) -> float:
        """:meth:`twice_nll` for MIGRAD: a high wall instead of NaN.

        Far from the best fit the interpolated templates can predict negative
        yields, where the Poisson terms are undefined; MIGRAD backs off from
        the wall.
        """
        value = self.twice_nll(pars)
        if not np.isfinite(value):
            self.walls += 1
            return NAN_WALL
        return value

    def minimize(self, fixed: Mapping[str, float] | None = None,
                 start: np.ndarray | None = None) -> ProfilePoint:
        """Minimize with the parameters of ``fixed`` held at their values.

        Args:
            fixed: Parameter name -> value.
            start: Initial values (default: the profiler's ``start``).

        Returns:
            The minimum; ``valid`` is MIGRAD's verdict. A fit MIGRAD does not
            call valid is continued once and then tried from the plain start
            (only the fixed parameters moved); the best of them is returned.
            Where -log L is undefined at every start tried (see
            :meth:`_linear_start`) there is no fit: ``nll`` is infinite and
            ``valid`` false.

        Raises:
            WorkspaceError: If a name in ``fixed`` is not a parameter.
        """
        values = np.array(self.start if start is None else start, dtype=float)
        targets = {self.index(name): float(v) for name, v in (fixed or {}).items()}
        plain = values.copy()
        for i, value in targets.items():
            plain[i] = value
        values, steps = self._linear_start(values, targets)
        if not np.isfinite(self.twice_nll(values)):
            log.warning("-log L is undefined (a predicted yield is negative) with "
                        "%s fixed; no fit there", dict(fixed or {}))
            return ProfilePoint(values, math.inf, False, 0)
        mask = self.fixed.copy()
        mask[list(targets)] = True

        point = self._migrad(values, steps, mask)
        if not point.valid:
            # MIGRAD once more from where it stopped, then from the plain start
            again = self._migrad(point.values, steps, mask)
            if not again.valid and np.isfinite(self.twice_nll(self._clipped(plain))):
                other = self._migrad(self._clipped(plain), self.steps, mask)
                again = min(again, other, key=lambda p: (not p.valid, p.nll))
            point = min(point, again, key=lambda p: (not p.valid, p.nll))
            if not point.valid:
                log.warning("profile fit with %s fixed is not valid", dict(fixed or {}))
        self.fits += 1
        return point

    def _migrad(self, values: np.ndarray, steps: np.ndarray,
                fixed: np.ndarray) -> ProfilePoint:
        """One MIGRAD minimization from ``values``."""
        import iminuit

        minuit = iminuit.Minuit(self._objective, values, name=self.labels)
        minuit.errordef = iminuit.Minuit.LEAST_SQUARES
        minuit.limits = self.bounds
        minuit.fixed = list(fixed)
        minuit.errors = np.maximum(steps, 1e-3)
        minuit.strategy = 1
        minuit.tol = self.tolerance
        minuit.print_level = 0
        minuit.migrad()
        nll = float(minuit.fval) / 2.0 if minuit.fval < NAN_WALL else math.inf
        valid = bool(minuit.valid) and math.isfinite(nll)
        log.debug("MIGRAD: -log L %.6f, EDM %.3g, %d calls, valid %s", nll,
                  minuit.fmin.edm, minuit.nfcn, valid)
        return ProfilePoint(np.asarray(minuit.values, dtype=float), nll, valid,
                            int(minuit.nfcn))

    def _linear_start(self, values: np.ndarray, targets: Mapping[int, float]
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Return start values and step sizes for the fit with ``targets`` fixed.

        The linear response is halved until -log L is defined there (far from
        the best fit it can predict negative yields); the plain start (only
        the targets moved) is the last resort.
        """
        plain = np.array(values, dtype=float)
        for i, value in targets.items():
            plain[i] = value
        moved = [i for i, v in targets.items() if v != values[i]]
        if self.covariance is None or not moved:
            return self._clipped(plain), self.steps

        cov = self.covariance
        delta = np.array([targets[i] - values[i] for i in moved])
        gain = np.linalg.pinv(cov[np.ix_(moved, moved)])
        response = cov[:, moved] @ gain @ delta
        conditional = np.diag(cov) - np.einsum(
            "ij,jk,ik->i", cov[:, moved], gain, cov[:, moved])
        steps = np.sqrt(np.clip(conditional, 0.0, None))
        for scale in (1.0, 0.5, 0.25, 0.125):
            start = self._clipped(values + scale * response)
            for i, value in targets.items():
                start[i] = value
            if np.isfinite(self.twice_nll(start)):
                return start, steps
        log.debug("no defined linear start for %s; starting from the targets",
                  {self.labels[i]: v for i, v in targets.items()})
        return self._clipped(plain), steps

    def _clipped(self, values: np.ndarray) -> np.ndarray:
        low = np.array([b[0] for b in self.bounds])
        high = np.array([b[1] for b in self.bounds])
        return np.clip(values, low, high)


def _setup(workspace: Mapping[str, Any], fit: fitting.FitResult,
           data: str | Sequence[float]) -> tuple[pyhf.pdf.Model, Profiler,
                                                 ProfilePoint]:
    """Return the model, a profiler started at the fit, and its tight minimum."""
    model, values = fitting.model_and_data(workspace, data)
    if list(model.config.par_names) != list(fit.labels):
        raise WorkspaceError(
            "the fit result's parameters do not match the workspace's; use the "
            "fit.json made from this workspace.json"
        )
    profiler = Profiler(model, values, start=fit.values,
                        covariance=fit.covariance)
    best = profiler.minimize()

    poi = profiler.index(fit.poi)
    moved = best.values[poi] - fit.values[poi]
    if abs(moved) > 0.05 * max(fit.errors[poi], 1e-12):
        log.warning("refitting moved %s by %.3g (%.2g of its uncertainty); the "
                    "fit result may not be at the minimum", fit.poi, moved,
                    moved / max(fit.errors[poi], 1e-12))
    return model, profiler, best


# --- impacts ------------------------------------------------------------------


def parameter_impacts(
    workspace: Mapping[str, Any],
    fit: fitting.FitResult,
    parameters: Sequence[str],
    *,
    data: str | Sequence[float] = fitting.OBSERVED,
) -> list[dict[str, Any]]:
    """Return the impact of each parameter on the POI (see the module docstring).

    The parameter is fixed at its post-fit value plus or minus its post-fit
    uncertainty, and plus or minus its pre-fit width (clipped to its bounds),
    the others are refitted, and the impact is the POI's change from the best
    fit (refitted with the same tolerance, so that both sides of the
    difference have the same precision).

    Args:
        workspace: The pyhf workspace spec.
        fit: The fit of this workspace to ``data``.
        parameters: Names of the nuisance parameters; names the workspace
            lacks get status ``absent``.
        data: The data of the fit, as in :func:`topxsec.fit.model_and_data`.

    Returns:
        One entry per parameter, in the order given.

    Raises:
        WorkspaceError: If the fit does not belong to the workspace, or a name
            is the POI.
    """
    model, profiler, best = _setup(workspace, fit, data)
    widths = fitting.prefit_widths(model)
    nominal = np.asarray(model.config.suggested_init(), dtype=float)

    out = []
    for name in parameters:
        if name == fit.poi:
            raise WorkspaceError(f"'{name}' is the parameter of interest, not a "
                                 "nuisance parameter")
        entry = _impact(profiler, best, fit, name, widths, nominal)
        out.append(entry)
    log.info("%d impacts from %d profile fits", len(out), profiler.fits)
    return out


def _impact(profiler: Profiler, best: ProfilePoint, fit: fitting.FitResult,
            name: str, widths: np.ndarray, nominal: np.ndarray) -> dict[str, Any]:
    """Return the impact entry of one parameter."""
    entry: dict[str, Any] = {"parameter": name, "status": "ok", "fixed_at": {},
                             "impacts": {}, "nll": {}, "undefined": [],
                             "valid": True}
    if name not in profiler.labels:
        log.info("%s: not a parameter of the workspace (pruned); no impact", name)
        entry.update(status="absent", prefit=None, postfit=None)
        return entry

    i = profiler.index(name)
    value, error = float(fit.values[i]), float(fit.errors[i])
    entry["prefit"] = {"value": float(nominal[i]), "width": float(widths[i])}
    entry["postfit"] = {"value": value, "error": error}
    if profiler.fixed[i] or name in fit.fixed:
        log.info("%s: held fixed in the fit (no simulated events in its bin); "
                 "impact 0", name)
        entry["status"] = "fixed"
        return entry

    poi = profiler.index(fit.poi)
    low, high = profiler.bounds[i]
    steps = {"postfit_up": error, "postfit_down": -error,
             "prefit_up": widths[i], "prefit_down": -widths[i]}
    for key in IMPACT_KEYS:
        if steps[key] == 0.0:
            entry["fixed_at"][key] = entry["impacts"][key] = entry["nll"][key] = None
            continue
        target = float(np.clip(value + steps[key], low, high))
        if target != value + steps[key]:
            log.info("%s: %s value %.4g clipped to its bound %.4g", name, key,
                     value + steps[key], target)
        point = profiler.minimize({name: target}, start=best.values)
        entry["fixed_at"][key] = target
        entry["valid"] = entry["valid"] and point.valid
        if not math.isfinite(point.nll):
            entry["impacts"][key] = entry["nll"][key] = None
            entry["undefined"].append(key)
            continue
        entry["impacts"][key] = float(point.values[poi] - best.values[poi])
        entry["nll"][key] = point.nll

    shifts = entry["impacts"]
    log.info("impact of %s on %s: post-fit %s / %s, pre-fit %s / %s", name, fit.poi,
             *(_signed(shifts[k]) for k in IMPACT_KEYS))
    return entry


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def _entry_status(entry: Mapping[str, Any]) -> str:
    if entry.get("undefined"):
        keys = ", ".join(k.replace("_", " ") for k in entry["undefined"])
        return f"model undefined at {keys} (negative yield)"
    return "ok" if entry["valid"] else "a fit is not valid"


def impact_size(entry: Mapping[str, Any], kind: str = "postfit") -> float:
    """Return the larger absolute POI shift of an impact entry (0 if none)."""
    shifts = [entry["impacts"].get(f"{kind}_{d}") for d in ("up", "down")]
    return max((abs(s) for s in shifts if s is not None), default=0.0)


def rank_impacts(impacts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Order impact entries by their post-fit size, largest first.

    Entries with status ``ok`` come first; fixed and absent ones follow in their
    given order.
    """
    usable = [dict(e) for e in impacts if e["status"] == "ok"]
    others = [dict(e) for e in impacts if e["status"] != "ok"]
    usable.sort(key=lambda e: (-impact_size(e), -impact_size(e, "prefit")))
    return usable + others


def impacts_html(ranked: Sequence[Mapping[str, Any]], poi: str) -> str:
    """The ranked impacts (and pulls) as an HTML table."""
    rows = []
    for entry in ranked:
        if entry["status"] != "ok":
            rows.append([entry["parameter"], *([""] * 6), entry["status"]])
            continue
        pre, post = entry["prefit"], entry["postfit"]
        width = pre["width"] if pre["width"] > 0 else 1.0
        pull = (post["value"] - pre["value"]) / width
        rows.append([entry["parameter"], f"{pull:+.3f}", f"{post['error'] / width:.3f}",
                     *(_signed(entry["impacts"][k]) for k in IMPACT_KEYS),
                     _entry_status(entry)])
    header = ["parameter", "pull", "constraint",
              *(f"\u0394{poi} {kind} {direction}" for kind in ("post-fit", "pre-fit")
                for direction in ("up", "down")),
              "status"]
    return tables.render_html(
        f"Impacts on {poi}", header, rows,
        "Shift of the POI when the parameter is fixed at its post-fit value +- "
        "its post-fit uncertainty (post-fit) or +- its pre-fit width (pre-fit) "
        "and the others are refitted; largest post-fit impact first. Pull: "
        "(best fit - pre-fit value) / pre-fit width; constraint: post-fit "
        "uncertainty / pre-fit width.",
    )


# --- likelihood scan ----------------------------------------------------------


class _ProfileCurve:
    """The profile NLL of one parameter, each point warm-started from the nearest."""

    def __init__(self, profiler: Profiler, name: str, best: ProfilePoint) -> None:
        self.profiler = profiler
        self.name = name
        self.best = best
        self.index = profiler.index(name)
        self.points: dict[float, ProfilePoint] = {}

    def nll(self, x: float) -> float:
        x = float(x)
        if x not in self.points:
            done = [self.best] + list(self.points.values())
            start = min(done, key=lambda p: abs(p.values[self.index] - x)).values
            self.points[x] = self.profiler.minimize({self.name: x}, start=start)
        return self.points[x].nll

    def twice_delta(self, x: float) -> float:
        """``2 (NLL(x) - NLL_min)``; infinite where -log L is undefined."""
        return 2.0 * (self.nll(x) - self.best.nll)


def likelihood_scan(
    workspace: Mapping[str, Any],
    fit: fitting.FitResult,
    *,
    points: int = 21,
    span: float = 3.0,
    parameter: str | None = None,
    data: str | Sequence[float] = fitting.OBSERVED,
) -> dict[str, Any]:
    """Scan the profile likelihood of a parameter and find its intervals.

    Args:
        workspace: The pyhf workspace spec.
        fit: The fit of this workspace to ``data``.
        points: Grid points of the scan (for the plot).
        span: Half-width of the grid in units of the fit's (HESSE) uncertainty;
            the grid is clipped to the parameter's bounds.
        parameter: The parameter to scan; default the POI.
        data: The data of the fit.

    Returns:
        ``{"parameter", "best_fit", "min_nll", "hesse_error", "values",
        "twice_delta_nll", "intervals": {"68" | "95": {"level", "low",
        "high", "minus", "plus", "low_at_bound", "high_at_bound"}},
        "half_width_over_hesse", "valid"}``. ``minus`` and ``plus`` are the
        distances of the interval ends from the best fit; an end ``at_bound``
        is the parameter's bound, where the curve stays below the level. A
        grid point where -log L is undefined (a negative predicted yield) has
        ``None`` in ``twice_delta_nll``.

    Raises:
        WorkspaceError: If the fit does not belong to the workspace.
        ValueError: If ``points`` is below 3 or ``span`` not positive.
    """
    if points < 3 or not span > 0:
        raise ValueError(f"scan needs at least 3 points and a positive span, got "
                         f"{points} and {span}")
    _, profiler, best = _setup(workspace, fit, data)
    name = parameter or fit.poi
    curve = _ProfileCurve(profiler, name, best)
    i = curve.index
    center, sigma = float(best.values[i]), float(fit.errors[i])
    low, high = profiler.bounds[i]
    if not sigma > 0:
        raise WorkspaceError(f"'{name}' has no uncertainty in the fit (fixed?); "
                             "nothing to scan")

    grid = np.linspace(max(low, center - span * sigma),
                       min(high, center + span * sigma), points)
    for x in sorted(grid, key=lambda v: abs(v - center)):
        curve.nll(x)
    _check_minimum(curve)
    intervals = {label: _interval(curve, level, center, sigma, (low, high))
                 for label, level in INTERVAL_LEVELS.items()}

    one_sigma = intervals["68"]
    ratio = 0.5 * (one_sigma["minus"] + one_sigma["plus"]) / sigma
    log.info("scan of %s: 68 %% interval [%.4f, %.4f] = %.4f -%.4f +%.4f; MINUIT "
             "(HESSE) uncertainty %.4f; half width / HESSE = %.3f", name,
             one_sigma["low"], one_sigma["high"], center, one_sigma["minus"],
             one_sigma["plus"], sigma, ratio)
    log.info("scan of %s: 95 %% interval [%.4f, %.4f] (%d profile fits)", name,
             intervals["95"]["low"], intervals["95"]["high"], profiler.fits)
    return {
        "parameter": name,
        "best_fit": center,
        "min_nll": curve.best.nll,
        "hesse_error": sigma,
        "values": grid.tolist(),
        "twice_delta_nll": [_finite_or_none(curve.twice_delta(x)) for x in grid],
        "intervals": intervals,
        "half_width_over_hesse": ratio,
        "valid": all(p.valid for p in curve.points.values()),
    }


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _check_minimum(curve: _ProfileCurve) -> None:
    """Re-base the curve on a scan point that is lower than the best fit."""
    lowest = min(curve.points.values(), key=lambda p: p.nll)
    if lowest.nll < curve.best.nll - 1e-4:
        log.warning("a scan point of %s at %.4f is below the best fit by %.3g in "
                    "-log L; the scan is measured from it", curve.name,
                    lowest.values[curve.index], curve.best.nll - lowest.nll)
        curve.best = lowest


def _interval(curve: _ProfileCurve, level: float, center: float, sigma: float,
              bounds: tuple[float, float]) -> dict[str, Any]:
    """Return the interval where the profile curve stays below ``level``."""
    ends = {}
    for side, bound in (("low", bounds[0]), ("high", bounds[1])):
        ends[side] = _crossing(curve, level, center, sigma, bound)
    return {
        "level": level,
        "low": ends["low"][0],
        "high": ends["high"][0],
        "minus": center - ends["low"][0],
        "plus": ends["high"][0] - center,
        "low_at_bound": ends["low"][1],
        "high_at_bound": ends["high"][1],
    }


def _crossing(curve: _ProfileCurve, level: float, center: float, sigma: float,
              bound: float) -> tuple[float, bool]:
    """Return where the curve crosses ``level`` between center and bound.

    Returns:
        The crossing and False, or the bound and True if the curve stays below
        the level up to it.
    """
    from scipy.optimize import brentq

    direction = 1.0 if bound > center else -1.0
    inner, step = center, 1.2 * math.sqrt(level) * sigma
    while True:
        outer = center + direction * step
        if direction * (outer - bound) >= 0:
            outer = bound
        if curve.twice_delta(outer) >= level:
            break
        if outer == bound:
            return float(bound), True
        inner, step = outer, 2.0 * step

    def excess(x: float) -> float:
        # brentq needs finite values; an undefined point lies beyond the level
        return min(curve.twice_delta(x), UNDEFINED_LEVEL) - level

    root = brentq(excess, inner, outer, xtol=1e-4 * sigma)
    return float(root), False


# --- sensitivity and the uncertainty breakdown ------------------------------


def uncertainty_breakdown(
    fit: fitting.FitResult,
    groups: Mapping[str, Sequence[str]],
    constrained: Sequence[str],
) -> dict[str, Any]:
    """Break the POI's uncertainty down by freezing groups of parameters.

    With a group frozen at its best-fit values the others stay at their
    minimum, so the refit's HESSE matrix is the fit's Hessian without the
    group's rows and columns; the uncertainty left is read from its inverse
    (the Hessian is the inverse of the fit's covariance of its free
    parameters). A group's part is ``sqrt(total^2 - frozen^2)``; the
    statistical part is what is left with every constrained parameter frozen,
    the systematic part ``sqrt(total^2 - statistical^2)``. Correlated groups
    do not add up in quadrature to the total.

    Args:
        fit: The fit (its ``covariance`` and ``errors``).
        groups: Group name -> parameter names.
        constrained: The constrained parameters (frozen for the statistical
            part); free parameters other than the POI stay free.

    Returns:
        ``{"value", "total", "statistical", "systematic", "groups": {name:
        {"parameters", "frozen", "impact"}}}``.

    Raises:
        WorkspaceError: If the POI has no uncertainty or a name is unknown.
    """
    free = [name for name, error in zip(fit.labels, fit.errors, strict=True)
            if error > 0 and name not in fit.fixed]
    if fit.poi not in free:
        raise WorkspaceError(f"'{fit.poi}' has no uncertainty in the fit; no "
                             "breakdown possible")
    unknown = {n for names in groups.values() for n in names} - set(fit.labels)
    if unknown:
        raise WorkspaceError(f"breakdown groups name unknown parameters "
                             f"{sorted(unknown)}")
    rows = [fit.index(name) for name in free]
    hessian = np.linalg.inv(fit.covariance[np.ix_(rows, rows)])

    def left_with(frozen: set[str]) -> float:
        keep = [k for k, name in enumerate(free) if name not in frozen]
        covariance = np.linalg.inv(hessian[np.ix_(keep, keep)])
        position = [free[k] for k in keep].index(fit.poi)
        return float(math.sqrt(max(covariance[position, position], 0.0)))

    total = left_with(set())
    statistical = left_with(set(constrained) - {fit.poi})
    out_groups = {}
    for group, names in groups.items():
        frozen = left_with(set(names))
        out_groups[group] = {
            "parameters": list(names),
            "frozen": frozen,
            "impact": math.sqrt(max(total**2 - frozen**2, 0.0)),
        }
    return {
        "value": fit.value(fit.poi),
        "total": total,
        "statistical": statistical,
        "systematic": math.sqrt(max(total**2 - statistical**2, 0.0)),
        "groups": out_groups,
    }


def constrained_parameters(model: pyhf.pdf.Model) -> list[str]:
    """Return the scalar names of the constrained parameters of a pyhf model."""
    labels = list(model.config.par_names)
    out = []
    for name in model.config.parameters:
        if model.config.param_set(name).constrained:
            out += labels[model.config.par_slice(name)]
    return out


def sensitivity(
    workspace: Mapping[str, Any], fit: fitting.FitResult, model: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the observed and the expected (Asimov) uncertainty breakdown.

    The Asimov data are the model's expectation with every parameter at its
    nominal value (the POI at its initial value); their fit gives the expected
    uncertainty.

    Args:
        workspace: The pyhf workspace spec.
        fit: The fit of this workspace to the observed data.
        model: The model file contents (for the groups).

    Returns:
        ``{"poi", "observed": breakdown, "expected": breakdown}``, each a
        :func:`uncertainty_breakdown` with the fit status ``valid`` added;
        the expected one also has ``asimov_poi`` (the value the Asimov data
        were made with).

    Raises:
        WorkspaceError: If the fit does not belong to the workspace.
    """
    pdf, _ = fitting.model_and_data(workspace)
    if list(pdf.config.par_names) != list(fit.labels):
        raise WorkspaceError("the fit result's parameters do not match the "
                             "workspace's; use the fit.json made from it")
    groups = parameter_groups(model, fit.labels)
    constrained = constrained_parameters(pdf)

    asimov = fitting.fit_workspace(workspace, data=fitting.ASIMOV)
    injected = float(pdf.config.suggested_init()[pdf.config.poi_index])
    out = {"poi": fit.poi}
    for label, result in (("observed", fit), ("expected", asimov)):
        entry = uncertainty_breakdown(result, groups, constrained)
        entry["valid"] = bool(result.status.get("valid", False))
        out[label] = entry
    out["expected"]["asimov_poi"] = injected

    for label in ("observed", "expected"):
        entry = out[label]
        log.info("%s %s = %.4f +- %.4f (stat %.4f, syst %.4f)", label, fit.poi,
                 entry["value"], entry["total"], entry["statistical"],
                 entry["systematic"])
    return out


def sensitivity_html(doc: Mapping[str, Any]) -> str:
    """The observed and expected breakdown as an HTML table."""
    observed, expected = doc["observed"], doc["expected"]
    rows = [["best fit", observed["value"], expected["value"]],
            ["total uncertainty", observed["total"], expected["total"]],
            ["statistical", observed["statistical"], expected["statistical"]],
            ["systematic", observed["systematic"], expected["systematic"]]]
    for group in observed["groups"]:
        rows.append([f"  {group}", observed["groups"][group]["impact"],
                     expected["groups"].get(group, {}).get("impact", float("nan"))])
    return tables.render_html(
        f"Uncertainty on {doc['poi']}", ["", "observed", "expected (Asimov)"], rows,
        "Expected: fit to the Asimov data (the model's expectation, "
        f"{doc['poi']} = {expected['asimov_poi']:g}, nuisance parameters "
        "nominal). Statistical: every constrained parameter frozen at its best "
        "fit; systematic: the rest in quadrature. A group's row is "
        "sqrt(total^2 - uncertainty with the group frozen^2); correlated "
        "groups do not add up in quadrature.",
    )


# --- goodness of fit ----------------------------------------------------------


def saturated_test(model: pyhf.pdf.Model, data: np.ndarray,
                   pars: np.ndarray) -> dict[str, Any]:
    """Return the saturated-model test statistic of a fit and its p-value.

    ``q = 2 (NLL(best fit) - NLL(saturated))``. The saturated model predicts
    every measurement exactly: each main bin its data count, each auxiliary
    measurement (constraint) its value. So ``q`` is the Poisson deviance of
    the main bins plus the constraint terms' share (for Gaussian constraints
    the squared pulls). Asymptotically it follows a chi-square distribution
    with ``bins - free parameters`` degrees of freedom, counting bins with
    data or prediction and the unconstrained free parameters.

    Args:
        model: The pyhf model.
        data: Main and auxiliary data.
        pars: The best-fit parameters.

    Returns:
        ``{"q", "deviance", "constraints", "bins", "free_parameters",
        "dof", "p_value"}``; ``p_value`` is None if ``dof`` is not positive.
    """
    from scipy.stats import chi2

    pars = np.asarray(pars, dtype=float)
    data = np.asarray(data, dtype=float)
    n_main = model.config.nmaindata
    observed, aux = data[:n_main], data[n_main:]
    expected = np.asarray(model.expected_actualdata(pars), dtype=float)

    deviance = 2.0 * float(np.sum(expected - observed + _xlogx_over(observed,
                                                                    expected)))
    saturated = _saturated_parameters(model, aux, pars)
    constraints = 2.0 * float(
        np.squeeze(model.constraint_logpdf(aux, saturated))
        - np.squeeze(model.constraint_logpdf(aux, pars))
    )
    q = max(deviance + constraints, 0.0)

    bins = int(np.count_nonzero((observed > 0) | (expected > 0)))
    fixed = np.asarray(model.config.suggested_fixed(), dtype=bool)
    constrained = set(constrained_parameters(model))
    free = sum(1 for name, f in zip(model.config.par_names, fixed, strict=True)
               if not f and name not in constrained)
    dof = bins - free
    p_value = float(chi2.sf(q, dof)) if dof > 0 else None
    return {"q": q, "deviance": deviance, "constraints": constraints, "bins": bins,
            "free_parameters": free, "dof": dof, "p_value": p_value}


def _xlogx_over(n: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """``n log(n / nu)``, 0 where n is 0."""
    out = np.zeros_like(n)
    positive = n > 0
    out[positive] = n[positive] * np.log(n[positive] / nu[positive])
    return out


def _saturated_parameters(model: pyhf.pdf.Model, aux: np.ndarray,
                          pars: np.ndarray) -> np.ndarray:
    """``pars`` with each constrained parameter where its constraint peaks.

    For a Gaussian constraint the parameter equals its auxiliary value, for a
    Poisson one its auxiliary count over the factor.
    """
    saturated = np.array(pars, dtype=float)
    offset = 0
    for name in model.config.auxdata_order:
        parset = model.config.param_set(name)
        values = aux[offset:offset + parset.n_parameters]
        offset += parset.n_parameters
        if parset.pdf_type == "poisson":
            values = values / np.asarray(parset.factors, dtype=float)
        elif parset.pdf_type != "normal":
            raise NotImplementedError(
                f"constraint type {parset.pdf_type!r} of '{name}' is not supported "
                "by the goodness-of-fit test (normal and poisson are)"
            )
        saturated[model.config.par_slice(name)] = values
    return saturated


def goodness_of_fit(workspace: Mapping[str, Any],
                    fit: fitting.FitResult) -> dict[str, Any]:
    """Return the saturated-model test of every channel alone and combined.

    The combined test uses the given fit; each channel's test fits that
    channel alone (the other channels pruned from the workspace).

    Args:
        workspace: The pyhf workspace spec.
        fit: The fit of this workspace to its observed data.

    Returns:
        ``{"combined": test, "channels": {name: test}}``, each test as
        :func:`saturated_test` gives it, with ``valid`` (the fit status); the
        combined one also has ``per_channel``: each channel's share of the
        deviance.

    Raises:
        WorkspaceError: If the fit does not belong to the workspace.
    """
    pdf, data = fitting.model_and_data(workspace)
    if list(pdf.config.par_names) != list(fit.labels):
        raise WorkspaceError("the fit result's parameters do not match the "
                             "workspace's; use the fit.json made from it")
    combined = saturated_test(pdf, data, fit.values)
    combined["valid"] = bool(fit.status.get("valid", False))
    combined["per_channel"] = _deviance_by_channel(pdf, data, fit.values)
    _log_test("all channels", combined)

    channels = {}
    for name in pdf.config.channels:
        model, values, result = _fit_one_channel(workspace, name)
        test = saturated_test(model, values, result.values)
        test["valid"] = bool(result.status["valid"])
        _log_test(f"channel {name}", test)
        channels[name] = test
    return {"combined": combined, "channels": channels}


def _deviance_by_channel(model: pyhf.pdf.Model, data: np.ndarray,
                         pars: np.ndarray) -> dict[str, float]:
    """Each channel's part of the Poisson deviance at ``pars``."""
    observed = np.asarray(data[:model.config.nmaindata], dtype=float)
    expected = np.asarray(model.expected_actualdata(pars), dtype=float)
    terms = 2.0 * (expected - observed + _xlogx_over(observed, expected))
    return {name: float(np.sum(terms[model.config.channel_slices[name]]))
            for name in model.config.channels}


def _fit_one_channel(workspace: Mapping[str, Any], channel: str
                     ) -> tuple[pyhf.pdf.Model, np.ndarray, fitting.FitResult]:
    """Fit one channel of a workspace alone."""
    import pyhf

    full = pyhf.Workspace(dict(workspace))
    others = [name for name in full.channels if name != channel]
    single = full.prune(channels=others) if others else full
    poi = full.get_measurement()["config"]["poi"]
    has_poi = any(m["name"] == poi for c in single["channels"]
                  for s in c["samples"] for m in s["modifiers"])
    model = single.model() if has_poi else single.model(poi_name=None)
    data = np.asarray(single.data(model), dtype=float)
    if not has_poi:
        log.info("channel %s has no %s; fitted without a POI", channel, poi)
    result = fitting.fit_model(model, data, refine_hesse=False)
    return model, data, result


def _p_value(p_value: float | None) -> str:
    """A p-value for a table: four decimals, or two digits when small."""
    if p_value is None:
        return "n/a"
    return f"{p_value:.4f}" if p_value >= 1e-3 else f"{p_value:.2g}"


def _log_test(what: str, test: Mapping[str, Any]) -> None:
    p_value = test["p_value"]
    log.info("goodness of fit, %s: q = %.3f (deviance %.3f + constraints %.3f), "
             "%d dof, p-value %s", what, test["q"], test["deviance"],
             test["constraints"], test["dof"],
             "n/a" if p_value is None else f"{p_value:.4f}")


def gof_html(doc: Mapping[str, Any]) -> str:
    """The goodness-of-fit tests as an HTML table."""
    def row(name: str, test: Mapping[str, Any]) -> list[Any]:
        return [name, test["q"], test["deviance"], test["constraints"], test["bins"],
                test["free_parameters"], test["dof"], _p_value(test["p_value"]),
                "yes" if test["valid"] else "NO"]

    rows = [row(f"{name} (fitted alone)", test)
            for name, test in doc["channels"].items()]
    rows.append(row("all channels", doc["combined"]))
    shares = ", ".join(f"{name} {value:.2f}"
                       for name, value in doc["combined"]["per_channel"].items())
    return tables.render_html(
        "Goodness of fit (saturated model)",
        ["fit", "q", "Poisson deviance", "constraints", "bins", "free parameters",
         "dof", "p-value", "fit valid"], rows,
        "q = 2 (NLL of the fit - NLL of the saturated model, which predicts every "
        "bin and every auxiliary measurement exactly); p-value from the "
        "chi-square distribution with dof = bins - free (unconstrained) "
        f"parameters. Deviance of each channel in the combined fit: {shares}.",
    )


# --- helpers for the scripts --------------------------------------------------


def collect_impacts(parts: Sequence[Sequence[Mapping[str, Any]]]
                    ) -> list[dict[str, Any]]:
    """Join the impact entries of the jobs; a parameter twice is an error.

    Raises:
        ValueError: If a parameter appears in two parts.
    """
    seen: set[str] = set()
    out = []
    for part in parts:
        for entry in part:
            if entry["parameter"] in seen:
                raise ValueError(f"impact of '{entry['parameter']}' computed twice; "
                                 "the impact jobs' parameter groups overlap")
            seen.add(entry["parameter"])
            out.append(dict(entry))
    return out

