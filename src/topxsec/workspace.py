"""The HistFactory model: model file + histograms -> pyhf workspace.

The model file (``config/model.yaml``) describes the channels, samples, the
parameter of interest and the systematics as data; :func:`load_model` reads and
checks it. :func:`build_workspace` fills it with the merged histograms (named as
in :func:`topxsec.spec.histogram_name`) and returns a pyhf workspace spec:

- every histogram is rebinned to ``rebinning.edges`` (flow bins dropped);
- a ``norm_plus_shape`` systematic becomes a ``normsys`` with the yield ratios
  and a ``histosys`` with the up / down templates rescaled to the nominal yield,
  both on one parameter; a one-sided one is symmetrized after that split
  (``lo = 2 - hi`` and ``down template = 2 x nominal - up template``), so both
  shape templates keep the nominal yield;
- a ``normalization`` systematic (the luminosity) becomes a ``normsys``;
- the MC statistical uncertainty is a ``staterror`` per channel
  (``staterror_{channel}``) with ``sqrt(sumw2)`` of each sample.

Templates that would break the fit are handled as an analyst would, each with
a log line that names the sample, channel and what was done:

- a sample whose nominal histogram is missing (the merge writes only
  histograms that received events) or has no positive yield in the fit range
  is dropped from that channel;
- negative bins of a nominal template, and of the shape templates after the
  split (a symmetrized ``2 x nominal - up`` goes negative where ``up`` is more
  than twice the nominal), are floored at zero;
- a bin in which no sample has simulated events but the data has entries gets
  :data:`YIELD_FLOOR` events in every sample, so that the likelihood stays
  finite (the staterror of such a bin has no width, and the fit fixes it);
- a variation histogram that is missing or that cannot be split (zero or
  negative yield) drops that systematic for that sample in that channel;
- a systematic whose variations equal the nominal (to :data:`EQUAL_RTOL`) is
  pruned for that sample in that channel; one pruned everywhere is no
  parameter of the workspace.

A missing data histogram, a channel left without samples and a parameter of
interest that acts on no remaining sample are errors.

Each systematic may name a ``group`` in the model file (default: its own
name); the uncertainty breakdown of :mod:`topxsec.inference` freezes groups.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from topxsec import spec
from topxsec.errors import ConfigError, WorkspaceError
from topxsec.hists import Histogram

log = logging.getLogger(__name__)

NORMALIZATION = "normalization"
NORM_PLUS_SHAPE = "norm_plus_shape"
SYSTEMATIC_TYPES = (NORMALIZATION, NORM_PLUS_SHAPE)

#: Relative tolerance when matching rebinning edges to histogram edges.
EDGE_RTOL = 1e-9
#: Relative tolerance under which a variation counts as equal to the nominal.
EQUAL_RTOL = 1e-9
#: Events given to every sample in a bin that has data but no simulated events.
YIELD_FLOOR = 1e-6

#: Processes whose ``{region}_{process}`` histograms may be the observed data.
DATA_PROCESSES: tuple[str, ...] = (spec.PSEUDODATA, *spec.PROCESSES)

_TOP_KEYS = {
    "measurement": True, "poi": True, "rebinning": True, "data": True,
    "channels": True, "samples": True, "mc_stat": False, "systematics": False,
}


def staterror_name(channel: str) -> str:
    """Return the name of a channel's staterror modifier, ``staterror_{channel}``."""
    return f"staterror_{channel}"


# --- the model file ---------------------------------------------------------


def load_model(path: str | Path) -> dict[str, Any]:
    """Read and check a model file.

    Args:
        path: The YAML model file, e.g. ``config/model.yaml``.

    Returns:
        The checked model with defaults filled in: ``"all"`` expanded to the
        list of sample or channel names, ``symmetrize`` and ``mc_stat`` set.

    Raises:
        ConfigError: If the file is missing, is not YAML or has a bad value (a
            process, region or variation the analysis does not write
            histograms for included); the key is ``"<path>: <key path>"``,
            e.g. ``model.yaml: systematics[3].up``.
    """
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ConfigError(str(path), f"cannot read the model file ({err})") from err
    except yaml.YAMLError as err:
        raise ConfigError(str(path), f"not valid YAML ({err})") from err

    model = validate_model(raw, source=str(path))
    log.info(
        "model %s: %d channels, %d samples, %d systematics",
        path, len(model["channels"]), len(model["samples"]),
        len(model["systematics"]),
    )
    return model


def validate_model(raw: Any, source: str = "model") -> dict[str, Any]:
    """Check a model given as a mapping (the parsed model file).

    Checking an already checked model returns an equal model.

    Args:
        raw: The parsed model file.
        source: Name of the file (or other origin) for error messages.

    Returns:
        A new, checked model with defaults filled in (see :func:`load_model`).

    Raises:
        ConfigError: If a value is bad; the key names its path in the model.
            Processes (``samples[i].process``, ``data``), regions
            (``channels[i].region``) and histogram variations (``up``,
            ``down``) must be names of :mod:`topxsec.spec`, so that a typo
            fails here and does not drop a sample or a systematic.
    """
    check = _Checker(source)
    top = check.mapping(raw, "", _TOP_KEYS)
    model: dict[str, Any] = {
        "measurement": check.string(top["measurement"], "measurement"),
        "data": check.known(top["data"], "data", DATA_PROCESSES, "data process"),
        "rebinning": _check_rebinning(check, top["rebinning"]),
    }
    model["channels"] = _check_channels(check, top["channels"])
    channel_names = [c["name"] for c in model["channels"]]
    model["samples"] = _check_samples(check, top["samples"], channel_names)
    sample_names = [s["name"] for s in model["samples"]]
    model["poi"] = _check_poi(check, top["poi"], sample_names)

    mc_stat = check.mapping(top.get("mc_stat", {}), "mc_stat", {"enabled": False})
    model["mc_stat"] = {
        "enabled": check.boolean(mc_stat.get("enabled", True), "mc_stat.enabled")
    }

    model["systematics"] = _check_systematics(
        check, top.get("systematics", []), model["samples"], model["poi"]["name"]
    )
    return model


class _Checker:
    """Type checks that raise ConfigError with the key path in the model."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str) -> NoReturn:
        raise ConfigError(f"{self.source}: {key or '<top level>'}", message)

    def mapping(self, value: Any, key: str, keys: Mapping[str, bool]) -> dict:
        """Check a mapping whose keys are ``keys`` (name -> required)."""
        if not isinstance(value, Mapping):
            self.fail(key, f"must be a mapping, got {value!r}")
        for name in value:
            if name not in keys:
                allowed = ", ".join(sorted(keys))
                self.fail(_join(key, name), f"unknown key; allowed: {allowed}")
        for name, required in keys.items():
            if required and name not in value:
                self.fail(_join(key, name), "required key is missing")
        return dict(value)

    def sequence(self, value: Any, key: str, min_items: int = 0) -> list:
        if not isinstance(value, Sequence) or isinstance(value, str):
            self.fail(key, f"must be a list, got {value!r}")
        if len(value) < min_items:
            self.fail(key, f"needs at least {min_items} entries, got {len(value)}")
        return list(value)

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"must be a number, got {value!r}")
        if not np.isfinite(value):
            self.fail(key, f"must be finite, got {value!r}")
        return float(value)

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {value!r}")
        return value

    def known(self, value: Any, key: str, allowed: Sequence[str], what: str) -> str:
        """Check a string that must be one of ``allowed`` (a name of the analysis)."""
        name = self.string(value, key)
        if name not in allowed:
            self.fail(key, f"unknown {what} {name!r}; allowed: {', '.join(allowed)}")
        return name

    def names(self, value: Any, key: str, known: list[str], what: str) -> list[str]:
        """Check ``"all"`` or a non-empty list of known names; return the list."""
        if value == "all":
            return list(known)
        items = self.sequence(value, key, min_items=1)
        for i, name in enumerate(items):
            if name not in known:
                self.fail(
                    f"{key}[{i}]",
                    f"unknown {what} {name!r}; known: {', '.join(known)} (or 'all')",
                )
        if len(set(items)) != len(items):
            self.fail(key, f"lists a {what} twice: {items}")
        return list(items)

    def unique_name(self, value: Any, key: str, seen: set[str]) -> str:
        name = self.string(value, key)
        if name in seen:
            self.fail(key, f"name {name!r} is used twice")
        seen.add(name)
        return name


def _join(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def _check_rebinning(check: _Checker, raw: Any) -> dict[str, Any]:
    rebinning = check.mapping(raw, "rebinning", {"edges": True})
    items = check.sequence(rebinning["edges"], "rebinning.edges", min_items=2)
    edges = [check.number(e, f"rebinning.edges[{i}]") for i, e in enumerate(items)]
    for i in range(1, len(edges)):
        if edges[i] <= edges[i - 1]:
            check.fail(f"rebinning.edges[{i}]", f"edges must increase: {edges}")
    return {"edges": edges}


def _check_channels(check: _Checker, raw: Any) -> list[dict[str, Any]]:
    keys = {"name": True, "region": True, "observable": True}
    seen: set[str] = set()
    channels = []
    for i, item in enumerate(check.sequence(raw, "channels", min_items=1)):
        key = f"channels[{i}]"
        entry = check.mapping(item, key, keys)
        channels.append({
            "name": check.unique_name(entry["name"], f"{key}.name", seen),
            "region": check.known(entry["region"], f"{key}.region", spec.REGIONS,
                                  "region"),
            "observable": check.string(entry["observable"], f"{key}.observable"),
        })
    return channels


def _check_samples(
    check: _Checker, raw: Any, channel_names: list[str]
) -> list[dict[str, Any]]:
    keys = {"name": True, "process": True, "channels": False}
    seen: set[str] = set()
    samples = []
    for i, item in enumerate(check.sequence(raw, "samples", min_items=1)):
        key = f"samples[{i}]"
        entry = check.mapping(item, key, keys)
        samples.append({
            "name": check.unique_name(entry["name"], f"{key}.name", seen),
            "process": check.known(entry["process"], f"{key}.process",
                                   spec.PROCESSES, "process"),
            "channels": check.names(
                entry.get("channels", "all"), f"{key}.channels", channel_names,
                "channel",
            ),
        })
    return samples


def _check_poi(check: _Checker, raw: Any, sample_names: list[str]) -> dict[str, Any]:
    keys = {"name": True, "nominal": True, "bounds": True, "samples": True}
    poi = check.mapping(raw, "poi", keys)
    nominal = check.number(poi["nominal"], "poi.nominal")
    items = check.sequence(poi["bounds"], "poi.bounds", min_items=2)
    if len(items) != 2:
        check.fail("poi.bounds", f"must be [low, high], got {items!r}")
    low, high = (check.number(b, f"poi.bounds[{i}]") for i, b in enumerate(items))
    if not low <= nominal <= high or low == high:
        check.fail("poi.bounds", f"need low < high and nominal {nominal} inside, "
                   f"got [{low}, {high}]")
    return {
        "name": check.string(poi["name"], "poi.name"),
        "nominal": nominal,
        "bounds": [low, high],
        "samples": check.names(poi["samples"], "poi.samples", sample_names, "sample"),
    }


def _check_systematics(
    check: _Checker, raw: Any, samples: list[dict[str, Any]], poi_name: str
) -> list[dict[str, Any]]:
    sample_names = [s["name"] for s in samples]
    processes = {s["name"]: s["process"] for s in samples}
    seen = {poi_name}
    systematics = []
    for i, item in enumerate(check.sequence(raw, "systematics")):
        key = f"systematics[{i}]"
        if not isinstance(item, Mapping):
            check.fail(key, f"must be a mapping, got {item!r}")
        kind = item.get("type")
        if kind not in SYSTEMATIC_TYPES:
            check.fail(f"{key}.type", f"must be one of {', '.join(SYSTEMATIC_TYPES)}, "
                       f"got {kind!r}")
        keys = {"name": True, "type": True, "samples": True, "up": True,
                "down": kind == NORMALIZATION, "group": False}
        if kind == NORM_PLUS_SHAPE:
            keys["symmetrize"] = False
        entry = check.mapping(item, key, keys)

        name = check.unique_name(entry["name"], f"{key}.name", seen)
        systematic: dict[str, Any] = {
            "name": name,
            "type": kind,
            "samples": check.names(
                entry["samples"], f"{key}.samples", sample_names, "sample"
            ),
            "group": check.string(entry.get("group", name), f"{key}.group"),
        }
        if kind == NORMALIZATION:
            for direction in ("up", "down"):
                change = check.number(entry[direction], f"{key}.{direction}")
                if change <= -1.0:
                    check.fail(f"{key}.{direction}", f"relative change {change} "
                               "would make the yield zero or negative")
                systematic[direction] = change
        else:
            symmetrize = check.boolean(
                entry.get("symmetrize", False), f"{key}.symmetrize"
            )
            acted_on = [processes[name] for name in systematic["samples"]]
            systematic["up"] = _check_variation(check, entry["up"], f"{key}.up",
                                                acted_on)
            if symmetrize and entry.get("down") is not None:
                check.fail(f"{key}.down", "give either down or symmetrize: true")
            if not symmetrize:
                if "down" not in entry:
                    check.fail(f"{key}.down", "required unless symmetrize: true")
                systematic["down"] = _check_variation(
                    check, entry["down"], f"{key}.down", acted_on
                )
            else:
                systematic["down"] = None
            systematic["symmetrize"] = symmetrize
        systematics.append(systematic)
    return systematics


def _variations_of(process: str) -> tuple[str, ...]:
    """Return the histogram variations the analysis writes for a process.

    These are the systematic variations filled from its ``nominal`` file set
    (:func:`topxsec.spec.histogram_variations`) and its alternative file sets
    (e.g. ``ME_var`` for ttbar); ``nominal`` itself is no variation.
    """
    filled = spec.histogram_variations(process, "nominal")
    alternatives = spec.FILE_SETS[process]
    return tuple(v for v in filled + alternatives if v != "nominal")


def _check_variation(check: _Checker, value: Any, key: str,
                     processes: Sequence[str]) -> str:
    """Check a histogram variation that every process in ``processes`` has."""
    name = check.string(value, key)
    if name == "nominal":
        check.fail(key, "'nominal' is no variation; name the varied histograms")
    for process in dict.fromkeys(processes):
        allowed = _variations_of(process)
        if name not in allowed:
            known = sorted({v for p in spec.PROCESSES for v in _variations_of(p)})
            if name in known:
                check.fail(key, f"variation {name!r} does not exist for process "
                           f"{process!r} (one of the systematic's samples); "
                           f"{process} has: {', '.join(allowed)}; list only "
                           "samples that have it")
            check.fail(key, f"unknown variation {name!r}; allowed: "
                       f"{', '.join(known)}")
    return name


# --- building blocks --------------------------------------------------------


def rebin(
    hist: Histogram, edges: Sequence[float], name: str = "histogram"
) -> Histogram:
    """Merge the bins of a histogram into wider bins.

    Everything below the first new edge (the old underflow included) goes to the
    new underflow, everything from the last new edge up to the new overflow.

    Args:
        hist: The histogram (flow bins included).
        edges: New bin edges; each must be one of ``hist.edges``.
        name: The histogram's name, for the error message.

    Returns:
        The rebinned histogram; its ``values`` are the new regular bins.

    Raises:
        WorkspaceError: If a new edge is not an edge of the histogram.
    """
    positions = []
    for edge in edges:
        match = np.flatnonzero(np.isclose(hist.edges, edge, rtol=EDGE_RTOL, atol=0))
        if match.size == 0:
            raise WorkspaceError(
                f"histogram '{name}': rebinning edge {edge} is not one of its bin "
                f"edges {hist.edges.tolist()}; fix rebinning.edges in the model file"
            )
        positions.append(int(match[0]))

    # sumw[k + 1] is regular bin k = [edges[k], edges[k + 1]), sumw[0] underflow
    starts = [0] + [p + 1 for p in positions]
    return Histogram(
        hist.edges[positions],
        np.add.reduceat(hist.sumw, starts),
        np.add.reduceat(hist.sumw2, starts),
    )


def symmetrize(nominal: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Return the mirrored down variation ``2 x nominal - up``."""
    return 2.0 * np.asarray(nominal, dtype=float) - np.asarray(up, dtype=float)


def split_norm_shape(
    nominal: np.ndarray, up: np.ndarray, down: np.ndarray | None
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Split up / down templates into a normalization and a shape effect.

    Args:
        nominal: Nominal bin contents.
        up: Up-variation bin contents.
        down: Down-variation bin contents, or None to symmetrize: then the
            yield ratio is mirrored (``lo = 2 - hi``) and so is the shape
            template (``2 x nominal - up template``).

    Returns:
        The ``normsys`` data ``{"hi", "lo"}`` (yield ratios to nominal) and the
        ``histosys`` data ``{"hi_data", "lo_data"}`` (templates rescaled to the
        nominal yield).

    Raises:
        WorkspaceError: If the nominal yield or a yield ratio is not positive,
            so that no normalization modifier can describe it.
    """
    nominal = np.asarray(nominal, dtype=float)
    up = np.asarray(up, dtype=float)
    nominal_yield = float(nominal.sum())
    if not nominal_yield > 0:
        raise WorkspaceError(f"nominal yield {nominal_yield:g} is not positive")

    hi = float(up.sum()) / nominal_yield
    lo = 2.0 - hi if down is None else float(np.sum(down)) / nominal_yield
    if not (hi > 0 and lo > 0):
        raise WorkspaceError(
            f"yield ratios hi = {hi:g}, lo = {lo:g} to nominal are not both positive"
        )

    shape_up = up / hi
    if down is None:
        shape_down = symmetrize(nominal, shape_up)
    else:
        shape_down = np.asarray(down, dtype=float) / lo
    return (
        {"hi": hi, "lo": lo},
        {"hi_data": shape_up.tolist(), "lo_data": shape_down.tolist()},
    )


# --- the workspace ----------------------------------------------------------


@dataclass
class _Tally:
    """What the builder left out or changed, for its summary log line."""

    skipped: int = 0
    pruned: int = 0
    dropped: int = 0
    floored: int = 0


def build_workspace(
    histograms: Mapping[str, Histogram], model: Mapping[str, Any]
) -> dict[str, Any]:
    """Build the pyhf workspace of a model from the merged histograms.

    Args:
        histograms: Histogram name -> histogram, as
            :func:`topxsec.merge.read_histograms` returns them.
        model: The model, from :func:`load_model` (or a mapping
            :func:`validate_model` accepts).

    Returns:
        A pyhf workspace spec (valid against pyhf's schema), with one
        measurement whose POI is ``model["poi"]["name"]``. Unusable templates
        are dropped, pruned or floored as the module docstring says.

    Raises:
        WorkspaceError: If a data histogram the model needs is missing, a
            channel is left without samples, the POI acts on no remaining
            sample, or a histogram does not have the rebinning edges.
        ConfigError: If ``model`` is not a valid model.
    """
    model = validate_model(copy.deepcopy(dict(model)), source="model")
    edges = model["rebinning"]["edges"]

    tally = _Tally()
    channels = []
    observations = []
    for channel in model["channels"]:
        data_name = spec.histogram_name(channel["region"], model["data"], "nominal")
        data = _rebinned(histograms, data_name, edges, "data").values

        listed = [s for s in model["samples"] if channel["name"] in s["channels"]]
        samples = []
        for sample in listed:
            entry = _sample_entry(histograms, model, channel, sample, tally)
            if entry is not None:
                samples.append(entry)
        if not samples:
            names = ", ".join(s["name"] for s in listed) or "none"
            raise WorkspaceError(
                f"channel '{channel['name']}' has no sample with simulated events "
                f"(samples listed: {names}); list a sample with events in this "
                "channel in the model file, or process more files"
            )
        _floor_empty_bins(samples, data, channel["name"], edges, tally)
        channels.append({"name": channel["name"], "samples": samples})
        observations.append({"name": channel["name"], "data": data.tolist()})

    _check_poi_acts(channels, model["poi"])
    _log_unused_systematics(channels, model["systematics"])
    poi = model["poi"]
    workspace = {
        "channels": channels,
        "observations": observations,
        "measurements": [{
            "name": model["measurement"],
            "config": {
                "poi": poi["name"],
                "parameters": [{
                    "name": poi["name"],
                    "inits": [poi["nominal"]],
                    "bounds": [list(poi["bounds"])],
                }],
            },
        }],
        "version": "1.0.0",
    }
    _check_schema(workspace)

    log.info(
        "workspace: %d channels x %d bins, %d samples, %d systematics "
        "(%d sample/channel modifiers skipped, %d pruned, %d samples dropped "
        "from a channel, %d template bins floored)",
        len(channels), len(edges) - 1, len(model["samples"]),
        len(model["systematics"]), tally.skipped, tally.pruned, tally.dropped,
        tally.floored,
    )
    return workspace


def _rebinned(
    histograms: Mapping[str, Histogram], name: str, edges: list[float], role: str
) -> Histogram:
    """Return a needed histogram rebinned, or raise naming it."""
    if name not in histograms:
        raise WorkspaceError(
            f"{role} histogram '{name}' is missing from the histograms; the merge "
            "writes only histograms that received events: process more files, or "
            "remove the sample from this channel in the model file"
        )
    return rebin(histograms[name], edges, name)


def _sample_entry(
    histograms: Mapping[str, Histogram],
    model: Mapping[str, Any],
    channel: Mapping[str, Any],
    sample: Mapping[str, Any],
    tally: _Tally,
) -> dict[str, Any] | None:
    """Return one sample of a channel with its modifiers, or None (logged)."""
    edges = model["rebinning"]["edges"]
    region, process = channel["region"], sample["process"]
    where = f"sample '{sample['name']}' in channel '{channel['name']}'"
    nominal_name = spec.histogram_name(region, process, "nominal")
    if nominal_name not in histograms:
        log.warning("%s dropped: histogram %s is missing (no simulated events of "
                    "%s in %s)", where, nominal_name, process, region)
        tally.dropped += 1
        return None

    nominal = rebin(histograms[nominal_name], edges, nominal_name)
    values = _floor_negative(nominal.values, f"{where}: nominal {nominal_name}",
                             edges, tally)
    if not values.sum() > 0:
        log.warning("%s dropped: %s has no events from %g to %g GeV (the fit "
                    "range)", where, nominal_name, edges[0], edges[-1])
        tally.dropped += 1
        return None

    modifiers: list[dict[str, Any]] = []
    if model["mc_stat"]["enabled"]:
        modifiers.append({
            "name": staterror_name(channel["name"]),
            "type": "staterror",
            "data": np.sqrt(np.maximum(nominal.variances, 0.0)).tolist(),
        })
    if sample["name"] in model["poi"]["samples"]:
        modifiers.append({"name": model["poi"]["name"], "type": "normfactor",
                          "data": None})

    for systematic in model["systematics"]:
        if sample["name"] not in systematic["samples"]:
            continue
        if systematic["type"] == NORMALIZATION:
            modifiers.extend(_normalization(systematic, where, tally))
            continue
        shape = _norm_plus_shape(histograms, edges, region, process, values,
                                 systematic, tally)
        modifiers.extend(shape)

    return {"name": sample["name"], "data": values.tolist(), "modifiers": modifiers}


def _normalization(
    systematic: Mapping[str, Any], where: str, tally: _Tally
) -> list[dict[str, Any]]:
    """Return the normsys of a normalization systematic (none if it is zero)."""
    if systematic["up"] == 0.0 and systematic["down"] == 0.0:
        log.info("systematic '%s' pruned for %s: its up and down changes are zero",
                 systematic["name"], where)
        tally.pruned += 1
        return []
    return [{
        "name": systematic["name"], "type": "normsys",
        "data": {"hi": 1.0 + systematic["up"], "lo": 1.0 + systematic["down"]},
    }]


def _norm_plus_shape(
    histograms: Mapping[str, Histogram],
    edges: list[float],
    region: str,
    process: str,
    nominal: np.ndarray,
    systematic: Mapping[str, Any],
    tally: _Tally,
) -> list[dict[str, Any]]:
    """Return the normsys + histosys of a systematic; none (logged) if unusable."""
    variations = [systematic["up"]]
    if not systematic["symmetrize"]:
        variations.append(systematic["down"])
    names = [spec.histogram_name(region, process, v) for v in variations]

    missing = [name for name in names if name not in histograms]
    if missing:
        log.warning(
            "systematic '%s' dropped for %s in %s: histogram %s missing (no events "
            "in that variation)", systematic["name"], process, region,
            ", ".join(missing),
        )
        tally.skipped += 1
        return []

    templates = [rebin(histograms[name], edges, name).values for name in names]
    if all(_equal(template, nominal) for template in templates):
        log.info("systematic '%s' pruned for %s in %s: %s equal the nominal",
                 systematic["name"], process, region, " and ".join(names))
        tally.pruned += 1
        return []

    down = None if systematic["symmetrize"] else templates[1]
    try:
        norm, shape = split_norm_shape(nominal, templates[0], down)
    except WorkspaceError as err:
        log.warning("systematic '%s' dropped for %s in %s: %s",
                    systematic["name"], process, region, err)
        tally.skipped += 1
        return []

    for key, direction in (("hi_data", "up"), ("lo_data", "down")):
        symmetrized = " (symmetrized)" if direction == "down" and down is None else ""
        what = (f"systematic '{systematic['name']}' for {process} in {region}: "
                f"{direction} shape template{symmetrized}")
        shape[key] = _floor_negative(np.asarray(shape[key]), what, edges,
                                     tally).tolist()

    log.debug("%s %s %s: normsys hi %.4f lo %.4f", systematic["name"], process,
              region, norm["hi"], norm["lo"])
    return [
        {"name": systematic["name"], "type": "normsys", "data": norm},
        {"name": systematic["name"], "type": "histosys", "data": shape},
    ]


def _equal(template: np.ndarray, nominal: np.ndarray) -> bool:
    """Whether a template equals the nominal to :data:`EQUAL_RTOL`, bin by bin."""
    scale = float(np.max(np.abs(nominal), initial=0.0))
    return bool(np.allclose(template, nominal, rtol=EQUAL_RTOL,
                            atol=EQUAL_RTOL * scale))


def _floor_negative(values: np.ndarray, what: str, edges: Sequence[float],
                    tally: _Tally) -> np.ndarray:
    """Return a copy of ``values`` with negative bins set to zero (logged)."""
    values = np.array(values, dtype=float)
    negative = np.flatnonzero(values < 0)
    if negative.size:
        log.warning("%s is negative in %s (lowest %.4g); floored at 0", what,
                    _bin_ranges(negative, edges), float(values[negative].min()))
        values[negative] = 0.0
        tally.floored += negative.size
    return values


def _floor_empty_bins(samples: list[dict[str, Any]], data: np.ndarray,
                      channel: str, edges: Sequence[float], tally: _Tally) -> None:
    """Give every sample :data:`YIELD_FLOOR` events in bins with data but no MC."""
    total = np.sum([s["data"] for s in samples], axis=0)
    empty = np.flatnonzero((total <= 0) & (np.asarray(data) > 0))
    if not empty.size:
        return

    log.warning(
        "channel '%s': %s with data (%s events) but no simulated events; every "
        "sample set to %g events there, so that the likelihood stays finite (the "
        "MC statistical parameters of these bins are fixed)", channel,
        _bin_ranges(empty, edges), ", ".join(f"{data[i]:g}" for i in empty),
        YIELD_FLOOR,
    )
    for sample in samples:
        for i in empty:
            sample["data"][i] = YIELD_FLOOR
        for modifier in sample["modifiers"]:
            if modifier["type"] == "staterror":
                for i in empty:
                    modifier["data"][i] = 0.0
    tally.floored += empty.size * len(samples)


def _bin_ranges(indices: np.ndarray, edges: Sequence[float]) -> str:
    """Name bins by their ranges, e.g. ``bins [110, 150), [510, 550) GeV``."""
    ranges = ", ".join(f"[{edges[i]:g}, {edges[i + 1]:g})" for i in indices)
    return f"bin{'s' if len(indices) > 1 else ''} {ranges} GeV"


def _check_poi_acts(channels: list[dict[str, Any]], poi: Mapping[str, Any]) -> None:
    """Raise unless the POI's normfactor is on some remaining sample."""
    for channel in channels:
        for sample in channel["samples"]:
            if any(m["name"] == poi["name"] for m in sample["modifiers"]):
                return
    raise WorkspaceError(
        f"the parameter of interest '{poi['name']}' acts on sample(s) "
        f"{', '.join(poi['samples'])}, none of which has simulated events in any "
        "channel; process more files or change poi.samples in the model file"
    )


def _log_unused_systematics(channels: list[dict[str, Any]],
                            systematics: Sequence[Mapping[str, Any]]) -> None:
    """Warn about systematics that act on no sample after dropping and pruning."""
    used = {m["name"] for c in channels for s in c["samples"] for m in s["modifiers"]}
    for systematic in systematics:
        if systematic["name"] not in used:
            log.warning("systematic '%s' acts on no sample in any channel (dropped "
                        "or pruned everywhere); it is not a parameter of the "
                        "workspace", systematic["name"])


def _check_schema(workspace: Mapping[str, Any]) -> None:
    """Validate the spec against pyhf's workspace schema."""
    import pyhf

    try:
        pyhf.schema.validate(workspace, "workspace.json")
    except pyhf.exceptions.InvalidSpecification as err:
        raise WorkspaceError(
            f"the built workspace fails pyhf's schema: {err}; this is a bug of "
            "topxsec.workspace, please report it with the model file"
        ) from err
