"""Tests of topxsec.validation: the comparison with the public reference histograms.

The reference contents themselves, written into histograms.root form, must
pass; deliberately altered contents must fail, except for what a bin-edge
migration or the random pt_res_up draw explains.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from topxsec import fileset, merge, spec
from topxsec import validation as val
from topxsec.errors import ConfigError
from topxsec.hists import Histogram

REFERENCE = "histos_1_file_per_process.json"


@pytest.fixture(scope="module")
def reference() -> dict[str, Histogram]:
    return merge.read_histograms(fileset.public_file(REFERENCE))


@pytest.fixture(scope="module")
def set_weights() -> dict[str, float]:
    """Histogram name -> sigma L / N of its file set, for one file per set."""
    events = fileset.select(fileset.load_agc_catalogue(), 1).events_per_set()
    weights = {}
    for (process, variation), n in events.items():
        for name in spec.histogram_variations(process, variation):
            for region in spec.REGIONS:
                weights[spec.histogram_name(region, process, name)] = (
                    spec.normalization(process, n))
    return weights


def _with_sumw2(reference: dict[str, Histogram],
                set_weights: dict[str, float]) -> dict[str, Histogram]:
    """The reference contents with the squared weights of one weight per set.

    The reference JSON has no variances; histograms.root has them. A set's
    events all weigh sigma L / N (b-tag weights aside), so sumw2 = w * sumw;
    a pseudo-data term scaled by f adds f**2 * w * sumw.
    """
    out = {}
    for name, hist in reference.items():
        if name in set_weights:
            sumw2 = set_weights[name] * hist.sumw
        else:
            region = name.split("_")[0]
            sumw2 = sum(factor**2 * set_weights[term] * reference[term].sumw
                        for process, variation, factor in spec.PSEUDODATA_TERMS
                        if (term := spec.histogram_name(region, process, variation)))
        out[name] = Histogram(hist.edges, hist.sumw, sumw2)
    return out


@pytest.fixture(scope="module")
def as_root(reference: dict[str, Histogram], set_weights: dict[str, float],
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, Histogram]:
    """The reference contents, with squared weights, through histograms.root."""
    path = tmp_path_factory.mktemp("validation") / "histograms.root"
    merge.write_histograms(_with_sumw2(reference, set_weights), path)
    return merge.read_histograms(path)


def _changed(hist: Histogram, change: Callable[[np.ndarray], None]) -> Histogram:
    sumw = hist.sumw.copy()
    change(sumw)
    return Histogram(hist.edges, sumw, hist.sumw2)


def _row(doc: dict, name: str) -> dict:
    return next(r for r in doc["histograms"] if r["name"] == name)


def test_reference_contents_pass(as_root: dict[str, Histogram],
                                 reference: dict[str, Histogram]) -> None:
    doc = val.validate(as_root, reference, reference_label=REFERENCE)

    assert doc["passed"]
    assert doc["counts"] == {val.PASS: 114, val.SKIPPED: 10}
    skipped = [r["name"] for r in doc["histograms"] if r["status"] == val.SKIPPED]
    assert all(name.endswith("_pt_res_up") for name in skipped)
    assert all(r["max_rel_diff"] == 0.0 for r in doc["histograms"]
               if r["status"] == val.PASS)
    page = val.validation_html(doc)
    assert f"Validation against {REFERENCE}: PASSED" in page


def _weight(hist: Histogram) -> float:
    """The weight of one event of a histogram (one weight per set)."""
    return float(np.sum(hist.sumw2) / np.sum(hist.sumw))


def test_event_weights(as_root: dict[str, Histogram],
                       set_weights: dict[str, float]) -> None:
    weights = val.event_weights(as_root)

    for name in ("4j2b_ttbar", "4j1b_wjets", "4j2b_single_top_s_chan_pt_scale_up"):
        assert weights[name] == pytest.approx(set_weights[name], rel=1e-12)
    # the pseudo-data's heaviest term: W+jets, weight about 42
    assert weights["4j2b_pseudodata"] == pytest.approx(set_weights["4j2b_wjets"])
    # ... not the mean weight, which a W+jets event would exceed many times
    assert weights["4j2b_pseudodata"] > 10 * _weight(as_root["4j2b_pseudodata"])


def test_event_weights_without_variances_or_events(
    reference: dict[str, Histogram]
) -> None:
    hist = reference["4j1b_ttbar"]  # variances taken as the contents
    empty = Histogram.empty(hist.edges)
    weights = val.event_weights({"4j1b_ttbar": hist, "4j1b_wjets": empty})
    assert weights == {"4j1b_ttbar": 1.0, "4j1b_wjets": 0.0}
    # pseudo-data without any of their terms keep their own estimate
    assert val.event_weights({"4j2b_pseudodata": hist}) == {"4j2b_pseudodata": 1.0}


ALTERATIONS = {
    "one bin scaled by 1.001": ("4j2b_ttbar", lambda s, w: s.__setitem__(
        12, s[12] * 1.001)),
    "one event added": ("4j1b_wjets", lambda s, w: s.__setitem__(9, s[9] + w)),
    "whole histogram scaled by 1.0001": ("4j2b_single_top_tW",
                                         lambda s, w: s.__imul__(1.0001)),
    "shifted by one bin": ("4j1b_ttbar_PS_var", lambda s, w: s.__setitem__(
        slice(1, 27), s[0:26].copy())),
    "neighbouring bins swapped": ("4j1b_ttbar", lambda s, w: s.__setitem__(
        [5, 6], s[[6, 5]])),
    "pseudo-data bin changed": ("4j2b_pseudodata", lambda s, w: s.__setitem__(
        20, s[20] * 0.9)),
    "b-tag variation overflow changed": ("4j2b_ttbar_btag_var_1_up",
                                         lambda s, w: s.__setitem__(26, s[26] + w)),
}


@pytest.mark.parametrize("alteration", list(ALTERATIONS))
def test_altered_contents_fail(as_root: dict[str, Histogram],
                               reference: dict[str, Histogram],
                               alteration: str) -> None:
    name, change = ALTERATIONS[alteration]
    histograms = dict(as_root)
    weight = _weight(as_root[name])
    histograms[name] = _changed(as_root[name], lambda s: change(s, weight))

    doc = val.validate(histograms, reference)

    assert not doc["passed"]
    row = _row(doc, name)
    assert row["status"] == val.FAIL, row
    assert row["failing_bins"] and row["note"].startswith("bins ")
    assert doc["counts"][val.FAIL] == 1
    assert "FAILED" in val.validation_html(doc)


def test_missing_extra_and_rebinned_histograms_fail(
    as_root: dict[str, Histogram], reference: dict[str, Histogram]
) -> None:
    histograms = dict(as_root)
    del histograms["4j1b_single_top_s_chan_btag_var_2_down"]
    histograms["4j1b_ttbar_new_variation"] = as_root["4j1b_ttbar"]
    hist = as_root["4j2b_wjets"]
    histograms["4j2b_wjets"] = Histogram(hist.edges + 1.0, hist.sumw, hist.sumw2)
    # Another number of bins over the same range: a failed row, not a crash.
    hist = as_root["4j2b_ttbar"]
    finer = np.linspace(hist.edges[0], hist.edges[-1], 2 * len(hist.edges) - 1)
    histograms["4j2b_ttbar"] = Histogram.empty(finer)

    doc = val.validate(histograms, reference)

    assert not doc["passed"]
    missing = _row(doc, "4j1b_single_top_s_chan_btag_var_2_down")
    assert missing["status"] == val.MISSING
    assert _row(doc, "4j1b_ttbar_new_variation")["status"] == val.EXTRA
    assert "bin edges differ" in _row(doc, "4j2b_wjets")["note"]
    assert "50 bins" in _row(doc, "4j2b_ttbar")["note"]
    assert doc["counts"] == {val.PASS: 111, val.SKIPPED: 10, val.MISSING: 1,
                             val.EXTRA: 1, val.FAIL: 2}


@pytest.mark.parametrize(
    ("moves", "expected"),
    [([(9, 10, 1.0)], [[9, 10]]),               # one event across an edge
     ([(10, 9, 2.0)], [[9, 10]]),               # two events down
     ([(9, 10, 1.0), (10, 11, 1.0)], [[9, 11]]),   # a chain over two edges
     ([(4, 5, 1.0), (15, 16, 1.0)], [[4, 5], [15, 16]]),
     ([(25, 26, 1.0)], [[25, 26]]),             # into the overflow
     ([(9, 10, 3.0)], [[9, 10]])],              # the most events allowed
)
def test_migrations_across_bin_edges_pass(
    as_root: dict[str, Histogram], reference: dict[str, Histogram],
    moves: list[tuple[int, int, float]], expected: list[list[int]],
) -> None:
    name = "4j2b_ttbar"
    weight = _weight(as_root[name])

    def move(sumw: np.ndarray) -> None:
        for source, target, events in moves:
            sumw[source] -= events * weight
            sumw[target] += events * weight

    histograms = dict(as_root)
    histograms[name] = _changed(as_root[name], move)

    doc = val.validate(histograms, reference)

    assert doc["passed"]
    row = _row(doc, name)
    assert row["status"] == val.MIGRATION
    assert row["migrations"] == expected
    assert "migration" in row["note"]


def test_a_large_move_is_no_migration(as_root: dict[str, Histogram],
                                      reference: dict[str, Histogram]) -> None:
    name = "4j2b_ttbar"
    histograms = dict(as_root)
    # a fifth of the two bins' content: not a floating-point effect
    amount = 0.2 * (reference[name].sumw[9] + reference[name].sumw[10])
    histograms[name] = _changed(as_root[name], lambda s: (
        s.__setitem__(9, s[9] - amount), s.__setitem__(10, s[10] + amount)))

    doc = val.validate(histograms, reference)

    assert _row(doc, name)["status"] == val.FAIL
    assert not doc["passed"]


@pytest.mark.parametrize("name", ["4j2b_ttbar", "4j1b_ttbar", "4j2b_pseudodata"])
def test_a_systematic_shift_is_no_migration(as_root: dict[str, Histogram],
                                            reference: dict[str, Histogram],
                                            name: str) -> None:
    """9 % of every third bin moved to its neighbour: a jet-energy-like shift."""
    def shift(sumw: np.ndarray) -> None:
        for i in range(1, 25, 3):
            moved = 0.09 * sumw[i]
            sumw[i] -= moved
            sumw[i + 1] += moved

    histograms = dict(as_root)
    histograms[name] = _changed(as_root[name], shift)

    doc = val.validate(histograms, reference)

    row = _row(doc, name)
    assert row["status"] == val.FAIL, row
    assert not row["migrations"] or len(row["failing_bins"]) > 3
    assert not doc["passed"]


def test_four_events_across_an_edge_fail(as_root: dict[str, Histogram],
                                         reference: dict[str, Histogram]) -> None:
    name = "4j2b_ttbar"
    moved = 4 * _weight(as_root[name])
    histograms = dict(as_root)
    histograms[name] = _changed(as_root[name], lambda s: (
        s.__setitem__(9, s[9] - moved), s.__setitem__(10, s[10] + moved)))

    row = _row(val.validate(histograms, reference), name)

    assert row["status"] == val.FAIL
    assert row["failing_bins"] == [9, 10]


def test_a_wjets_event_migrates_in_the_pseudodata(
    as_root: dict[str, Histogram], reference: dict[str, Histogram]
) -> None:
    """One W+jets event (weight ~42) crossing an edge moves in both histograms."""
    weight = _weight(as_root["4j2b_wjets"])
    histograms = dict(as_root)
    for name in ("4j2b_wjets", "4j2b_pseudodata"):
        histograms[name] = _changed(as_root[name], lambda s: (
            s.__setitem__(7, s[7] - weight), s.__setitem__(8, s[8] + weight)))

    doc = val.validate(histograms, reference)

    assert doc["passed"]
    for name in ("4j2b_wjets", "4j2b_pseudodata"):
        assert _row(doc, name)["status"] == val.MIGRATION


def test_reviewer_shift_of_the_reference_json_fails(
    reference: dict[str, Histogram]
) -> None:
    """Both sides from the JSON (no squared weights): still no 9 % shift."""
    histograms = dict(reference)
    hist = reference["4j2b_ttbar"]
    sumw = hist.sumw.copy()
    for i in range(0, 26, 3):
        sumw[i + 1] += 0.09 * sumw[i]
        sumw[i] *= 0.91
    histograms["4j2b_ttbar"] = Histogram(hist.edges, sumw, sumw)

    doc = val.validate(histograms, reference)

    assert not doc["passed"]
    assert _row(doc, "4j2b_ttbar")["status"] == val.FAIL


def test_random_pt_res_up_is_skipped(as_root: dict[str, Histogram],
                                     reference: dict[str, Histogram]) -> None:
    histograms = dict(as_root)
    histograms["4j1b_ttbar_pt_res_up"] = _changed(
        as_root["4j1b_ttbar_pt_res_up"], lambda s: s.__imul__(1.1))
    doc = val.validate(histograms, reference)
    assert doc["passed"]
    assert _row(doc, "4j1b_ttbar_pt_res_up")["status"] == val.SKIPPED


def test_empty_reference_histogram_we_do_not_write(
    as_root: dict[str, Histogram], reference: dict[str, Histogram]
) -> None:
    changed = dict(reference)
    hist = reference["4j2b_single_top_s_chan_btag_var_0_up"]
    changed["4j2b_single_top_s_chan_btag_var_0_up"] = Histogram(
        hist.edges, np.zeros_like(hist.sumw), np.zeros_like(hist.sumw))
    histograms = {k: v for k, v in as_root.items()
                  if k != "4j2b_single_top_s_chan_btag_var_0_up"}

    doc = val.validate(histograms, changed)

    assert doc["passed"]
    assert "empty in the reference" in _row(
        doc, "4j2b_single_top_s_chan_btag_var_0_up")["note"]


@pytest.mark.parametrize(
    ("ours", "reference", "weight", "status"),
    [([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 0.1, val.PASS),
     ([1.0, 2.0 + 1e-9, 3.0], [1.0, 2.0, 3.0], 0.1, val.PASS),
     ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], 0.0, val.PASS),
     ([1.5, 1.5, 3.0], [1.0, 2.0, 3.0], 0.1, val.FAIL),       # 5 events moved
     ([1.5, 1.5, 3.0], [1.0, 2.0, 3.0], 0.25, val.MIGRATION),  # 2 events
     ([1.0, 2.1, 2.9], [1.0, 2.0, 3.0], 0.1, val.MIGRATION),   # 1 event
     ([1.0, 2.1, 2.9], [1.0, 2.0, 3.0], 0.0, val.FAIL),        # no weight known
     ([10.0, 100.9, 200.1], [10.0, 101.0, 200.0], 0.05, val.MIGRATION),
     ([10.0, 100.9, 200.1], [10.0, 101.0, 200.0], 0.03, val.FAIL),
     ([10.0, 101.0, 200.1], [10.0, 101.0, 200.0], 1.0, val.FAIL),
     ([0.0, 0.0, 1.0], [0.0, 0.0, 0.0], 1.0, val.FAIL)],
)
def test_compare_contents(ours: list[float], reference: list[float],
                          weight: float, status: str) -> None:
    got = val.compare_contents(np.array(ours), np.array(reference),
                               event_weight=weight)
    assert got["status"] == status, got


def test_compare_contents_needs_equal_lengths() -> None:
    with pytest.raises(ValueError, match="cannot compare"):
        val.compare_contents(np.zeros(3), np.zeros(4), event_weight=1.0)


@pytest.mark.parametrize(("n", "name"), [
    (1, "histos_1_file_per_process.json"), (200, "histos_200_file_per_process.json"),
    (None, "histos_all_file_per_process.json"),
    ("all", "histos_all_file_per_process.json"),
])
def test_reference_name(n: int | str | None, name: str) -> None:
    assert val.reference_name(n) == name
    assert name in fileset.PUBLIC_FILES


@pytest.mark.parametrize("n", [3, 1000, "most"])
def test_reference_name_without_a_reference(n: int | str) -> None:
    with pytest.raises(ConfigError) as err:
        val.reference_name(n)
    assert err.value.key == "validation.reference_files"
    assert "1, 2, 10, 20, 50, 100, 200, all" in str(err.value)


def test_real_reference_differs_from_another_n(
    as_root: dict[str, Histogram]
) -> None:
    other = merge.read_histograms(fileset.public_file("histos_2_file_per_process.json"))
    doc = val.validate(as_root, other, reference_label="histos_2")
    assert not doc["passed"]
    assert doc["counts"][val.FAIL] > 100
