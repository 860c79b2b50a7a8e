"""The config checks: schema violations and relations name the key."""

from __future__ import annotations

import copy
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
