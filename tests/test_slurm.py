"""The workflow through a real Slurm cluster (``--profile slurm``).

.ci/run starts a one-node cluster on 127.0.0.1 (tests/services/slurm.sh); the
test runs a small demo file set through it and checks, from the logs, that
the skim and histogram jobs ran as Slurm jobs, and that the merged histograms
equal a local run's bin for bin.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_workflow import REPO, snakemake, write_config

pytestmark = pytest.mark.slow

#: Two file sets of one demo file each: enough for every job kind, quick to run.
SETS = {"fileset": {"sets": ["ttbar__nominal", "wjets"]}}

#: Options of a Slurm cluster without accounting, and a quick first poll.
SLURM_OPTIONS = ("--slurm-status-command", "squeue",
                 "--slurm-init-seconds-before-status-checks", "2",
                 "--slurm-no-account", "--jobs", "4", "--latency-wait", "10")


def _cluster_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    result = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True,
                            text=True, timeout=30, check=False)
    states = set(result.stdout.split())
    return result.returncode == 0 and bool(states & {"idle", "mix", "alloc"})


@pytest.fixture(scope="module")
def cluster() -> None:
    """Skip without a cluster, except in CI, where .ci/run must have one."""
    if not _cluster_up():
        if os.environ.get("CI"):
            pytest.fail("no Slurm cluster: .ci/run starts one with "
                        "tests/services/slurm.sh start")
        pytest.skip("no Slurm cluster (bash tests/services/slurm.sh start)")


def test_slurm_run_equals_local_run(cluster: None, tmp_path: Path) -> None:
    local = tmp_path / "local"
    batch = tmp_path / "slurm"
    for workdir in (local, batch):
        workdir.mkdir()
        write_config(workdir, SETS)
    snakemake(local, "histograms", "--configfile", str(local / "config.yaml"))
    run = snakemake(batch, "histograms", "--configfile", str(batch / "config.yaml"),
                    "--profile", str(REPO / "profiles" / "slurm"), *SLURM_OPTIONS,
                    timeout=600)

    # Every skim and histogram job ran as a Slurm job: its rule log names the
    # job id, and Slurm's own log of that job id exists.
    results = batch / "results"
    for rule in ("skim", "fill_histograms"):
        logs = sorted((results / "logs" / rule).rglob("*.log"))
        assert len(logs) == 2, logs  # one ttbar and one wjets file
        for log in logs:
            match = re.search(r"batch job: SLURM_JOB_ID=(\d+)", log.read_text())
            assert match, f"{log} does not name a Slurm job"
            slurm_logs = list((batch / "logs" / "slurm" / f"rule_{rule}").rglob(
                f"{match.group(1)}.log"))
            assert slurm_logs, f"no Slurm log of job {match.group(1)} ({rule})"
    assert re.search(r"SLURM jobid \d+", run.stdout + run.stderr, re.IGNORECASE)

    got = json.loads((results / "histograms.json").read_text())
    expected = json.loads((local / "results" / "histograms.json").read_text())
    assert got.keys() == expected.keys() and got
    for name in expected:
        assert got[name] == expected[name], name
