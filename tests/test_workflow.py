"""The workflow end to end: a tiny demo run, the real file, reruns, bad inputs.

One tiny demo run is made per test session (module fixture); the rerun tests
then ask Snakemake what a change would rerun, with dry runs against it.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import uproot
import yaml

from topxsec import spec

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 1200

#: A demo file set small enough for tests, big enough for a meaningful fit.
#: Snakemake merges config files key by key, so every key that
#: config/config.yaml sets in these tables is set here too.
TINY_DEMO = {
    "demo": {
        "files_per_set": {"default": 1, "ttbar__nominal": 1, "wjets": 1},
        "events_per_file": {"default": 10000, "ttbar": 20000, "ttbar__nominal": 40000,
                            "single_top_s_chan": 50000, "single_top_t_chan": 50000,
                            "single_top_tW": 10000, "wjets": 2000000},
    },
    # three impact jobs (of 33 parameters) and a short scan keep the run short
    "inference": {"impacts_per_job": 12, "scan_points": 11},
}

#: The outputs of the inference stage, below the results directory.
INFERENCE_OUTPUTS = ["inference/impacts.json", "inference/impacts.html",
                     "plots/ranking.png", "inference/scan.json", "plots/scan.png",
                     "inference/sensitivity.json", "inference/sensitivity.html",
                     "inference/gof.json", "inference/gof.html"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def package_copy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the package that the workflow runs (and tests may edit).

    ``PYTHONPATH`` puts it ahead of the installed package, for the Snakefile
    and every job, so a test can change a kernel's code for real without
    touching the repository.
    """
    root = tmp_path_factory.mktemp("package")
    shutil.copytree(REPO / "src" / "topxsec", root / "topxsec",
                    ignore=shutil.ignore_patterns("__pycache__"))
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), old]))
    yield root / "topxsec"
    if old is None:
        del os.environ["PYTHONPATH"]
    else:
        os.environ["PYTHONPATH"] = old


def snakemake(workdir: Path, *args: str, check: bool = True,
              timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run Snakemake on the repository's Snakefile in ``workdir``.

    Targets must come before options that take several values
    (``--configfile``), or Snakemake reads them as more of those values.
    """
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"),
           "-d", str(workdir), "--cores", "2", *args]
    env = {**os.environ, "CONDOR_CONFIG": "/dev/null"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env,
                            timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-4000:]}"
            f"\n{result.stderr[-8000:]}"
        )
    return result


def planned(workdir: Path, *args: str) -> dict[str, int]:
    """Rule -> number of jobs a dry run plans (empty: nothing to do)."""
    result = snakemake(workdir, "-n", *args)
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1]
    counts: dict[str, int] = {}
    for line in table.splitlines()[3:]:
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not match:
            break
        if match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
    return counts


def write_config(workdir: Path, extra: dict, name: str = "config.yaml") -> Path:
    """Write a config file (merged over the tiny demo) into the work dir."""
    doc = json.loads(json.dumps(TINY_DEMO))
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            for sub, item in value.items():
                if isinstance(item, dict) and isinstance(doc[key].get(sub), dict):
                    doc[key][sub].update(item)
                else:
                    doc[key][sub] = item
        else:
            doc[key] = value
    path = workdir / name
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A complete run of the workflow on the tiny demo file set."""
    workdir = tmp_path_factory.mktemp("demo_run")
    config = write_config(workdir, {})
    snakemake(workdir, "--configfile", str(config))
    yield workdir


def test_demo_run_outputs(demo_run: Path) -> None:
    results = demo_run / "results"
    fit = json.loads((results / "fit.json").read_text())
    poi = fit["parameters"]["ttbar_norm"]
    assert math.isfinite(poi["value"]) and 0.3 < poi["value"] < 3.0
    assert poi["error"] > 0
    assert fit["status"]["valid"]

    with uproot.open(results / "histograms.root") as f:
        names = set(f.keys(cycle=False))
    for region in spec.REGIONS:
        assert f"{region}_ttbar" in names
        assert f"{region}_pseudodata" in names
        assert f"{region}_wjets_scale_var_down" in names
        assert f"{region}_ttbar_PS_var" in names

    plots = sorted(p.name for p in (results / "plots").glob("*.png"))
    assert "pulls.png" in plots and "correlation.png" in plots
    assert "stack_4j2b.png" in plots and "postfit_4j1b.png" in plots

    log = (results / "logs" / "fit" / "fit.log").read_text()
    assert "ttbar_norm" in log

    inspect = subprocess.run(
        [str(Path(sys.executable).with_name("pyhf")), "inspect",
         str(results / "workspace.json")],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert inspect.returncode == 0, inspect.stderr
    assert "4j2b SR" in inspect.stdout


def test_demo_run_inference(demo_run: Path) -> None:
    results = demo_run / "results"
    for name in INFERENCE_OUTPUTS:
        assert (results / name).stat().st_size > 0, name
    fit = json.loads((results / "fit.json").read_text())
    error = fit["parameters"]["ttbar_norm"]["error"]

    impacts = json.loads((results / "inference/impacts.json").read_text())["impacts"]
    model = yaml.safe_load((REPO / "config" / "model.yaml").read_text())
    names = [s["name"] for s in model["systematics"]]
    assert len(impacts) == len(names) + 22
    assert {e["parameter"] for e in impacts} >= set(names)
    assert len(list((results / "inference/impacts").glob("*.json"))) == 3
    assert len(list((results / "logs/impacts").glob("*.log"))) == 3
    top = impacts[0]
    assert top["status"] == "ok" and 0 < abs(top["impacts"]["postfit_up"]) < error

    scan = json.loads((results / "inference/scan.json").read_text())
    half = 0.5 * (scan["intervals"]["68"]["plus"] + scan["intervals"]["68"]["minus"])
    assert half == pytest.approx(error, rel=0.1)
    log = (results / "logs/scan/scan.log").read_text()
    assert "MINUIT (HESSE) uncertainty" in log and "half width / HESSE" in log

    sensitivity = json.loads((results / "inference/sensitivity.json").read_text())
    expected = sensitivity["expected"]
    assert expected["value"] == pytest.approx(1.0, abs=0.01)
    assert 0 < expected["statistical"] < expected["total"]
    gof = json.loads((results / "inference/gof.json").read_text())
    for test in [gof["combined"], *gof["channels"].values()]:
        assert 0.0 < test["p_value"] <= 1.0


def test_report(demo_run: Path) -> None:
    config = demo_run / "config.yaml"
    snakemake(demo_run, "--configfile", str(config), "--report", "report.html")
    text = (demo_run / "report.html").read_text()
    for item in ("pulls.png", "stack_4j2b.png", "fit_table.html", "cutflow.html",
                 "ranking.png", "scan.png", "impacts.html", "sensitivity.html",
                 "gof.html"):
        assert item in text


def test_nothing_to_do_after_run(demo_run: Path) -> None:
    assert planned(demo_run, "--configfile", str(demo_run / "config.yaml")) == {}


def test_new_binning_reruns_histograms_not_skims(demo_run: Path) -> None:
    # 50 bins keep every rebinning edge of the model (10 GeV, from 50 GeV)
    config = write_config(demo_run, {"histograms": {"bins": 50}}, "binning.yaml")
    jobs = planned(demo_run, "--configfile", str(config))
    n_files = len(list((demo_run / "results" / "skims").rglob("*.root")))
    assert jobs.get("fill_histograms") == n_files
    assert "skim" not in jobs and "demo_file" not in jobs
    assert {"merge", "workspace", "fit", "plot_fit", "plot_distributions"} <= set(jobs)


def test_new_file_adds_one_skim_and_one_histogram_job(demo_run: Path) -> None:
    extra = {"demo": {"files_per_set": {"ttbar__nominal": 2}}}
    config = write_config(demo_run, extra, "more_files.yaml")
    jobs = planned(demo_run, "--configfile", str(config))
    assert jobs["demo_file"] == 1 and jobs["skim"] == 1 and jobs["fill_histograms"] == 1
    assert "compile_kernels" not in jobs
    assert {"merge", "workspace", "fit"} <= set(jobs)


def test_model_change_reruns_statistics_only(demo_run: Path) -> None:
    model = yaml.safe_load((REPO / "config" / "model.yaml").read_text())
    changed = demo_run / "model_changed.yaml"
    model.setdefault("poi", {})
    changed.write_text(yaml.safe_dump(model) + "\n# a changed model\n")
    config = write_config(demo_run, {"model": str(changed)}, "model.yaml")
    jobs = planned(demo_run, "--configfile", str(config))
    inference = {"impacts", "ranking", "scan", "sensitivity", "goodness_of_fit"}
    assert set(jobs) <= {"workspace", "fit", "plot_fit", "all"} | inference
    assert {"workspace", "fit", "plot_fit"} | inference <= set(jobs)


def planned_after_edit(demo_run: Path, source: Path) -> dict[str, int]:
    """The jobs a dry run of ``demo_run`` plans with ``source`` edited (restored)."""
    original = source.read_text()
    try:
        source.write_text(original + "\n# an edit of the code\n")
        return planned(demo_run, "--configfile", str(demo_run / "config.yaml"))
    finally:
        source.write_text(original)


@pytest.mark.parametrize(
    ("kernel", "reruns", "keeps"),
    [
        ("histograms", {"fill_histograms", "merge"}, {"skim", "demo_file"}),
        ("skim", {"skim", "fill_histograms", "merge"}, {"demo_file"}),
    ],
)
def test_kernel_change_reruns_its_users(demo_run: Path, package_copy: Path,
                                        kernel: str, reruns: set[str],
                                        keeps: set[str]) -> None:
    jobs = planned_after_edit(demo_run, package_copy / "kernels" / f"{kernel}.py")
    assert jobs.get("compile_kernels") == 1
    assert reruns <= set(jobs)
    assert not keeps & set(jobs)


@pytest.mark.parametrize(
    ("module", "reruns", "keeps"),
    [
        ("merge", {"merge", "workspace", "fit"}, {"fill_histograms", "skim"}),
        ("plotting", {"plot_distributions", "plot_fit"},
         {"merge", "workspace", "fit", "fill_histograms"}),
        ("histogramming", {"fill_histograms", "merge"}, {"skim", "demo_file"}),
    ],
)
def test_package_change_reruns_its_users(demo_run: Path, package_copy: Path,
                                         module: str, reruns: set[str],
                                         keeps: set[str]) -> None:
    jobs = planned_after_edit(demo_run, package_copy / f"{module}.py")
    assert reruns <= set(jobs)
    assert not keeps & set(jobs)


def test_filter_cut_regenerates_only_the_filtered_demo_sets(demo_run: Path) -> None:
    from topxsec import demo

    config = write_config(demo_run, {"selection": {"min_jets": 5}}, "min_jets.yaml")
    jobs = planned(demo_run, "--configfile", str(config))
    filtered_files = sum(
        len(list((demo_run / "results" / "demo").glob(name.replace("__", "/") + "/*")))
        for name in demo.filtered_sets())
    assert jobs["demo_file"] == filtered_files > 0

    # Any other cut keeps the demo files.
    config = write_config(demo_run, {"selection": {"electron_pt": 31.0}}, "el.yaml")
    jobs = planned(demo_run, "--configfile", str(config))
    assert "demo_file" not in jobs and "skim" in jobs


def test_sets_the_model_needs_are_checked_before_any_job(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"fileset": {"sets": ["ttbar__nominal"]}})
    result = snakemake(tmp_path, "--configfile", str(config), check=False)
    assert result.returncode != 0
    assert "config key 'fileset.sets'" in result.stderr + result.stdout
    assert not (tmp_path / "results" / "demo").exists()

    # The histograms of a few sets are a legitimate target.
    jobs = planned(tmp_path, "histograms", "--configfile", str(config))
    assert jobs["skim"] == 1 and "workspace" not in jobs


def test_file_set_without_what_the_model_needs_stops_before_any_job(
        tmp_path: Path) -> None:
    fileset = tmp_path / "partial.yaml"
    fileset.write_text(yaml.safe_dump(
        {"ttbar": {"nominal": {"files": [{"path": _real_file(), "nevts": 200}]}}}))
    config = write_config(tmp_path, {"fileset": {"source": str(fileset)}})
    result = snakemake(tmp_path, "--configfile", str(config), check=False)
    assert result.returncode != 0
    assert "config key 'fileset.source'" in result.stderr + result.stdout
    assert "wjets__nominal" in result.stderr + result.stdout
    assert not (tmp_path / "results" / "skims").exists()


def test_cut_looser_than_the_demo_filter_stops_before_any_job(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"selection": {"jet_pt": 29.5}})
    result = snakemake(tmp_path, "--configfile", str(config), check=False)
    assert result.returncode != 0
    assert "config key 'selection.jet_pt'" in result.stderr + result.stdout
    assert not (tmp_path / "results" / "demo").exists()


def test_dag_and_rulegraph(demo_run: Path) -> None:
    config = str(demo_run / "config.yaml")
    dag = snakemake(demo_run, "--configfile", config, "--dag").stdout
    assert dag.count("skim") >= 9 and "digraph" in dag
    graph = snakemake(demo_run, "--configfile", config, "--rulegraph", "mermaid-js")
    for rule in ("skim", "fill_histograms", "merge", "workspace", "fit", "plot_fit"):
        assert rule in graph.stdout


def test_bad_config_stops_before_any_job(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"histograms": {"bins": 0}})
    result = snakemake(tmp_path, "--configfile", str(config), check=False)
    assert result.returncode != 0
    assert "config key 'histograms.bins'" in result.stderr + result.stdout
    assert not (tmp_path / "results").exists()


# --- validation against the public reference ---------------------------------


def _reference_as_root(path: Path, altered: bool) -> Path:
    """The one-file reference contents as histograms.root, one bin changed if asked."""
    from topxsec import fileset, merge
    from topxsec.hists import Histogram

    histograms = merge.read_histograms(
        fileset.public_file("histos_1_file_per_process.json"))
    if altered:
        hist = histograms["4j2b_ttbar"]
        sumw = hist.sumw.copy()
        sumw[12] *= 1.01
        histograms["4j2b_ttbar"] = Histogram(hist.edges, sumw, hist.sumw2)
    merge.write_histograms(histograms, path)
    return path


@pytest.mark.parametrize("altered", [False, True])
def test_validate_rule(tmp_path: Path, altered: bool) -> None:
    histograms = _reference_as_root(tmp_path / "histograms.root", altered)
    config = write_config(tmp_path, {
        "fileset": {"source": "agc", "max_files_per_set": 1},
        "validation": {"histograms": str(histograms)},
    })
    snakemake(tmp_path, "validate", "--configfile", str(config))

    results = tmp_path / "results"
    doc = json.loads((results / "validation/validation.json").read_text())
    assert doc["reference"] == "histos_1_file_per_process.json"
    assert doc["passed"] is not altered
    assert doc["counts"].get("fail", 0) == int(altered)
    table = (results / "validation/validation.html").read_text()
    assert ("FAILED" in table) is altered
    log = (results / "logs/validate_histograms/validate_histograms.log").read_text()
    assert ("FAILED for 1 histograms: 4j2b_ttbar" in log) is altered
    assert not (results / "skims").exists()

    snakemake(tmp_path, "validate", "--configfile", str(config), "--report",
              "report.html")
    assert "validation.html" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize(
    ("extra", "key"),
    [({}, "fileset.source"),
     ({"fileset": {"source": "agc", "max_files_per_set": 3}},
      "validation.reference_files"),
     ({"fileset": {"source": "agc", "max_files_per_set": 1},
       "validation": {"reference_files": 2}}, "validation.reference_files")],
)
def test_validate_needs_a_run_with_a_reference(tmp_path: Path, extra: dict,
                                               key: str) -> None:
    config = write_config(tmp_path, extra)
    result = snakemake(tmp_path, "validate", "--configfile", str(config),
                       check=False)
    assert result.returncode != 0
    assert f"config key '{key}'" in result.stdout + result.stderr
    assert not (tmp_path / "results" / "skims").exists()


def _real_file() -> str:
    import skhep_testdata

    return skhep_testdata.data_path("nanoAOD_2015_CMS_Open_Data_ttbar.root")


def test_real_file_through_histograms(tmp_path: Path) -> None:
    fileset = tmp_path / "real.yaml"
    fileset.write_text(yaml.safe_dump(
        {"ttbar": {"nominal": {"files": [{"path": _real_file(), "nevts": 200}]}}}
    ))
    config = write_config(tmp_path, {"fileset": {"source": str(fileset)}})
    snakemake(tmp_path, "histograms", "--configfile", str(config))

    results = tmp_path / "results"
    summary = json.loads((results / "skims/ttbar/nominal/0000.json").read_text())
    assert summary["events_read"] == 200 and summary["events_kept"] == 1
    hists = json.loads((results / "histograms/ttbar/nominal/0000.json").read_text())
    assert hists["cutflow"]["4j1b"] == 0 and hists["cutflow"]["4j2b"] == 0
    with uproot.open(results / "histograms.root") as f:
        assert not f.keys()  # no event reaches a region in this file


def _write_without_branch(source: str, target: Path, branch: str) -> None:
    from topxsec.nanoaod import write_events

    names = [b for b in spec.NEEDED_BRANCHES if b != branch]
    arrays = uproot.open(source)["Events"].arrays(names)
    write_events(target, {name: arrays[name] for name in names})


def test_bad_inputs_fail_only_their_job(tmp_path: Path) -> None:
    real = _real_file()
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(Path(real).read_bytes()[:150_000])
    not_root = tmp_path / "not_root.root"
    not_root.write_text("this is not a ROOT file\n")
    no_btag = tmp_path / "no_btag.root"
    _write_without_branch(real, no_btag, "Jet_btagCSVV2")
    missing = tmp_path / "missing.root"

    files = [real, truncated, not_root, no_btag, missing]
    fileset = tmp_path / "bad.yaml"
    fileset.write_text(yaml.safe_dump({"ttbar": {"nominal": {"files": [
        {"path": str(p), "nevts": 200} for p in files
    ]}}}))
    config = write_config(tmp_path, {"fileset": {"source": str(fileset)}})
    result = snakemake(tmp_path, "histograms", "--keep-going",
                       "--configfile", str(config), check=False)
    assert result.returncode != 0

    results = tmp_path / "results"
    assert (results / "histograms/ttbar/nominal/0000.json").exists()
    for index, path in enumerate(files[1:], start=1):
        assert not (results / f"skims/ttbar/nominal/{index:04d}.root").exists()
        assert not (results / f"skims/ttbar/nominal/{index:04d}.json").exists()
        log = (results / f"logs/skim/ttbar/nominal/{index:04d}.log").read_text()
        assert str(path) in log, log[-2000:]
    no_btag_log = (results / "logs/skim/ttbar/nominal/0003.log").read_text()
    assert "Jet_btagCSVV2" in no_btag_log
    assert not (results / "histograms.root").exists()


# --- HTCondor (submit descriptions: tests/test_condor.py) ----------------------


def test_condor_profile_is_installed() -> None:
    """``--profile condor`` finds this repository's profile (setup.sh links it).

    Another clone's link is fine as long as it holds the same profile.
    """
    config_home = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    installed = config_home / "snakemake" / "condor" / "config.yaml"
    assert installed.exists(), "run setup.sh: it links profiles/condor there"
    ours = REPO / "profiles" / "condor" / "config.yaml"
    assert installed.read_text() == ours.read_text(), (
        f"{installed} is another version of the profile; run setup.sh again"
    )


def test_condor_dry_run_plans_the_whole_dag(tmp_path: Path) -> None:
    config = write_config(tmp_path, {})
    jobs = planned(tmp_path, "--configfile", str(config), "--profile", "condor")
    n_sets = sum(len(v) for v in spec.FILE_SETS.values())
    assert jobs["demo_file"] == n_sets and jobs["skim"] == n_sets
    assert jobs["fill_histograms"] == n_sets
    assert {"compile_kernels", "merge", "workspace", "fit", "plot_fit"} <= set(jobs)
