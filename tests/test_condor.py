"""What the HTCondor profiles would submit, checked as job ClassAds.

No HTCondor pool runs here: tests/condor_capture.py runs Snakemake with the
real executor plugin but a recording scheduler client, and the recorded submit
descriptions are turned into job ClassAds with the HTCondor bindings. Checked
for a skim, a merge and a fit job, with both profiles: ``condor`` (shared
filesystem) and ``condor-transfer`` (none: HTCondor transfers everything a job
needs and sends its outputs back).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from topxsec import fileset as fs

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())

#: What an execute node needs besides the rule's script and inputs.
WORKFLOW_BUNDLE = ("Snakefile", "workflow", "config", "config/config.yaml",
                   "src/topxsec", "results/.jobs",
                   "profiles/condor-transfer/job.sh")

#: rule -> (resource stage, a target output)
JOBS = {
    "skim": ("skim", "results/skims/ttbar/nominal/0000.root"),
    "merge": ("merge", "results/histograms.root"),
    "fit": ("statistics", "results/fit.json"),
}


def _inputs_of(rule: str) -> list[str]:
    """The input files the job of ``rule`` needs (with the default config)."""
    demo = CONFIG["demo"]
    jobs = fs.expand_jobs(fs.demo_fileset("results", demo["files_per_set"],
                                          demo["events_per_file"]))
    if rule == "skim":
        return ["results/demo/ttbar/nominal/0000.root", "results/kernels/skim.json"]
    if rule == "merge":
        return [f"results/histograms/{j.process}/{j.variation}/{j.part}.json"
                for j in jobs]
    return ["results/workspace.json"]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository to submit from (the working directory)."""
    root = tmp_path_factory.mktemp("checkout")
    for name in ("Snakefile", "workflow", "config", "profiles"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / name)
    shutil.copytree(REPO / "src" / "topxsec", root / "src" / "topxsec",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return root


_CAPTURED: dict[tuple[str, ...], dict[str, Any]] = {}


def capture(checkout: Path, rule: str, profile: str, *extra: str) -> dict[str, Any]:
    """The submit description of ``rule``'s job, as the profile makes it.

    Each one is made once per test session (a Snakemake run each).
    """
    key = (str(checkout), rule, profile, *extra)
    if key not in _CAPTURED:
        _CAPTURED[key] = _capture(checkout, rule, profile, *extra)
    return _CAPTURED[key]


def _capture(checkout: Path, rule: str, profile: str, *extra: str) -> dict[str, Any]:
    # The job's inputs (their content does not matter for a submission).
    for path in _inputs_of(rule):
        target = checkout / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    record = checkout / f"capture-{rule}-{profile}-{len(extra)}.jsonl"
    record.unlink(missing_ok=True)
    cmd = [sys.executable, str(REPO / "tests" / "condor_capture.py"),
           JOBS[rule][1], "--profile", f"profiles/{profile}", "--retries", "0",
           "--forcerun", rule, "--allowed-rules", rule, *extra]
    env = {**os.environ, "CONDOR_CONFIG": "/dev/null", "CONDOR_CAPTURE": str(record)}
    run = subprocess.run(cmd, cwd=checkout, capture_output=True, text=True, env=env,
                         timeout=300, check=False)
    assert record.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    lines = record.read_text().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def job_ad(description: dict[str, Any]) -> Any:
    """The job ClassAd HTCondor makes of a submit description."""
    import htcondor

    return next(iter(htcondor.Submit(description).jobs(count=1)))


def _names(ad_value: str) -> set[str]:
    return {name.strip() for name in ad_value.split(",") if name.strip()}


@pytest.mark.parametrize("profile", ["condor", "condor-transfer"])
@pytest.mark.parametrize("rule", sorted(JOBS))
def test_requests_come_from_the_rule(checkout: Path, rule: str, profile: str) -> None:
    description = capture(checkout, rule, profile)
    ad = job_ad(description)

    declared = CONFIG["resources"][JOBS[rule][0]]
    assert int(ad["RequestCpus"]) == 1
    assert int(ad["RequestMemory"]) == declared["mem_mb"]
    assert int(ad["RequestDisk"]) == declared["disk_mb"] * 1024
    assert ad["JobUniverse"] == 5  # vanilla
    assert f"--target-jobs {rule}:" in description["arguments"]
    assert "NUMBA_CPU_NAME=generic" in str(ad.get("Env", "")) + str(
        ad.get("Environment", ""))


def test_threads_of_a_skim_reach_request_cpus(checkout: Path) -> None:
    declared = {**CONFIG["resources"]["skim"], "threads": 2}
    resources = ", ".join(f"{key}: {value}" for key, value in declared.items())
    description = capture(checkout, "skim", "condor", "--config",
                          f"resources={{skim: {{{resources}}}}}")
    assert int(job_ad(description)["RequestCpus"]) == 2


@pytest.mark.parametrize("rule", sorted(JOBS))
def test_shared_filesystem_transfers_nothing(checkout: Path, rule: str) -> None:
    description = capture(checkout, rule, "condor")
    ad = job_ad(description)
    assert "transfer_input_files" not in description
    assert "TransferInput" not in ad and "TransferOutput" not in ad
    assert description["getenv"] in (True, "true", "True")
    assert Path(description["executable"]).name.startswith("python")


@pytest.mark.parametrize("rule", sorted(JOBS))
def test_no_shared_filesystem_transfers_what_the_job_needs(checkout: Path,
                                                           rule: str) -> None:
    description = capture(checkout, rule, "condor-transfer")
    ad = job_ad(description)

    assert ad["ShouldTransferFiles"] == "YES"
    assert ad["WhenToTransferOutput"] == "ON_EXIT"
    assert ad["Cmd"].endswith("profiles/condor-transfer/job.sh")
    assert "--shared-fs-usage none" in description["arguments"]
    sent = _names(ad["TransferInput"])
    assert set(WORKFLOW_BUNDLE) <= sent
    assert set(_inputs_of(rule)) <= sent
    script = f"workflow/scripts/{rule}.py"
    assert any(name.endswith(script) for name in sent), sent
    # Every path HTCondor reads relative to the submit directory exists there.
    for name in sent:
        assert (checkout / name).exists(), name

    returned = _names(ad["TransferOutput"])
    assert JOBS[rule][1] in returned
    assert JOBS[rule][1] in description["transfer_output_remaps"]


@pytest.mark.parametrize("profile", ["condor", "condor-transfer"])
def test_retries_ask_for_more_memory(checkout: Path, profile: str) -> None:
    settings = yaml.safe_load((REPO / "profiles" / profile / "config.yaml").read_text())
    assert settings["retries"] >= 1
    declared = CONFIG["resources"]["skim"]["mem_mb"]
    first = job_ad(capture(checkout, "skim", profile))
    second = job_ad(capture(checkout, "skim", profile, "--attempt", "2"))
    assert int(first["RequestMemory"]) == declared
    assert int(second["RequestMemory"]) == 2 * declared


def test_container_universe(checkout: Path) -> None:
    image = "docker://registry.example.org/topxsec:1"
    description = capture(checkout, "skim", "condor-transfer", "--set-resources",
                          "skim:universe='container'",
                          f"skim:container_image='{image}'")
    ad = job_ad(description)
    assert ad["JobUniverse"] == 5 and ad["WantContainer"] in (True, "true")
    assert ad["ContainerImage"] == image
