"""Scaling out: files split into entry ranges, files added to a finished run.

A split file's chunk histograms merge to exactly the single-job result (the
histogram sums are exact, see topxsec.kernels.histograms); adding files runs
only the new files' jobs and the merges after them; a catalogue file of 1.3
million events becomes several event-range jobs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from test_workflow import planned, snakemake, write_config
from topxsec import fileset as fs

pytestmark = pytest.mark.slow

EVENTS_PER_JOB = 12000


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file set of one generated ttbar file of 30000 events."""
    from topxsec.demo import generate_file

    root = tmp_path_factory.mktemp("big")
    path = root / "ttbar.root"
    info = generate_file(path, "ttbar", "nominal", 0, 30000)
    fileset = root / "fileset.yaml"
    fileset.write_text(yaml.safe_dump({"ttbar": {"nominal": {"files": [
        {"path": str(path), "nevts": info["nevts"]}]}}}))
    return fileset


def test_split_file_merges_to_the_single_job_result(big_file: Path,
                                                    tmp_path: Path) -> None:
    results = {}
    for events_per_job in (None, EVENTS_PER_JOB):
        workdir = tmp_path / str(events_per_job)
        workdir.mkdir()
        config = write_config(workdir, {"fileset": {"source": str(big_file)},
                                        "skim": {"events_per_job": events_per_job}})
        snakemake(workdir, "histograms", "--configfile", str(config))
        results[events_per_job] = workdir / "results"

    split = results[EVENTS_PER_JOB]
    parts = sorted(p.stem for p in (split / "histograms/ttbar/nominal").glob("*.json"))
    assert parts == ["0000-000", "0000-001", "0000-002"]
    ranges = [json.loads((split / f"skims/ttbar/nominal/{part}.json").read_text())
              for part in parts]
    assert [r["entry_start"] for r in ranges] == [0, EVENTS_PER_JOB,
                                                  2 * EVENTS_PER_JOB]
    assert sum(r["events_read"] for r in ranges) == 30000

    whole = json.loads((results[None] / "histograms.json").read_text())
    chunks = json.loads((split / "histograms.json").read_text())
    assert whole and chunks.keys() == whole.keys()
    for name in whole:  # bin for bin, to the last bit
        assert chunks[name] == whole[name], name


def test_catalogue_file_becomes_event_range_jobs(tmp_path: Path) -> None:
    catalogue = fs.load_agc_catalogue()
    first = catalogue[("ttbar", "nominal")][0]
    assert first.nevts > 1_000_000
    per_job = 400_000
    config = write_config(tmp_path, {"fileset": {"source": "agc", "max_files_per_set": 1,
                                                 "sets": ["ttbar__nominal"]},
                                     "skim": {"events_per_job": per_job}})
    jobs = planned(tmp_path, "histograms", "--configfile", str(config))
    assert jobs["skim"] == math.ceil(first.nevts / per_job) > 1
    assert jobs["fill_histograms"] == jobs["skim"]


def _job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:", 1)[1].splitlines()[3:]
    counts = {}
    for line in table:
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit():
            break
        counts[fields[0]] = int(fields[1])
    return counts


def test_added_files_run_only_their_jobs(tmp_path: Path) -> None:
    sets = {"sets": ["ttbar__nominal", "single_top_t_chan"]}
    one = write_config(tmp_path, {"fileset": sets,
                                  "demo": {"files_per_set": {"default": 1,
                                                             "ttbar__nominal": 1}}},
                       "one.yaml")
    snakemake(tmp_path, "histograms", "--configfile", str(one))
    skims = sorted((tmp_path / "results/skims").rglob("*.root"))
    before = {p: p.stat().st_mtime_ns for p in skims}

    two = write_config(tmp_path, {"fileset": sets,
                                  "demo": {"files_per_set": {"default": 2,
                                                             "ttbar__nominal": 2}}},
                       "two.yaml")
    expected = {"demo_file": 2, "skim": 2, "fill_histograms": 2, "merge": 1,
                "histograms": 1}
    assert planned(tmp_path, "histograms", "--configfile", str(two)) == expected
    run = snakemake(tmp_path, "histograms", "--configfile", str(two))
    assert _job_counts(run.stdout + run.stderr) == {**expected, "total": 8}
    assert {p: p.stat().st_mtime_ns for p in skims} == before
    assert len(list((tmp_path / "results/skims").rglob("*.root"))) == 4


_WARM_UP = """
import json
from topxsec.kernels import warm_up
report = warm_up(["histograms"])["kernels"]["histograms"]
print(json.dumps(report))
"""


def _warm_up(cache: Path, **env: str) -> dict:
    import os
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _WARM_UP], capture_output=True,
                         text=True, timeout=300, check=True,
                         env={**os.environ, "NUMBA_CACHE_DIR": str(cache), **env})
    return json.loads(run.stdout.splitlines()[-1])


def test_generic_kernel_cache_is_shared_and_a_missing_one_compiles(
        tmp_path: Path) -> None:
    cache = tmp_path / "shared"
    # Compiled once for a generic CPU, loaded by the next job (any x86-64 node
    # of a mixed pool gets the same machine code).
    first = _warm_up(cache, NUMBA_CPU_NAME="generic")
    second = _warm_up(cache, NUMBA_CPU_NAME="generic")
    assert not first["loaded_from_cache"] and second["loaded_from_cache"]
    # A job whose cache cannot be used (a file where the directory should be)
    # compiles in memory and still runs.
    blocked = tmp_path / "blocked"
    blocked.write_text("not a directory\n")
    third = _warm_up(blocked, NUMBA_CPU_NAME="generic")
    assert not third["loaded_from_cache"] and third["signatures"]


def test_exact_sum_constants_agree() -> None:
    from topxsec import hists
    from topxsec.kernels import histograms as kernel

    assert kernel.EXACT_FRACTION_BITS == hists.EXACT_FRACTION_BITS
    assert kernel.EXACT_LIMB_BITS == hists.EXACT_LIMB_BITS


@pytest.mark.parametrize("seed", [1, 2])
def test_exact_sums_do_not_depend_on_grouping(seed: int) -> None:
    from fractions import Fraction

    import numpy as np

    from topxsec.hists import EXACT_FRACTION_BITS, Histogram

    rng = np.random.default_rng(seed)
    weights = 1.0 + 0.075 * rng.exponential(1.0, (40, 3))
    edges = [0.0, 1.0]
    units = [[int(Fraction(w) * 2**EXACT_FRACTION_BITS) for w in row]
             for row in weights]
    singles = [Histogram.from_exact(edges, row, row) for row in units]
    forward = singles[0]
    for h in singles[1:]:
        forward = forward + h
    backward = singles[-1]
    for h in singles[-2::-1]:
        backward = backward + h
    exact = [float(sum(Fraction(w) for w in weights[:, i])) for i in range(3)]
    np.testing.assert_array_equal(forward.sumw, exact)
    np.testing.assert_array_equal(backward.sumw, forward.sumw)
