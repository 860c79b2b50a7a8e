"""Checks of the workflow config that a JSON schema cannot express.

The schema (``workflow/schemas/config.schema.yaml``) checks types, ranges and
unknown keys (:func:`validate`) and fills in defaults; :func:`check` adds the
relations between keys. Both run when the Snakefile is parsed, before any job
starts, and every message names the key. Cheap to import.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from topxsec import spec
from topxsec.errors import ConfigError

log = logging.getLogger(__name__)

FILESET_SOURCES = ("demo", "agc")


def _set_names() -> set[str]:
    names = set(spec.FILE_SETS)
    for process, variations in spec.FILE_SETS.items():
        names.update(f"{process}__{variation}" for variation in variations)
    return names


def validate(config: MutableMapping[str, Any], schema_path: str | Path) -> None:
    """Check a config against the workflow's JSON schema, naming the bad key.

    Snakemake's own ``validate`` (run after this one) fills in the defaults;
    this one turns the first violation into a short message with the key's
    dotted path, e.g. ``config key 'histograms.bins': -1 is less than the
    minimum of 1``. Before checking, it reads as YAML the strings that
    ``--config key='{a: 1}'`` leaves where the schema wants a number, a
    boolean or null (Snakemake parses nested command-line values as strings).

    Raises:
        ConfigError: For the most relevant violation.
    """
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    _coerce_strings(config, schema, schema)
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(dict(config)))
    if error is None:
        return

    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        key = ".".join(filter(None, [path, unknown[0] if unknown else ""]))
        raise ConfigError(key or "<top>", f"unknown key; known keys here: {known}")
    description = error.schema.get("description", "")
    hint = f" ({description})" if description else ""
    raise ConfigError(path or "<top>", f"{error.message}{hint}")


_NON_STRING = {"integer": int, "number": (int, float), "boolean": bool,
               "null": type(None)}


def _coerce_strings(node: Any, schema: Mapping[str, Any],
                    root: Mapping[str, Any]) -> None:
    """Replace, in place, strings where the schema wants numbers, booleans, null."""
    if "$ref" in schema:  # only local "#/$defs/name" references are used
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[1]]

    if isinstance(node, MutableMapping):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, value in node.items():
            sub = properties.get(key, extra if isinstance(extra, Mapping) else None)
            if sub is None:
                continue
            if isinstance(value, str):
                node[key] = _parsed(value, sub)
            else:
                _coerce_strings(value, sub, root)
    elif isinstance(node, list) and isinstance(schema.get("items"), Mapping):
        for i, value in enumerate(node):
            if isinstance(value, str):
                node[i] = _parsed(value, schema["items"])
            else:
                _coerce_strings(value, schema["items"], root)


def _parsed(value: str, schema: Mapping[str, Any]) -> Any:
    """``value`` read as YAML if it is a number, boolean or null the schema allows.

    Where the schema allows a string too (``[integer, string, "null"]``), the
    value is converted only to one of the other types, and kept a string if
    an ``enum`` lists the string but not the converted value.
    """
    import yaml

    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    wanted = tuple(_NON_STRING[t] for t in types if t in _NON_STRING)
    if not wanted:
        return value

    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    if isinstance(parsed, str) and "number" in types:
        try:  # YAML 1.1 reads 5.5e2 as a string
            parsed = float(value)
        except ValueError:
            return value
    if isinstance(parsed, bool) and "boolean" not in types:
        return value
    if not isinstance(parsed, wanted):
        return value

    enum = schema.get("enum")
    if enum is not None and parsed not in enum and value in enum:
        return value
    return parsed


def check(config: Mapping[str, Any], repo_dir: str | Path) -> None:
    """Check relations between config values, and the model file.

    Besides the relations between keys, this reads the model file (checking
    it, see :func:`topxsec.workspace.load_model`) and checks that the
    histogram binning has every rebinning edge of the model. A file set the
    model needs but ``fileset.sets`` leaves out is only logged as a warning
    here: the target ``histograms`` runs without the model, and the targets
    are not known when the Snakefile is parsed; :func:`check_model_sets`
    makes it an error where the workspace is built.

    Args:
        config: The config after schema validation (defaults filled in).
        repo_dir: The repository (workflow base) directory; the model path is
            relative to it.

    Raises:
        ConfigError: Naming the offending key (for the model file, its path
            and the key in it).
    """
    _check_finite(config, "")

    hist = config["histograms"]
    if not hist["high"] > hist["low"]:
        raise ConfigError(
            "histograms.high",
            f"{hist['high']} must be above histograms.low ({hist['low']})",
        )

    sel = config["selection"]
    limit = sel["jet_pt"] / spec.PT_SCALE_UP
    if sel["skim_jet_pt"] > limit:
        raise ConfigError(
            "selection.skim_jet_pt",
            f"{sel['skim_jet_pt']} must not exceed selection.jet_pt / "
            f"{spec.PT_SCALE_UP} = {limit:.3f} GeV, or the skim would lose events "
            "that pass with pt_scale_up",
        )

    _check_fileset(config["fileset"])
    _check_demo(config["demo"])

    model = _load_model(config, repo_dir)
    _check_rebinning_edges(config, model, model_path(config, repo_dir))
    problem = _missing_model_sets(config, model, model_path(config, repo_dir))
    if problem:
        log.warning("config key 'fileset.sets': %s; fine for the targets that stop "
                    "before the workspace (histograms, validate), but the fit "
                    "would fail or lack them", problem)


def check_model_sets(config: Mapping[str, Any], repo_dir: str | Path,
                     available: Collection[tuple[str, str]] | None = None) -> None:
    """Check that ``fileset.sets`` runs every file set the model needs.

    The model needs the nominal set of each sample's process, the alternative
    sets its systematics name (``ttbar__ME_var`` ...), and the sets of the
    pseudo-data (``ttbar__ME_var``, ``ttbar__PS_var``, ``wjets__nominal``) if
    it fits those. Histogram variations such as ``pt_scale_up`` come from the
    nominal sets. Call this where the workspace is needed (for example in
    the workspace rule's input function), so that a run of the target
    ``histograms`` over a few sets stays possible.

    Args:
        config: The config after schema validation (defaults filled in).
        repo_dir: The repository directory (the model path is relative to it).
        available: The ``(process, variation)`` sets that have files in the
            selected file set; given, a set the model needs but the file set
            (a user's own, say) lacks is an error too.

    Raises:
        ConfigError: ``fileset.sets`` lacks a set the model needs, or the file
            set has no files for one (the message lists them and what uses
            each), or the model file is unusable.
    """
    model = _load_model(config, repo_dir)
    path = model_path(config, repo_dir)
    problem = _missing_model_sets(config, model, path)
    if problem:
        raise ConfigError("fileset.sets", problem)

    if available is None:
        return
    missing = _missing(model, set(available))
    if missing:
        names, uses = _describe(missing)
        raise ConfigError(
            "fileset.source",
            f"the file set {config['fileset']['source']} has no files for "
            f"{names}, which the statistical model needs (used: {uses}); add "
            "them to the file set, run the target `histograms` only, or take "
            f"what uses them out of the model file {path}")


def model_path(config: Mapping[str, Any], repo_dir: str | Path) -> Path:
    """The model file of a config (relative paths are from the repository)."""
    path = Path(config["model"])
    return path if path.is_absolute() else Path(repo_dir) / path


def _check_finite(node: Any, key: str) -> None:
    """Raise for a nan or infinite number anywhere in the config."""
    if isinstance(node, Mapping):
        for name, value in node.items():
            _check_finite(value, f"{key}.{name}" if key else str(name))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_finite(value, f"{key}[{i}]")
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(key, f"{node} is not a finite number")


def _load_model(config: Mapping[str, Any], repo_dir: str | Path) -> dict[str, Any]:
    """The checked model of the config's model file (ConfigError if unusable)."""
    from topxsec.workspace import load_model  # numpy: not at import time

    path = model_path(config, repo_dir)
    if not path.exists():
        raise ConfigError("model", f"model file {path} does not exist")
    if not path.is_file():
        raise ConfigError(
            "model", f"{path} is not a file; give the YAML model file, e.g. "
            "config/model.yaml"
        )
    return load_model(path)


def _check_rebinning_edges(config: Mapping[str, Any], model: Mapping[str, Any],
                           path: Path) -> None:
    """Raise unless every rebinning edge of the model is a histogram bin edge."""
    from topxsec.workspace import EDGE_RTOL

    hist = config["histograms"]
    edges = binning(config).edges()
    for edge in model["rebinning"]["edges"]:
        if any(abs(e - edge) <= EDGE_RTOL * abs(edge) for e in edges):
            continue
        key = "histograms.bins"
        if edge < hist["low"]:
            key = "histograms.low"
        elif edge > hist["high"]:
            key = "histograms.high"
        width = (hist["high"] - hist["low"]) / hist["bins"]
        raise ConfigError(
            key,
            f"the histograms ({hist['bins']} bins of {width:g} GeV from "
            f"{hist['low']:g} to {hist['high']:g} GeV) have no bin edge at "
            f"{edge:g} GeV, a rebinning edge of the model file {path} "
            f"(rebinning.edges {model['rebinning']['edges']}); choose "
            "histograms.low, high and bins so that every rebinning edge is a "
            "bin edge, or change rebinning.edges",
        )


def _needed_sets(model: Mapping[str, Any]) -> dict[tuple[str, str], list[str]]:
    """``(process, variation)`` file sets the model uses -> what uses each."""
    needed: dict[tuple[str, str], list[str]] = {}
    processes = {s["name"]: s["process"] for s in model["samples"]}
    for sample in model["samples"]:
        needed.setdefault((sample["process"], "nominal"), []).append(
            f"sample '{sample['name']}'"
        )

    for systematic in model["systematics"]:
        variations = [systematic.get("up"), systematic.get("down")]
        for name in systematic["samples"]:
            process = processes[name]
            for variation in variations:
                if variation != "nominal" and variation in spec.FILE_SETS[process]:
                    needed.setdefault((process, variation), []).append(
                        f"systematic '{systematic['name']}'"
                    )

    if model["data"] == spec.PSEUDODATA:
        for process, variation, _ in spec.PSEUDODATA_TERMS:
            needed.setdefault((process, variation), []).append("the pseudo-data")
    else:
        needed.setdefault((model["data"], "nominal"), []).append("the data")
    return needed


def _missing_model_sets(config: Mapping[str, Any], model: Mapping[str, Any],
                        path: Path) -> str:
    """What ``fileset.sets`` lacks of what the model needs ("" if nothing)."""
    sets = config["fileset"]["sets"]
    if sets is None:
        return ""

    run = {key for key in _set_keys() if key[0] in sets
           or spec.FileSetKey(*key).name in sets}
    missing = _missing(model, run)
    if not missing:
        return ""

    names, uses = _describe(missing)
    return (f"the statistical model needs the file sets {names}, which "
            f"fileset.sets does not run (used: {uses}); add them to fileset.sets "
            "(or set it to null for all sets), or take what uses them out of "
            f"the model file {path}")


def _missing(model: Mapping[str, Any], have: set[tuple[str, str]]
             ) -> dict[tuple[str, str], list[str]]:
    """The file sets the model needs that are not in ``have`` -> what uses each."""
    return {key: users for key, users in _needed_sets(model).items()
            if key not in have}


def _describe(missing: Mapping[tuple[str, str], list[str]]) -> tuple[str, str]:
    """The names of missing sets, and what uses each, for a message."""
    names = ", ".join(spec.FileSetKey(*key).name for key in missing)
    uses = "; ".join(f"{spec.FileSetKey(*key).name} by {', '.join(dict.fromkeys(u))}"
                     for key, u in missing.items())
    return names, uses


def _set_keys() -> list[tuple[str, str]]:
    return [(p, v) for p, variations in spec.FILE_SETS.items() for v in variations]


def _check_fileset(fileset: Mapping[str, Any]) -> None:
    source = fileset["source"]
    if source not in FILESET_SOURCES and not Path(source).exists():
        raise ConfigError(
            "fileset.source",
            f"{source!r} is neither one of {FILESET_SOURCES} nor an existing "
            "YAML/JSON file set",
        )
    if source not in FILESET_SOURCES and Path(source).is_dir():
        raise ConfigError(
            "fileset.source",
            f"{source!r} is a directory; give the path of a YAML/JSON file set "
            "(see config/filesets/example.yaml)",
        )

    known = _set_names()
    for name in fileset["sets"] or ():
        if name not in known:
            raise ConfigError(
                "fileset.sets", f"unknown set {name!r}; use one of {sorted(known)}"
            )


def _check_demo(demo: Mapping[str, Any]) -> None:
    known = _set_names() | {"default"}
    for key in ("files_per_set", "events_per_file"):
        for name in demo[key]:
            if name not in known:
                raise ConfigError(
                    f"demo.{key}", f"unknown set {name!r}; use one of {sorted(known)}"
                )


def cuts(config: Mapping[str, Any]) -> spec.Cuts:
    """The selection thresholds of a config."""
    return spec.Cuts(**config["selection"])


def binning(config: Mapping[str, Any]) -> spec.Binning:
    """The histogram binning of a config."""
    hist = config["histograms"]
    return spec.Binning(int(hist["bins"]), float(hist["low"]), float(hist["high"]))
