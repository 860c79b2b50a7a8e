"""File sets: catalogue parsing, selection, rewrites, job expansion, fetching."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from topxsec import fileset as fs
from topxsec.errors import ConfigError, FileSetError


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
    ("rules", "expected"),
    [
        ([{"from": "unl-https", "to": "/data/agc"}], "/data/agc/TT_Tune/a.root"),
        ([{"from": "unl-https", "to": "/data/agc/"}], "/data/agc/TT_Tune/a.root"),
        ([{"from": "unl-https", "to": "data"}], "data/TT_Tune/a.root"),
        ([{"from": fs.AGC_HTTPS_PREFIX + "TT_", "to": "/data/tt"}],
         "/data/tt/Tune/a.root"),
        # A URL prefix is not a directory: joined as given.
        ([{"from": "unl-https", "to": "root://eos//agc_"}],
         "root://eos//agc_TT_Tune/a.root"),
        ([{"from": "unl-https", "to": "eos-xrootd"}],
         fs.AGC_MIRRORS["eos-xrootd"] + "TT_Tune/a.root"),
    ],
)
def test_rewrite_joins_a_local_directory(rules: list[dict[str, str]],
                                         expected: str) -> None:
    assert fs.rewrite_path(fs.AGC_HTTPS_PREFIX + "TT_Tune/a.root", rules) == expected


def test_rewrite_rule_that_matches_nothing_warns(
    caplog: pytest.LogCaptureFixture
) -> None:
    catalogue = fs.Fileset({("ttbar", "nominal"): [
        fs.InputFile(fs.AGC_HTTPS_PREFIX + "TT/a.root", 10)]})
    rules = [{"from": "unl-https", "to": "/data"}, {"from": "unl-http", "to": "/x"},
             {"from": "https://elsewhere/", "to": "/y"}]

    with caplog.at_level(logging.WARNING, logger="topxsec.fileset"):
        chosen = fs.select(catalogue, rules=rules)

    assert chosen[("ttbar", "nominal")][0].path == "/data/TT/a.root"
    assert "fileset.rewrite[0]" not in caplog.text
    assert "fileset.rewrite[1]" in caplog.text and "unl-http" in caplog.text
    assert "fileset.rewrite[2]" in caplog.text and "https://elsewhere/" in caplog.text


def test_duplicate_path_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "wjets:\n  nominal:\n    files:\n"
        "      - {path: /a.root, nevts: 100}\n"
        "      - {path: /b.root, nevts: 50}\n"
        "      - {path: /a.root, nevts: 100}\n"
    )
    with pytest.raises(FileSetError, match="/a.root") as info:
        fs.load_user_fileset(path)
    assert f"{path}: wjets/nominal: files[2] repeats" in str(info.value)


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        ("bad.yaml", "ttbar:\n  nominal: {files: [\n", "not valid YAML"),
        ("bad.yaml", "ttbar: [nominal\n", "not valid YAML"),
        ("bad.json", '{"ttbar": ', "not valid JSON"),
        ("bad.json", b"\xff\xfe\x00", "cannot read"),
    ],
)
def test_unreadable_user_fileset_names_the_key(
    tmp_path: Path, name: str, text: str | bytes, match: str
) -> None:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        fs.load_user_fileset(path)
    assert info.value.key == "fileset.source"
    assert str(path) in str(info.value)


def test_user_fileset_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory") as info:
        fs.load_user_fileset(tmp_path)
    assert info.value.key == "fileset.source"


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ({"higgs": {"nominal": {"files": []}}}, "unknown process 'higgs'"),
        ({"ttbar": ["nominal"]}, "ttbar: expected a mapping of variations"),
        ({"ttbar": "nominal"}, "ttbar: expected a mapping of variations"),
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


def test_malformed_layout_points_at_the_example(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("ttbar: [nominal]\n")
    with pytest.raises(FileSetError, match="config/filesets/example.yaml"):
        fs.load_user_fileset(path)


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
