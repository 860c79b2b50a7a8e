"""Tests of the numba kernels against the plain-awkward reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest

import awkward_reference as reference
from topxsec import spec
from topxsec.histogramming import fill_events
from topxsec.kernels import KERNELS, kernel_inputs, warm_up
from topxsec.kernels.common import bin_index, jet_pt_res_factors, make_params, mix64
from topxsec.kernels.histograms import SLOT_NAMES
from topxsec.kernels.skim import skim_kernel
from topxsec.nanoaod import EventColumns, read_events, write_events
from topxsec.numba_options import SHARED_KERNEL_SOURCES, kernel_fingerprint

PROCESS_CASES = [
    ("ttbar", "nominal"),
    ("ttbar", "PS_var"),
    ("wjets", "nominal"),
    ("single_top_tW", "nominal"),
]
CUT_CASES = {
    "task": spec.Cuts(),
    "other": spec.Cuts(jet_pt=35.0, btag_threshold=0.8, electron_pt=32.5,
                       muon_pf_rel_iso=0.1, min_jets=5),
}
TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def random_columns(random_events: Callable[..., dict[str, Any]]) -> EventColumns:
    """Enough random events to fill both regions in every variation."""
    return EventColumns.from_arrays(random_events(12000, seed=11))


def assert_matches_reference(events: EventColumns, process: str, variation: str,
                             cuts: spec.Cuts = spec.Cuts(),
                             binning: spec.Binning = spec.Binning()) -> None:
    """Kernel histograms equal the reference bin by bin, cutflow exactly."""
    edges = np.asarray(binning.edges())
    result = fill_events(events, process, variation, binning, cuts)
    expected = reference.reference_histograms(events.to_awkward(), process,
                                              variation, edges, cuts)

    for region in spec.REGIONS:
        assert set(result.histograms[region]) == set(expected[region])
        for name, (sumw, sumw2) in expected[region].items():
            got = result.histograms[region][name]
            np.testing.assert_allclose(got.sumw, sumw, rtol=1e-12, atol=0,
                                       err_msg=f"{region} {name} sumw")
            np.testing.assert_allclose(got.sumw2, sumw2, rtol=1e-12, atol=0,
                                       err_msg=f"{region} {name} sumw2")
    assert result.cutflow == reference.nominal_cutflow(events.to_awkward(), cuts)


@pytest.mark.parametrize(("process", "variation"), PROCESS_CASES)
@pytest.mark.parametrize("cuts", CUT_CASES.values(), ids=CUT_CASES.keys())
def test_histograms_match_reference(random_columns: EventColumns, process: str,
                                    variation: str, cuts: spec.Cuts) -> None:
    assert_matches_reference(random_columns, process, variation, cuts)


def test_random_input_fills_every_variation(random_columns: EventColumns) -> None:
    """The comparison above is meaningful: each histogram has many entries."""
    result = fill_events(random_columns, "wjets", "nominal")

    for region in spec.REGIONS:
        for name in spec.histogram_variations("wjets", "nominal"):
            assert result.histograms[region][name].sumw.sum() > 100, (region, name)
    # The resolution variation really moves events between bins and regions.
    nominal = result.histograms["4j2b"]["nominal"].sumw
    assert not np.array_equal(result.histograms["4j2b"]["pt_res_up"].sumw, nominal)


def test_histograms_match_reference_other_binning(
        random_columns: EventColumns) -> None:
    """Edges falling on stored values and wide ranges bin like np.digitize."""
    assert_matches_reference(random_columns, "ttbar", "nominal",
                             binning=spec.Binning(bins=7, low=30.0, high=310.0))


@pytest.mark.parametrize(("process", "variation", "working_muon_id", "n_events"), [
    ("ttbar", "nominal", False, 4000),
    ("ttbar", "nominal", True, 4000),
    ("wjets", "nominal", True, 200_000),  # generator-filtered: few entries
    ("ttbar", "PS_var", True, 4000),
])
def test_demo_input_matches_reference(tmp_path: Path, process: str, variation: str,
                                      working_muon_id: bool, n_events: int) -> None:
    """Files of the demo generator agree with the reference; the skim of them
    keeps every event that reaches a region."""
    demo = pytest.importorskip("topxsec.demo")
    path = tmp_path / "demo.root"
    demo.generate_file(path, process, variation, 0, n_events, seed=5,
                       working_muon_id=working_muon_id)
    events = read_events(path)

    assert_matches_reference(events, process, variation)
    keep, _ = skim_kernel(*kernel_inputs(events), make_params(spec.Cuts()))
    np.testing.assert_array_equal(keep, reference.skim_mask(events.to_awkward()))
    full = fill_events(events, process, variation)
    skimmed = fill_events(events.select(keep), process, variation)
    for region in spec.REGIONS:
        for name, hist in full.histograms[region].items():
            np.testing.assert_array_equal(skimmed.histograms[region][name].sumw,
                                          hist.sumw)
    assert full.cutflow["4j1b"] > 10 and full.cutflow["4j2b"] > 10


def test_skim_kernel_matches_reference(random_columns: EventColumns) -> None:
    keep, counts = skim_kernel(*kernel_inputs(random_columns),
                               make_params(spec.Cuts()))

    expected = reference.skim_mask(random_columns.to_awkward())
    np.testing.assert_array_equal(keep, expected)
    assert counts[0] == random_columns.n_events
    assert counts[3] == expected.sum() > 100
    assert counts[0] >= counts[1] >= counts[2] >= counts[3]


def test_skim_is_lossless(random_columns: EventColumns) -> None:
    """Histograms of the kept events equal those of all events."""
    keep, _ = skim_kernel(*kernel_inputs(random_columns), make_params(spec.Cuts()))
    kept = random_columns.select(keep)

    for process, variation in PROCESS_CASES:
        full = fill_events(random_columns, process, variation)
        skimmed = fill_events(kept, process, variation)
        for region in spec.REGIONS:
            for name, hist in full.histograms[region].items():
                np.testing.assert_array_equal(skimmed.histograms[region][name].sumw,
                                              hist.sumw)


def test_empty_input(random_events: Callable[..., dict[str, Any]]) -> None:
    """No events give empty histograms and a zero cutflow."""
    columns = random_events(50, seed=2)
    events = EventColumns.from_arrays(columns).select(np.zeros(50, dtype=bool))
    result = fill_events(events, "ttbar", "nominal")

    assert result.events == 0
    assert not any(h.is_filled() for r in result.histograms.values()
                   for h in r.values())
    keep, counts = skim_kernel(*kernel_inputs(events), make_params(spec.Cuts()))
    assert len(keep) == 0 and counts.tolist() == [0, 0, 0, 0]


def _one_event(jets: dict[str, list[float]]) -> EventColumns:
    """One event with these jets and one good electron."""
    columns: dict[str, Any] = {}
    for name, values in jets.items():
        dtype = np.int32 if name == "Jet_jetId" else np.float32
        columns[name] = ak.values_astype(ak.Array([values]), dtype)
    electron = {"pt": 40.0, "eta": 0.0, "phi": 0.0, "mass": 0.0, "cutBased": 4,
                "sip3d": 1.0}
    for field, value in electron.items():
        dtype = np.int32 if field == "cutBased" else np.float32
        columns[f"Electron_{field}"] = ak.values_astype(ak.Array([[value]]), dtype)
    for field in ("pt", "eta", "phi", "mass", "sip3d", "pfRelIso04_all"):
        columns[f"Muon_{field}"] = ak.unflatten(np.zeros(0, np.float32), [0])
    columns["Muon_tightId"] = ak.unflatten(np.zeros(0, bool), [0])
    columns["run"] = np.array([1], dtype=np.uint32)
    columns["luminosityBlock"] = np.array([2], dtype=np.uint32)
    columns["event"] = np.array([3], dtype=np.uint64)
    return EventColumns.from_arrays(columns)


def _triplet_mass(jets: dict[str, list[float]], chosen: tuple[int, ...]) -> float:
    """Invariant mass of the chosen jets, in float64 from the float32 values."""
    pt, eta, phi, mass = (np.asarray(jets[f"Jet_{f}"], np.float32).astype(float)[
        list(chosen)] for f in ("pt", "eta", "phi", "mass"))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    return float(np.sqrt(energy.sum()**2 - px.sum()**2 - py.sum()**2 - pz.sum()**2))


def test_m_bjj_tie_takes_first_triplet() -> None:
    """Two triplets of equal, largest pT: the first in i<j<k order wins."""
    # Jets 1 and 2 share pT and phi (opposite to jets 0 and 3) but not eta
    # and mass: triplets (0, 1, 3) and (0, 2, 3) tie for the largest pT.
    jets = {
        "Jet_pt": [100.0, 40.0, 40.0, 90.0],
        "Jet_eta": [0.1, 0.5, -1.5, 0.2],
        "Jet_phi": [0.0, 3.0, 3.0, 0.3],
        "Jet_mass": [10.0, 5.0, 20.0, 8.0],
        "Jet_btagCSVV2": [0.9, 0.1, 0.1, 0.9],
        "Jet_jetId": [6, 6, 6, 6],
    }
    binning = spec.Binning(bins=1000, low=0.0, high=500.0)
    edges = np.asarray(binning.edges())
    first, second = _triplet_mass(jets, (0, 1, 3)), _triplet_mass(jets, (0, 2, 3))
    assert np.digitize(first, edges) != np.digitize(second, edges)

    result = fill_events(_one_event(jets), "ttbar", "PS_var", binning)

    sumw = result.histograms["4j2b"]["PS_var"].sumw
    assert sumw.sum() == 1.0
    assert sumw[np.digitize(first, edges)] == 1.0


def test_m_bjj_tie_rule_reference_agrees(random_columns: EventColumns) -> None:
    """The random input has exact triplet-pT ties with different masses."""
    counts = random_columns.counts("Jet")
    pt = ak.unflatten(random_columns["Jet_pt"], counts)
    phi = ak.unflatten(random_columns["Jet_phi"], counts)
    pairs_pt = ak.combinations(pt, 2)
    pairs_phi = ak.combinations(phi, 2)
    same = (pairs_pt["0"] == pairs_pt["1"]) & (pairs_phi["0"] == pairs_phi["1"])
    assert ak.sum(same) > 100


@pytest.mark.parametrize("value", [np.nan, -1.0, 49.999, 50.0, 70.0, 69.99999,
                                   549.9, 550.0, 551.0, np.inf, -np.inf])
def test_bin_index_matches_digitize(value: float) -> None:
    edges = np.asarray(spec.Binning().edges())
    assert bin_index(value, edges) == np.digitize(value, edges, right=False)


def test_mix64_matches_reference() -> None:
    values = np.random.default_rng(3).integers(0, 2**64, 200, dtype=np.uint64)
    expected = reference._mix64(values)
    got = np.array([mix64(v) for v in values], dtype=np.uint64)
    np.testing.assert_array_equal(got, expected)


def _pt_res_comparison(n_events: int) -> tuple[np.ndarray, np.ndarray]:
    """Kernel and reference pt_res factors of every jet of random events."""
    from conftest import make_random_events

    events = EventColumns.from_arrays(make_random_events(n_events, seed=7))
    got = jet_pt_res_factors(events.offsets["Jet"], events["run"],
                             events["luminosityBlock"], events["event"],
                             spec.PT_RES_WIDTH)
    expected = ak.to_numpy(ak.flatten(
        reference.jet_res_factors(events.to_awkward())))
    return got, expected


def test_pt_res_factor_close_to_reference() -> None:
    """Same hash, same formula: at most one unit in the last place apart.

    numpy may evaluate ``log`` with its own SIMD code (e.g. AVX-512), which
    differs from the C library's ``log`` that numba calls in rare last-bit
    cases; the next test shows that the factors are otherwise identical.
    """
    got, expected = _pt_res_comparison(20000)

    np.testing.assert_array_max_ulp(got, expected, maxulp=1)
    assert np.mean(got == expected) > 0.999
    assert abs(np.mean(got) - 1.0) < 0.001
    assert abs(np.std(got) - spec.PT_RES_WIDTH) < 0.001


def _numpy_simd_features_beyond_avx2() -> list[str]:
    """numpy's dispatched CPU features of this machine above AVX2 (x86)."""
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy < 2: no such dispatch there on the tested CPUs
        return []

    found = umath.__cpu_features__
    return [name for name in umath.__cpu_dispatch__
            if found.get(name) and ("AVX512" in name or name == "X86_V4")]


def test_pt_res_factor_equals_reference_exactly() -> None:
    """Bit-for-bit equal when numpy uses the C library's log as numba does."""
    env = dict(os.environ)
    disabled = _numpy_simd_features_beyond_avx2()
    if disabled:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(disabled)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import numpy as np; "
        "from test_kernels import _pt_res_comparison; "
        "got, expected = _pt_res_comparison(20000); "
        "print(int(np.sum(got != expected)), len(got))"
    )
    run = subprocess.run([sys.executable, "-W", "error", "-c", code,
                          str(TESTS_DIR)], capture_output=True, text=True,
                         env=env, timeout=300, check=False)

    assert run.returncode == 0, run.stderr
    differing, n_jets = map(int, run.stdout.split())
    assert n_jets > 50000
    assert differing == 0


def test_slot_names_are_the_spec_variations() -> None:
    assert SLOT_NAMES == spec.HISTOGRAM_VARIATIONS


def test_warm_up_covers_real_and_skim_types(real_file: str, tmp_path: Path) -> None:
    """The one warmed-up signature is the one real files and skims use."""
    info = warm_up()
    assert set(info["kernels"]) == set(KERNELS)
    before = {name: list(kernel.signatures) for name, kernel in KERNELS.items()}

    skim = tmp_path / "skim.root"
    events = read_events(real_file)
    write_events(skim, events.as_arrays())
    for source in (real_file, skim):
        fill_events(read_events(source), "ttbar", "nominal")
        skim_kernel(*kernel_inputs(read_events(source)), make_params(spec.Cuts()))

    after = {name: list(kernel.signatures) for name, kernel in KERNELS.items()}
    assert after == before
    assert all(len(signatures) == 1 for signatures in after.values())


def test_fingerprint_follows_the_kernel_source(tmp_path: Path) -> None:
    """Editing a kernel module (or the helpers) moves it to a fresh cache."""
    source = tmp_path / "kernel_module.py"
    source.write_text("x = 1\n")
    before = kernel_fingerprint(source)
    source.write_text("x = 2\n")
    kernel_fingerprint.cache_clear()

    assert kernel_fingerprint(source) != before
    assert len(before) == 16
    assert all(path.exists() for path in SHARED_KERNEL_SOURCES)


def test_warm_up_rejects_unknown_kernel() -> None:
    with pytest.raises(KeyError, match="nope"):
        warm_up(["nope"])


_WARM_UP = ("import json, sys; from topxsec.kernels import warm_up; "
            "print(json.dumps(warm_up()))")


def _run_warm_up(env: dict[str, str]) -> dict[str, Any]:
    run = subprocess.run([sys.executable, "-W", "error", "-c", _WARM_UP],
                         capture_output=True, text=True, env=env, timeout=300,
                         check=False)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.mark.slow
def test_warm_up_fills_and_reuses_a_shared_cache(tmp_path: Path) -> None:
    """A cold process compiles into NUMBA_CACHE_DIR, the next one loads."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}

    cold = _run_warm_up(env)
    warm = _run_warm_up(env)

    assert cold["cache_base"] == str(tmp_path / "cache")
    directories = {k["cache_dir"] for k in cold["kernels"].values()}
    assert len(directories) == len(KERNELS)  # one fingerprint per kernel module
    assert all(d.startswith(str(tmp_path / "cache" / "topxsec-")) for d in directories)
    assert not any(k["loaded_from_cache"] for k in cold["kernels"].values())
    assert all(k["loaded_from_cache"] for k in warm["kernels"].values())


@pytest.mark.slow
def test_kernels_run_without_a_writable_cache(tmp_path: Path) -> None:
    """An unwritable cache directory only costs compilation time."""
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the cache directory should be")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(blocked)}

    info = _run_warm_up(env)

    assert all(k["cache_dir"] is None for k in info["kernels"].values())
    assert not any(k["loaded_from_cache"] for k in info["kernels"].values())
