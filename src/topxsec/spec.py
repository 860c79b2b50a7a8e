"""Facts of the AGC top-pair task: samples, cross-sections, cuts, names.

Every number here comes from the analysis specification
(``../shared/docs/analysis-spec.md`` in the development tree, summarised in
``docs/physics.md``). Code elsewhere takes them from here, so that a cut lives in
one place. The module is pure Python and cheap to import: the Snakefile uses it
at parse time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

#: Integrated luminosity of the 2015 data set, in pb^-1.
LUMINOSITY_PB = 3378.0

#: Cross-sections in pb, as used by the public reference histograms.
CROSS_SECTIONS_PB: dict[str, float] = {
    "ttbar": 396.87 + 332.97,
    "single_top_s_chan": 2.0268 + 1.2676,
    "single_top_t_chan": (36.993 + 22.175) / 0.252,
    "single_top_tW": 37.936 + 37.906,
    "wjets": 61457 * 0.252,
}

#: The file sets of the task: process -> its variations (each one set of files).
FILE_SETS: dict[str, tuple[str, ...]] = {
    "ttbar": ("nominal", "scaledown", "scaleup", "ME_var", "PS_var"),
    "single_top_s_chan": ("nominal",),
    "single_top_t_chan": ("nominal",),
    "single_top_tW": ("nominal",),
    "wjets": ("nominal",),
}

PROCESSES: tuple[str, ...] = tuple(FILE_SETS)

#: Analysis regions, in the order the kernels fill them.
REGIONS: tuple[str, ...] = ("4j1b", "4j2b")

#: Observable per region (for labels).
OBSERVABLES: dict[str, str] = {"4j1b": "H_T", "4j2b": "m_bjj"}

#: Histogram variations filled from a ``nominal`` file set, in kernel order.
#: Index 0 is the nominal selection; the b-tag and scale weights apply to it.
JET_VARIATIONS: tuple[str, ...] = ("nominal", "pt_scale_up", "pt_res_up")
BTAG_VARIATIONS: tuple[str, ...] = tuple(
    f"btag_var_{i}_{direction}" for i in range(4) for direction in ("up", "down")
)
SCALE_VARIATIONS: tuple[str, ...] = ("scale_var_up", "scale_var_down")
HISTOGRAM_VARIATIONS: tuple[str, ...] = (
    JET_VARIATIONS + BTAG_VARIATIONS + SCALE_VARIATIONS
)

#: The process whose nominal set also gets the W+jets scale weights.
SCALE_VARIATION_PROCESS = "wjets"

#: Jet energy scale factor of ``pt_scale_up``.
PT_SCALE_UP = 1.03
#: Width of the Gaussian jet energy resolution smearing of ``pt_res_up``.
PT_RES_WIDTH = 0.05
#: b-tag weight slope: weight x (1 +- BTAG_SLOPE * pT_i / BTAG_PT_REF).
BTAG_SLOPE = 0.075
BTAG_PT_REF = 50.0
#: W+jets scale weights.
SCALE_VAR_UP = 1.025
SCALE_VAR_DOWN = 0.975

#: Name of the pseudo-data histograms and the sets they are made of.
PSEUDODATA = "pseudodata"
PSEUDODATA_TERMS: tuple[tuple[str, str, float], ...] = (
    ("ttbar", "ME_var", 0.5),
    ("ttbar", "PS_var", 0.5),
    ("wjets", "nominal", 1.0),
)

#: Branches the analysis reads, as in NanoAOD.
JET_BRANCHES: tuple[str, ...] = (
    "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_btagCSVV2", "Jet_jetId",
)
ELECTRON_BRANCHES: tuple[str, ...] = (
    "Electron_pt", "Electron_eta", "Electron_phi", "Electron_mass",
    "Electron_cutBased", "Electron_sip3d",
)
MUON_BRANCHES: tuple[str, ...] = (
    "Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_tightId", "Muon_sip3d",
    "Muon_pfRelIso04_all",
)
EVENT_BRANCHES: tuple[str, ...] = ("run", "luminosityBlock", "event")
COUNTER_BRANCHES: tuple[str, ...] = ("nJet", "nElectron", "nMuon")
NEEDED_BRANCHES: tuple[str, ...] = (
    JET_BRANCHES + ELECTRON_BRANCHES + MUON_BRANCHES + EVENT_BRANCHES
)


@dataclass(frozen=True)
class Cuts:
    """Object and event selection thresholds of the task (GeV where a pT).

    The defaults are the task's; the workflow config may override them.
    """

    electron_pt: float = 30.0
    electron_abs_eta: float = 2.1
    electron_cut_based: int = 4
    electron_sip3d: float = 4.0
    muon_pt: float = 30.0
    muon_abs_eta: float = 2.1
    muon_sip3d: float = 4.0
    muon_pf_rel_iso: float = 0.15
    jet_pt: float = 30.0
    jet_abs_eta: float = 2.4
    jet_id_bit: int = 4
    btag_threshold: float = 0.5
    #: pT threshold of the loose skim jets, below every jet-pT variation's cut.
    skim_jet_pt: float = 25.0
    min_jets: int = 4

    def as_dict(self) -> dict[str, float | int]:
        """Return the thresholds as a plain dict (for params and JSON)."""
        return asdict(self)


@dataclass(frozen=True)
class Binning:
    """Equal-width histogram binning, with underflow and overflow kept."""

    bins: int = 25
    low: float = 50.0
    high: float = 550.0

    def edges(self) -> list[float]:
        """Return the ``bins + 1`` bin edges."""
        width = (self.high - self.low) / self.bins
        return [self.low + i * width for i in range(self.bins)] + [self.high]


@dataclass(frozen=True)
class FileSetKey:
    """One (process, variation) file set."""

    process: str
    variation: str = field(default="nominal")

    @property
    def name(self) -> str:
        """``process__variation``, as used in paths."""
        return f"{self.process}__{self.variation}"


def histogram_variations(process: str, variation: str) -> tuple[str, ...]:
    """Return the histogram variations a file of this file set contributes to.

    Args:
        process: The process of the file set, e.g. ``"wjets"``.
        variation: The file set's variation, e.g. ``"nominal"`` or ``"PS_var"``.

    Returns:
        For a nominal set, every systematic variation of the task that applies to
        the process; for an alternative sample, just its own name.
    """
    if variation != "nominal":
        return (variation,)

    names = JET_VARIATIONS + BTAG_VARIATIONS
    if process == SCALE_VARIATION_PROCESS:
        names += SCALE_VARIATIONS
    return names


def histogram_name(region: str, process: str, variation: str) -> str:
    """Return the name of a histogram in ``histograms.root``.

    >>> histogram_name("4j2b", "ttbar", "nominal")
    '4j2b_ttbar'
    >>> histogram_name("4j1b", "wjets", "scale_var_down")
    '4j1b_wjets_scale_var_down'
    """
    if variation == "nominal":
        return f"{region}_{process}"
    return f"{region}_{process}_{variation}"


def normalization(process: str, n_events: int) -> float:
    """Return the per-event weight sigma * L / N of a file set.

    Args:
        process: The process, a key of :data:`CROSS_SECTIONS_PB`.
        n_events: Total events of the files of the set that are processed.

    Raises:
        ValueError: If ``n_events`` is not positive.
    """
    if n_events <= 0:
        raise ValueError(f"file set of {process!r} has {n_events} events; need > 0")
    return CROSS_SECTIONS_PB[process] * LUMINOSITY_PB / n_events
