"""File sets: catalogue parsing, selection, rewrites, job expansion, fetching."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from topxsec import fileset as fs
from topxsec.errors import FileSetError


@pytest.fixture
def agc_cache() -> Path:
    """The public catalogue, from the cache (pre-filled in CI) or the network."""
    return fs.public_file("nanoaod_inputs.json")


def test_public_catalogue(agc_cache: Path) -> None:
    catalogue = fs.load_agc_catalogue()
    assert catalogue.n_files() == 787
    assert sum(catalogue.events_per_set().values()) == 940_160_174
    assert set(catalogue) == {(p, v) for p, vs in fs.spec.FILE_SETS.items() for v in vs}


def test_checksum_mismatch_is_an_error(monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:
    (tmp_path / "nanoaod_inputs.json").write_text("{}")
    monkeypatch.setenv(fs.CACHE_ENV, str(tmp_path))
    with pytest.raises(FileSetError, match="SHA-256"):
        fs.public_file("nanoaod_inputs.json")


def test_fetch_failure_names_url_and_cache(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.setenv(fs.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(fs, "AGC_BASE_URL", "http://127.0.0.1:9/nothing")
    with pytest.raises(FileSetError) as info:
        fs.public_file("histos_1_file_per_process.json")
    assert "http://127.0.0.1:9/nothing/reference/histos_1_file_per_process.json" in str(
        info.value
    )
    assert fs.CACHE_ENV in str(info.value)


def test_select_max_files_and_rewrite(agc_cache: Path) -> None:
    chosen = fs.select(fs.load_agc_catalogue(), max_files=2,
                       rules=[{"from": "unl-https", "to": "eos-xrootd"}])
    assert chosen.n_files() == 18
    first = chosen[("ttbar", "nominal")][0]
    assert first.path.startswith("root://eospublic.cern.ch//eos/opendata/cms/upload/agc/")
    assert first.path.endswith("_0000.root")
    assert chosen.events(("ttbar", "nominal")) == sum(
        f.nevts for f in fs.load_agc_catalogue()[("ttbar", "nominal")][:2]
    )


def test_select_sets() -> None:
    demo = fs.demo_fileset("r", {"default": 1}, {"default": 10})
    kept = fs.select(demo, sets=["ttbar__PS_var", "wjets"])
    assert set(kept) == {("ttbar", "PS_var"), ("wjets", "nominal")}


def test_rewrite_to_local_directory() -> None:
    rules = [{"from": "https://x//store/", "to": "/data/store/"}]
    assert fs.rewrite_path("https://x//store/a/b.root", rules) == "/data/store/a/b.root"
    assert fs.rewrite_path("root://y//a.root", rules) == "root://y//a.root"


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ({"higgs": {"nominal": {"files": []}}}, "unknown process 'higgs'"),
        ({"ttbar": {"up": {"files": []}}}, "ttbar/up: unknown variation"),
        ({"ttbar": {"nominal": {}}}, "needs a 'files' list"),
        ({"ttbar": {"nominal": {"files": [{"path": "a.root"}]}}}, "nevts"),
        ({"ttbar": {"nominal": {"files": [{"path": "a", "nevts": -3}]}}}, "-3"),
    ],
)
def test_bad_user_fileset(tmp_path: Path, doc: dict, match: str) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(FileSetError, match=match) as info:
        fs.load_user_fileset(path)
    assert str(path) in str(info.value)


def test_user_fileset_yaml(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "ttbar:\n  nominal:\n    files:\n"
        "      - {path: root://localhost:1094//a.root, nevts: 100}\n"
        "      - {path: /b.root, nevts: 50}\n"
    )
    fileset = fs.load_user_fileset(path)
    assert fileset.events(("ttbar", "nominal")) == 150
    assert fs.is_remote(fileset[("ttbar", "nominal")][0].path)
    assert not fs.is_remote(fileset[("ttbar", "nominal")][1].path)


def test_expand_jobs_chunks() -> None:
    fileset = fs.Fileset({("ttbar", "nominal"): [fs.InputFile("a.root", 1_334_428),
                                                fs.InputFile("b.root", 100)]})
    jobs = fs.expand_jobs(fileset, events_per_job=500_000)
    assert [j.part for j in jobs] == ["0000-000", "0000-001", "0000-002", "0001"]
    assert [(j.entry_start, j.entry_stop) for j in jobs] == [
        (0, 500_000), (500_000, 1_000_000), (1_000_000, None), (None, None)
    ]
    assert [j.part for j in fs.expand_jobs(fileset)] == ["0000", "0001"]


def test_demo_fileset_lookup() -> None:
    demo = fs.demo_fileset("out", {"default": 1, "ttbar__nominal": 3},
                           {"default": 10, "wjets": 99, "ttbar__PS_var": 7})
    assert len(demo[("ttbar", "nominal")]) == 3
    assert demo[("wjets", "nominal")][0].nevts == 99
    assert demo[("ttbar", "PS_var")][0].nevts == 7
    assert demo[("ttbar", "ME_var")][0].path == "out/demo/ttbar/ME_var/0000.root"


def test_pinned_checksums_match_the_public_files() -> None:
    """Every public file the package knows is in the cache with its pinned hash.

    ``public_file`` checks the SHA-256 itself; here it is recomputed too. CI
    pre-fills the cache from ../shared; elsewhere the files are fetched.
    """
    for name, (_, sha) in fs.PUBLIC_FILES.items():
        path = fs.public_file(name)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha, name


def test_example_fileset_parses() -> None:
    example = Path(__file__).resolve().parents[1] / "config/filesets/example.yaml"
    fileset = fs.load_user_fileset(example)
    assert set(fileset) == {("ttbar", "nominal"), ("wjets", "nominal")}
    assert all(fs.is_remote(f.path) for files in fileset.values() for f in files)
