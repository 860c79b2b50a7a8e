"""Tests of the demo-data generator: layout, determinism, filter and realism.

The realism checks compare the demo files, selected with the independent
``awkward_reference`` implementation and normalized with sigma * L / N, to the
public reference histograms of one real file per set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest
import uproot

import awkward_reference as reference
from topxsec import demo, fileset, spec
from topxsec.errors import ConfigError

#: Events per file of the realism checks (before the filter where it applies).
REALISM_EVENTS = {
    "ttbar": 30_000,
    "single_top_s_chan": 300_000,
    "single_top_t_chan": 300_000,
    "single_top_tW": 40_000,
    "wjets": 3_000_000,
}
FILE_SETS = [(p, v) for p, variations in spec.FILE_SETS.items() for v in variations]
EDGES = np.array(spec.Binning().edges())

FLOAT_BRANCHES = [
    b for b in spec.NEEDED_BRANCHES
    if b not in ("Jet_jetId", "Electron_cutBased", "Muon_tightId", "run",
                 "luminosityBlock", "event")
]
INTEGER_TYPES = {
    "Jet_jetId": ">i4", "Electron_cutBased": ">i4", "Muon_tightId": "bool",
    "run": ">u4", "luminosityBlock": ">u4", "event": ">u8",
}


def _read(path: str | Path) -> ak.Array:
    """The analysis branches of a file, as uproot reads them."""
    with uproot.open(path) as f:
        return f["Events"].arrays(list(spec.NEEDED_BRANCHES))


def _dtype_name(branch: Any) -> str:
    """The on-disk dtype of a (jagged or flat) branch, e.g. ``'>f4'``."""
    interpretation = branch.interpretation
    content = getattr(interpretation, "content", interpretation)
    return str(content.from_dtype.str if content.from_dtype.kind != "b" else "bool")


def _yields(events: ak.Array, process: str, variation: str
            ) -> dict[str, np.ndarray]:
    """Region -> unnormalized sum of weights (with flow) of the selection."""
    hists = reference.reference_histograms(events, process, variation, EDGES)
    return {region: hists[region][variation][0] for region in spec.REGIONS}


@pytest.fixture(scope="module")
def reference_contents() -> dict[str, np.ndarray]:
    """The public 1-file-per-set reference contents (27 values per histogram)."""
    path = fileset.public_file("histos_1_file_per_process.json")
    data = json.loads(Path(path).read_text())
    return {name: np.asarray(h["contents"], float) for name, h in data.items()}


@pytest.fixture(scope="module")
def realism_files(tmp_path_factory: pytest.TempPathFactory
                  ) -> dict[tuple[str, str], tuple[dict[str, Any], ak.Array]]:
    """One demo file per file set: (generate_file's summary, its events)."""
    directory = tmp_path_factory.mktemp("demo_realism")
    out = {}
    for process, variation in FILE_SETS:
        path = directory / f"{process}__{variation}.root"
        info = demo.generate_file(path, process, variation, 0,
                                  REALISM_EVENTS[process])
        out[(process, variation)] = (info, _read(path))
    return out


@pytest.fixture(scope="module")
def normalized_yields(realism_files: Mapping[tuple[str, str], Any]
                      ) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Set -> region -> sigma * L / N normalized histogram contents."""
    out = {}
    for (process, variation), (info, events) in realism_files.items():
        weight = spec.normalization(process, info["nevts"])
        out[(process, variation)] = {
            region: weight * values
            for region, values in _yields(events, process, variation).items()
        }
    return out


# --- layout ------------------------------------------------------------------


@pytest.mark.parametrize("process, variation, n_events", [
    ("ttbar", "nominal", 3000),
    ("ttbar", "PS_var", 2000),
    ("single_top_tW", "nominal", 3000),
    ("wjets", "nominal", 300_000),
])
def test_file_layout_and_types(tmp_path: Path, process: str, variation: str,
                               n_events: int) -> None:
    path = tmp_path / "demo.root"
    info = demo.generate_file(path, process, variation, 3, n_events)

    assert set(info) == {"path", "process", "variation", "index", "nevts",
                         "entries", "seconds"}
    assert (info["process"], info["variation"], info["index"]) == (
        process, variation, 3)
    assert info["nevts"] == n_events
    with uproot.open(path) as f:
        tree = f["Events"]
        assert tree.num_entries == info["entries"] > 0
        names = set(tree.keys())
        assert set(spec.NEEDED_BRANCHES) | set(spec.COUNTER_BRANCHES) <= names
        for name in FLOAT_BRANCHES:
            assert _dtype_name(tree[name]) == ">f4", name
        for name, dtype in INTEGER_TYPES.items():
            assert _dtype_name(tree[name]) == dtype, name
        counts = {c: tree[f"n{c}"].array(library="np")
                  for c in ("Jet", "Electron", "Muon")}
    events = _read(path)

    for collection, values in counts.items():
        assert np.array_equal(values, ak.to_numpy(ak.num(events[f"{collection}_pt"])))
    for collection in ("Jet", "Electron", "Muon"):
        pt = events[f"{collection}_pt"]
        assert ak.all(pt[:, 1:] <= pt[:, :-1]), f"{collection} not sorted by pT"
    assert ak.min(events.Jet_pt) > demo.JET_STORE_PT
    assert ak.max(abs(events.Jet_eta)) < demo.JET_MAX_ETA
    assert ak.min(events.Muon_pt) > demo.MUON_STORE_PT
    assert ak.min(events.Electron_pt) > demo.ELECTRON_STORE_PT
    assert set(np.unique(ak.flatten(events.Jet_jetId))) <= {0, 2, 6}
    assert set(np.unique(ak.flatten(events.Electron_cutBased))) <= set(range(5))
    btag = ak.to_numpy(ak.flatten(events.Jet_btagCSVV2))
    assert np.all((btag == demo.BTAG_NO_TRACKS) | ((btag >= 0) & (btag <= 1)))
    assert not ak.any(events.Muon_tightId), "the 2015 files never set the muon ID"
    assert np.all(ak.to_numpy(events.run) == 1)
    assert len(np.unique(ak.to_numpy(events.event))) == len(events)


def test_unfiltered_sets_write_every_event(tmp_path: Path) -> None:
    info = demo.generate_file(tmp_path / "tt.root", "ttbar", "nominal", 0, 1234)

    assert info["nevts"] == info["entries"] == 1234


def test_filter_writes_mostly_candidates(tmp_path: Path) -> None:
    info = demo.generate_file(tmp_path / "w.root", "wjets", "nominal", 0, 400_000)
    events = _read(info["path"])
    electrons, _ = reference.lepton_masks(events, spec.Cuts())

    assert info["nevts"] == 400_000
    assert 0 < info["entries"] < 0.05 * info["nevts"]
    # Every written event has a prompt electron, which passes the selection
    # about a quarter of the time (unfiltered W+jets: about 8 %).
    assert ak.mean(ak.any(electrons, axis=1)) > 0.15


def test_empty_file_when_nothing_passes_the_filter(tmp_path: Path) -> None:
    info = demo.generate_file(tmp_path / "w.root", "wjets", "nominal", 0, 5)

    assert info["entries"] == 0
    with uproot.open(info["path"]) as f:
        assert set(spec.NEEDED_BRANCHES) <= set(f["Events"].keys())


def test_realistic_stored_objects(realism_files: Mapping[tuple[str, str], Any]
                                  ) -> None:
    """Object-level features of the real files: lepton jets, -10 b-tags, IDs."""
    events = realism_files[("ttbar", "nominal")][1]
    jet_id = ak.to_numpy(ak.flatten(events.Jet_jetId))
    central = ak.to_numpy(ak.flatten(abs(events.Jet_eta) < spec.Cuts().jet_abs_eta))
    btag = ak.to_numpy(ak.flatten(events.Jet_btagCSVV2))
    forward = ~central

    # Lepton jets fail the tight lepton veto: jetId 2 for a sizeable share.
    assert 0.03 < np.mean(jet_id[central] == 2) < 0.3
    assert np.all(btag[ak.to_numpy(ak.flatten(abs(events.Jet_eta) > 2.7))] == -10)
    assert 0.05 < np.mean(btag[central] == demo.BTAG_NO_TRACKS) < 0.4
    assert np.mean(btag[forward] == demo.BTAG_NO_TRACKS) > 0.9
    cut_based = ak.to_numpy(ak.flatten(events.Electron_cutBased))
    assert 0.15 < np.mean(cut_based == 4) < 0.6  # many non-prompt in ttbar
    sip3d = ak.to_numpy(ak.flatten(events.Electron_sip3d))
    assert 0.1 < np.mean(sip3d > 4) < 0.5


# --- determinism -------------------------------------------------------------


def _assert_same_arrays(a: ak.Array, b: ak.Array) -> None:
    for name in spec.NEEDED_BRANCHES:
        assert ak.array_equal(a[name], b[name]), name


@pytest.mark.parametrize("process, n_events", [("ttbar", 2500),
                                               ("wjets", 200_000)])
def test_same_arguments_same_file_content(tmp_path: Path, process: str,
                                          n_events: int) -> None:
    first = demo.generate_file(tmp_path / "a.root", process, "nominal", 1, n_events)
    second = demo.generate_file(tmp_path / "b.root", process, "nominal", 1, n_events)

    assert first["entries"] == second["entries"]
    _assert_same_arrays(_read(first["path"]), _read(second["path"]))


def test_index_and_seed_change_the_events() -> None:
    base, _ = demo.generate_columns("ttbar", "nominal", 0, 2000)
    other_index, _ = demo.generate_columns("ttbar", "nominal", 1, 2000)
    other_seed, _ = demo.generate_columns("ttbar", "nominal", 0, 2000, seed=7)
    other_set, _ = demo.generate_columns("ttbar", "scaleup", 0, 2000)

    numbers = [set(c["event"].tolist()) for c in (base, other_index, other_set)]
    assert not numbers[0] & numbers[1]
    assert not numbers[0] & numbers[2]
    assert np.array_equal(base["event"], other_seed["event"])
    for other in (other_index, other_seed, other_set):
        assert not ak.array_equal(base["Jet_pt"], other["Jet_pt"])


def test_chunking_keeps_event_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several kinematics chunks give consecutive, increasing event numbers."""
    monkeypatch.setattr(demo, "CHUNK_EVENTS", 700)
    columns, entries = demo.generate_columns("single_top_tW", "nominal", 0, 2000)

    assert entries == 2000 == len(columns["Jet_pt"])
    assert np.all(np.diff(columns["event"].astype(np.int64)) > 0)


# --- the generator-level filter ----------------------------------------------


@pytest.fixture(scope="module")
def filter_pairs() -> dict[str, tuple[dict[str, Any], dict[str, Any], int]]:
    """Process -> (unfiltered columns, filtered columns, n_events)."""
    sizes = {"wjets": 120_000, "single_top_t_chan": 60_000,
             "single_top_s_chan": 60_000}
    out = {}
    for process, n in sizes.items():
        full, _ = demo.generate_columns(process, "nominal", 2, n, filtered=False)
        kept, _ = demo.generate_columns(process, "nominal", 2, n, filtered=True)
        out[process] = (full, kept, n)
    return out


@pytest.mark.parametrize("process", ["wjets", "single_top_t_chan",
                                     "single_top_s_chan"])
def test_filter_keeps_every_event_the_selection_can_use(
        filter_pairs: Mapping[str, Any], process: str) -> None:
    """Events passing the lossless skim (any jet variation) all pass the filter.

    Filtered and unfiltered generation share the skeleton, so the event
    numbers of the filtered file are exactly the positions the filter keeps.
    """
    full, kept, n_events = filter_pairs[process]
    preselected = reference.skim_mask(ak.Array(full))
    kept_numbers = set(kept["event"].tolist())

    assert len(full["event"]) == n_events
    assert len(kept["event"]) < 0.5 * n_events
    assert preselected.sum() >= 10, "too few preselected events to test"
    lost = [e for e in full["event"][preselected].tolist() if e not in kept_numbers]
    assert not lost, f"{len(lost)} selectable events dropped by the filter"


def test_filtered_and_unfiltered_yields_agree(filter_pairs: Mapping[str, Any]
                                              ) -> None:
    """Same nevts, independent kinematics: selected counts agree within 4 sigma."""
    full, kept, _ = filter_pairs["single_top_t_chan"]
    counts = []
    for columns in (full, kept):
        yields = _yields(ak.Array(columns), "single_top_t_chan", "nominal")
        counts.append(sum(float(v.sum()) for v in yields.values()))

    assert min(counts) > 50
    assert abs(counts[0] - counts[1]) < 4.0 * np.sqrt(counts[0] + counts[1])


def test_filter_refuses_looser_cuts() -> None:
    loose = spec.Cuts(jet_pt=25.0)

    with pytest.raises(ConfigError, match="selection.jet_pt"):
        demo.generate_columns("wjets", "nominal", 0, 1000, cuts=loose)
    with pytest.raises(ConfigError, match="selection.jet_pt"):
        demo.check_filter_cuts(loose)
    demo.check_filter_cuts(loose, sets=[])  # no filtered set: nothing to check
    _, entries = demo.generate_columns("wjets", "nominal", 0, 1000, cuts=loose,
                                       filtered=False)
    assert entries == 1000


def test_filter_parameters_only_for_filtered_sets() -> None:
    cuts = spec.Cuts(min_jets=5)
    for name in demo.filtered_sets():
        process, variation = name.split("__")
        assert demo.filter_parameters(process, variation, cuts) == {"min_jets": 5}
    assert "wjets__nominal" in demo.filtered_sets()
    assert demo.filter_parameters("ttbar", "nominal", cuts) is None


# --- realism -----------------------------------------------------------------


@pytest.mark.parametrize("region", spec.REGIONS)
@pytest.mark.parametrize("process, variation", FILE_SETS)
def test_yield_within_factor_two_of_reference(
        normalized_yields: Mapping[tuple[str, str], Any],
        reference_contents: Mapping[str, np.ndarray],
        process: str, variation: str, region: str) -> None:
    demo_yield = normalized_yields[(process, variation)][region].sum()
    ref_yield = reference_contents[spec.histogram_name(region, process,
                                                       variation)].sum()

    assert 0.5 < demo_yield / ref_yield < 2.0, (demo_yield, ref_yield)


@pytest.mark.parametrize("region", spec.REGIONS)
@pytest.mark.parametrize("process, variation", FILE_SETS)
def test_yield_close_to_reference(
        realism_files: Mapping[tuple[str, str], Any],
        normalized_yields: Mapping[tuple[str, str], Any],
        reference_contents: Mapping[str, np.ndarray],
        process: str, variation: str, region: str) -> None:
    """Tighter than the task's factor 2: 35 %, plus 3 sigma of both samples."""
    events = realism_files[(process, variation)][1]
    selected = _yields(events, process, variation)[region].sum()
    demo_yield = normalized_yields[(process, variation)][region].sum()
    name = spec.histogram_name(region, process, variation)
    ref_yield = reference_contents[name].sum()
    ref_events = ref_yield / spec.normalization(process, _reference_nevts(process,
                                                                          variation))
    sigma = np.sqrt(1.0 / selected + 1.0 / ref_events)

    assert abs(demo_yield / ref_yield - 1.0) < 0.35 + 3.0 * sigma


def _reference_nevts(process: str, variation: str) -> int:
    """Events of the first real file of a set (the reference's N)."""
    path = fileset.public_file("nanoaod_inputs.json")
    catalogue = json.loads(Path(path).read_text())
    return int(catalogue[process][variation]["files"][0]["nevts"])


def test_ttbar_mbjj_peak_near_reference(
        normalized_yields: Mapping[tuple[str, str], Any],
        reference_contents: Mapping[str, np.ndarray]) -> None:
    demo_hist = normalized_yields[("ttbar", "nominal")]["4j2b"][1:-1]
    ref_hist = reference_contents["4j2b_ttbar"][1:-1]
    centres = 0.5 * (EDGES[1:] + EDGES[:-1])

    assert abs(centres[np.argmax(demo_hist)] - centres[np.argmax(ref_hist)]) <= 20.0
    assert 150.0 <= centres[np.argmax(demo_hist)] <= 190.0  # the top mass


@pytest.fixture(scope="module")
def reference_shapes() -> dict[str, np.ndarray]:
    """Normalized shapes of the all-files reference (smooth, high statistics)."""
    path = fileset.public_file("histos_all_file_per_process.json")
    data = json.loads(Path(path).read_text())
    return {name: np.asarray(h["contents"], float) / np.sum(h["contents"])
            for name, h in data.items()}


@pytest.mark.parametrize("region", spec.REGIONS)
@pytest.mark.parametrize("process, variation", FILE_SETS)
def test_shapes_close_to_reference(
        realism_files: Mapping[tuple[str, str], Any],
        normalized_yields: Mapping[tuple[str, str], Any],
        reference_shapes: Mapping[str, np.ndarray],
        process: str, variation: str, region: str) -> None:
    """Normalized H_T / m_bjj shapes (flow bins included) near the reference.

    Half the L1 distance must stay below 0.1 plus 2.5 / sqrt(n) (the
    statistical part is about 1.6 / sqrt(n) for n selected events); the mean
    (flow bins at +-10 GeV outside the range) within 10 % (ttbar nominal:
    6 %) plus three statistical standard errors.
    """
    events = realism_files[(process, variation)][1]
    selected = _yields(events, process, variation)[region].sum()
    demo_hist = normalized_yields[(process, variation)][region]
    demo_shape = demo_hist / demo_hist.sum()
    ref_shape = reference_shapes[spec.histogram_name(region, process, variation)]
    centres = np.concatenate([[EDGES[0] - 10.0], 0.5 * (EDGES[1:] + EDGES[:-1]),
                              [EDGES[-1] + 10.0]])
    demo_mean = np.sum(demo_shape * centres)
    ref_mean = np.sum(ref_shape * centres)
    spread = np.sqrt(np.sum(demo_shape * (centres - demo_mean) ** 2))
    tolerance = 0.06 if (process, variation) == ("ttbar", "nominal") else 0.10

    assert 0.5 * np.abs(demo_shape - ref_shape).sum() < 0.1 + 2.5 / np.sqrt(selected)
    assert abs(demo_mean - ref_mean) < tolerance * ref_mean + 3.0 * spread / np.sqrt(
        selected)


def test_alternative_samples_differ_like_the_real_ones(
        normalized_yields: Mapping[tuple[str, str], Any]) -> None:
    """ME_var (aMC@NLO) selects clearly more events than the nominal sample."""
    def total(variation: str) -> float:
        hists = normalized_yields[("ttbar", variation)]
        return float(sum(h.sum() for h in hists.values()))

    assert total("ME_var") > 1.08 * total("nominal")


# --- physics features --------------------------------------------------------


def _selected_jets(events: ak.Array) -> ak.Array:
    pt = ak.values_astype(events.Jet_pt, np.float64)
    return reference.jet_mask(events, pt, spec.Cuts())


def test_wjets_jet_multiplicity_falls_like_berends(
        filter_pairs: Mapping[str, Any]) -> None:
    events = ak.Array(filter_pairs["wjets"][0])
    n_jets = ak.to_numpy(ak.sum(_selected_jets(events), axis=1))
    counts = np.bincount(n_jets, minlength=4)[:4].astype(float)
    ratios = counts[1:] / counts[:-1]

    assert np.all(ratios > 0.05)
    assert np.all(ratios < 0.6)


def test_btag_rates_follow_flavour(realism_files: Mapping[tuple[str, str], Any]
                                   ) -> None:
    """Four-jet events: ttbar (two b) nearly always tagged, W+jets mostly not."""
    def tagged_fraction(events: ak.Array, process: str) -> float:
        selected = _selected_jets(events)
        four = ak.sum(selected, axis=1) >= 4
        tags = ak.sum(selected & (events.Jet_btagCSVV2 > 0.5), axis=1)
        return float(ak.mean(tags[four] >= 1))

    ttbar = tagged_fraction(realism_files[("ttbar", "nominal")][1], "ttbar")
    wjets = tagged_fraction(realism_files[("wjets", "nominal")][1], "wjets")
    assert ttbar > 0.85
    assert wjets < 0.65


def test_working_muon_id_adds_the_muon_channel() -> None:
    """With a working muon ID the one-lepton selection roughly doubles."""
    counts = []
    for working in (False, True):
        columns, _ = demo.generate_columns("ttbar", "nominal", 0, 8000,
                                           working_muon_id=working)
        electrons, muons = reference.lepton_masks(ak.Array(columns), spec.Cuts())
        one = (ak.sum(electrons, axis=1) + ak.sum(muons, axis=1)) == 1
        counts.append(int(ak.sum(one)))
        assert ak.any(columns["Muon_tightId"]) == working

    assert 1.5 < counts[1] / counts[0] < 2.6


# --- hooks and errors --------------------------------------------------------


def test_extra_branches_hook(tmp_path: Path) -> None:
    def extra(columns: Mapping[str, Any], rng: np.random.Generator
              ) -> dict[str, Any]:
        n = len(columns["event"])
        counts = ak.to_numpy(ak.num(columns["Jet_pt"]))
        area = rng.uniform(0.4, 0.6, int(counts.sum())).astype(np.float32)
        return {"PV_npvs": rng.integers(1, 40, n).astype(np.int32),
                "Jet_area": ak.unflatten(area, counts)}

    infos = [demo.generate_file(tmp_path / f"{i}.root", "ttbar", "nominal", 0,
                                1500, extra_branches=extra) for i in range(2)]
    arrays = []
    for info in infos:
        with uproot.open(info["path"]) as f:
            arrays.append(f["Events"].arrays(["PV_npvs", "Jet_area", "Jet_pt"]))

    assert ak.array_equal(ak.num(arrays[0].Jet_area), ak.num(arrays[0].Jet_pt))
    assert ak.array_equal(arrays[0].PV_npvs, arrays[1].PV_npvs)
    assert ak.array_equal(arrays[0].Jet_area, arrays[1].Jet_area)


def test_extra_branches_may_not_replace_analysis_branches(tmp_path: Path) -> None:
    def clash(columns: Mapping[str, Any], rng: np.random.Generator
              ) -> dict[str, Any]:
        return {"event": columns["event"]}

    with pytest.raises(ConfigError, match="event"):
        demo.generate_file(tmp_path / "x.root", "ttbar", "nominal", 0, 100,
                           extra_branches=clash)
    assert not (tmp_path / "x.root").exists()


@pytest.mark.parametrize("arguments, key, text", [
    (("higgs", "nominal", 0, 100), "process", "higgs/nominal"),
    (("wjets", "scaleup", 0, 100), "process", "wjets/scaleup"),
    (("ttbar", "nominal", -1, 100), "index", "-1"),
    (("ttbar", "nominal", 0, 0), "n_events", "0 events"),
])
def test_bad_arguments_raise_config_errors(arguments: tuple[Any, ...], key: str,
                                           text: str) -> None:
    with pytest.raises(ConfigError, match=text) as error:
        demo.generate_columns(*arguments)

    assert error.value.key == key
