"""The config checks: schema violations and relations name the key."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from topxsec import config as topxsec_config
from topxsec.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def _with(**changes: Any) -> dict[str, Any]:
    config = copy.deepcopy(DEFAULT)
    for dotted, value in changes.items():
        node = config
        *parents, last = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return config


def test_default_config_is_valid() -> None:
    config = copy.deepcopy(DEFAULT)
    topxsec_config.validate(config, SCHEMA)
    topxsec_config.check(config, REPO)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"histograms__bins": 0}, "histograms.bins"),
        ({"histograms__bins": "many"}, "histograms.bins"),
        ({"selection__jet_pt": -1}, "selection.jet_pt"),
        ({"fileset__max_files_per_set": 0}, "fileset.max_files_per_set"),
        ({"numba__cpu_name": "pentium"}, "numba.cpu_name"),
        ({"skim__compression_level": 12}, "skim.compression_level"),
        ({"typo": 1}, "typo"),
        ({"selection__jet_ptt": 30}, "selection.jet_ptt"),
        ({"resources__skim": {"mem_mb": 10, "disk_mb": 1, "runtime": 1}},
         "resources.skim.mem_mb"),
    ],
)
def test_schema_violation_names_the_key(changes: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        topxsec_config.validate(_with(**changes), SCHEMA)
    assert info.value.key == key
    assert f"config key '{key}'" in str(info.value)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"histograms__low": 600.0}, "histograms.high"),
        ({"selection__skim_jet_pt": 29.5}, "selection.skim_jet_pt"),
        ({"fileset__source": "no/such/fileset.yaml"}, "fileset.source"),
        ({"fileset__sets": ["ttbar__nominal", "higgs"]}, "fileset.sets"),
        ({"demo__files_per_set": {"default": 1, "tttbar": 2}}, "demo.files_per_set"),
        ({"model": "no/such/model.yaml"}, "model"),
    ],
)
def test_relation_violation_names_the_key(changes: dict[str, Any], key: str) -> None:
    config = _with(**changes)
    topxsec_config.validate(config, SCHEMA)
    with pytest.raises(ConfigError) as info:
        topxsec_config.check(config, REPO)
    assert info.value.key == key


def test_command_line_strings_are_read_as_yaml() -> None:
    # What `--config fileset='{source: agc, max_files_per_set: 2}'` gives.
    config = _with(fileset={"source": "agc", "max_files_per_set": "2",
                            "sets": ["ttbar"]},
                   histograms={"bins": "30", "low": "50", "high": "5.5e2"})
    topxsec_config.validate(config, SCHEMA)
    assert config["fileset"]["max_files_per_set"] == 2
    assert config["fileset"]["source"] == "agc"
    assert config["histograms"] == {"bins": 30, "low": 50, "high": 550.0}


def test_null_from_the_command_line() -> None:
    config = _with(fileset={"source": "demo", "max_files_per_set": "null"})
    topxsec_config.validate(config, SCHEMA)
    assert config["fileset"]["max_files_per_set"] is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"reference_files": "1"}, {"reference_files": 1}),
        ({"reference_files": "200"}, {"reference_files": 200}),
        ({"reference_files": "all"}, {"reference_files": "all"}),
        ({"reference_files": "null", "histograms": "null"},
         {"reference_files": None, "histograms": None}),
        ({"histograms": "1"}, {"histograms": "1"}),  # a file name stays one
    ],
)
def test_command_line_strings_where_a_string_is_allowed_too(
    value: dict[str, Any], expected: dict[str, Any]
) -> None:
    # `--config validation='{reference_files: 1}'` gives the string '1'.
    config = _with(validation=value)
    topxsec_config.validate(config, SCHEMA)
    assert config["validation"] == expected


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"selection__btag_threshold": 1.5}, "selection.btag_threshold"),
        ({"selection__btag_threshold": -0.1}, "selection.btag_threshold"),
    ],
)
def test_btag_threshold_is_a_csv_value(changes: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        topxsec_config.validate(_with(**changes), SCHEMA)
    assert info.value.key == key


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"selection__jet_pt": "nan"}, "selection.jet_pt"),
        ({"selection__muon_pf_rel_iso": float("nan")}, "selection.muon_pf_rel_iso"),
        ({"selection__electron_sip3d": ".inf"}, "selection.electron_sip3d"),
        ({"selection__btag_threshold": float("nan")}, "selection.btag_threshold"),
        ({"histograms__high": float("inf")}, "histograms.high"),
    ],
)
def test_numbers_must_be_finite(changes: dict[str, Any], key: str) -> None:
    config = _with(**changes)
    topxsec_config.validate(config, SCHEMA)
    with pytest.raises(ConfigError, match="not a finite number") as info:
        topxsec_config.check(config, REPO)
    assert info.value.key == key


@pytest.mark.parametrize(
    ("changes", "key", "edge"),
    [
        ({"histograms__bins": 10}, "histograms.bins", "110"),
        ({"histograms__bins": 24}, "histograms.bins", "110"),
        ({"histograms__low": 120.0}, "histograms.low", "110"),
        ({"histograms__high": 510.0, "histograms__bins": 23}, "histograms.high", "550"),
        # Binnings that have every edge of the model: no error.
        ({"histograms__bins": 50}, None, None),
        ({"histograms__bins": 11, "histograms__low": 110.0}, None, None),
        ({"histograms__bins": 100, "histograms__low": 0.0, "histograms__high": 1000.0},
         None, None),
    ],
)
def test_binning_must_have_the_rebinning_edges(
    changes: dict[str, Any], key: str | None, edge: str | None
) -> None:
    config = _with(**changes)
    topxsec_config.validate(config, SCHEMA)
    if key is None:
        topxsec_config.check(config, REPO)
        return

    with pytest.raises(ConfigError, match=f"no bin edge at {edge} GeV") as info:
        topxsec_config.check(config, REPO)
    assert info.value.key == key
    assert "rebinning.edges" in str(info.value)


@pytest.mark.parametrize(
    ("sets", "missing"),
    [
        (["ttbar__nominal"], ["wjets__nominal", "ttbar__ME_var", "ttbar__PS_var",
                              "single_top_tW__nominal"]),
        (["ttbar", "wjets"], ["single_top_s_chan__nominal",
                              "single_top_t_chan__nominal"]),
        (["ttbar__nominal", "ttbar__ME_var", "ttbar__PS_var", "wjets",
          "single_top_s_chan", "single_top_t_chan", "single_top_tW"],
         ["ttbar__scaleup", "ttbar__scaledown"]),
    ],
)
def test_sets_without_what_the_model_needs(
    sets: list[str], missing: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    config = _with(fileset__sets=sets)
    topxsec_config.validate(config, SCHEMA)

    with pytest.raises(ConfigError) as info:
        topxsec_config.check_model_sets(config, REPO)
    assert info.value.key == "fileset.sets"
    assert all(name in str(info.value) for name in missing)
    assert not any(name in str(info.value) for name in sets)

    # At start-up (the target may be `histograms`, which needs no model): a warning.
    with caplog.at_level(logging.WARNING, logger="topxsec.config"):
        topxsec_config.check(config, REPO)
    assert "'fileset.sets'" in caplog.text
    assert all(name in caplog.text for name in missing)


def _model_file(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    doc = yaml.safe_load((REPO / "config" / "model.yaml").read_text())
    change(doc)
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _without_single_top(doc: dict[str, Any]) -> None:
    doc["samples"] = [s for s in doc["samples"] if s["name"] in ("ttbar", "W+jets")]
    doc["systematics"] = [s for s in doc["systematics"]
                          if s["name"] != "ttbar scale variations"]


def test_sets_with_what_the_model_needs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = _model_file(tmp_path, _without_single_top)
    config = _with(model=str(model), fileset__sets=[
        "ttbar__nominal", "ttbar__ME_var", "ttbar__PS_var", "wjets"])
    topxsec_config.validate(config, SCHEMA)
    with caplog.at_level(logging.WARNING, logger="topxsec.config"):
        topxsec_config.check(config, REPO)
        topxsec_config.check_model_sets(config, REPO)
    assert "fileset.sets" not in caplog.text

    # The same sets without the pseudo-data's ttbar__PS_var are not enough.
    config["fileset"]["sets"].remove("ttbar__PS_var")
    with pytest.raises(ConfigError, match="ttbar__PS_var by systematic 'PS "
                       "variation', the pseudo-data"):
        topxsec_config.check_model_sets(config, REPO)


def test_model_file_checked_at_start_up(tmp_path: Path) -> None:
    def typo(doc: dict[str, Any]) -> None:
        doc["samples"][1]["process"] = "wjet"

    model = _model_file(tmp_path, typo)
    config = _with(model=str(model))
    topxsec_config.validate(config, SCHEMA)
    with pytest.raises(ConfigError, match="'wjet'") as info:
        topxsec_config.check(config, REPO)
    assert info.value.key == f"{model}: samples[1].process"


@pytest.mark.parametrize(
    ("changes", "key"),
    [({"model": "config"}, "model"), ({"fileset__source": "config"}, "fileset.source")],
)
def test_directory_instead_of_a_file(changes: dict[str, Any], key: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # a relative file set is from the working directory
    config = _with(**changes)
    topxsec_config.validate(config, SCHEMA)
    with pytest.raises(ConfigError, match="config") as info:
        topxsec_config.check(config, REPO)
    assert info.value.key == key
