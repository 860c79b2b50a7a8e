"""The two dependency lists agree, and the repository has what users need."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _normalize(requirement: str) -> str:
    """Lower-case name with '-' for '_' / '.', extras and spaces dropped."""
    requirement = requirement.replace(" ", "")
    match = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?(.*)$", requirement)
    assert match, requirement
    name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
    return f"{name}{match.group(2) or ''}{match.group(3)}"


def _pyproject() -> tuple[set[str], set[str]]:
    """Runtime requirements, and those of the optional groups (test, bench)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = {_normalize(r) for r in project["dependencies"]}
    extras = {_normalize(r) for group in ("test", "bench")
              for r in project["optional-dependencies"][group]}
    return runtime, extras


def _environment() -> set[str]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return {_normalize(r) for r in pip}


def test_environment_matches_pyproject() -> None:
    runtime, test = _pyproject()
    env = _environment()
    assert env - (runtime | test) == set(), "only in environment.yml"
    assert (runtime | test) - env == set(), "only in pyproject.toml"


def test_required_packages_are_listed() -> None:
    runtime, _ = _pyproject()
    names = {re.split(r"[\[<>=!~]", r)[0] for r in runtime}
    for needed in ("snakemake", "uproot", "deflate", "awkward", "numba",
                   "boost-histogram", "pyhf", "iminuit",
                   "snakemake-executor-plugin-htcondor", "htcondor", "pyyaml",
                   "matplotlib", "mplhep"):
        assert needed in names
    assert any(r.startswith("snakemake[reports]") for r in runtime)


def test_every_rule_has_a_log() -> None:
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        rules = re.findall(r"^rule (\w+):", text, flags=re.M)
        blocks = re.split(r"^rule \w+:", text, flags=re.M)[1:]
        for name, block in zip(rules, blocks, strict=True):
            assert re.search(r"^\s+log:", block, flags=re.M), f"{smk.name}: {name}"


def test_profiles_exist() -> None:
    for name in ("condor", "default"):
        assert (REPO / "profiles" / name / "config.yaml").exists()
