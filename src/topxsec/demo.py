"""Deterministic demo data in the layout of the CMS 2015 NanoAOD files.

Users without the real files run the analysis on files written here. Each file
holds the branches of :data:`topxsec.spec.NEEDED_BRANCHES` with the real files'
types, and its events are made the way the real ones are, in three steps:

1. **Skeleton** (every event, cheap): the discrete decisions - W and tau decay
   channels, the numbers of extra (ISR) jets and final-state splittings, the
   heavy flavour of the extra jets. They bound how many jets an event can
   have above the selection's pT cut and tell whether it has a lepton that
   can pass the tight selection.
2. **Hard process** (kept events only): t t-bar from gluon fusion (forward
   tops at high mass), t -> bW with Breit-Wigner top and W masses and the W
   helicity of top decays, W -> l nu / q q' with their branching fractions,
   tau -> l nu nu / hadrons; single top in its s-, t- (forward light quark,
   spectator b) and tW (initial-state b) topologies; W+jets with a
   Berends-like (geometric) jet multiplicity and gluon-splitting heavy
   flavour. The hard system recoils against the extra jets.
3. **Detector**: partons become jets through out-of-cone losses, a response and
   a pT-dependent Gaussian resolution; partons closer than Delta R = 0.4
   merge; pileup adds soft jets; CSVv2 values follow the jet flavour (b jets
   pass 0.5 about 80 % of the time, c jets a third, light jets about 10 %,
   rising with pT) with -10 for jets without tracks; prompt leptons get the
   ID, impact-parameter and isolation distributions of the real files and
   also appear as a jet (NanoAOD jets are not cleaned of leptons) that mostly
   fails the tight-lepton-veto jet ID (``jetId`` 2 or 0, as in the real
   files); b and c jets give non-prompt, non-isolated leptons.

The settings of each file set (:data:`MODELS`) were tuned so that the task's
selection gives the public reference yields of one real file per set (within
about 10-20 %) and similar H_T / m_bjj shapes. Two properties of the real
2015 files are kept on purpose: the muon ID flags are never set
(``Muon_tightId`` is False for every muon, so the selection is in effect
electron+jets, which the reference yields reflect) and muons are stored only
above 15 GeV. ``working_muon_id=True`` sets a realistic tight ID instead, for
tests that want muons in the selection (the yields then roughly double).

Generator-level filter: where the selection efficiency is tiny (W+jets,
s- and t-channel single top) the kinematics are built only for events whose
skeleton allows the selection: at least ``min_jets`` objects that can become
a jet above the jet cut and a prompt lepton that can pass the tight
selection. Soft jets are made only below a pT that no jet-pT variation lifts
over the cut, and non-prompt leptons never pass the tight ID or isolation,
so the selection implies the filter exactly: a filtered file standing for
``nevts`` events has the normalized yields of an unfiltered one.

The random numbers come from numpy's PCG64 seeded with
``SeedSequence([seed, crc32(process), crc32(variation), index])``: the same
arguments give the same arrays.
"""

from __future__ import annotations

import logging
import os
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from topxsec import spec
from topxsec.errors import ConfigError

log = logging.getLogger(__name__)

#: Signature of the hook that adds branches: it gets the generated columns and
#: a random generator of its own and returns further ``name -> array`` columns.
ExtraBranches = Callable[[Mapping[str, Any], np.random.Generator], Mapping[str, Any]]

# --- particle properties (GeV) ------------------------------------------------

TOP_MASS, TOP_WIDTH = 172.5, 1.32
W_MASS, W_WIDTH = 80.385, 2.085
B_MASS, C_MASS, TAU_MASS = 4.8, 1.5, 1.777
ELECTRON_MASS_SPREAD = 0.015
MUON_MASS = 0.10566

#: W decay channels and branching fractions (hadronic split evenly ud / cs).
W_TO_E, W_TO_MU, W_TO_TAU, W_TO_UD, W_TO_CS = range(5)
W_BRANCHING = np.array([0.1071, 0.1063, 0.1138, 0.3364, 0.3364])
#: Tau decay modes and branching fractions.
TAU_TO_E, TAU_TO_MU, TAU_TO_HADRONS = range(3)
TAU_BRANCHING = np.array([0.1782, 0.1739, 0.6479])

#: Object flavour codes (jet flavour; lepton type for leptons).
LIGHT, CHARM, BOTTOM, TAU_JET, ELECTRON, MUON = 1, 4, 5, 15, 11, 13
#: What made a jet: partons, a prompt electron or muon, pileup.
HADRONIC_JET, ELECTRON_JET, MUON_JET, SOFT_JET = 0, 1, 2, 3

# --- detector model -----------------------------------------------------------

#: Stored object thresholds of the real files.
JET_STORE_PT, ELECTRON_STORE_PT, MUON_STORE_PT = 15.0, 5.0, 15.0
JET_MAX_ETA, ELECTRON_MAX_ETA, MUON_MAX_ETA, TRACKER_ETA = 4.7, 2.5, 2.4, 2.4
#: Delta R below which two partons make one jet (anti-kT R = 0.4).
JET_RADIUS = 0.4
#: Soft (pileup) jets are made below this reco pT. No jet-pT variation lifts
#: them over the 30 GeV cut: that needs a factor above LARGEST_PT_FACTOR (for
#: pt_res_up a 7 sigma draw), which keeps the generator-level filter exact.
SOFT_JET_MAX_PT = 22.0
LARGEST_PT_FACTOR = 1.36
#: Non-prompt muons have a relative isolation of at least this (the rest of
#: their jet lies in the cone), so no isolation cut below it selects them.
NONPROMPT_MIN_ISO = 0.3
#: Jet pT resolution sigma/pT = sqrt((N/pT)^2 + S^2/pT + C^2).
JER_NOISE, JER_STOCHASTIC, JER_CONSTANT = 3.0, 0.9, 0.06
#: Prompt electron cutBased (0..4) and prompt-lepton jet jetId (0, 2, 6)
#: probabilities, from the real files.
ELECTRON_ID_PROMPT = np.array([0.16, 0.01, 0.06, 0.11, 0.66])
ELECTRON_ID_GAP = np.array([0.70, 0.05, 0.10, 0.10, 0.05])
ELECTRON_ID_NONPROMPT = np.array([0.88, 0.05, 0.04, 0.03, 0.0])
JET_ID_VALUES = np.array([0, 2, 6], dtype=np.int32)
JET_ID_ELECTRON_JET = np.array([0.22, 0.63, 0.15])
JET_ID_MUON_JET = np.array([0.09, 0.80, 0.11])
JET_ID_CENTRAL = np.array([0.02, 0.005, 0.975])
JET_ID_ENDCAP = np.array([0.30, 0.0, 0.70])
JET_ID_FORWARD = np.array([0.15, 0.0, 0.85])
#: CSVv2 value of jets without usable tracks (as in the real files).
BTAG_NO_TRACKS = -10.0
#: Light-jet mistag rate relative to 100 GeV: a + b pT.
MISTAG_PT_SLOPE = (0.8, 0.002)

#: Event numbering: ``luminosityBlock = (set * FILES_PER_SET + index) *
#: LUMIS_PER_FILE + 1 + i // EVENTS_PER_LUMI``, ``event = lumi * 100 + i % 100``.
FILES_PER_SET, LUMIS_PER_FILE, EVENTS_PER_LUMI = 4096, 100_000, 100
#: Kinematics are built in chunks of this many events (bounds the memory).
CHUNK_EVENTS = 20_000
#: At most this many extra (ISR) jets per event.
MAX_EXTRA_JETS = 8


@dataclass(frozen=True)
class SampleModel:
    """Generator settings of one file set (the knobs the alternatives change).

    Attributes:
        extra_jets: Mean number (Poisson) of extra hard jets, or the Berends
            ratio ``P(n+1) / P(n)`` when ``berends`` is set.
        berends: Geometric (Berends-scaling) instead of Poisson multiplicity.
        extra_pt_min: Lowest parton pT of an extra jet.
        extra_pt_index: Extra-jet spectrum dN/dpT ~ pT^-index.
        extra_pt_growth: Events with more extra jets are harder: their lowest
            pT grows by this fraction per jet beyond the first.
        extra_eta_width: Gaussian width of the extra jets' pseudorapidity.
        fsr_prob: Probability that a quark of the hard process radiates a
            resolved gluon jet.
        mass_shape: Rise of the hard system's mass excess above threshold
            (beta-prime shape alpha: density ~ x^(alpha - 1) near 0).
        mass_tail: Fall of the same (beta-prime beta: ~ x^-(beta + 1)).
        mass_scale: Mean mass excess above threshold (GeV); larger is harder.
        system_rapidity: Gaussian width of the hard system's rapidity.
        response: Jet energy response (reco / particle level).
        out_of_cone: Mean fraction of a quark's pT inside its jet.
        btag_b: Logit-scale centre of the CSVv2 value of b jets.
        btag_c: Same for c jets.
        btag_light: Same for the core of light jets.
        btag_light_tail: Fraction of light jets with a value uniform in
            [0.15, 1] (tracks from decays in flight, conversions, gluon
            splitting); it sets the mistag rate.
        p_charm: Probability of one charm jet among the extra jets.
        p_cc: Probability of a c c-bar pair among the extra jets.
        p_bb: Probability of a b b-bar pair among the extra jets.
        pileup_jets: Mean number of soft (pileup) jets.
        filtered: Generate with the generator-level filter by default.
    """

    extra_jets: float
    berends: bool = False
    extra_pt_min: float = 20.0
    extra_pt_index: float = 2.5
    extra_pt_growth: float = 0.0
    extra_eta_width: float = 1.8
    fsr_prob: float = 0.15
    mass_shape: float = 1.5
    mass_tail: float = 4.0
    mass_scale: float = 180.0
    system_rapidity: float = 0.9
    response: float = 1.0
    out_of_cone: float = 0.97
    btag_b: float = 1.7
    btag_c: float = -0.3
    btag_light: float = -1.6
    btag_light_tail: float = 0.22
    p_charm: float = 0.0
    p_cc: float = 0.01
    p_bb: float = 0.005
    pileup_jets: float = 1.3
    filtered: bool = False


_TTBAR = SampleModel(extra_jets=1.3, extra_pt_index=2.3, fsr_prob=0.2, mass_scale=150.0,
                     response=1.02)

#: The nine file sets of the task and their settings. The ttbar alternatives
#: differ the way the real samples do: scale up / down more / less radiation,
#: ME_var (aMC@NLO) a harder top spectrum and more extra jets, PS_var (Herwig++)
#: a softer jet response, more out-of-cone radiation and a lower b-tag
#: efficiency.
MODELS: dict[tuple[str, str], SampleModel] = {
    ("ttbar", "nominal"): _TTBAR,
    ("ttbar", "scaledown"): replace(_TTBAR, extra_jets=1.1, fsr_prob=0.16),
    ("ttbar", "scaleup"): replace(_TTBAR, extra_jets=1.4, fsr_prob=0.24),
    ("ttbar", "ME_var"): replace(_TTBAR, extra_jets=1.85, mass_scale=175.0),
    ("ttbar", "PS_var"): replace(
        _TTBAR, extra_jets=1.55, response=0.97, out_of_cone=0.95, btag_b=1.4
    ),
    ("single_top_s_chan", "nominal"): SampleModel(
        extra_jets=0.8, mass_scale=150.0, filtered=True
    ),
    ("single_top_t_chan", "nominal"): SampleModel(extra_jets=0.22, filtered=True),
    ("single_top_tW", "nominal"): SampleModel(extra_jets=0.8, extra_pt_index=2.3,
                                               mass_scale=190.0),
    ("wjets", "nominal"): SampleModel(
        extra_jets=0.265, berends=True, extra_pt_min=25.0, extra_pt_index=3.0,
        extra_pt_growth=0.2, p_charm=0.06, p_cc=0.015, p_bb=0.005,
        system_rapidity=2.0, filtered=True,
    ),
}

#: Fraction of single-top tW events whose initial-state g -> b b-bar splitting
#: leaves a reconstructable b (5-flavour scheme).
TW_ISR_B_PROB = 0.8
#: Mean pT above 10 GeV of that b.
TW_ISR_B_PT = 30.0
#: t-channel: mean top pT / 2, spectator b mean pT above 10 GeV, its eta width.
T_CHANNEL_TOP_PT, T_CHANNEL_SPECTATOR_PT, T_CHANNEL_SPECTATOR_ETA = 55.0, 30.0, 1.2


# --- four-vectors ----------------------------------------------------------------


def _p4(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray,
        mass: np.ndarray | float) -> np.ndarray:
    """Four-vectors ``[..., (px, py, pz, E)]`` from (pT, eta, phi, m)."""
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + np.square(mass))
    return np.stack([px, py, pz, energy], axis=-1)


def _pt(p4: np.ndarray) -> np.ndarray:
    """Transverse momentum of four-vectors."""
    return np.hypot(p4[..., 0], p4[..., 1])


def _eta_phi(p4: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pseudorapidity (0 for pT = 0) and azimuth of four-vectors."""
    pt = _pt(p4)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(pt > 0, np.arcsinh(p4[..., 2] / pt), 0.0)
    return eta, np.arctan2(p4[..., 1], p4[..., 0])


def _mass(p4: np.ndarray) -> np.ndarray:
    """Invariant mass (0 where rounding makes it imaginary)."""
    m2 = p4[..., 3] ** 2 - np.sum(p4[..., :3] ** 2, axis=-1)
    return np.sqrt(np.maximum(m2, 0.0))


def _boost(p4: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Lorentz-boost four-vectors by velocity ``beta`` ``[..., 3]``."""
    b2 = np.sum(beta**2, axis=-1)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * p4[..., :3], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        g2 = np.where(b2 > 0, (gamma - 1.0) / b2, 0.0)

    space = p4[..., :3] + (g2 * bp + gamma * p4[..., 3])[..., None] * beta
    energy = gamma * (p4[..., 3] + bp)
    return np.concatenate([space, energy[..., None]], axis=-1)


def _isotropic(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Unit vectors ``[..., 3]`` uniform on the sphere."""
    cos_theta = rng.uniform(-1.0, 1.0, shape)
    phi = rng.uniform(-np.pi, np.pi, shape)
    sin_theta = np.sqrt(1.0 - cos_theta**2)
    return np.stack([sin_theta * np.cos(phi), sin_theta * np.sin(phi), cos_theta], -1)


def _two_body(rng: np.random.Generator, parent: np.ndarray,
              m1: np.ndarray | float, m2: np.ndarray | float,
              direction: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Two-body decays of ``parent`` four-vectors into masses m1, m2.

    ``direction`` is the unit vector of the first daughter in the parent's
    rest frame (isotropic if None).
    """
    big_m = _mass(parent)
    m1 = np.broadcast_to(m1, big_m.shape)
    m2 = np.broadcast_to(m2, big_m.shape)
    arg = (big_m**2 - (m1 + m2) ** 2) * (big_m**2 - (m1 - m2) ** 2)
    p = np.sqrt(np.maximum(arg, 0.0)) / (2.0 * big_m)

    if direction is None:
        direction = _isotropic(rng, big_m.shape)
    momentum = direction * p[..., None]
    d1 = np.concatenate([momentum, np.sqrt(p**2 + m1**2)[..., None]], axis=-1)
    d2 = np.concatenate([-momentum, np.sqrt(p**2 + m2**2)[..., None]], axis=-1)

    beta = parent[..., :3] / parent[..., 3:4]
    return _boost(d1, beta), _boost(d2, beta)


def _around(rng: np.random.Generator, axis: np.ndarray,
            cos_theta: np.ndarray) -> np.ndarray:
    """Unit vectors at polar angle ``arccos(cos_theta)`` to ``axis`` ``[n, 3]``."""
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    helper = np.where(np.abs(axis[:, :1]) < 0.9, [[1.0, 0.0, 0.0]],
                      [[0.0, 1.0, 0.0]])
    e1 = np.cross(axis, helper)
    e1 /= np.linalg.norm(e1, axis=-1, keepdims=True)
    e2 = np.cross(axis, e1)
    phi = rng.uniform(-np.pi, np.pi, len(axis))[:, None]
    sin_theta = np.sqrt(1.0 - cos_theta**2)[:, None]
    return (cos_theta[:, None] * axis
            + sin_theta * (np.cos(phi) * e1 + np.sin(phi) * e2))


def _breit_wigner(rng: np.random.Generator, mass: float, width: float,
                  size: int, window: float = 6.0) -> np.ndarray:
    """Cauchy-distributed masses, truncated to ``mass +- window * width``."""
    lo, hi = (np.arctan(-2.0 * window) / np.pi + 0.5,
              np.arctan(2.0 * window) / np.pi + 0.5)
    u = rng.uniform(lo, hi, size)
    return mass + 0.5 * width * np.tan(np.pi * (u - 0.5))


def _power_law(rng: np.random.Generator, low: float, index: float,
               shape: tuple[int, ...]) -> np.ndarray:
    """Draws from dN/dx ~ x^-index above ``low`` (inverse CDF)."""
    u = rng.uniform(0.0, 1.0, shape)
    return low * (1.0 - u) ** (-1.0 / (index - 1.0))


def _choice(rng: np.random.Generator, probabilities: np.ndarray,
            shape: tuple[int, ...] | int) -> np.ndarray:
    """Indices drawn with the given probabilities (vectorized inverse CDF).

    The CDF ends at exactly 1, so a category of probability 0 is never drawn.
    """
    cdf = np.cumsum(probabilities)
    cdf = cdf / cdf[-1]
    return np.searchsorted(cdf, rng.uniform(0.0, 1.0, shape), "right")


# --- object containers --------------------------------------------------------


@dataclass
class _Objects:
    """Padded per-event objects: four-vectors ``[n, k, 4]``, flavour, validity."""

    p4: np.ndarray
    flavour: np.ndarray
    valid: np.ndarray

    @classmethod
    def single(cls, p4: np.ndarray, flavour: np.ndarray | int,
               valid: np.ndarray | bool = True) -> _Objects:
        """One slot per event from ``[n, 4]`` four-vectors."""
        n = len(p4)
        return cls(p4[:, None, :],
                   np.broadcast_to(np.asarray(flavour, np.int8), (n,))[:, None].copy(),
                   np.broadcast_to(np.asarray(valid), (n,))[:, None].copy())

    def __add__(self, other: _Objects) -> _Objects:
        return _Objects(np.concatenate([self.p4, other.p4], axis=1),
                        np.concatenate([self.flavour, other.flavour], axis=1),
                        np.concatenate([self.valid, other.valid], axis=1))


@dataclass
class _Event:
    """The generator-level content of a chunk of events.

    Attributes:
        partons: Quarks, gluons and hadronic taus that make jets.
        leptons: Prompt electrons and muons (from W or tau decays).
    """

    partons: _Objects
    leptons: _Objects


# --- step 1: skeleton ---------------------------------------------------------


@dataclass
class _Skeleton:
    """Discrete decisions of every event (step 1).

    Attributes:
        w_channel: ``[n, n_w]`` W decay channels (``W_TO_*``).
        tau_mode: ``[n, n_w]`` tau decay modes where the W gives a tau.
        n_extra: Number of extra (ISR) jets.
        heavy: Heavy flavour of the extra jets: 0 none, 1 one c, 2 c c-bar,
            3 b b-bar.
        fsr: ``[n, partons]`` which partons of the hard process radiate a
            jet, in the order of :class:`_Topology`.
        isr_b: tW only: the initial-state b is reconstructable.
    """

    w_channel: np.ndarray
    tau_mode: np.ndarray
    n_extra: np.ndarray
    heavy: np.ndarray
    fsr: np.ndarray
    isr_b: np.ndarray

    def take(self, mask: np.ndarray) -> _Skeleton:
        """The skeleton of the events selected by ``mask`` (or an index array)."""
        return _Skeleton(self.w_channel[mask], self.tau_mode[mask],
                         self.n_extra[mask], self.heavy[mask], self.fsr[mask],
                         self.isr_b[mask])


@dataclass(frozen=True)
class _Topology:
    """Parton layout of a process's hard event.

    The partons come out as one b per top, two slots per W (the W's from tops
    first), then the fixed further partons; tW appends its initial-state b,
    which never radiates.

    Attributes:
        tops: Top quarks.
        ws: W bosons.
        fixed: Further partons always present (b-bar, light quark, spectator).
        initial_b: The event may have an initial-state b (tW).
    """

    tops: int
    ws: int
    fixed: int = 0
    initial_b: bool = False

    @property
    def slots(self) -> int:
        """Parton slots that may radiate."""
        return self.tops + 2 * self.ws + self.fixed


_TOPOLOGY: dict[str, _Topology] = {
    "ttbar": _Topology(tops=2, ws=2),                      # b b-bar W W
    "single_top_s_chan": _Topology(tops=1, ws=1, fixed=1),  # b W, b-bar
    "single_top_t_chan": _Topology(tops=1, ws=1, fixed=2),  # b W, q, b-bar
    "single_top_tW": _Topology(tops=1, ws=2, initial_b=True),
    "wjets": _Topology(tops=0, ws=1),
}


def _draw_skeleton(rng: np.random.Generator, process: str, model: SampleModel,
                   n: int) -> _Skeleton:
    """Draw the discrete decisions of ``n`` events."""
    topology = _TOPOLOGY[process]
    if process == "wjets":  # the W+jets sample is W -> l nu only
        channel = rng.integers(W_TO_E, W_TO_TAU + 1, (n, 1))
    else:
        channel = _choice(rng, W_BRANCHING, (n, topology.ws))
    tau_mode = _choice(rng, TAU_BRANCHING, (n, topology.ws))

    if model.berends:
        n_extra = rng.geometric(1.0 - model.extra_jets, n) - 1
    else:
        n_extra = rng.poisson(model.extra_jets, n)
    n_extra = np.minimum(n_extra, MAX_EXTRA_JETS)

    # Heavy flavour among the extra jets grows with their number.
    u = rng.uniform(0.0, 1.0, n) / np.maximum(n_extra, 1)
    heavy = np.select(
        [u < model.p_bb, u < model.p_bb + model.p_cc,
         u < model.p_bb + model.p_cc + model.p_charm], [3, 2, 1], 0)
    heavy = np.where(n_extra > 0, heavy, 0)

    fsr = rng.uniform(0.0, 1.0, (n, topology.slots)) < model.fsr_prob
    isr_b = (rng.uniform(0.0, 1.0, n) < TW_ISR_B_PROB) & topology.initial_b
    return _Skeleton(channel, tau_mode, n_extra, heavy, fsr, isr_b)


def _filter_mask(process: str, skeleton: _Skeleton, cuts: spec.Cuts,
                 working_muon_id: bool) -> np.ndarray:
    """Events whose skeleton allows the task's selection.

    An event can pass only with at least ``cuts.min_jets`` objects that can
    become a jet above the jet cut (quarks, hadronic taus, radiated and extra
    jets, and the jets that prompt leptons make) and one prompt lepton that
    can pass the tight selection.
    """
    topology = _TOPOLOGY[process]
    channel, tau = skeleton.w_channel, skeleton.tau_mode
    hadronic = channel >= W_TO_UD
    is_tau = channel == W_TO_TAU

    # A hadronic W gives two quarks; a leptonic one a lepton jet or a tau jet.
    objects = (topology.tops + topology.fixed + hadronic.sum(axis=1)
               + topology.ws + skeleton.n_extra + skeleton.isr_b)
    can_radiate = np.ones_like(skeleton.fsr)
    w_slots = slice(topology.tops, topology.tops + 2 * topology.ws)
    can_radiate[:, w_slots] = np.repeat(hadronic, 2, axis=1)
    objects = objects + (skeleton.fsr & can_radiate).sum(axis=1)

    electron = (channel == W_TO_E) | (is_tau & (tau == TAU_TO_E))
    candidates = electron.sum(axis=1)
    if working_muon_id:
        muon = (channel == W_TO_MU) | (is_tau & (tau == TAU_TO_MU))
        candidates = candidates + muon.sum(axis=1)
    return (objects >= cuts.min_jets) & (candidates >= 1)


# --- step 2: hard processes ---------------------------------------------------


def _system(rng: np.random.Generator, model: SampleModel, mass: np.ndarray,
            recoil: np.ndarray) -> np.ndarray:
    """Four-vectors of a hard system of given masses recoiling against ``recoil``.

    ``recoil`` is the ``[n, 2]`` transverse momentum the system balances; an
    intrinsic kT of 8 GeV is added.
    """
    n = len(mass)
    qt = -recoil + rng.normal(0.0, 8.0, (n, 2))
    rapidity = rng.normal(0.0, model.system_rapidity, n)
    mt = np.sqrt(mass**2 + np.sum(qt**2, axis=1))
    return np.stack([qt[:, 0], qt[:, 1], mt * np.sinh(rapidity),
                     mt * np.cosh(rapidity)], axis=1)


def _system_mass(rng: np.random.Generator, model: SampleModel,
                 threshold: np.ndarray) -> np.ndarray:
    """Hard-system masses: threshold plus a beta-prime distributed excess.

    The ratio of two Gamma variables rises like a Gamma near threshold but
    falls as a power law, like the high-mass tail of real production.
    """
    n = len(threshold)
    ratio = rng.gamma(model.mass_shape, 1.0, n) / rng.gamma(model.mass_tail, 1.0, n)
    mean_ratio = model.mass_shape / (model.mass_tail - 1.0)
    return threshold + model.mass_scale / mean_ratio * ratio


def _extra_jets(rng: np.random.Generator, model: SampleModel,
                skeleton: _Skeleton) -> _Objects:
    """The extra (ISR) jets, their flavours set by ``skeleton.heavy``.

    A heavy-flavour pair comes from a gluon splitting: its second jet goes at
    Delta R 0.4-1.6 (log-uniform) from the first.
    """
    n = len(skeleton.n_extra)
    k = max(int(skeleton.n_extra.max(initial=0)), 2)
    growth = 1.0 + model.extra_pt_growth * np.maximum(skeleton.n_extra - 1, 0)
    pt = _power_law(rng, 1.0, model.extra_pt_index, (n, k))
    pt = pt * (model.extra_pt_min * growth)[:, None]
    pt = np.minimum(pt, 2000.0)
    eta = np.clip(rng.normal(0.0, model.extra_eta_width, (n, k)), -5.0, 5.0)
    phi = rng.uniform(-np.pi, np.pi, (n, k))

    pair = skeleton.heavy >= 2
    delta_r = 0.4 * 4.0 ** rng.uniform(0.0, 1.0, n)
    angle = rng.uniform(-np.pi, np.pi, n)
    eta[:, 1] = np.where(pair, eta[:, 0] + delta_r * np.cos(angle), eta[:, 1])
    phi[:, 1] = np.where(pair, phi[:, 0] + delta_r * np.sin(angle), phi[:, 1])

    slot = np.arange(k)[None, :]
    heavy = skeleton.heavy[:, None]
    flavour = np.full((n, k), LIGHT, np.int8)
    flavour[(heavy == 1) & (slot == 0)] = CHARM
    flavour[(heavy == 2) & (slot < 2)] = CHARM
    flavour[(heavy == 3) & (slot < 2)] = BOTTOM
    valid = slot < skeleton.n_extra[:, None]
    mass = np.where(flavour == BOTTOM, B_MASS, 0.0)
    return _Objects(_p4(pt, eta, phi, mass), flavour, valid)


def _transverse_sum(objects: _Objects) -> np.ndarray:
    """``[n, 2]`` vector sum of the valid objects' transverse momenta."""
    return np.sum(objects.p4[..., :2] * objects.valid[..., None], axis=1)


#: W helicity fractions in top decays (longitudinal, left-handed).
W_HELICITY_LONGITUDINAL, W_HELICITY_LEFT = 0.70, 0.30


def _top_decay(rng: np.random.Generator, top: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """t -> b W with a Breit-Wigner W mass.

    Returns:
        The b and W four-vectors and the W's frame for its decay: the W in the
        top's rest frame and the top's velocity.
    """
    w_mass = _breit_wigner(rng, W_MASS, W_WIDTH, len(top))
    w_mass = np.minimum(w_mass, _mass(top) - B_MASS - 0.1)
    rest = np.concatenate([np.zeros((len(top), 3)), _mass(top)[:, None]], axis=1)
    b_rest, w_rest = _two_body(rng, rest, B_MASS, w_mass)

    beta = top[:, :3] / top[:, 3:4]
    return _boost(b_rest, beta), _boost(w_rest, beta), (w_rest, beta)


def _helicity_cos_theta(rng: np.random.Generator, n: int) -> np.ndarray:
    """cos theta* of the down-type daughter of a W from a top decay.

    Mixture of the longitudinal 3/4 (1 - x^2) (median of three uniforms) and
    the left-handed 3/8 (1 - x)^2 (inverse CDF) distributions.
    """
    median = np.median(rng.uniform(-1.0, 1.0, (n, 3)), axis=1)
    left = 1.0 - 2.0 * rng.uniform(0.0, 1.0, n) ** (1.0 / 3.0)
    is_left = rng.uniform(0.0, 1.0, n) < W_HELICITY_LEFT
    return np.where(is_left, left, median)


def _w_decay(rng: np.random.Generator, w: np.ndarray, channel: np.ndarray,
             tau_mode: np.ndarray,
             frame: tuple[np.ndarray, np.ndarray] | None = None
             ) -> tuple[_Objects, _Objects]:
    """W -> l nu / q q' (taus decayed collinearly); returns (partons, leptons).

    With ``frame`` (from :func:`_top_decay`) the decay follows the W helicity
    of top decays: the charged lepton or down-type quark goes at angle theta*
    to the W's direction in the top frame. ``partons`` has two slots (the
    up- and down-type quarks, or the hadronic tau in the first); ``leptons``
    one (the electron or muon, direct or from a tau).
    """
    n = len(w)
    hadronic = channel >= W_TO_UD
    m1 = np.where(channel == W_TO_CS, C_MASS, np.where(channel == W_TO_TAU,
                                                       TAU_MASS, 0.0))
    if frame is None:
        d1, d2 = _two_body(rng, w, m1, 0.0)
    else:
        w_top, beta_top = frame
        cos_theta = _helicity_cos_theta(rng, n)
        # d1 is the charged lepton, or the up-type quark opposite the down-type.
        cos_theta = np.where(hadronic, -cos_theta, cos_theta)
        direction = _around(rng, w_top[:, :3], cos_theta)
        d1, d2 = _two_body(rng, w_top, m1, 0.0, direction)
        d1, d2 = _boost(d1, beta_top), _boost(d2, beta_top)

    # Taus: the visible daughter carries a fraction z of the tau's momentum.
    is_tau = channel == W_TO_TAU
    z = np.where(tau_mode == TAU_TO_HADRONS, rng.uniform(0.15, 1.0, n),
                 _tau_lepton_fraction(rng, n))
    vis = np.where(is_tau[:, None], d1 * z[:, None], d1)

    lepton_flavour = np.where(
        (channel == W_TO_E) | (is_tau & (tau_mode == TAU_TO_E)), ELECTRON, MUON)
    is_lepton = ~hadronic & ~(is_tau & (tau_mode == TAU_TO_HADRONS))
    leptons = _Objects.single(vis, lepton_flavour.astype(np.int8), is_lepton)

    q1_flavour = np.where(channel == W_TO_CS, CHARM,
                          np.where(is_tau, TAU_JET, LIGHT)).astype(np.int8)
    partons = (_Objects.single(vis, q1_flavour, hadronic | (is_tau & ~is_lepton))
               + _Objects.single(d2, LIGHT, hadronic))
    return partons, leptons


_TAU_Z = np.linspace(0.0, 1.0, 201)
# Lepton energy fraction in tau -> l nu nu (massless, unpolarized):
# f(z) = (5 - 9 z^2 + 4 z^3) / 3, whose CDF is (5 z - 3 z^3 + z^4) / 3.
_TAU_CDF = (5 * _TAU_Z - 3 * _TAU_Z**3 + _TAU_Z**4) / 3.0


def _tau_lepton_fraction(rng: np.random.Generator, n: int) -> np.ndarray:
    """Momentum fractions of the lepton in leptonic tau decays."""
    return np.interp(rng.uniform(0.0, 1.0, n), _TAU_CDF, _TAU_Z)


def _decay_tops_and_ws(rng: np.random.Generator, tops: list[np.ndarray],
                       skeleton: _Skeleton, extra_ws: Sequence[np.ndarray] = ()
                       ) -> tuple[_Objects, _Objects]:
    """Decay tops (then their Ws) and any further Ws; b quarks come first."""
    b_quarks: list[_Objects] = []
    ws: list[tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]] = []
    for top in tops:
        b, w, top_frame = _top_decay(rng, top)
        b_quarks.append(_Objects.single(b, BOTTOM))
        ws.append((w, top_frame))
    ws.extend((w, None) for w in extra_ws)

    partons = b_quarks
    leptons: list[_Objects] = []
    for i, (w, frame) in enumerate(ws):
        quarks, lepton = _w_decay(rng, w, skeleton.w_channel[:, i],
                                  skeleton.tau_mode[:, i], frame)
        partons.append(quarks)
        leptons.append(lepton)
    return _concat(partons), _concat(leptons)


def _concat(objects: list[_Objects]) -> _Objects:
    """Concatenate object slots along the per-event axis."""
    out = objects[0]
    for more in objects[1:]:
        out = out + more
    return out


def _ttbar(rng: np.random.Generator, model: SampleModel, skeleton: _Skeleton,
           extra: _Objects) -> _Event:
    """t t-bar -> b W b W."""
    n = len(skeleton.n_extra)
    m1 = _breit_wigner(rng, TOP_MASS, TOP_WIDTH, n)
    m2 = _breit_wigner(rng, TOP_MASS, TOP_WIDTH, n)
    mass = _system_mass(rng, model, m1 + m2)
    pair = _system(rng, model, mass, _transverse_sum(extra))
    top1, top2 = _two_body(rng, pair, m1, m2, _gluon_fusion_angle(rng, pair, m1, m2))

    partons, leptons = _decay_tops_and_ws(rng, [top1, top2], skeleton)
    return _Event(partons, leptons)


def _gluon_fusion_angle(rng: np.random.Generator, pair: np.ndarray,
                        m1: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """Top direction in the pair frame for g g -> t t-bar.

    The t-channel top propagator makes dN/dcos(theta*) ~ 1 / (1 - beta^2
    cos^2(theta*)) about the beam: forward tops at high mass. Inverse CDF:
    cos(theta*) = tanh(u atanh(beta)) / beta with u uniform in (-1, 1).
    """
    mass = _mass(pair)
    beta = np.sqrt(np.maximum(1.0 - ((m1 + m2) / mass) ** 2, 1e-6))
    beta = np.minimum(beta, 0.999)
    u = rng.uniform(-1.0, 1.0, len(mass))
    cos_theta = np.tanh(u * np.arctanh(beta)) / beta
    beam = np.broadcast_to([0.0, 0.0, 1.0], (len(mass), 3))
    return _around(rng, beam, cos_theta)


def _s_channel(rng: np.random.Generator, model: SampleModel, skeleton: _Skeleton,
               extra: _Objects) -> _Event:
    """q q-bar' -> W* -> t b-bar."""
    n = len(skeleton.n_extra)
    m_top = _breit_wigner(rng, TOP_MASS, TOP_WIDTH, n)
    mass = _system_mass(rng, model, m_top + B_MASS)
    system = _system(rng, model, mass, _transverse_sum(extra))
    top, b_bar = _two_body(rng, system, m_top, B_MASS)

    partons, leptons = _decay_tops_and_ws(rng, [top], skeleton)
    partons = partons + _Objects.single(b_bar, BOTTOM)
    return _Event(partons, leptons)


def _t_channel(rng: np.random.Generator, model: SampleModel, skeleton: _Skeleton,
               extra: _Objects) -> _Event:
    """q b -> q' t with a forward light quark and a soft spectator b-bar (4F)."""
    n = len(skeleton.n_extra)
    m_top = _breit_wigner(rng, TOP_MASS, TOP_WIDTH, n)
    top_pt = rng.gamma(2.0, T_CHANNEL_TOP_PT, n)
    top_phi = rng.uniform(-np.pi, np.pi, n)
    top_y = rng.normal(0.0, 1.1, n)
    mt = np.sqrt(m_top**2 + top_pt**2)
    top = np.stack([top_pt * np.cos(top_phi), top_pt * np.sin(top_phi),
                    mt * np.sinh(top_y), mt * np.cosh(top_y)], axis=1)

    # The light quark goes forward, opposite to the top in rapidity.
    q_eta = -np.sign(top_y + 1e-9) * np.abs(rng.normal(2.3, 0.9, n))
    recoil = -(top[:, :2] + _transverse_sum(extra)) + rng.normal(0.0, 15.0, (n, 2))
    q_pt = np.maximum(np.hypot(recoil[:, 0], recoil[:, 1]), rng.gamma(2.2, 14.0, n))
    q_phi = np.arctan2(recoil[:, 1], recoil[:, 0])
    light = _p4(q_pt, q_eta, q_phi, 0.0)

    spectator_pt = 10.0 + rng.exponential(T_CHANNEL_SPECTATOR_PT, n)
    spectator = _p4(spectator_pt, rng.normal(0.0, T_CHANNEL_SPECTATOR_ETA, n),
                    rng.uniform(-np.pi, np.pi, n), B_MASS)

    partons, leptons = _decay_tops_and_ws(rng, [top], skeleton)
    partons = (partons + _Objects.single(light, LIGHT)
               + _Objects.single(spectator, BOTTOM))
    return _Event(partons, leptons)


def _tw_channel(rng: np.random.Generator, model: SampleModel, skeleton: _Skeleton,
                extra: _Objects) -> _Event:
    """g b -> t W, with the initial-state b from the gluon splitting."""
    n = len(skeleton.n_extra)
    m_top = _breit_wigner(rng, TOP_MASS, TOP_WIDTH, n)
    m_w = _breit_wigner(rng, W_MASS, W_WIDTH, n)
    mass = _system_mass(rng, model, m_top + m_w)
    system = _system(rng, model, mass, _transverse_sum(extra))
    top, w = _two_body(rng, system, m_top, m_w)

    partons, leptons = _decay_tops_and_ws(rng, [top], skeleton, [w])
    isr_pt = 10.0 + rng.exponential(TW_ISR_B_PT, n)
    isr = _p4(isr_pt, rng.normal(0.0, 1.8, n), rng.uniform(-np.pi, np.pi, n),
              B_MASS)
    partons = partons + _Objects.single(isr, BOTTOM, skeleton.isr_b)
    return _Event(partons, leptons)


def _w_jets(rng: np.random.Generator, model: SampleModel, skeleton: _Skeleton,
            extra: _Objects) -> _Event:
    """W -> l nu recoiling against its jets."""
    n = len(skeleton.n_extra)
    mass = _breit_wigner(rng, W_MASS, W_WIDTH, n)
    w = _system(rng, model, mass, _transverse_sum(extra))
    partons, leptons = _w_decay(rng, w, skeleton.w_channel[:, 0],
                                skeleton.tau_mode[:, 0])
    return _Event(partons, leptons)


_HARD_PROCESSES: dict[str, Callable[..., _Event]] = {
    "ttbar": _ttbar,
    "single_top_s_chan": _s_channel,
    "single_top_t_chan": _t_channel,
    "single_top_tW": _tw_channel,
    "wjets": _w_jets,
}


def _radiate(rng: np.random.Generator, partons: _Objects,
             fsr: np.ndarray) -> _Objects:
    """Final-state radiation: flagged quarks give a fraction z to a gluon jet.

    The gluon goes at Delta R between 0.4 and 1.6 (log-uniform) with
    dz / z between 0.08 and 0.45.
    """
    n, k = partons.valid.shape
    flags = fsr & partons.valid & (partons.flavour != TAU_JET)
    z = 0.08 * (0.45 / 0.08) ** rng.uniform(0.0, 1.0, (n, k))
    delta_r = 0.4 * 4.0 ** rng.uniform(0.0, 1.0, (n, k))
    angle = rng.uniform(-np.pi, np.pi, (n, k))

    eta, phi = _eta_phi(partons.p4)
    pt = _pt(partons.p4)
    gluon = _p4(z * pt, eta + delta_r * np.cos(angle), phi + delta_r * np.sin(angle),
                0.0)
    parent = np.where(flags[..., None], partons.p4 * (1.0 - z[..., None]),
                      partons.p4)
    return (_Objects(parent, partons.flavour, partons.valid)
            + _Objects(gluon, np.full((n, k), LIGHT, np.int8), flags))


def _hard_event(rng: np.random.Generator, process: str, model: SampleModel,
                skeleton: _Skeleton) -> _Event:
    """Partons (after final-state radiation) and prompt leptons of a chunk."""
    extra = _extra_jets(rng, model, skeleton)
    event = _HARD_PROCESSES[process](rng, model, skeleton, extra)

    # The skeleton has no flag for the tW initial-state b: it never radiates.
    fsr = np.zeros(event.partons.valid.shape, bool)
    fsr[:, :skeleton.fsr.shape[1]] = skeleton.fsr
    radiated = _radiate(rng, event.partons, fsr)
    return _Event(radiated + extra, event.leptons)


# --- step 3: detector ---------------------------------------------------------


def _delta_phi(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """Azimuthal difference wrapped into [-pi, pi)."""
    return (a - b + np.pi) % (2.0 * np.pi) - np.pi


def _merge(partons: _Objects) -> _Objects:
    """Merge partons closer than :data:`JET_RADIUS` into the hardest neighbour.

    A merged jet is a b jet if it holds a b, else a c jet if it holds a c.
    Only the events with a close pair go through the (costly) merging.
    """
    pt = np.where(partons.valid, _pt(partons.p4), -1.0)
    k = max(int(partons.valid.sum(axis=1).max(initial=0)), 1)
    order = np.argsort(-pt, axis=1, kind="stable")[:, :k]   # valid ones first
    p4 = np.take_along_axis(partons.p4, order[..., None], axis=1)
    flavour = np.take_along_axis(partons.flavour, order, axis=1)
    valid = np.take_along_axis(partons.valid, order, axis=1)

    eta, phi = _eta_phi(p4)
    first, second = np.triu_indices(k, 1)       # pairs (i, j), i harder than j
    dphi = np.abs(phi[:, first] - phi[:, second])
    dphi = np.minimum(dphi, 2.0 * np.pi - dphi)
    dr2 = (eta[:, first] - eta[:, second]) ** 2 + dphi**2
    close = (dr2 < JET_RADIUS**2) & valid[:, first] & valid[:, second]
    rows = np.flatnonzero(close.any(axis=1))

    absorbed = np.zeros_like(valid)
    if len(rows):
        matrix = np.zeros((len(rows), k, k), bool)
        matrix[:, first, second] = close[rows]
        p4[rows], flavour[rows], absorbed[rows] = _merge_close(
            p4[rows], flavour[rows], valid[rows], matrix)
    return _Objects(p4, flavour, valid & ~absorbed)


def _merge_close(p4: np.ndarray, flavour: np.ndarray, valid: np.ndarray,
                 close: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge along ``close[n, i, j]`` (i harder than j); j goes into the hardest i.

    Returns the merged four-vectors, flavours and which objects were absorbed.
    """
    k = valid.shape[1]
    absorbed = close.any(axis=1)
    target = np.where(absorbed, np.argmax(close, axis=1), np.arange(k)[None, :])
    for _ in range(2):  # follow chains j -> i -> h
        target = np.take_along_axis(target, target, axis=1)

    into = (target[:, :, None] == np.arange(k)[None, None, :]) & valid[..., None]
    merged = np.einsum("nji,njc->nic", into.astype(float), p4)
    rank = np.select([flavour == BOTTOM, flavour == CHARM], [2, 1], 0)
    best = np.max(np.where(into, rank[:, :, None], 0), axis=1)
    flavour = np.select([best == 2, best == 1], [BOTTOM, CHARM], flavour)
    return merged, flavour.astype(np.int8), np.asarray(absorbed)


def _lognormal(rng: np.random.Generator, median: np.ndarray | float, sigma: float,
               shape: tuple[int, ...]) -> np.ndarray:
    """Log-normal draws with the given median."""
    return median * np.exp(sigma * rng.normal(0.0, 1.0, shape))


def _jet_mass(rng: np.random.Generator, pt: np.ndarray,
              flavour: np.ndarray) -> np.ndarray:
    """Jet masses: m/pT falls from ~0.22 at 15 GeV to ~0.10 (real files)."""
    median = 0.10 + 0.14 * np.exp(-(pt - 15.0) / 15.0)
    median = np.where(flavour == BOTTOM, 1.1 * median, median)
    return pt * np.minimum(_lognormal(rng, median, 0.35, pt.shape), 0.4)


def _hadronic_jets(rng: np.random.Generator, model: SampleModel,
                   partons: _Objects) -> dict[str, np.ndarray]:
    """Reco jets of the (merged) partons: pT, eta, phi, mass, flavour, valid."""
    shape = partons.valid.shape
    semileptonic_b = (partons.flavour == BOTTOM) & (rng.uniform(0, 1, shape) < 0.2)
    contained = np.where(semileptonic_b, rng.normal(0.88, 0.08, shape),
                         rng.normal(model.out_of_cone, 0.04, shape))
    truth = _pt(partons.p4) * np.clip(contained, 0.3, 1.0)

    safe = np.maximum(truth, 1.0)
    sigma = np.sqrt((JER_NOISE / safe) ** 2 + JER_STOCHASTIC**2 / safe
                    + JER_CONSTANT**2)
    smear = np.maximum(1.0 + sigma * rng.normal(0.0, 1.0, shape), 0.2)
    pt = truth * model.response * smear

    eta, phi = _eta_phi(partons.p4)
    eta = eta + rng.normal(0.0, 0.02, shape)
    phi = _delta_phi(phi + rng.normal(0.0, 0.02, shape), 0.0)
    return {"pt": pt, "eta": eta, "phi": phi,
            "mass": _jet_mass(rng, pt, partons.flavour),
            "flavour": partons.flavour, "valid": partons.valid,
            "truth_pt": truth, "kind": np.full(shape, HADRONIC_JET, np.int8)}


def _lepton_jets(rng: np.random.Generator, leptons: _Objects
                 ) -> dict[str, np.ndarray]:
    """The jets prompt leptons make: pT ~ 1.2 x the lepton's, jetId mostly 2/0."""
    shape = leptons.valid.shape
    lepton_pt = _pt(leptons.p4)
    pt = lepton_pt * (1.1 + rng.gamma(1.2, 0.1, shape))
    eta, phi = _eta_phi(leptons.p4)
    mass = pt * np.minimum(_lognormal(rng, 0.085, 0.5, shape), 0.4)
    kind = np.where(leptons.flavour == ELECTRON, ELECTRON_JET, MUON_JET)
    return {"pt": pt, "eta": eta, "phi": phi, "mass": mass,
            "flavour": np.full(shape, LIGHT, np.int8), "valid": leptons.valid,
            "truth_pt": pt, "kind": kind.astype(np.int8)}


def _soft_jets(rng: np.random.Generator, model: SampleModel,
               n: int) -> dict[str, np.ndarray]:
    """Pileup-like soft jets, reco pT in [15, SOFT_JET_MAX_PT) falling steeply."""
    counts = np.minimum(rng.poisson(model.pileup_jets, n), 6)
    k = max(int(counts.max(initial=0)), 1)
    span, slope = SOFT_JET_MAX_PT - JET_STORE_PT, 3.0
    u = rng.uniform(0.0, 1.0, (n, k))
    pt = JET_STORE_PT - slope * np.log1p(-u * (1.0 - np.exp(-span / slope)))
    eta = rng.uniform(-JET_MAX_ETA, JET_MAX_ETA, (n, k))
    phi = rng.uniform(-np.pi, np.pi, (n, k))
    mass = pt * np.minimum(_lognormal(rng, 0.2, 0.35, (n, k)), 0.4)
    return {"pt": pt, "eta": eta, "phi": phi, "mass": mass,
            "flavour": np.full((n, k), LIGHT, np.int8),
            "valid": np.arange(k)[None, :] < counts[:, None],
            "truth_pt": pt, "kind": np.full((n, k), SOFT_JET, np.int8)}


def _jet_id(rng: np.random.Generator, eta: np.ndarray,
            kind: np.ndarray) -> np.ndarray:
    """jetId 0, 2 or 6: lepton jets mostly fail the tight lepton veto."""
    abs_eta = np.abs(eta)
    region = np.select([abs_eta < 2.4, abs_eta < 2.7], [0, 1], 2)
    tables = [JET_ID_CENTRAL, JET_ID_ENDCAP, JET_ID_FORWARD]
    index = np.choose(region, [_choice(rng, t, eta.shape) for t in tables])
    index = np.where(kind == ELECTRON_JET, _choice(rng, JET_ID_ELECTRON_JET,
                                                   eta.shape), index)
    index = np.where(kind == MUON_JET, _choice(rng, JET_ID_MUON_JET, eta.shape),
                     index)
    return JET_ID_VALUES[index]


def _csv(rng: np.random.Generator, model: SampleModel, pt: np.ndarray,
         eta: np.ndarray, flavour: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """CSVv2 values: logistic of a Gaussian whose centre depends on flavour.

    b jets pass 0.5 ~80-85 % of the time (less at low pT), c jets ~35 %,
    light jets ~10 %. Jets without usable tracks (outside the tracker, soft
    jets, half the lepton jets) get -10 as in the real files.
    """
    is_b, is_c = flavour == BOTTOM, flavour == CHARM
    low_pt = np.exp(-(pt - 20.0) / 25.0)
    centre = np.select([is_b, is_c],
                       [model.btag_b - 0.9 * low_pt, model.btag_c - 0.4 * low_pt],
                       model.btag_light)
    width = np.select([is_b, is_c], [1.8, 1.5], 0.45)
    value = 1.0 / (1.0 + np.exp(-(centre + width * rng.normal(0.0, 1.0, pt.shape))))
    # The mistag rate rises with pT (x0.86 at 30 GeV, x1 at 100, x1.4 at 300).
    rising = MISTAG_PT_SLOPE[0] + MISTAG_PT_SLOPE[1] * np.minimum(pt, 500.0)
    tail = np.where(kind == SOFT_JET, 2.0, rising) * model.btag_light_tail
    in_tail = ~(is_b | is_c) & (rng.uniform(0.0, 1.0, pt.shape) < tail)
    value = np.where(in_tail, rng.uniform(0.15, 1.0, pt.shape), value)

    no_tracks = 0.25 * np.exp(-(np.maximum(pt, 15.0) - 15.0) / 30.0) + 0.02
    no_tracks = np.where(is_b | is_c, 0.4 * no_tracks, no_tracks)
    lepton_jet = (kind == ELECTRON_JET) | (kind == MUON_JET)
    no_tracks = np.select([kind == SOFT_JET, lepton_jet], [0.3, 0.42], no_tracks)
    abs_eta = np.abs(eta)
    no_tracks = np.select([abs_eta >= 2.7, abs_eta >= TRACKER_ETA], [1.0, 0.85],
                          no_tracks)
    missing = rng.uniform(0.0, 1.0, pt.shape) < no_tracks
    return np.where(missing, BTAG_NO_TRACKS, np.minimum(value, 1.0))


def _jets(rng: np.random.Generator, model: SampleModel,
          event: _Event) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """All stored jets (padded, unsorted) and the merged hadronic jets."""
    n = len(event.partons.valid)
    hadronic = _hadronic_jets(rng, model, _merge(event.partons))
    parts = [hadronic, _lepton_jets(rng, event.leptons), _soft_jets(rng, model, n)]
    jets = {name: np.concatenate([p[name] for p in parts], axis=1)
            for name in hadronic}
    jets["valid"] &= (jets["pt"] > JET_STORE_PT) & (np.abs(jets["eta"])
                                                    < JET_MAX_ETA)
    jets["jetId"] = _jet_id(rng, jets["eta"], jets["kind"])
    jets["btagCSVV2"] = _csv(rng, model, jets["pt"], jets["eta"], jets["flavour"],
                             jets["kind"])
    return jets, hadronic


def _nonprompt(rng: np.random.Generator, hadronic: Mapping[str, np.ndarray],
               flavour_code: int) -> dict[str, np.ndarray]:
    """Non-prompt leptons in b, c (and rarely light) jets: soft, non-isolated.

    Their pT is a fraction z in [0.05, 0.5] of the jet's; the rest of the jet
    lies in the isolation cone, so the relative isolation is (1 - z) / z times
    0.3-1, never below :data:`NONPROMPT_MIN_ISO`.
    """
    flavour = hadronic["flavour"]
    rate = {ELECTRON: (0.10, 0.08, 0.01), MUON: (0.10, 0.08, 0.003)}[flavour_code]
    probability = np.select([flavour == BOTTOM, flavour == CHARM], rate[:2], rate[2])
    shape = flavour.shape
    valid = hadronic["valid"] & (rng.uniform(0.0, 1.0, shape) < probability)

    z = rng.uniform(0.05, 0.5, shape)
    return {"pt": z * hadronic["truth_pt"],
            "eta": hadronic["eta"] + rng.normal(0.0, 0.08, shape),
            "phi": _delta_phi(hadronic["phi"] + rng.normal(0.0, 0.08, shape), 0.0),
            "iso": (1.0 - z) / z * rng.uniform(NONPROMPT_MIN_ISO, 1.0, shape),
            "valid": valid, "prompt": np.zeros(shape, bool)}


def _prompt(rng: np.random.Generator, leptons: _Objects, flavour_code: int,
            resolution: float) -> dict[str, np.ndarray]:
    """Reconstructed prompt leptons of one flavour (95-97 % efficient)."""
    shape = leptons.valid.shape
    efficiency = 0.95 if flavour_code == ELECTRON else 0.97
    eta, phi = _eta_phi(leptons.p4)
    valid = (leptons.valid & (leptons.flavour == flavour_code)
             & (rng.uniform(0.0, 1.0, shape) < efficiency))
    pt = _pt(leptons.p4) * (1.0 + resolution * rng.normal(0.0, 1.0, shape))
    iso = np.where(rng.uniform(0.0, 1.0, shape) < 0.3, 0.0,
                   rng.exponential(0.035, shape))
    tail = rng.uniform(0.0, 1.0, shape) < 0.04
    iso = np.where(tail, rng.uniform(0.15, 1.0, shape), iso)
    return {"pt": pt, "eta": eta, "phi": phi, "iso": iso, "valid": valid,
            "prompt": np.ones(shape, bool)}


def _fake_electrons(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Soft fakes and conversions, about 0.08 per event, never tight."""
    counts = np.minimum(rng.poisson(0.08, n), 3)
    k = max(int(counts.max(initial=0)), 1)
    return {"pt": ELECTRON_STORE_PT + rng.exponential(7.0, (n, k)),
            "eta": rng.uniform(-ELECTRON_MAX_ETA, ELECTRON_MAX_ETA, (n, k)),
            "phi": rng.uniform(-np.pi, np.pi, (n, k)),
            "iso": rng.exponential(0.8, (n, k)),
            "valid": np.arange(k)[None, :] < counts[:, None],
            "prompt": np.zeros((n, k), bool)}


def _stack(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate padded object fields along the per-event axis."""
    return {name: np.concatenate([p[name] for p in parts], axis=1)
            for name in parts[0]}


def _electrons(rng: np.random.Generator, event: _Event,
               hadronic: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Stored electrons with cutBased, sip3d and mass like the real files."""
    n = len(event.leptons.valid)
    e = _stack([_prompt(rng, event.leptons, ELECTRON, 0.02),
                _nonprompt(rng, hadronic, ELECTRON), _fake_electrons(rng, n)])
    shape = e["pt"].shape
    abs_eta = np.abs(e["eta"])
    e["valid"] &= (e["pt"] > ELECTRON_STORE_PT) & (abs_eta < ELECTRON_MAX_ETA)

    in_gap = (abs_eta > 1.4442) & (abs_eta < 1.566)
    prompt_id = np.where(in_gap, _choice(rng, ELECTRON_ID_GAP, shape),
                         _choice(rng, ELECTRON_ID_PROMPT, shape))
    e["cutBased"] = np.where(e["prompt"], prompt_id,
                             _choice(rng, ELECTRON_ID_NONPROMPT, shape))
    e["sip3d"] = np.where(e["prompt"], _prompt_sip3d(rng, shape, 0.75, 0.12),
                          _lognormal(rng, 3.0, 1.1, shape))
    e["mass"] = rng.normal(0.0, ELECTRON_MASS_SPREAD, shape)
    return e


def _prompt_sip3d(rng: np.random.Generator, shape: tuple[int, ...], scale: float,
                  tail: float) -> np.ndarray:
    """3D impact-parameter significance: a scaled chi(3) core plus a long tail."""
    core = scale * np.sqrt(rng.chisquare(3, shape))
    outlier = 4.0 * 10.0 ** rng.uniform(0.0, 2.9, shape)
    return np.where(rng.uniform(0.0, 1.0, shape) < tail, outlier, core)


def _muons(rng: np.random.Generator, event: _Event,
           hadronic: Mapping[str, np.ndarray],
           working_muon_id: bool) -> dict[str, np.ndarray]:
    """Stored muons: pT > 15 GeV and, as in the 2015 files, no ID flag set."""
    mu = _stack([_prompt(rng, event.leptons, MUON, 0.015),
                 _nonprompt(rng, hadronic, MUON)])
    shape = mu["pt"].shape
    mu["valid"] &= (mu["pt"] > MUON_STORE_PT) & (np.abs(mu["eta"]) < MUON_MAX_ETA)
    mu["sip3d"] = np.where(mu["prompt"], _prompt_sip3d(rng, shape, 0.33, 0.05),
                           _lognormal(rng, 2.5, 1.0, shape))
    tight = rng.uniform(0.0, 1.0, shape) < np.where(mu["prompt"], 0.97, 0.5)
    mu["tightId"] = tight & working_muon_id
    mu["mass"] = np.full(shape, MUON_MASS)
    return mu


# --- assembly -----------------------------------------------------------------


def _flatten_sorted(fields: Mapping[str, np.ndarray], names: Mapping[str, Any]
                    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Valid objects sorted by decreasing float32 pT, flattened, and counts.

    ``names`` maps output field -> numpy dtype.
    """
    valid = fields["valid"]
    pt32 = fields["pt"].astype(np.float32)
    key = np.where(valid, -pt32, np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    keep = np.take_along_axis(valid, order, axis=1)
    flat = {name: np.take_along_axis(np.asarray(fields[name]), order, axis=1)[keep]
            .astype(dtype) for name, dtype in names.items()}
    return flat, keep.sum(axis=1)


_JET_FIELDS = {"pt": np.float32, "eta": np.float32, "phi": np.float32,
               "mass": np.float32, "btagCSVV2": np.float32, "jetId": np.int32}
_ELECTRON_FIELDS = {"pt": np.float32, "eta": np.float32, "phi": np.float32,
                    "mass": np.float32, "cutBased": np.int32, "sip3d": np.float32}
_MUON_FIELDS = {"pt": np.float32, "eta": np.float32, "phi": np.float32,
                "mass": np.float32, "tightId": np.bool_, "sip3d": np.float32,
                "iso": np.float32}
_BRANCH_NAMES = {("Muon", "iso"): "pfRelIso04_all"}


def _chunk_columns(rng: np.random.Generator, process: str, model: SampleModel,
                   skeleton: _Skeleton, working_muon_id: bool
                   ) -> dict[str, tuple[dict[str, np.ndarray], np.ndarray]]:
    """Steps 2 and 3 for one chunk: collection -> (flat fields, counts)."""
    event = _hard_event(rng, process, model, skeleton)
    jets, hadronic = _jets(rng, model, event)
    electrons = _electrons(rng, event, hadronic)
    muons = _muons(rng, event, hadronic, working_muon_id)
    return {"Jet": _flatten_sorted(jets, _JET_FIELDS),
            "Electron": _flatten_sorted(electrons, _ELECTRON_FIELDS),
            "Muon": _flatten_sorted(muons, _MUON_FIELDS)}


def _event_numbers(set_number: int, index: int, positions: np.ndarray
                   ) -> dict[str, np.ndarray]:
    """run, luminosityBlock and event of the events at ``positions``.

    ``set_number`` is the file set's place in :data:`MODELS`; files of
    different sets and indices get disjoint event numbers.
    """
    block = set_number * FILES_PER_SET + index
    lumi = (block * LUMIS_PER_FILE + 1 + positions // EVENTS_PER_LUMI)
    event = lumi * EVENTS_PER_LUMI + positions % EVENTS_PER_LUMI
    return {"run": np.ones(len(positions), np.uint32),
            "luminosityBlock": lumi.astype(np.uint32),
            "event": event.astype(np.uint64)}


def _seed_sequence(seed: int, process: str, variation: str,
                   index: int) -> np.random.SeedSequence:
    """The seed sequence of one file, from stable hashes of its names."""
    return np.random.SeedSequence(
        [seed, zlib.crc32(process.encode()), zlib.crc32(variation.encode()), index]
    )


def _check_arguments(process: str, variation: str, index: int,
                     n_events: int) -> int:
    """Validate the arguments; return the file set's number (0..8).

    Raises:
        ConfigError: For an unknown file set, or an index or event count out
            of the generator's range.
    """
    sets = list(MODELS)
    if (process, variation) not in MODELS:
        known = ", ".join(f"{p}/{v}" for p, v in sets)
        raise ConfigError("process", f"no demo model for file set "
                          f"{process}/{variation}; known file sets: {known}")
    if not 0 <= index < FILES_PER_SET:
        raise ConfigError("index", f"demo file index {index} of {process}/"
                          f"{variation} must be in [0, {FILES_PER_SET})")
    max_events = LUMIS_PER_FILE * EVENTS_PER_LUMI
    if not 0 < n_events <= max_events:
        raise ConfigError("n_events", f"demo file {process}/{variation} #{index}: "
                          f"{n_events} events requested; use 1 to {max_events}")
    return sets.index((process, variation))


def check_filter_cuts(cuts: spec.Cuts, sets: Sequence[str] | None = None) -> None:
    """Refuse a selection looser than the generator-level filter assumes.

    The workflow calls this before any job when it runs on demo files, so that
    a cut the filtered sets (W+jets, s- and t-channel single top) cannot serve
    stops the run, naming the config key.

    Args:
        cuts: The selection.
        sets: Names of the file sets generated with the filter; default:
            those filtered by default (:attr:`SampleModel.filtered`).

    Raises:
        ConfigError: Naming the ``selection`` key whose value the filter of
            one of those sets cannot serve, and the value it needs.
    """
    if sets is None:
        sets = filtered_sets()
    if not sets:
        return

    limits = (
        ("jet_pt", cuts.jet_pt < SOFT_JET_MAX_PT * LARGEST_PT_FACTOR,
         f"at least {SOFT_JET_MAX_PT * LARGEST_PT_FACTOR:.2f} GeV"),
        ("electron_cut_based", cuts.electron_cut_based < 4, "at least 4 (tight)"),
        ("muon_pf_rel_iso", cuts.muon_pf_rel_iso > NONPROMPT_MIN_ISO,
         f"at most {NONPROMPT_MIN_ISO}"),
    )
    for key, looser, needed in limits:
        if looser:
            raise ConfigError(
                f"selection.{key}",
                f"{getattr(cuts, key)} is looser than the generator-level filter "
                f"of the demo sets {', '.join(sets)} allows ({needed}): their "
                "files would lack events this selection keeps. Use a value "
                "within the limit, or real files (fileset.source)")


def filtered_sets() -> list[str]:
    """Names (``process__variation``) of the sets generated with the filter."""
    return [f"{process}__{variation}" for (process, variation), model
            in MODELS.items() if model.filtered]


def filter_parameters(process: str, variation: str,
                      cuts: spec.Cuts) -> dict[str, int] | None:
    """The selection values a demo file set's generator filter depends on.

    Args:
        process: The file set's process.
        variation: Its variation.
        cuts: The selection.

    Returns:
        ``{"min_jets": ...}`` for a filtered set (a change regenerates its
        files), None for the others.
    """
    model = MODELS.get((process, variation))
    if model is None or not model.filtered:
        return None
    return {"min_jets": cuts.min_jets}


def _kept_positions(process: str, model: SampleModel, skeleton: _Skeleton,
                    filtered: bool, cuts: spec.Cuts,
                    working_muon_id: bool) -> np.ndarray:
    """Positions (in the unfiltered sequence) of the events to build."""
    if not filtered:
        return np.arange(len(skeleton.n_extra))
    check_filter_cuts(cuts, [process])
    return np.flatnonzero(_filter_mask(process, skeleton, cuts, working_muon_id))


def _assemble(chunks: list[dict[str, tuple[dict[str, np.ndarray], np.ndarray]]]
              ) -> dict[str, Any]:
    """Jagged ``Coll_field`` columns from the chunks' flat fields and counts."""
    import awkward as ak

    columns: dict[str, Any] = {}
    for collection in ("Jet", "Electron", "Muon"):
        counts = np.concatenate([chunk[collection][1] for chunk in chunks])
        for name in chunks[0][collection][0]:
            flat = np.concatenate([chunk[collection][0][name] for chunk in chunks])
            branch = _BRANCH_NAMES.get((collection, name), name)
            columns[f"{collection}_{branch}"] = ak.unflatten(flat, counts)
    return columns


def generate_columns(process: str, variation: str, index: int, n_events: int,
                     seed: int = 2015, *, filtered: bool | None = None,
                     working_muon_id: bool = False,
                     cuts: spec.Cuts | None = None) -> tuple[dict[str, Any], int]:
    """Generate the branches of one demo file in memory.

    Args:
        process: A process of :data:`topxsec.spec.FILE_SETS`.
        variation: One of its variations.
        index: The file's number within its file set (changes seeds and event
            numbers).
        n_events: Unfiltered events the file stands for.
        seed: Global seed.
        filtered: Apply the generator-level filter; ``None`` takes the file
            set's default (:attr:`SampleModel.filtered`).
        working_muon_id: Give muons a realistic tight ID instead of the real
            2015 files' unset flags.
        cuts: The selection the filter must not cut into (default: the
            task's).

    Returns:
        ``(columns, entries)``: branch name -> numpy (flat) or awkward (jagged)
        array, ready for :func:`topxsec.nanoaod.write_events`, and the number
        of events in them.

    Raises:
        ConfigError: For an unknown file set, arguments out of range, or cuts
            looser than the filter allows.
    """
    set_number = _check_arguments(process, variation, index, n_events)
    model = MODELS[(process, variation)]
    cuts = spec.Cuts() if cuts is None else cuts
    skeleton_seq, kinematics_seq = _seed_sequence(seed, process, variation,
                                                  index).spawn(2)
    skeleton = _draw_skeleton(np.random.default_rng(skeleton_seq), process, model,
                              n_events)
    positions = _kept_positions(process, model, skeleton,
                                model.filtered if filtered is None else filtered,
                                cuts, working_muon_id)

    # At least one (possibly empty) chunk, so that every branch exists.
    starts = range(0, max(len(positions), 1), CHUNK_EVENTS)
    chunks = []
    for start, chunk_seq in zip(starts, kinematics_seq.spawn(len(starts)),
                                strict=True):
        where = positions[start:start + CHUNK_EVENTS]
        chunks.append(_chunk_columns(np.random.default_rng(chunk_seq), process,
                                     model, skeleton.take(where), working_muon_id))

    columns = _assemble(chunks)
    columns.update(_event_numbers(set_number, index, positions))
    return columns, len(positions)


def generate_file(path: str | Path, process: str, variation: str, index: int,
                  n_events: int, seed: int = 2015, compression_level: int = 1, *,
                  filtered: bool | None = None, working_muon_id: bool = False,
                  cuts: spec.Cuts | None = None,
                  extra_branches: ExtraBranches | None = None) -> dict[str, Any]:
    """Write one demo file: a NanoAOD-layout tree ``Events``.

    Args:
        path: Output ROOT file (written atomically).
        process: A process of :data:`topxsec.spec.FILE_SETS`, e.g. ``"ttbar"``.
        variation: One of its variations, e.g. ``"nominal"`` or ``"PS_var"``.
        index: The file's number within its file set, from 0.
        n_events: Unfiltered events the file stands for.
        seed: Global seed; with the other arguments it fixes every value.
        compression_level: ZLIB level of the file.
        filtered: Generator-level filter on (True), off (False) or the file
            set's default (None: on for W+jets and s-/t-channel single top).
        working_muon_id: Set a realistic ``Muon_tightId`` instead of the real
            2015 files' always-False flag.
        cuts: The selection the filter must not cut into (default: the
            task's).
        extra_branches: Hook that returns further branches (for benchmark
            files); it gets the generated columns and its own random generator.

    Returns:
        ``{"path", "process", "variation", "index", "nevts", "entries",
        "seconds"}``: ``nevts`` is the number of events the file stands for
        (use it for sigma * L / N), ``entries`` the number of events in the
        tree (smaller when filtered).

    Raises:
        ConfigError: For an unknown file set, arguments out of range, cuts
            looser than the filter allows, or extra branches that clash with
            the analysis branches.
    """
    from topxsec.nanoaod import write_events

    start = time.perf_counter()
    columns, entries = generate_columns(process, variation, index, n_events, seed,
                                        filtered=filtered,
                                        working_muon_id=working_muon_id, cuts=cuts)
    if extra_branches is not None:
        extra_seq = _seed_sequence(seed, process, variation, index).spawn(3)[2]
        extra = dict(extra_branches(columns, np.random.default_rng(extra_seq)))
        clash = sorted(set(extra) & set(columns))
        if clash:
            raise ConfigError("extra_branches", f"demo file {path}: extra "
                              f"branches {clash} would replace analysis branches")
        columns.update(extra)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_events(path, columns, compression_level=compression_level)
    seconds = time.perf_counter() - start
    log.info("demo %s/%s #%d: %d events (%d written) -> %s in %.1f s",
             process, variation, index, n_events, entries, path, seconds)
    return {"path": os.fspath(path), "process": process, "variation": variation,
            "index": index, "nevts": n_events, "entries": entries,
            "seconds": seconds}
