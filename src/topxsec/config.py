"""Checks of the workflow config that a JSON schema cannot express.

The schema (``workflow/schemas/config.schema.yaml``) checks types, ranges and
unknown keys (:func:`validate`) and fills in defaults; :func:`check` adds the
relations between keys. Both run when the Snakefile is parsed, before any job
starts, and every message names the key. Cheap to import.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from topxsec import spec
from topxsec.errors import ConfigError

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
    """``value`` read as YAML if the schema rules out a string and YAML fits."""
    import yaml

    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    if not types or "string" in types:
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
    wanted = tuple(_NON_STRING[t] for t in types if t in _NON_STRING)
    if isinstance(parsed, bool) and "boolean" not in types:
        return value
    return parsed if wanted and isinstance(parsed, wanted) else value


def check(config: Mapping[str, Any], repo_dir: str | Path) -> None:
    """Check relations between config values.

    Args:
        config: The config after schema validation (defaults filled in).
        repo_dir: The repository (workflow base) directory; the model path is
            relative to it.

    Raises:
        ConfigError: Naming the offending key.
    """
    hist = config["histograms"]
    if not hist["high"] > hist["low"]:
        raise ConfigError(
            "histograms.high", f"{hist['high']} must be above histograms.low ({hist['low']})"
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

    if not model_path(config, repo_dir).exists():
        raise ConfigError(
            "model", f"model file {model_path(config, repo_dir)} does not exist"
        )


def model_path(config: Mapping[str, Any], repo_dir: str | Path) -> Path:
    """The model file of a config (relative paths are from the repository)."""
    path = Path(config["model"])
    return path if path.is_absolute() else Path(repo_dir) / path


def _check_fileset(fileset: Mapping[str, Any]) -> None:
    source = fileset["source"]
    if source not in FILESET_SOURCES and not Path(source).exists():
        raise ConfigError(
            "fileset.source",
            f"{source!r} is neither one of {FILESET_SOURCES} nor an existing "
            "YAML/JSON file set",
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
