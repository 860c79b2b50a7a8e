"""Speed of the analysis, measured side by side: ``python benchmarks/run.py``.

Steps (see benchmarks/README.md for what each number means):

1. The benchmark file set (:mod:`files`, cached in ``benchmarks/out/files``):
   demo events in the full branch layout of real NanoAOD, 500,000 events per
   file, ZLIB level 1, clusters of 2,000 events.
2. In one run, interleaved (every task once per round, ``--repeats`` rounds),
   each task in fresh processes pinned to one core each (:mod:`worker`):
   this project's skim + histogram stages on one core and on two (one file
   per core, as the workflow runs them), its read alone, uproot's bare read
   of the same branches (the floor) on one and two cores, libdeflate alone
   on the same baskets, and the coffea processor of :mod:`coffea_agc` on one
   and two cores (if coffea is installed). Medians are reported.
3. The per-job fixed cost: processes that do what the workflow's skim and
   histogram scripts do, on a 200-event input.
4. The workflow (``snakemake --cores 2 histograms``) over a file set of
   ``--workflow-files`` entries (hard links to the generated files), its wall
   time against the sum of its jobs' own times (``results/benchmarks``).
5. ``benchmarks/scaleout.py``'s ``main()``, if present and its inputs are.

Prints events per second, MB/s and the ratios, writes everything to
``benchmarks/out/results.json`` and the table to ``benchmarks/out/table.md``.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))

import files as benchmark_files  # after the path is set

log = logging.getLogger("benchmarks")

#: The issue's anchors (its machine, a real 500,000-event file): events/s.
ISSUE_ANCHORS = {
    "coffea 2026.9 reference processor": (110_000, 145_000),
    "ROOT 6.40 RDataFrame reference": (210_000, 320_000),
    "uproot arrays() of the needed branches": (640_000, 800_000),
    "zlib decompression of those baskets (libdeflate)": (3_500_000, None),
}

#: (label, worker task, cores, extra spec keys); ``cores`` workers of one file
#: each, except coffea on two cores: one runner with a pool of two processes.
TASKS: list[tuple[str, str, int, dict[str, Any]]] = [
    ("ours", "ours", 1, {}),
    ("uproot floor", "uproot", 1, {}),
    ("coffea", "coffea", 1, {}),
    ("ours read", "read", 1, {}),
    ("libdeflate", "inflate", 1, {}),
    ("ours", "ours", 2, {}),
    ("uproot floor", "uproot", 2, {}),
    ("coffea", "coffea", 2, {"workers": 2}),
]


# --- inputs ---------------------------------------------------------------------


def make_fileset(n_files: int, events: int, cluster_events: int) -> list[Path]:
    """Generate (or reuse) the benchmark files."""
    paths = []
    for index in range(n_files):
        path = OUT / "files" / f"ttbar_{index}.root"
        info = benchmark_files.make_file(path, "ttbar", "nominal", index, events,
                                         cluster_events=cluster_events)
        log.info("file %s: %d events, %.0f MB%s", path.name, info["events"],
                 info["bytes"] / 1e6,
                 f" (written in {info['seconds']:.0f} s)" if info["seconds"] else "")
        paths.append(path)
    return paths


def file_facts(paths: list[Path]) -> dict[str, Any]:
    """Branches, sizes and the needed baskets' bytes of the file set."""
    from topxsec import rootmeta, spec

    needed = 0
    events = 0
    names = 0
    for path in paths:
        tree = rootmeta.read_tree_info(path, "Events", frozenset(spec.NEEDED_BRANCHES))
        names = len(tree.names)
        events += tree.num_entries
        needed += sum(int(info.basket_bytes.sum()) for info in tree.branches.values())
    size = sum(path.stat().st_size for path in paths)
    return {"files": [str(path) for path in paths], "events": events,
            "branches": names, "file_bytes": size, "needed_bytes": needed,
            "bytes_per_event": size / events, "needed_bytes_per_event": needed / events,
            "needed_fraction": needed / size}


def warm_page_cache(paths: list[Path]) -> None:
    """Read every file once, so that every task reads from memory."""
    for path in paths:
        with open(path, "rb") as file:
            while file.read(64 << 20):
                pass


def numba_env(cache: Path) -> dict[str, str]:
    """Environment of the workers: the benchmark's own numba cache."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("TOPXSEC_READ_THREADS", "NUMBA_NUM_THREADS")}
    env["NUMBA_CACHE_DIR"] = str(cache)
    env.setdefault("CONDOR_CONFIG", "/dev/null")
    return env


def warm_numba(env: dict[str, str]) -> None:
    """Compile the kernels into the benchmark's cache (once)."""
    subprocess.run([sys.executable, "-c",
                    "from topxsec.kernels import warm_up; warm_up()"],
                   env=env, check=True, timeout=900)


# --- the interleaved measurement ----------------------------------------------------


def run_task(task: str, groups: list[list[str]], cpus: list[int | None],
             extra: dict[str, Any], env: dict[str, str], scratch: Path
             ) -> dict[str, Any]:
    """Run one task: a worker per group of files, started together."""
    workers = []
    for k, (files, cpu) in enumerate(zip(groups, cpus, strict=True)):
        spec = {"task": task, "files": files, "cpu": cpu,
                "scratch": str(scratch / f"worker{k}"),
                "warm_file": str(OUT / "files" / "warm.root"), **extra}
        workers.append(subprocess.Popen(
            [sys.executable, str(HERE / "worker.py"), json.dumps(spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env))
    for step in ("ready", "touched"):  # all set up, then all memory touched
        for worker in workers:
            assert worker.stdout is not None
            for line in worker.stdout:
                if line.strip() == step:
                    break
            else:
                raise RuntimeError(f"worker of task {task} ended before '{step}'")
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()

    results = []
    for worker in workers:
        out, _ = worker.communicate(timeout=1800)
        if worker.returncode != 0:
            raise RuntimeError(f"worker of task {task} failed ({worker.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(r["stop"] for r in results) - min(r["start"] for r in results)
    return {"seconds": wall, "events": sum(r["events"] for r in results),
            "worker_seconds": [round(r["seconds"], 4) for r in results]}


def busy_fraction(interval: float = 1.0) -> float:
    """Fraction of the machine's CPU time not idle over ``interval`` seconds."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as file:
            fields = [int(v) for v in file.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # idle + iowait

    total_0, idle_0 = sample()
    time.sleep(interval)
    total_1, idle_1 = sample()
    return 1.0 - (idle_1 - idle_0) / max(total_1 - total_0, 1)


def wait_until_quiet(max_busy: float, max_wait: float) -> float:
    """Wait (up to ``max_wait`` s) until other processes leave the CPUs idle.

    This machine is shared: a task measured while another job runs shows
    that job, not the task. Returns the busy fraction last seen.
    """
    waited = 0.0
    busy = busy_fraction()
    while busy > max_busy and waited < max_wait:
        time.sleep(2.0)
        waited += 3.0
        busy = busy_fraction()
    if busy > max_busy:
        log.warning("CPUs %.0f %% busy with other work; measuring anyway",
                    100 * busy)
    return busy


def measure(paths: list[Path], repeats: int, env: dict[str, str],
            with_coffea: bool, max_busy: float, max_wait: float) -> dict[str, Any]:
    """Every task once per round, ``repeats`` rounds; medians per task."""
    scratch = OUT / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    tasks = [t for t in TASKS if with_coffea or t[1] != "coffea"]
    runs: dict[str, list[dict[str, Any]]] = {}
    for round_ in range(repeats):
        for label, task, cores, extra in tasks:
            if task == "coffea" and cores > 1:
                groups, cpus = [[str(p) for p in paths[:2]]], [None]
            else:
                groups = [[str(paths[k])] for k in range(cores)]
                cpus = list(range(cores))
            busy = wait_until_quiet(max_busy, max_wait)
            result = run_task(task, groups, cpus, extra, env, scratch)
            result["busy_before"] = round(busy, 3)
            key = f"{label}, {cores} core{'s' if cores > 1 else ''}"
            runs.setdefault(key, []).append(result)
            log.info("round %d  %-26s %7.3f s  %10.0f events/s  (CPUs %2.0f %% busy "
                     "before)", round_ + 1, key, result["seconds"],
                     result["events"] / result["seconds"], 100 * busy)

    summary = {}
    for key, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        events = results[0]["events"]
        summary[key] = {"median_seconds": seconds, "events": events,
                        "events_per_s": events / seconds,
                        "seconds": [round(r["seconds"], 4) for r in results],
                        "workers": [r["worker_seconds"] for r in results],
                        "busy_before": [r["busy_before"] for r in results]}
    return {"tasks": summary}


# --- per-job fixed cost -------------------------------------------------------

#: What a skim job does (workflow/scripts/skim.py under Snakemake's preamble).
_SKIM_JOB = """
import sys
from snakemake.logging import logger
from snakemake.iocontainers import Snakemake
from topxsec.jobenv import configure_numba, write_json
configure_numba({{}})
from topxsec import spec
from topxsec.skim import skim_file
summary = skim_file({source!r}, {skim!r}, cuts=spec.Cuts())
write_json({summary!r}, summary)
"""

#: What a histogram job does (workflow/scripts/fill_histograms.py).
_HISTOGRAM_JOB = """
from snakemake.logging import logger
from snakemake.iocontainers import Snakemake
from topxsec.jobenv import configure_numba
configure_numba({{}})
from topxsec import spec
from topxsec.histogramming import fill_file_histograms
fill_file_histograms({skim!r}, "ttbar", "nominal").write({out!r})
"""


#: Where a skim job's fixed cost goes, stage by stage (cumulative seconds
#: after the interpreter started).
_STAGES = """
import json, time
t0 = time.perf_counter()
from snakemake.logging import logger
from snakemake.iocontainers import Snakemake
t1 = time.perf_counter()
from topxsec.jobenv import configure_numba
configure_numba({{}})
from topxsec import nanoaod, spec
from topxsec.kernels import kernel_inputs
from topxsec.kernels.common import make_params
from topxsec.kernels.skim import skim_kernel
t2 = time.perf_counter()
events = nanoaod.read_events({source!r})
skim_kernel(*kernel_inputs(events), make_params(spec.Cuts()))
t3 = time.perf_counter()
import uproot
t4 = time.perf_counter()
print(json.dumps({{"snakemake_preamble": t1 - t0, "package_imports": t2 - t1,
                  "first_read_and_kernel_load": t3 - t2,
                  "uproot_import_for_the_writer": t4 - t3}}))
"""


def _wall(code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=600,
                   capture_output=True)
    return time.perf_counter() - started


def job_fixed_cost(path: Path, env: dict[str, str], repeats: int = 5
                   ) -> dict[str, float]:
    """Wall time of job processes on a 200-event input (median of ``repeats``)."""
    from topxsec.nanoaod import read_events, write_events

    scratch = OUT / "scratch" / "jobs"
    scratch.mkdir(parents=True, exist_ok=True)
    tiny = scratch / "tiny.root"
    write_events(tiny, read_events(path, entry_stop=200).as_arrays())
    skim = scratch / "tiny_skim.root"
    skim_code = _SKIM_JOB.format(source=str(tiny), skim=str(skim),
                                 summary=str(scratch / "summary.json"))
    hist_code = _HISTOGRAM_JOB.format(skim=str(skim), out=str(scratch / "h.json"))
    _wall(skim_code, env)  # the skim for the histogram job, and warm files

    def median(code: str) -> float:
        return statistics.median(_wall(code, env) for _ in range(repeats))

    stages = [json.loads(subprocess.run(
        [sys.executable, "-c", _STAGES.format(source=str(tiny))], env=env,
        check=True, capture_output=True, text=True, timeout=600).stdout)
        for _ in range(repeats)]
    return {"python_start_s": median("pass"),
            "skim_job_s": median(skim_code),
            "histogram_job_s": median(hist_code),
            "skim_job_stages_s": {key: statistics.median(s[key] for s in stages)
                                  for key in stages[0]}}


# --- the workflow -------------------------------------------------------------------


def workflow_run(paths: list[Path], n_entries: int, env: dict[str, str],
                 cache: Path) -> dict[str, Any]:
    """``snakemake --cores 2 histograms`` over ``n_entries`` benchmark files."""
    import yaml

    work = OUT / "workflow"
    if work.exists():
        shutil.rmtree(work)
    links = work / "inputs"
    links.mkdir(parents=True)
    entries = []
    for k in range(n_entries):
        link = links / f"ttbar_{k:03d}.root"
        source = paths[k % len(paths)]
        try:
            os.link(source, link)
        except OSError:
            os.symlink(source, link)
        entries.append({"path": str(link), "nevts": benchmark_events(source)})
    fileset = work / "fileset.yaml"
    fileset.write_text(yaml.safe_dump({"ttbar": {"nominal": {"files": entries}}}))

    results = work / "results"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "--version"], env=env,
                   check=True, capture_output=True, timeout=600)
    snakemake_start = time.perf_counter() - started
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"),
           "-d", str(work), "--cores", "2", "histograms", "--config",
           f"results={results}", f"fileset={{source: {fileset}}}",
           f"numba={{cache_dir: {cache}}}"]
    started = time.perf_counter()
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600,
                         check=False)
    wall = time.perf_counter() - started
    if run.returncode != 0:
        raise RuntimeError(f"workflow failed:\n{run.stderr[-3000:]}")

    jobs: dict[str, list[float]] = {}
    for tsv in sorted((results / "benchmarks").rglob("*.tsv")):
        rule = tsv.relative_to(results / "benchmarks").parts[0]
        with open(tsv) as file:
            row = next(csv.DictReader(file, delimiter="\t"))
        jobs.setdefault(rule, []).append(float(row["s"]))
    job_sum = sum(sum(times) for times in jobs.values())
    events = sum(entry["nevts"] for entry in entries)
    return {"entries": n_entries, "events": events, "wall_s": wall,
            "snakemake_start_s": snakemake_start,
            "job_seconds_sum": job_sum, "cores": 2,
            "ideal_wall_s": job_sum / 2, "overhead": wall / (job_sum / 2) - 1,
            "jobs": {rule: {"n": len(t), "sum_s": sum(t),
                            "median_s": statistics.median(t)}
                     for rule, t in jobs.items()},
            "events_per_s": events / wall}


def compare_with_coffea(path: Path, env: dict[str, str]) -> dict[str, Any]:
    """Coffea's histograms of one file against the project's (see worker)."""
    spec = {"task": "compare", "files": [str(path)],
            "scratch": str(OUT / "scratch" / "compare")}
    run = subprocess.run([sys.executable, str(HERE / "worker.py"), json.dumps(spec)],
                         env=env, capture_output=True, text=True, check=True,
                         timeout=1800)
    report = json.loads(run.stdout.strip().splitlines()[-1])
    log.info("coffea vs ours on %s: %d histograms equal, %d within 1e-12, %d "
             "different %s", path.name, len(report["exact"]),
             len(report["within_1e-12"]), len(report["different"]),
             report["different"] or "")
    return report


def benchmark_events(path: Path) -> int:
    """Entries of a benchmark file (from its stamp)."""
    stamp = json.loads(path.with_suffix(".json").read_text())
    return int(stamp["events"])


# --- report -------------------------------------------------------------------------


def evaluate(results: dict[str, Any]) -> dict[str, Any]:
    """Ratios and the issue's targets: reached or missed, by how much."""
    tasks = results["tasks"]

    def rate(key: str) -> float | None:
        return tasks[key]["events_per_s"] if key in tasks else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    ours1, ours2 = rate("ours, 1 core"), rate("ours, 2 cores")
    floor1, coffea1 = rate("uproot floor, 1 core"), rate("coffea, 1 core")
    ratios = {
        "ours / uproot floor, 1 core": ratio(ours1, floor1),
        "ours / uproot floor, 2 cores": ratio(ours2, rate("uproot floor, 2 cores")),
        "ours / coffea, 1 core": ratio(ours1, coffea1),
        "ours / coffea, 2 cores": ratio(ours2, rate("coffea, 2 cores")),
        "ours, 2 cores / 1 core": ratio(ours2, ours1),
        "ours / our read alone, 1 core": ratio(ours1, rate("ours read, 1 core")),
        "ours / libdeflate alone, 1 core": ratio(ours1, rate("libdeflate, 1 core")),
    }

    fixed = results.get("fixed_cost", {})
    workflow = results.get("workflow", {})
    job_cost = (max(fixed["skim_job_s"], fixed["histogram_job_s"])
                if fixed else None)
    targets = {
        "ours >= 5 x coffea, 1 core (events/s)": _target(
            ours1, 5 * coffea1 if coffea1 else None),
        "ours >= 3 x the issue's ROOT number, 1 core (events/s)": _target(
            ours1, 3 * ISSUE_ANCHORS["ROOT 6.40 RDataFrame reference"][0]),
        "ours within 10 % of the uproot floor, 1 core (events/s)": _target(
            ours1, floor1 / 1.1 if floor1 else None),
        "ours >= 1,500,000 events/s, 1 core": _target(ours1, 1_500_000),
        "2 cores >= 1.7 x 1 core (events/s)": _target(
            ours2, 1.7 * ours1 if ours2 and ours1 else None),
        "per-job fixed cost < 1.5 s (s)": _target(job_cost, 1.5, lower=True),
        "workflow wall, Snakemake's start included, <= 1.15 x jobs' time / cores "
        "(s)": _target(
            workflow.get("wall_s"),
            1.15 * workflow["ideal_wall_s"] if workflow else None, lower=True),
    }
    if workflow:
        # Snakemake's start is measured apart (``snakemake --version``): on a
        # machine with Slurm's tools but no running controller it is slow
        ratios["workflow, Snakemake's start excluded: wall / (jobs' time / cores)"] = (
            (workflow["wall_s"] - workflow["snakemake_start_s"])
            / workflow["ideal_wall_s"])
    return {"ratios": ratios, "targets": targets}


def _target(value: float | None, limit: float | None, lower: bool = False
            ) -> dict[str, Any] | None:
    """Whether ``value`` reaches ``limit`` (is at most it if ``lower``)."""
    if value is None or limit is None:
        return None
    met = value <= limit if lower else value >= limit
    return {"value": value, "limit": limit, "met": met,
            "value_over_limit": value / limit}


def table(results: dict[str, Any]) -> str:
    """The results as a Markdown table."""
    facts = results["files"]
    lines = [("| task | cores | events/s | MB/s (needed baskets) | MB/s (file) "
              "| vs uproot floor | vs coffea |"), "|---|---|---|---|---|---|---|"]
    tasks = results["tasks"]
    for key, row in tasks.items():
        label, cores = key.rsplit(", ", 1)
        n = int(cores.split()[0])
        floor = tasks.get(f"uproot floor, {cores}")
        coffea = tasks.get(f"coffea, {cores}")
        seconds = row["median_seconds"]
        needed = facts["needed_bytes_per_event"] * row["events"] / seconds / 1e6
        size = facts["bytes_per_event"] * row["events"] / seconds / 1e6
        vs_floor = (f"{row['events_per_s'] / floor['events_per_s']:.2f}"
                    if floor else "")
        vs_coffea = (f"{row['events_per_s'] / coffea['events_per_s']:.1f}"
                     if coffea else "")
        lines.append(f"| {label} | {n} | {row['events_per_s']:,.0f} | {needed:.0f} "
                     f"| {size:.0f} | {vs_floor} | {vs_coffea} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmarks; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000,
                        help="events per benchmark file (default 500,000)")
    parser.add_argument("--files", type=int, default=2,
                        help="distinct benchmark files (at least 2; default 2)")
    parser.add_argument("--cluster-events", type=int,
                        default=benchmark_files.DEFAULT_CLUSTER_EVENTS)
    parser.add_argument("--repeats", type=int, default=5,
                        help="rounds of the interleaved measurement (default 5)")
    parser.add_argument("--workflow-files", type=int, default=24,
                        help="file-set entries of the workflow run (default 24)")
    parser.add_argument("--workflow-runs", type=int, default=3,
                        help="workflow runs, the median is reported (default 3)")
    parser.add_argument("--no-coffea", action="store_true")
    parser.add_argument("--no-workflow", action="store_true")
    parser.add_argument("--no-scaleout", action="store_true")
    parser.add_argument("--max-busy", type=float, default=0.15,
                        help=("wait before a task until other work keeps the CPUs "
                              "at most this busy (default 0.15)"))
    parser.add_argument("--max-wait", type=float, default=300.0,
                        help="... but at most this many seconds (default 300)")
    parser.add_argument("--quick", action="store_true",
                        help="2 rounds, 8 workflow entries (a smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.workflow_files, args.workflow_runs = 2, 8, 1
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    paths = make_fileset(max(args.files, 2), args.events, args.cluster_events)
    warm = OUT / "files" / "warm.root"
    if not warm.exists():
        benchmark_files.make_file(warm, "ttbar", "nominal", 99, 20_000,
                                  cluster_events=args.cluster_events)
    cache = OUT / "numba_cache"
    env = numba_env(cache)
    warm_numba(env)
    warm_page_cache(paths)
    with_coffea = not args.no_coffea and importlib.util.find_spec("coffea") is not None

    results: dict[str, Any] = {"machine": _machine(), "files": file_facts(paths),
                               "issue_anchors": ISSUE_ANCHORS}
    if with_coffea:
        results["coffea_vs_ours"] = compare_with_coffea(paths[0], env)
    results.update(measure(paths, args.repeats, env, with_coffea, args.max_busy,
                           args.max_wait))
    results["fixed_cost"] = job_fixed_cost(paths[0], env)
    if not args.no_workflow:
        workflow_runs = []
        for _ in range(args.workflow_runs):
            wait_until_quiet(args.max_busy, args.max_wait)
            workflow_runs.append(workflow_run(paths, args.workflow_files, env, cache))
            log.info("workflow: wall %.1f s, jobs' own times %.1f s",
                     workflow_runs[-1]["wall_s"], workflow_runs[-1]["job_seconds_sum"])
        workflow_runs.sort(key=lambda run: run["wall_s"])
        results["workflow"] = workflow_runs[len(workflow_runs) // 2]
        results["workflow"]["walls_s"] = [run["wall_s"] for run in workflow_runs]
    if not args.no_scaleout and (HERE / "scaleout.py").exists():
        results["scaleout"] = _scaleout()
    results.update(evaluate(results))
    results["load_average_after"] = os.getloadavg()

    OUT.mkdir(exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=1, default=str))
    text = table(results)
    (OUT / "table.md").write_text(text + "\n")
    print(_report(results, text))
    return results


def _scaleout() -> dict[str, Any]:
    """benchmarks/scaleout.py's numbers, or why there are none."""
    try:
        import scaleout

        return scaleout.main()
    except Exception as exc:  # noqa: BLE001 - e.g. the catalogue is not cached
        log.warning("scaleout benchmark skipped: %s", exc)
        return {"skipped": f"{type(exc).__name__}: {exc}"}


def _machine() -> dict[str, Any]:
    import numpy

    versions = {"python": platform.python_version(), "numpy": numpy.__version__}
    for name in ("uproot", "awkward", "numba", "deflate", "coffea"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = None
    return {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
            "load_average_start": os.getloadavg(), "versions": versions}


def _report(results: dict[str, Any], text: str) -> str:
    """The printed summary: file set, table, ratios, targets, costs."""
    facts = results["files"]
    per_file = facts["events"] // len(facts["files"])
    header = (f"{len(facts['files'])} files of {per_file:,} events, "
              f"{facts['branches']} branches, {facts['bytes_per_event']:.0f} B/event; "
              f"needed baskets {facts['needed_bytes_per_event']:.0f} B/event "
              f"({100 * facts['needed_fraction']:.1f} %)")
    lines = ["", header, "", text, ""]
    lines += [f"{name:62s} {value:8.2f}" for name, value in results["ratios"].items()
              if value is not None]
    lines.append("")
    for name, target in results["targets"].items():
        if target is not None:
            verdict = "met" if target["met"] else "MISSED"
            lines.append(f"{name:56s} {verdict:6s} {target['value']:>12,.2f} vs "
                         f"{target['limit']:>12,.2f} "
                         f"(x{target['value_over_limit']:.2f})")
    inflate = results["tasks"].get("libdeflate, 1 core")
    if inflate:
        lines.append(f"  bound: libdeflate alone on the needed baskets, 1 core: "
                     f"{inflate['events_per_s']:,.0f} events/s")

    fixed = results.get("fixed_cost", {})
    if fixed:
        lines.append("")
        for key, value in fixed.items():
            if isinstance(value, dict):
                lines += [f"  {k:32s} {v:.3f} s" for k, v in value.items()]
            else:
                lines.append(f"{key:34s} {value:.3f} s")
    workflow = results.get("workflow")
    if workflow:
        lines += ["", (f"workflow, {workflow['entries']} files, 2 cores: wall "
                       f"{workflow['wall_s']:.1f} s (Snakemake's own start "
                       f"{workflow['snakemake_start_s']:.1f} s); jobs' own times "
                       f"{workflow['job_seconds_sum']:.1f} s / 2 = "
                       f"{workflow['ideal_wall_s']:.1f} s "
                       f"(+{100 * workflow['overhead']:.0f} %)")]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
