"""The workflow reading its inputs from a real XRootD server (root:// URLs).

The server (tests/services/xrootd.sh; .ci/run starts it) runs in a network
namespace with only the loopback interface, since XRootD 5.5 cannot bind to
127.0.0.1 alone; the remote runs execute Snakemake in that namespace and read
``root://127.0.0.1:1094//...``. Checked: the same histograms as from the local
paths, a run that survives a server restart while it reads, and a server gone
for good failing only the remote job, with the URL in its log.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from test_workflow import REPO, snakemake, write_config

pytestmark = pytest.mark.slow

SERVICE = REPO / "tests" / "services" / "xrootd.sh"
STATE = Path(os.environ.get("XROOTD_STATE", "/tmp/topxsec-xrootd"))
DATA = STATE / "data"
PREFIX = "root://127.0.0.1:1094/"
TIMEOUT_S = 600

#: The generated files: (process, variation, index, events it stands for).
FILES = (("ttbar", "nominal", 0, 20000), ("wjets", "nominal", 0, 400000))

#: A quick reconnect for the tests: up to 8 attempts 1 s apart.
FAST_RETRY = {"XRD_CONNECTIONRETRY": "8", "XRD_CONNECTIONWINDOW": "1"}


def service(action: str) -> subprocess.CompletedProcess[str]:
    """Run ``tests/services/xrootd.sh <action>``."""
    return subprocess.run(["bash", str(SERVICE), action], capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def server() -> Iterator[None]:
    """The XRootD server; started here if .ci/run did not, stopped if so."""
    if shutil.which("xrootd") is None or os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI needs xrootd-server and root (see .ci/run)")
        pytest.skip("needs xrootd-server, xrootd-client and root")
    started_here = service("status").returncode != 0
    if started_here:
        result = service("start")
        assert result.returncode == 0, result.stdout + result.stderr
    yield
    if started_here:
        service("stop")
    elif service("status").returncode != 0:
        service("start")  # leave it as .ci/run started it


@pytest.fixture(scope="module")
def served(server: None, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[dict[str, Path]]:
    """Generated files served by XRootD; file sets with local paths and URLs."""
    from topxsec.demo import generate_file

    root = DATA / f"run{os.getpid()}"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    local: dict = {}
    remote: dict = {}
    for process, variation, index, n_events in FILES:
        path = root / f"{process}_{variation}_{index}.root"
        info = generate_file(path, process, variation, index, n_events)
        path.chmod(0o644)
        for doc, name in ((local, str(path)),
                          (remote, PREFIX + "/" + str(path.relative_to(DATA)))):
            doc.setdefault(process, {}).setdefault(variation, {"files": []})
            doc[process][variation]["files"].append(
                {"path": name, "nevts": info["nevts"]})

    sets = tmp_path_factory.mktemp("filesets")
    out = {}
    for name, doc in (("local", local), ("remote", remote)):
        out[name] = sets / f"{name}.yaml"
        out[name].write_text(yaml.safe_dump(doc))
    out["reference"] = _reference_run(tmp_path_factory.mktemp("local"), out["local"])
    yield out
    shutil.rmtree(root, ignore_errors=True)


def _config(workdir: Path, fileset: Path) -> Path:
    return write_config(workdir, {"fileset": {"source": str(fileset)}})


def _reference_run(workdir: Path, fileset: Path) -> Path:
    snakemake(workdir, "histograms", "--configfile", str(_config(workdir, fileset)))
    return workdir / "results" / "histograms.json"


def remote_command(workdir: Path, *args: str) -> list[str]:
    """A Snakemake command run beside the server, in its network namespace."""
    return ["bash", str(SERVICE), "exec", sys.executable, "-m", "snakemake",
            "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2",
            *args]


def remote_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "CONDOR_CONFIG": "/dev/null", **extra}


def _histograms(workdir: Path) -> dict:
    return json.loads((workdir / "results" / "histograms.json").read_text())


def test_remote_inputs_give_the_local_histograms(served: dict[str, Path],
                                                 tmp_path: Path) -> None:
    config = _config(tmp_path, served["remote"])
    run = subprocess.run(remote_command(tmp_path, "histograms", "--configfile",
                                        str(config)),
                         capture_output=True, text=True, env=remote_env(),
                         timeout=TIMEOUT_S, check=False)
    assert run.returncode == 0, run.stderr[-6000:]

    summary = json.loads(
        (tmp_path / "results/skims/ttbar/nominal/0000.json").read_text())
    assert summary["source"].startswith(PREFIX) and summary["bytes_read"] > 0
    expected = json.loads(served["reference"].read_text())
    assert _histograms(tmp_path) == expected and expected


def _wait_for(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_run_survives_a_server_restart(served: dict[str, Path],
                                       tmp_path: Path) -> None:
    config = _config(tmp_path, served["remote"])
    outage_s = 3.0
    with subprocess.Popen(
        remote_command(tmp_path, "histograms", "--configfile", str(config),
                       "--retries", "2", "--cores", "1"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=remote_env(**FAST_RETRY),
    ) as run:
        try:
            # The first skim job has started (its log is its first act): stop
            # the server under it, and bring it back a few seconds later.
            _wait_for(tmp_path / "results/logs/skim/ttbar/nominal/0000.log", 300)
            stopped = service("stop")
            assert stopped.returncode == 0, stopped.stderr
            time.sleep(outage_s)
            started = service("start")
            assert started.returncode == 0, started.stdout + started.stderr
            output, _ = run.communicate(timeout=TIMEOUT_S)
        finally:
            if run.poll() is None:
                run.kill()
            service("start")
    assert run.returncode == 0, output[-6000:]

    # The skim saw the outage: it waited through it (client reconnects) or
    # failed and was resubmitted by Snakemake.
    summary = json.loads(
        (tmp_path / "results/skims/ttbar/nominal/0000.json").read_text())
    assert summary["seconds"] >= outage_s / 2 or "Error in rule skim" in output
    assert _histograms(tmp_path) == json.loads(served["reference"].read_text())


def test_server_gone_for_good_fails_only_its_job(served: dict[str, Path],
                                                 tmp_path: Path) -> None:
    # One file set remote, the other local.
    local = yaml.safe_load(served["local"].read_text())
    remote = yaml.safe_load(served["remote"].read_text())
    mixed = {"ttbar": remote["ttbar"], "wjets": local["wjets"]}
    fileset = tmp_path / "mixed.yaml"
    fileset.write_text(yaml.safe_dump(mixed))
    url = remote["ttbar"]["nominal"]["files"][0]["path"]
    config = _config(tmp_path, fileset)

    assert service("stop").returncode == 0
    try:
        run = subprocess.run(
            remote_command(tmp_path, "histograms", "--configfile", str(config),
                           "--keep-going", "--retries", "1"),
            capture_output=True, text=True,
            env=remote_env(XRD_CONNECTIONRETRY="2", XRD_CONNECTIONWINDOW="1"),
            timeout=TIMEOUT_S, check=False)
    finally:
        assert service("start").returncode == 0
    assert run.returncode != 0

    results = tmp_path / "results"
    log = (results / "logs/skim/ttbar/nominal/0000.log").read_text()
    assert url in log and "remote read failed" in log, log[-3000:]
    assert not (results / "skims/ttbar/nominal/0000.root").exists()
    assert not (results / "skims/ttbar/nominal/0000.json").exists()
    # The local file's jobs finished and kept their outputs.
    assert (results / "skims/wjets/nominal/0000.root").exists()
    assert (results / "histograms/wjets/nominal/0000.json").exists()
    assert not (results / "histograms.root").exists()
