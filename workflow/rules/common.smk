# Shared by every stage: the file set, the job table, paths, wildcard
# constraints, resources. Kept light: every batch job parses it again.

import functools
import hashlib
import json
from pathlib import Path

import topxsec
from topxsec import config as topxsec_config
from topxsec import fileset as fs
from topxsec import spec

REPO = Path(workflow.basedir)
RESULTS = config["results"]

# The relations between config values are checked once, before any job, by
# the process that plans the run; a batch job parses this file again where
# the user's own file set (or model) may not have been transferred.
if workflow.is_main_process:
    topxsec_config.check(config, REPO)
CUTS = topxsec_config.cuts(config).as_dict()
BINNING = topxsec_config.binning(config)
MODEL = str(topxsec_config.model_path(config, REPO))


def load_fileset() -> fs.Fileset:
    """The file set the config selects."""
    source = config["fileset"]["source"]
    if source == "demo":
        demo = config["demo"]
        full = fs.demo_fileset(RESULTS, demo["files_per_set"], demo["events_per_file"])
    elif source == "agc":
        full = fs.load_agc_catalogue()
    else:
        full = fs.load_user_fileset(source)
    selected = fs.select(
        full,
        max_files=config["fileset"]["max_files_per_set"],
        rules=config["fileset"]["rewrite"],
        sets=config["fileset"]["sets"],
    )
    if not selected.n_files():
        raise topxsec.errors.ConfigError("fileset", f"selects no file from {source!r}")
    return selected


# Built once per workflow and cached: every batch job parses this file again
# and then reads one small JSON file, not the catalogue.
_SOURCE = config["fileset"]["source"]
FILESET, JOBS = fs.cached_job_table(
    f"{RESULTS}/.jobs",
    {"fileset": config["fileset"], "demo": config["demo"], "results": RESULTS},
    load_fileset,
    config["skim"]["events_per_job"],
    source_file=None if _SOURCE in ("demo", "agc") else _SOURCE,
)
JOB_BY_WILDCARDS = {(j.process, j.variation, j.part): j for j in JOBS}


wildcard_constraints:
    process="|".join(spec.PROCESSES),
    variation="|".join(sorted({v for vs in spec.FILE_SETS.values() for v in vs})),
    part=r"\d{4}(-\d{3})?",
    index=r"\d{4}",
    kernel="skim|histograms",


# Paths of the outputs.
DEMO_FILE = RESULTS + "/demo/{process}/{variation}/{index}.root"
KERNEL_STAMP = RESULTS + "/kernels/{kernel}.json"
SKIM = RESULTS + "/skims/{process}/{variation}/{part}.root"
SKIM_SUMMARY = RESULTS + "/skims/{process}/{variation}/{part}.json"
FILE_HISTOGRAMS = RESULTS + "/histograms/{process}/{variation}/{part}.json"
MERGED_ROOT = RESULTS + "/histograms.root"
MERGED_JSON = RESULTS + "/histograms.json"
CUTFLOW = RESULTS + "/cutflow.json"
CUTFLOW_TABLE = RESULTS + "/cutflow.html"
WORKSPACE = RESULTS + "/workspace.json"
FIT = RESULTS + "/fit.json"
FIT_TABLE = RESULTS + "/fit_table.html"
PLOTS = RESULTS + "/plots"


def job_of(wildcards) -> fs.Job:
    """The job of a skim/histogram rule's wildcards."""
    return JOB_BY_WILDCARDS[(wildcards.process, wildcards.variation, wildcards.part)]


def all_jobs(pattern: str) -> list[str]:
    """``pattern`` filled in for every job."""
    return [
        pattern.format(process=j.process, variation=j.variation, part=j.part)
        for j in JOBS
    ]


def logfile(rule: str, wildcards: str = "") -> str:
    """``<results>/logs/<rule>/<wildcards>.log``."""
    return f"{RESULTS}/logs/{rule}/{wildcards or rule}.log"


def benchfile(rule: str, wildcards: str = "") -> str:
    """``<results>/benchmarks/<rule>/<wildcards>.tsv``."""
    return f"{RESULTS}/benchmarks/{rule}/{wildcards or rule}.tsv"


def stage_resources(stage: str) -> dict:
    """Resources of a stage from the config, in the names executors read.

    Memory grows with the attempt number, so a retry after running out of
    memory asks for more. HTCondor's plugin reads ``htcondor_request_*``;
    Slurm and local runs read ``mem_mb``, ``disk_mb`` and ``runtime``.
    """
    res = config["resources"][stage]
    return {
        "mem_mb": lambda wildcards, attempt: res["mem_mb"] * attempt,
        "htcondor_request_mem_mb": lambda wildcards, attempt: res["mem_mb"] * attempt,
        "disk_mb": res["disk_mb"],
        "htcondor_request_disk_mb": res["disk_mb"],
        "runtime": res["runtime"],
    }


def stage_threads(stage: str) -> int:
    """Threads of a reading stage's jobs (``resources.<stage>.threads``, or 1)."""
    return config["resources"][stage].get("threads", 1)


#: The package modules each rule's script calls into, besides the kernels
#: (``compile_kernels`` tracks those). A hash of their sources is a param of the
#: rule: editing a module reruns the jobs of the rules that use it, and what
#: follows them, whatever the files' modification times.
RULE_CODE = {
    "demo_file": ("demo", "nanoaod", "spec"),
    "skim": ("skim", "nanoaod", "fastread", "rootmeta", "spec"),
    "fill_histograms": ("histogramming", "hists", "nanoaod", "fastread",
                        "rootmeta", "spec"),
    "merge": ("merge", "hists", "spec"),
    "cutflow": ("tables",),
    "workspace": ("workspace", "merge", "hists", "spec"),
    "fit": ("fit", "tables"),
    "impacts": ("inference", "fit", "workspace"),
    "ranking": ("inference", "plotting_inference", "plotting"),
    "scan": ("inference", "fit", "plotting_inference", "plotting"),
    "sensitivity": ("inference", "fit", "workspace"),
    "goodness_of_fit": ("inference", "fit"),
    "plot_distributions": ("plotting", "merge", "spec"),
    "plot_fit": ("plotting", "fit", "workspace"),
    "validate_histograms": ("validation", "merge", "hists", "tables", "fileset"),
}

@functools.cache
def code_version(rule: str) -> str:
    """16 hex digits of a hash of the modules in ``RULE_CODE[rule]``."""
    package = Path(topxsec.__file__).parent
    digest = hashlib.sha256()
    for name in RULE_CODE[rule]:
        digest.update(name.encode())
        digest.update((package / f"{name}.py").read_bytes())
    return digest.hexdigest()[:16]


def kernel_sources(kernel: str) -> list[Path]:
    """The package files whose code a compiled kernel depends on."""
    package = Path(topxsec.__file__).parent
    names = ["numba_options.py", "kernels/__init__.py", "kernels/common.py",
             f"kernels/{kernel}.py"]
    return [package / name for name in names]


def kernel_version(wildcards) -> str:
    """16 hex digits of a hash of a kernel's sources and numba's version.

    A param of the compile rule rather than inputs: the content counts, not
    where the package is installed or when its files were touched. (Like
    ``topxsec.numba_options.kernel_fingerprint``, which names the cache, but
    without importing numba, which every job's parse of this file would pay.)
    """
    return _kernel_version(wildcards.kernel)


@functools.cache
def _kernel_version(kernel: str) -> str:
    from importlib.metadata import version

    digest = hashlib.sha256(version("numba").encode())
    package = Path(topxsec.__file__).parent
    for path in kernel_sources(kernel):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def summarize_run() -> None:
    """Print where the results are and the fitted ttbar_norm."""
    lines = ["", "Results in " + str(Path(RESULTS).resolve())]
    if Path(MERGED_ROOT).exists():
        lines.append(f"  histograms: {MERGED_ROOT}")
    if Path(FIT).exists():
        fit = json.loads(Path(FIT).read_text())
        poi = fit["parameters"][fit["poi"]]
        lines.append(f"  fit:        {FIT}")
        if not fit.get("status", {}).get("valid", True):
            lines.append(f"  THE FIT IS NOT VALID (MINUIT did not converge): see "
                         f"{logfile('fit')} and the fit table")
        stale = (Path(MERGED_ROOT).exists()
                 and Path(MERGED_ROOT).stat().st_mtime > Path(FIT).stat().st_mtime)
        lines.append(
            f"  {fit['poi']} = {poi['value']:.4f} +- {poi['error']:.4f}"
            + ("  (an earlier fit: the histograms are newer; run the default"
               " target to refit)" if stale else "")
        )
    if Path(PLOTS).exists():
        lines.append(f"  plots:      {PLOTS}/")
    lines.append("  report:     snakemake --report report.html  (then open report.html)")
    logger.info("\n".join(lines))


def absolute_script_paths() -> None:
    """Give every rule's ``script:`` as an absolute path (call after the rules).

    A rule file writes its script relative to itself (``../scripts/skim.py``).
    Without a shared filesystem, the HTCondor plugin (0.3.0) lists that string
    as written in the job's transfer_input_files, where HTCondor reads it
    relative to the submit directory and fails. The absolute path is right on
    the submit host; on the execute node, where the job parses the Snakefile
    again in its sandbox, it points at the transferred workflow/scripts.
    """
    for each in workflow.rules:
        if each.script and not os.path.isabs(str(each.script)):
            each.script = each.basedir.join(each.script).get_path_or_uri(secret_free=True)
