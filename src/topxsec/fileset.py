"""File sets: which files make up each (process, variation), and their events.

Three sources give a :class:`Fileset`:

- ``demo``: the generated demo files (paths under the results directory, the
  event counts from the config, known before any file exists);
- ``agc``: the public AGC catalogue ``nanoaod_inputs.json``, fetched from the
  public repository at a pinned commit, checked against its SHA-256 and kept in
  a cache directory (``$TOPXSEC_CACHE_DIR``, default ``~/.cache/topxsec``), so
  that an offline machine can pre-fill it;
- a user's YAML or JSON file in the catalogue's layout::

      ttbar:
        nominal:
          files:
            - {path: /data/ttbar_0.root, nevts: 1334428}
            - {path: "root://eospublic.cern.ch//eos/.../1.root", nevts: 1280000}

Inputs may be local paths, ``root://`` or ``https://`` URLs; URL prefixes can be
rewritten (another mirror, a local copy). :func:`expand_jobs` turns a file set
into the per-file (or per-chunk) jobs of the workflow; :func:`cached_job_table`
keeps the result in a small JSON file, so that the batch jobs, which parse the
Snakefile again, neither read the catalogue nor need it on their node.

The module imports only the standard library: the Snakefile uses it at parse
time, and every batch job parses the Snakefile again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from topxsec import spec
from topxsec.errors import ConfigError, FileSetError
from topxsec.outputs import write_text_atomic

log = logging.getLogger(__name__)

#: The public AGC repository and the commit the catalogue and references are from.
AGC_REPOSITORY = "iris-hep/analysis-grand-challenge"
AGC_COMMIT = "c37bf595519089fb1f20272721c705a20cd34d24"
AGC_BASE_URL = (
    f"https://raw.githubusercontent.com/{AGC_REPOSITORY}/{AGC_COMMIT}"
    "/analyses/cms-open-data-ttbar"
)

#: Public files this package may fetch: name -> (path below AGC_BASE_URL, sha256).
PUBLIC_FILES: dict[str, tuple[str, str]] = {
    "nanoaod_inputs.json": (
        "nanoaod_inputs.json",
        "84704916322c6eb48b2f21ff7ef305ffd36aed132be5f43f1f48343cb5ef283f",
    ),
    "histos_1_file_per_process.json": (
        "reference/histos_1_file_per_process.json",
        "4cdefedf2d8fd11f4bf67be4fccaaa29f858cac7b6453bab56ea10c5130d9d1d",
    ),
    "histos_2_file_per_process.json": (
        "reference/histos_2_file_per_process.json",
        "464ef9793dc91620cfd2d461137741dcf6f763d9b39432fda670f26faf4916f9",
    ),
    "histos_10_file_per_process.json": (
        "reference/histos_10_file_per_process.json",
        "3fa828972c542abe4147572734ab657a71e8a3bff0f4c3d6850416b3cb3abd80",
    ),
    "histos_20_file_per_process.json": (
        "reference/histos_20_file_per_process.json",
        "116344d2648f575dc5c4852277d1c033fe830b1f90f616f3e2346fef7eb4fb39",
    ),
    "histos_50_file_per_process.json": (
        "reference/histos_50_file_per_process.json",
        "9016b766defe7087427edacaf9cf5f109e75d35acd31abfcbfcf16fc34af0d4d",
    ),
    "histos_100_file_per_process.json": (
        "reference/histos_100_file_per_process.json",
        "eeaed5520f542b4c983c668ee0b058b463f229c09a1ebbec00ce5aa85afedc42",
    ),
    "histos_200_file_per_process.json": (
        "reference/histos_200_file_per_process.json",
        "8630f681f13eeb92af922f9ef18b9cf8c69ea8825ee1260e5e93c10c9a76f975",
    ),
    "histos_all_file_per_process.json": (
        "reference/histos_all_file_per_process.json",
        "1d3687086f5947b48c0c1abda35bca7d189b630c334e75ecfd0d21786b5ffc5b",
    ),
}

CACHE_ENV = "TOPXSEC_CACHE_DIR"
FETCH_TIMEOUT_S = 30.0

#: The catalogue's URL prefix and the public mirrors it can be rewritten to.
AGC_HTTPS_PREFIX = "https://xrootd-local.unl.edu:1094//store/user/AGC/nanoAOD/"
AGC_MIRRORS: dict[str, str] = {
    "unl-https": AGC_HTTPS_PREFIX,
    "eos-xrootd": "root://eospublic.cern.ch//eos/opendata/cms/upload/agc/1.0.0/",
}


@dataclass(frozen=True)
class InputFile:
    """One input file and the number of events it stands for."""

    path: str
    nevts: int


@dataclass(frozen=True)
class Job:
    """One skim/histogram job: a file, or an entry range of one."""

    process: str
    variation: str
    #: ``0003`` for a whole file, ``0003-002`` for its third chunk.
    part: str
    path: str
    entry_start: int | None = None
    entry_stop: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        """The (process, variation) file set of the job."""
        return (self.process, self.variation)


class Fileset(dict[tuple[str, str], list[InputFile]]):
    """``(process, variation) -> [InputFile, ...]``, in catalogue order."""

    def events(self, key: tuple[str, str]) -> int:
        """Total events of the files of one set."""
        return sum(f.nevts for f in self[key])

    def events_per_set(self) -> dict[tuple[str, str], int]:
        """``(process, variation) -> N`` for every set."""
        return {key: self.events(key) for key in self}

    def n_files(self) -> int:
        """Number of files over all sets."""
        return sum(len(files) for files in self.values())


def cache_dir() -> Path:
    """The cache directory of fetched public files (``$TOPXSEC_CACHE_DIR``)."""
    default = Path.home() / ".cache" / "topxsec"
    return Path(os.environ.get(CACHE_ENV) or default)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def public_file(name: str) -> Path:
    """Return the local path of a public AGC file, fetching it if needed.

    The file is looked up in :func:`cache_dir`; if absent it is downloaded from
    the public AGC repository at :data:`AGC_COMMIT`. Either way its SHA-256 must
    match the pinned one.

    Args:
        name: A key of :data:`PUBLIC_FILES`, e.g. ``"nanoaod_inputs.json"``.

    Raises:
        FileSetError: Unknown name, failed download (the message has the URL
            and how to pre-fill the cache) or checksum mismatch.
    """
    if name not in PUBLIC_FILES:
        raise FileSetError(f"unknown public file {name!r}; known: {sorted(PUBLIC_FILES)}")
    rel, sha = PUBLIC_FILES[name]
    url = f"{AGC_BASE_URL}/{rel}"
    target = cache_dir() / name

    if target.exists():
        if _sha256(target) == sha:
            return target
        raise FileSetError(
            f"cached {target} does not match the pinned SHA-256 {sha} of {url}; "
            "delete it to fetch it again"
        )

    log.info("fetching %s", url)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response:
            with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
                shutil.copyfileobj(response, tmp)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise FileSetError(
            f"could not fetch {url}: {exc}. Offline? Copy {name} into "
            f"{target.parent} (or set {CACHE_ENV} to a directory holding it)"
        ) from exc

    tmp_path = Path(tmp.name)
    got = _sha256(tmp_path)
    if got != sha:
        tmp_path.unlink()
        raise FileSetError(f"{url}: SHA-256 {got} does not match the pinned {sha}")
    os.replace(tmp_path, target)
    return target


def rewrite_path(path: str, rules: Sequence[Mapping[str, str]]) -> str:
    """Apply the first matching prefix rewrite rule to a path or URL.

    A ``to`` that is not a URL is a local directory: the rest of the path is
    joined to it with a ``/`` if neither has one.

    Args:
        path: A file path or URL.
        rules: ``[{"from": prefix, "to": replacement}, ...]``; ``from`` and
            ``to`` may also name a mirror of :data:`AGC_MIRRORS`.

    >>> rewrite_path("https://h//store/a.root", [{"from": "https://h//store/",
    ...     "to": "/data"}])
    '/data/a.root'
    """
    return _rewrite(path, rules)[0]


def _rewrite(path: str, rules: Sequence[Mapping[str, str]]) -> tuple[str, int | None]:
    """The rewritten path and the index of the rule that applied (or None)."""
    for index, rule in enumerate(rules):
        old = AGC_MIRRORS.get(rule["from"], rule["from"])
        new = AGC_MIRRORS.get(rule["to"], rule["to"])
        if not path.startswith(old):
            continue
        rest = path[len(old):]
        local_dir = new and not is_remote(new)
        if local_dir and not new.endswith("/") and not rest.startswith("/"):
            return f"{new}/{rest}", index
        return new + rest, index
    return path, None


#: The expected layout, for the messages about a malformed file set.
_LAYOUT = (
    "; the layout is process -> variation -> {files: [{path, nevts}, ...]}, "
    "see config/filesets/example.yaml"
)


def parse_catalogue(doc: Mapping[str, Any], origin: str) -> Fileset:
    """Turn a catalogue document into a :class:`Fileset`, checking it.

    Args:
        doc: ``{process: {variation: {"files": [{"path", "nevts"}, ...]}}}``.
        origin: Where the document came from, for error messages.

    Raises:
        FileSetError: Unknown process, malformed entry or bad event count.
    """
    fileset = Fileset()
    if not isinstance(doc, Mapping):
        raise FileSetError(f"{origin}: expected a mapping of processes{_LAYOUT}")
    for process, variations in doc.items():
        if process not in spec.FILE_SETS:
            raise FileSetError(
                f"{origin}: unknown process {process!r}; the analysis knows "
                f"{list(spec.FILE_SETS)} (cross-sections are in topxsec.spec)"
            )
        if not isinstance(variations, Mapping):
            raise FileSetError(
                f"{origin}: {process}: expected a mapping of variations, got "
                f"{type(variations).__name__} {variations!r}{_LAYOUT}"
            )
        for variation, entry in variations.items():
            where = f"{origin}: {process}/{variation}"
            if variation not in spec.FILE_SETS[process]:
                raise FileSetError(
                    f"{where}: unknown variation; {process} has "
                    f"{list(spec.FILE_SETS[process])}"
                )
            files = entry.get("files") if isinstance(entry, Mapping) else None
            if not isinstance(files, list):
                raise FileSetError(f"{where}: needs a 'files' list{_LAYOUT}")
            fileset[(process, variation)] = [
                _input_file(item, f"{where} files[{i}]") for i, item in enumerate(files)
            ]
            _check_unique(fileset[(process, variation)], where)
    return fileset


def _check_unique(files: Sequence[InputFile], where: str) -> None:
    """Raise if a path is listed twice in one set (its events would count twice)."""
    seen: dict[str, int] = {}
    for i, item in enumerate(files):
        if item.path in seen:
            raise FileSetError(
                f"{where}: files[{i}] repeats the path of files[{seen[item.path]}], "
                f"{item.path}; its events would be counted twice: list each file "
                "once"
            )
        seen[item.path] = i


def _input_file(item: Any, where: str) -> InputFile:
    if not isinstance(item, Mapping) or "path" not in item:
        raise FileSetError(f"{where}: needs 'path' and 'nevts'")
    nevts = item.get("nevts")
    if not isinstance(nevts, int) or isinstance(nevts, bool) or nevts <= 0:
        raise FileSetError(
            f"{where}: 'nevts' must be the file's positive event count (got "
            f"{nevts!r}); it sets the sigma*L/N normalization"
        )
    return InputFile(str(item["path"]), nevts)


def select(fileset: Fileset, max_files: int | None = None,
           rules: Sequence[Mapping[str, str]] = (),
           sets: Iterable[str] | None = None) -> Fileset:
    """Keep the first ``max_files`` per set, the chosen sets, rewrite paths.

    Args:
        fileset: The full file set.
        max_files: At most this many files per set (``None``: all).
        rules: Prefix rewrite rules, see :func:`rewrite_path`.
        sets: Names ``process__variation`` (or ``process`` for all of its
            variations) to keep; ``None`` keeps all.
    """
    wanted = set(sets) if sets is not None else None
    used: set[int] = set()
    out = Fileset()
    for (process, variation), files in fileset.items():
        name = spec.FileSetKey(process, variation).name
        if wanted is not None and name not in wanted and process not in wanted:
            continue
        chosen = files if max_files is None else files[:max_files]
        out[(process, variation)] = []
        for item in chosen:
            path, index = _rewrite(item.path, rules)
            used.add(index)
            out[(process, variation)].append(InputFile(path, item.nevts))

    for index, rule in enumerate(rules):
        if index not in used:
            log.warning(
                "config key 'fileset.rewrite[%d]': {from: %s, to: %s} rewrites no "
                "file of the selected sets (no path starts with %s, or an earlier "
                "rule took them); check its 'from'", index, rule["from"],
                rule["to"], AGC_MIRRORS.get(rule["from"], rule["from"]),
            )
    return out


def demo_fileset(results: str, files_per_set: Mapping[str, int],
                 events_per_file: Mapping[str, int]) -> Fileset:
    """The demo catalogue: paths of the generated files and their events.

    Args:
        results: The results directory (demo files go to ``results/demo``).
        files_per_set: ``process__variation`` (or ``default``) -> files.
        events_per_file: ``process__variation``, ``process`` or ``default``
            -> events each file stands for (for a filtered demo sample, the
            unfiltered count: the file itself holds fewer entries).
    """
    def lookup(table: Mapping[str, int], process: str, variation: str) -> int:
        for name in (f"{process}__{variation}", process, "default"):
            if name in table:
                return int(table[name])
        raise FileSetError(f"demo: no entry for {process}__{variation} nor 'default'")

    fileset = Fileset()
    for process, variations in spec.FILE_SETS.items():
        for variation in variations:
            n_files = lookup(files_per_set, process, variation)
            nevts = lookup(events_per_file, process, variation)
            fileset[(process, variation)] = [
                InputFile(demo_path(results, process, variation, i), nevts)
                for i in range(n_files)
            ]
    return fileset


def demo_path(results: str, process: str, variation: str, index: int) -> str:
    """Path of one generated demo file."""
    return f"{results}/demo/{process}/{variation}/{index:04d}.root"


def load_user_fileset(path: str | Path) -> Fileset:
    """Read a user's YAML or JSON file set (the config's ``fileset.source``).

    Raises:
        ConfigError: The file is missing, a directory, unreadable or not valid
            YAML/JSON (key ``fileset.source``).
        FileSetError: Its content is not a file set (the message names the
            file and the entry).
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError("fileset.source", f"file set {path} does not exist")
    if path.is_dir():
        raise ConfigError(
            "fileset.source", f"{path} is a directory; give a YAML/JSON file set "
            "(see config/filesets/example.yaml)"
        )
    try:
        text = path.read_text()
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8 text
        raise ConfigError("fileset.source", f"cannot read file set {path}: {exc}"
                          ) from exc

    yaml_file = path.suffix in (".yaml", ".yml")
    try:
        doc = _load_yaml(text) if yaml_file else json.loads(text)
    except ValueError as exc:
        kind = "YAML" if yaml_file else "JSON (a .yaml or .yml name is read as YAML)"
        raise ConfigError(
            "fileset.source", f"file set {path} is not valid {kind}: {exc}"
        ) from exc
    return parse_catalogue(doc, str(path))


def _load_yaml(text: str) -> Any:
    """``yaml.safe_load`` whose errors are ValueErrors (YAMLError is none)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from exc


def load_agc_catalogue() -> Fileset:
    """The full public AGC catalogue (787 files)."""
    path = public_file("nanoaod_inputs.json")
    return parse_catalogue(json.loads(path.read_text()), str(path))


def expand_jobs(fileset: Fileset, events_per_job: int | None = None) -> list[Job]:
    """Turn a file set into jobs, one per file or per entry range.

    Args:
        fileset: The selected file set.
        events_per_job: Split files with more events than this into ranges of
            at most this many entries (by the catalogue's event count);
            ``None`` keeps one job per file.

    Returns:
        Jobs in file-set order.
    """
    jobs: list[Job] = []
    for (process, variation), files in fileset.items():
        for index, item in enumerate(files):
            if events_per_job is None or item.nevts <= events_per_job:
                jobs.append(Job(process, variation, f"{index:04d}", item.path))
                continue
            n_chunks = -(-item.nevts // events_per_job)
            for chunk in range(n_chunks):
                start = chunk * events_per_job
                # The last range reads to the end of the tree, so that no entry
                # is lost if the catalogue's count is short.
                last = chunk == n_chunks - 1
                stop = None if last else start + events_per_job
                jobs.append(Job(process, variation, f"{index:04d}-{chunk:03d}",
                                item.path, start, stop))
    return jobs


def is_remote(path: str) -> bool:
    """Whether a path is a URL read over the network."""
    return path.startswith(("root://", "http://", "https://", "s3://"))


#: Format tag of the job-table cache files of :func:`cached_job_table`.
JOB_TABLE_FORMAT = "topxsec-job-table/1"


def _source_stamp(source_file: str | None) -> list[int] | None:
    """Size and modification time of a local file set, None if there is none."""
    if source_file is None or not os.path.exists(source_file):
        return None
    stat = os.stat(source_file)
    return [stat.st_size, stat.st_mtime_ns]


def _job_table_doc(settings: Mapping[str, Any], stamp: list[int] | None,
                   fileset: Fileset, jobs: Sequence[Job]) -> dict[str, Any]:
    return {
        "format": JOB_TABLE_FORMAT,
        "settings": settings,
        "source_stamp": stamp,
        "fileset": [[process, variation, [[f.path, f.nevts] for f in files]]
                    for (process, variation), files in fileset.items()],
        "jobs": [[j.process, j.variation, j.part, j.path, j.entry_start, j.entry_stop]
                 for j in jobs],
    }


def _read_job_table(path: Path, settings: Mapping[str, Any],
                    source_file: str | None) -> tuple[Fileset, list[Job]] | None:
    """The cached table at ``path`` if it is one for ``settings``, else None."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if doc.get("format") != JOB_TABLE_FORMAT or doc.get("settings") != settings:
        return None
    # A local file set that changed since (or exists now but did not then)
    # invalidates the table; where it is absent (an execute node without the
    # submit host's files) the table is all there is.
    stamp = _source_stamp(source_file)
    if stamp is not None and stamp != doc.get("source_stamp"):
        return None
    fileset = Fileset()
    for process, variation, files in doc["fileset"]:
        fileset[(process, variation)] = [InputFile(p, n) for p, n in files]
    return fileset, [Job(*row) for row in doc["jobs"]]


def cached_job_table(cache_dir: str | Path, settings: Mapping[str, Any],
                     build: Callable[[], Fileset], events_per_job: int | None,
                     source_file: str | None = None
                     ) -> tuple[Fileset, list[Job]]:
    """The selected file set and its jobs, from a cache file or built once.

    The table is cached in ``<cache_dir>/<hash of settings>.json``. Batch jobs
    parse the Snakefile again; with the table cached they read one small JSON
    file instead of the catalogue (which need not even exist on their node).

    Args:
        cache_dir: Directory of the cache files (created if needed).
        settings: JSON-able values that determine the table (the config's
            file-set keys, ``events_per_job``, ...); a change makes a new one.
        build: Returns the selected file set; called on a cache miss only.
        events_per_job: See :func:`expand_jobs`.
        source_file: A user file set's path: when it exists here and its size
            or modification time differ from when the table was built, the
            table is built again.

    Returns:
        ``(fileset, jobs)`` as :func:`select` and :func:`expand_jobs` give.

    Raises:
        FileSetError: From ``build`` (a table is only cached once built).
    """
    settings = json.loads(json.dumps({**settings, "events_per_job": events_per_job}))
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    path = Path(cache_dir) / f"{key[:16]}.json"
    cached = _read_job_table(path, settings, source_file)
    if cached is not None:
        return cached

    stamp = _source_stamp(source_file)
    fileset = build()
    jobs = expand_jobs(fileset, events_per_job)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(_job_table_doc(settings, stamp, fileset,
                                                         jobs)))
    except OSError as exc:  # a read-only results directory: work without it
        log.warning("cannot cache the job table in %s (%s)", path, exc)
    return fileset, jobs
