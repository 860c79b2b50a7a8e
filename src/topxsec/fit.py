"""Maximum-likelihood fit of the workspace, and the model's expected yields.

:func:`fit_workspace` minimizes ``-log L`` of a pyhf workspace with pyhf's numpy
backend and the MINUIT optimizer (iminuit: MIGRAD, then HESSE for the
uncertainties), to the workspace's observed data (the pseudo-data) with the
auxiliary data of the constraints. HESSE is run a second time at the minimum,
from small step sizes: right after MIGRAD it is biased low by up to 7 % for the
nearly degenerate b-tag parameters (see :func:`_hesse_at`). Options fix
parameters, set initial values or fit Asimov data instead, for the impact, scan
and sensitivity studies built on :func:`fit_model`.

:func:`model_yields` gives the per-channel data, sample yields and total with
its uncertainty before or after the fit, in the structure the plots read::

    {"stage": "prefit" | "postfit",
     "channels": {name: {"edges": [...], "observable": str, "data": [...],
                         "samples": {name: [...]}, "total": [...],
                         "total_uncertainty": [...]}}}

Both use pyhf's default interpolation (``code4`` for normsys, ``code4p`` for
histosys), as cabinetry does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from topxsec.errors import WorkspaceError

if TYPE_CHECKING:
    import pyhf

log = logging.getLogger(__name__)

#: Data choices of :func:`fit_workspace` besides an explicit array.
OBSERVED = "observed"
ASIMOV = "asimov"


@dataclass
class FitResult:
    """Best-fit values, HESSE uncertainties and correlations of every parameter.

    Parameters are scalar: a vector parameter such as a staterror is one entry
    per bin, named like pyhf does (``staterror_4j2b SR[3]``).
    """

    labels: list[str]
    values: np.ndarray
    errors: np.ndarray
    covariance: np.ndarray
    correlation: np.ndarray
    #: minimum of -log L (not twice it)
    min_nll: float
    #: ``valid``, ``accurate`` (covariance), ``edm``, ``nfcn``
    status: dict[str, Any]
    poi: str
    #: parameters held constant in the fit
    fixed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.labels = list(self.labels)
        self.values = np.asarray(self.values, dtype=float)
        self.errors = np.asarray(self.errors, dtype=float)
        self.covariance = np.asarray(self.covariance, dtype=float)
        self.correlation = np.asarray(self.correlation, dtype=float)
        n = len(self.labels)
        shapes = (self.values.shape, self.errors.shape, self.covariance.shape,
                  self.correlation.shape)
        if shapes != ((n,), (n,), (n, n), (n, n)):
            raise ValueError(f"fit result with {n} labels has shapes {shapes}")

    @property
    def parameters(self) -> dict[str, dict[str, float]]:
        """Parameter name -> ``{"value", "error"}``, in label order."""
        return {
            name: {"value": float(v), "error": float(e)}
            for name, v, e in zip(self.labels, self.values, self.errors, strict=True)
        }

    def index(self, name: str) -> int:
        """Return the position of a parameter in :attr:`labels`.

        Raises:
            KeyError: If there is no such parameter.
        """
        try:
            return self.labels.index(name)
        except ValueError:
            raise KeyError(f"no parameter {name!r} in the fit result") from None

    def value(self, name: str) -> float:
        """Return the best-fit value of a parameter."""
        return float(self.values[self.index(name)])

    def error(self, name: str) -> float:
        """Return the HESSE uncertainty of a parameter (0 if it was fixed)."""
        return float(self.errors[self.index(name)])

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form of ``results/fit.json`` (see docs/design.md)."""
        return {
            "parameters": self.parameters,
            "labels": list(self.labels),
            "correlation": self.correlation.tolist(),
            "covariance": self.covariance.tolist(),
            "min_nll": float(self.min_nll),
            "status": dict(self.status),
            "poi": self.poi,
            "fixed": list(self.fixed),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FitResult:
        """Inverse of :meth:`to_dict`."""
        labels = list(data["labels"])
        parameters = data["parameters"]
        return cls(
            labels=labels,
            values=[parameters[name]["value"] for name in labels],
            errors=[parameters[name]["error"] for name in labels],
            covariance=data["covariance"],
            correlation=data["correlation"],
            min_nll=float(data["min_nll"]),
            status=dict(data["status"]),
            poi=data["poi"],
            fixed=list(data.get("fixed", [])),
        )


def model_and_data(
    workspace: Mapping[str, Any],
    data: str | Sequence[float] = OBSERVED,
    asimov_values: Mapping[str, float] | None = None,
) -> tuple[pyhf.pdf.Model, np.ndarray]:
    """Return the pyhf model of a workspace and the data to fit.

    Args:
        workspace: A pyhf workspace spec.
        data: ``"observed"`` (the workspace's observations with the auxiliary
            data), ``"asimov"`` (the model's expectation, see
            :func:`asimov_data`) or an explicit array of main + auxiliary data.
        asimov_values: For ``"asimov"``: parameter values that differ from
            the nominal ones.

    Returns:
        The model and the data, main and auxiliary.

    Raises:
        WorkspaceError: If the workspace is not valid, ``data`` is unknown or has
            the wrong length, or ``asimov_values`` come without Asimov data.
    """
    import pyhf

    pyhf.set_backend("numpy")
    try:
        ws = pyhf.Workspace(dict(workspace))
    except pyhf.exceptions.InvalidSpecification as err:
        raise WorkspaceError(f"not a valid pyhf workspace: {err}") from err
    model = ws.model()

    if isinstance(data, str):
        if data == OBSERVED:
            values = np.asarray(ws.data(model), dtype=float)
        elif data == ASIMOV:
            values = asimov_data(model, asimov_values)
        else:
            raise WorkspaceError(
                f"unknown data choice {data!r}: use '{OBSERVED}', '{ASIMOV}' or an "
                "array of main and auxiliary data"
            )
    else:
        values = np.asarray(data, dtype=float)
    if asimov_values and not (isinstance(data, str) and data == ASIMOV):
        raise WorkspaceError(
            f"asimov_values given for data {data!r}; they apply to data='asimov' only"
        )
    expected = model.config.nmaindata + model.config.nauxdata
    if values.shape != (expected,):
        raise WorkspaceError(
            f"data has shape {values.shape}; the model needs {expected} values "
            f"({model.config.nmaindata} main + {model.config.nauxdata} auxiliary)"
        )
    return model, values


def asimov_data(
    model: pyhf.pdf.Model, values: Mapping[str, float] | None = None
) -> np.ndarray:
    """Return the expected main and auxiliary data at given parameter values.

    Args:
        model: The pyhf model.
        values: Scalar parameter name -> value; the others stay at the
            nominal values (the POI at its initial value).

    Returns:
        Main data followed by auxiliary data.

    Raises:
        WorkspaceError: If a name is not a parameter of the model.
    """
    pars = np.asarray(model.config.suggested_init(), dtype=float)
    for name, value in (values or {}).items():
        pars[_parameter_index(model, name)] = value
    return np.asarray(model.expected_data(pars), dtype=float)


def fit_workspace(
    workspace: Mapping[str, Any],
    *,
    data: str | Sequence[float] = OBSERVED,
    asimov_values: Mapping[str, float] | None = None,
    init: Mapping[str, float] | None = None,
    fixed: Mapping[str, float] | None = None,
    strategy: int | None = None,
    tolerance: float | None = None,
    maxiter: int | None = None,
    refine_hesse: bool = True,
) -> FitResult:
    """Fit a workspace by maximum likelihood; uncertainties from HESSE.

    Args:
        workspace: A pyhf workspace spec (its measurement gives the POI).
        data: What to fit, as in :func:`model_and_data`; by default the
            observed (pseudo-)data.
        asimov_values: Parameter values of the Asimov data, if ``data`` is
            ``"asimov"``.
        init: Scalar parameter name -> initial value.
        fixed: Scalar parameter name -> value it is held at. Parameters pyhf
            suggests fixing (a staterror of a bin without simulated events) are
            fixed too.
        strategy: MINUIT strategy (0, 1, 2); default pyhf's (1 without
            gradients).
        tolerance: MIGRAD tolerance; default pyhf's (0.1).
        maxiter: Most function calls of MIGRAD; default pyhf's (100000).
        refine_hesse: Run HESSE again at the minimum from small step sizes
            (more accurate here, see :func:`fit_model`); False keeps pyhf's
            HESSE right after MIGRAD, as cabinetry does.

    Returns:
        The fit result. A fit MINUIT does not call valid is returned with
        ``status["valid"]`` false and a warning in the log.

    Raises:
        WorkspaceError: If the workspace is not valid or a name in ``init`` /
            ``fixed`` / ``asimov_values`` is not a parameter of the model.
    """
    model, values = model_and_data(workspace, data, asimov_values)
    result = fit_model(model, values, init=init, fixed=fixed, strategy=strategy,
                       tolerance=tolerance, maxiter=maxiter,
                       refine_hesse=refine_hesse)

    poi = result.poi
    if poi:
        log.info("%s = %.4f +- %.4f", poi, result.value(poi), result.error(poi))
    return result


def fit_model(
    model: pyhf.pdf.Model,
    data: Sequence[float] | np.ndarray,
    *,
    init: Mapping[str, float] | None = None,
    fixed: Mapping[str, float] | None = None,
    strategy: int | None = None,
    tolerance: float | None = None,
    maxiter: int | None = None,
    refine_hesse: bool = True,
) -> FitResult:
    """Fit a pyhf model to data (main + auxiliary); see :func:`fit_workspace`.

    Args:
        model: The pyhf model.
        data: Main and auxiliary data.
        init: Scalar parameter name -> initial value.
        fixed: Scalar parameter name -> value it is held at.
        strategy: MINUIT strategy; default pyhf's.
        tolerance: MIGRAD tolerance; default pyhf's.
        maxiter: Most function calls of MIGRAD; default pyhf's.
        refine_hesse: Run HESSE again at the minimum from small step sizes
            (see :func:`_hesse_at`); False keeps the HESSE pyhf runs right
            after MIGRAD, as cabinetry does.

    Returns:
        The fit result.

    Raises:
        WorkspaceError: If a name in ``init`` or ``fixed`` is not a parameter.
    """
    import pyhf

    init_pars = np.asarray(model.config.suggested_init(), dtype=float)
    fixed_mask = list(model.config.suggested_fixed())
    for name, value in (init or {}).items():
        init_pars[_parameter_index(model, name)] = value
    for name, value in (fixed or {}).items():
        index = _parameter_index(model, name)
        init_pars[index] = value
        fixed_mask[index] = True

    options: dict[str, Any] = {"verbose": 0}
    if strategy is not None:
        options["strategy"] = strategy
    if tolerance is not None:
        options["tolerance"] = tolerance
    if maxiter is not None:
        options["maxiter"] = maxiter
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(**options))

    data = np.asarray(data, dtype=float)
    try:
        _, scipy_result = pyhf.infer.mle.fit(
            data, model, init_pars=init_pars.tolist(),
            par_bounds=model.config.suggested_bounds(), fixed_params=fixed_mask,
            return_result_obj=True,
        )
        migrad = scipy_result.minuit
    except pyhf.exceptions.FailedMinimization as err:
        migrad = err.result.minuit
        log.warning("MINUIT did not converge (%s); HESSE errors may be wrong", err)
        migrad.hesse()

    hesse = _hesse_at(migrad, model, data) if refine_hesse else migrad
    return _fit_result(migrad, hesse, model, fixed_mask)


#: Initial HESSE step sizes, as a fraction of the MIGRAD errors.
HESSE_STEP_FRACTION = 0.1


def _hesse_at(migrad: Any, model: pyhf.pdf.Model, data: np.ndarray) -> Any:
    """Run MINUIT's HESSE afresh at MIGRAD's minimum, from small step sizes.

    HESSE refines its numerical second derivatives starting from the current
    step sizes. After MIGRAD these are the parameter errors, and for parameters
    that are individually well constrained but nearly degenerate with others
    (the b-tag NPs with each other and with ttbar_norm: marginal error 0.5,
    conditional error 0.03) they are far too large: on the reference histograms
    HESSE then comes out up to 7 % low against a converged finite-difference
    Hessian, and changes by a few per cent with the last bits of the data.
    Starting from a tenth of the errors agrees with the finite differences to
    about 2 % and is stable.
    """
    import iminuit
    import pyhf

    def twice_nll(pars: np.ndarray) -> float:
        return float(np.squeeze(pyhf.infer.mle.twice_nll(pars, data, model)))

    hesse = iminuit.Minuit(twice_nll, np.asarray(migrad.values),
                           name=list(model.config.par_names))
    hesse.errordef = migrad.errordef
    hesse.limits = migrad.limits
    hesse.fixed = migrad.fixed
    hesse.strategy = migrad.strategy.strategy
    hesse.print_level = 0
    steps = HESSE_STEP_FRACTION * np.asarray(migrad.errors, dtype=float)
    hesse.errors = np.maximum(steps, 1e-6)
    hesse.hesse()
    return hesse


def _fit_result(
    migrad: Any, hesse: Any, model: pyhf.pdf.Model, fixed_mask: Sequence[bool]
) -> FitResult:
    """Build a FitResult from MIGRAD's minimum and HESSE's covariance."""
    labels = list(model.config.par_names)
    fixed = np.asarray(fixed_mask, dtype=bool)
    errors = np.where(fixed, 0.0, np.asarray(hesse.errors, dtype=float))
    covariance = np.asarray(hesse.covariance, dtype=float)
    covariance[fixed, :] = 0.0
    covariance[:, fixed] = 0.0

    status = {
        "valid": bool(migrad.fmin.is_valid and hesse.fmin.is_valid),
        "accurate": bool(hesse.fmin.has_accurate_covar),
        "edm": float(migrad.fmin.edm),
        "nfcn": int(migrad.nfcn + (hesse.nfcn if hesse is not migrad else 0)),
    }
    if not status["valid"]:
        log.warning("fit is not valid: %s", status)
    return FitResult(
        labels=labels,
        values=np.asarray(migrad.values, dtype=float),
        errors=errors,
        covariance=covariance,
        correlation=correlation_from_covariance(covariance),
        # pyhf minimizes twice the negative log-likelihood
        min_nll=float(migrad.fval) / 2.0,
        status=status,
        poi=model.config.poi_name or "",
        fixed=[name for name, f in zip(labels, fixed, strict=True) if f],
    )


def correlation_from_covariance(covariance: np.ndarray) -> np.ndarray:
    """Return the correlation matrix; a parameter without variance gets 1 on the
    diagonal and 0 elsewhere."""
    covariance = np.asarray(covariance, dtype=float)
    sigma = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    scale = np.where(sigma > 0, sigma, 1.0)
    correlation = covariance / np.outer(scale, scale)
    correlation[sigma == 0, :] = 0.0
    correlation[:, sigma == 0] = 0.0
    np.fill_diagonal(correlation, 1.0)
    return correlation


def _parameter_index(model: pyhf.pdf.Model, name: str) -> int:
    labels = list(model.config.par_names)
    if name not in labels:
        raise WorkspaceError(
            f"'{name}' is not a parameter of the model; parameters are "
            f"{', '.join(labels)}"
        )
    return labels.index(name)


# --- expected yields --------------------------------------------------------


def model_yields(
    workspace: Mapping[str, Any],
    fit_result: FitResult | None = None,
    *,
    model: Mapping[str, Any],
) -> dict[str, Any]:
    """Return the per-channel data, sample yields and total with uncertainty.

    Pre-fit (no ``fit_result``): parameters at their nominal values, each
    constrained parameter varied by its pre-fit width, uncorrelated; the free
    POI contributes no pre-fit uncertainty. Post-fit: best-fit values, the
    parameters varied by their fit uncertainties and combined with the fit's
    correlations. The yield change of a parameter is half the difference of
    its +1 and -1 sigma variations; the variance of the total is
    ``d^T rho d``.

    Args:
        workspace: The pyhf workspace spec.
        fit_result: The fit of this workspace, or None for pre-fit yields.
        model: The model file contents (from
            :func:`topxsec.workspace.load_model`): the bin edges and
            observable labels, which a pyhf workspace does not keep.

    Returns:
        The structure given in the module docstring; samples in the order of
        the workspace's channel.

    Raises:
        WorkspaceError: If the workspace is not valid, a channel is not in the
            model file, or the fit result does not belong to the workspace.
    """
    pdf, _ = model_and_data(workspace)
    labels = list(pdf.config.par_names)
    if fit_result is None:
        stage = "prefit"
        pars = np.asarray(pdf.config.suggested_init(), dtype=float)
        sigmas = prefit_widths(pdf)
        correlation = np.eye(len(labels))
    else:
        stage = "postfit"
        if list(fit_result.labels) != labels:
            raise WorkspaceError(
                "the fit result's parameters do not match the workspace's; fit "
                "this workspace again"
            )
        pars, sigmas = fit_result.values, fit_result.errors
        correlation = fit_result.correlation

    nominal = _yields_by_sample(pdf, pars)
    deltas = np.zeros((len(labels),) + nominal.shape[1:])
    for i, sigma in enumerate(sigmas):
        if sigma > 0:
            step = np.zeros(len(labels))
            step[i] = sigma
            up = _yields_by_sample(pdf, pars + step).sum(axis=0)
            down = _yields_by_sample(pdf, pars - step).sum(axis=0)
            deltas[i] = (up - down) / 2.0
    variance = np.einsum("ib,ij,jb->b", deltas, correlation, deltas)

    channels = {}
    for channel, observation in _channels_and_data(workspace):
        name = channel["name"]
        bins = pdf.config.channel_slices[name]
        samples = {
            s["name"]: nominal[pdf.config.samples.index(s["name"]), bins].tolist()
            for s in channel["samples"]
        }
        entry = _channel_labels(model, name)
        if len(entry["edges"]) != pdf.config.channel_nbins[name] + 1:
            raise WorkspaceError(
                f"model file has {len(entry['edges']) - 1} bins, workspace channel "
                f"'{name}' {pdf.config.channel_nbins[name]}; use the model file the "
                "workspace was built from"
            )
        entry.update({
            "data": list(map(float, observation["data"])),
            "samples": samples,
            "total": nominal[:, bins].sum(axis=0).tolist(),
            "total_uncertainty": np.sqrt(np.maximum(variance[bins], 0.0)).tolist(),
        })
        channels[name] = entry
    return {"stage": stage, "channels": channels}


def _yields_by_sample(pdf: pyhf.pdf.Model, pars: np.ndarray) -> np.ndarray:
    """Expected main-data yields, shape (samples in model order, all bins)."""
    return np.asarray(
        pdf.main_model.expected_data(np.asarray(pars), return_by_sample=True),
        dtype=float,
    )


def prefit_widths(pdf: pyhf.pdf.Model) -> np.ndarray:
    """Return the pre-fit widths of the scalar parameters, in label order.

    A normsys / histosys parameter has width 1, a staterror gamma its bin's
    relative MC uncertainty; free parameters (the POI) and fixed ones get 0.
    """
    widths = np.zeros(len(pdf.config.par_names))
    for name in pdf.config.parameters:
        parset = pdf.config.param_set(name)
        if parset.constrained:
            widths[pdf.config.par_slice(name)] = parset.width()
    widths[np.asarray(pdf.config.suggested_fixed(), dtype=bool)] = 0.0
    return widths


def _channels_and_data(
    workspace: Mapping[str, Any],
) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    observations = {o["name"]: o for o in workspace["observations"]}
    return [(c, observations[c["name"]]) for c in workspace["channels"]]


def _channel_labels(model: Mapping[str, Any], name: str) -> dict[str, Any]:
    for channel in model["channels"]:
        if channel["name"] == name:
            return {
                "edges": [float(e) for e in model["rebinning"]["edges"]],
                "observable": channel["observable"],
            }
    raise WorkspaceError(
        f"workspace channel '{name}' is not in the model file's channels; use the "
        "model file the workspace was built from"
    )
