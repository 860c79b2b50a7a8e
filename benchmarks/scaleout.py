"""Scale-out benchmark: the catalogue dry run, DAG rendering, per-job fixed cost.

Prints, and writes to ``benchmarks/out/scaleout.json``:

- ``catalogue_dry_run_s``: ``snakemake -n`` over the whole public AGC catalogue
  (787 files; the job table cached as a batch job finds it);
- ``catalogue_dry_run_cold_s``: the same with no cached job table;
- ``rulegraph_s`` and ``dag_s``: ``--rulegraph`` and ``--dag`` of it;
- ``job_start_s``: what every batch job pays before its work: a Python
  process that imports the package and the read path, and loads both kernels
  from a warm shared numba cache (``kernels_loaded_from_cache`` says whether
  it did), measured over a few processes; ``kernel_compile_s``: the same
  kernels compiled from a cold cache (what a job without a usable cache pays).

Run ``python benchmarks/scaleout.py`` from the repository; it needs the
catalogue in ``$TOPXSEC_CACHE_DIR`` (or the network). ``main()`` returns the
numbers for benchmarks/run.py.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out" / "scaleout.json"
CATALOGUE = "fileset={source: agc}"
JOB_PROCESSES = 3

#: What a job process does before its work (as workflow/scripts/*.py do).
_JOB_START = """
import json, time
started = time.perf_counter()
from topxsec import nanoaod, skim, histogramming
from topxsec.kernels import warm_up
report = warm_up()
print(json.dumps({"seconds": time.perf_counter() - started,
                  "cached": all(k["loaded_from_cache"]
                                for k in report["kernels"].values())}))
"""


def _snakemake(workdir: Path, *args: str) -> float:
    """Seconds of one Snakemake command over the catalogue (output dropped)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"),
           "-d", str(workdir), "--config", CATALOGUE, *args]
    env = {**os.environ, "CONDOR_CONFIG": os.environ.get("CONDOR_CONFIG", "/dev/null")}
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - started


def _job_start(cache: Path) -> dict[str, Any]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    run = subprocess.run([sys.executable, "-c", _JOB_START], env=env, check=True,
                         capture_output=True, text=True, timeout=600)
    started = json.loads(run.stdout.splitlines()[-1])
    return started


def _wall(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - started


def measure() -> dict[str, Any]:
    """Run every measurement; see the module docstring for the keys."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="topxsec-scaleout-") as tmp:
        workdir = Path(tmp) / "run"
        workdir.mkdir()
        out["catalogue_dry_run_cold_s"] = _snakemake(workdir, "-n")
        out["catalogue_dry_run_s"] = min(_snakemake(workdir, "-n") for _ in range(2))
        out["rulegraph_s"] = _snakemake(workdir, "--rulegraph")
        out["dag_s"] = _snakemake(workdir, "--dag")

        cache = Path(tmp) / "numba_cache"
        cold = _job_start(cache)  # compiles into the empty cache
        out["kernel_compile_s"] = cold["seconds"]
        python_s = _wall([sys.executable, "-c", "pass"])
        warm = [_job_start(cache) for _ in range(JOB_PROCESSES)]
        process_s = statistics.median(
            _wall([sys.executable, "-c", "import topxsec"]) for _ in range(3))
        out["python_start_s"] = python_s
        out["package_import_s"] = process_s
        out["job_start_s"] = statistics.median(w["seconds"] for w in warm)
        out["kernels_loaded_from_cache"] = all(w["cached"] for w in warm)
    out["job_fixed_cost_s"] = out["python_start_s"] + out["job_start_s"]
    return {key: round(v, 3) if isinstance(v, float) else v for key, v in out.items()}


def main() -> dict[str, Any]:
    """Measure, print a table, write benchmarks/out/scaleout.json; return it."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results = measure()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1))
    lines = [f"  {key:28s} {value}" for key, value in results.items()]
    log.info("scale-out benchmark (787-file catalogue, 2 cores):\n%s\nwritten to %s",
             "\n".join(lines), OUT)
    return results


if __name__ == "__main__":
    main()
