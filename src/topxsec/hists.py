"""Weighted histograms with flow bins, and their per-file JSON form.

A :class:`Histogram` holds bin edges and, for each of the ``len(edges) + 1``
bins (underflow, regular bins, overflow), the sum of weights and the sum of
squared weights. It is the currency between the histogram jobs, the merge, the
workspace builder and the plots.

Per-file histogram files (written by the histogram jobs, read by the merge) are
JSON documents::

    {
      "format": "topxsec-file-histograms/1",
      "process": "ttbar", "variation": "nominal",
      "source": "<skim path>", "events": 1234,
      "cutflow": {"one_lepton": 900, ...},
      "edges": [50.0, ..., 550.0],
      "histograms": {
        "4j1b": {"nominal": {"sumw": [27 floats], "sumw2": [27 floats]}, ...},
        "4j2b": {...}
      }
    }

with the histogram variations of :func:`topxsec.spec.histogram_variations`
as keys, unnormalized (weight 1 times any variation weight): the sigma * L / N
normalization is applied at the merge.

The histogram jobs sum exactly (see :mod:`topxsec.kernels.histograms`): each
histogram there also carries ``"exact_sumw"`` and ``"exact_sumw2"``, the sums
as integers in units of ``2**-EXACT_FRACTION_BITS``. Adding histograms adds
these integers and rounds once, so a sum does not depend on how the events
were split into files or chunks nor on the order they are merged in;
``sumw`` and ``sumw2`` are then the correctly rounded exact sums.

Outputs are written atomically (:func:`topxsec.outputs.atomic_output`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from topxsec.outputs import atomic_output

FILE_HISTOGRAMS_FORMAT = "topxsec-file-histograms/1"

#: Exact sums are integers in units of 2**-EXACT_FRACTION_BITS (as the
#: histogram kernel's ``EXACT_FRACTION_BITS``), digits of EXACT_LIMB_BITS bits.
EXACT_FRACTION_BITS = 96
EXACT_LIMB_BITS = 32


def exact_from_digits(digits: np.ndarray) -> list[int]:
    """Integers from the kernel's signed digits (last axis: limb, low first).

    Args:
        digits: ``(..., n_limbs)`` int64 digits; limb ``k`` weighs ``2**(32 k)``.

    Returns:
        The flattened leading axes' integers, in C order.
    """
    rows = np.asarray(digits, dtype=np.int64).reshape(-1, digits.shape[-1])
    return [sum(int(d) << (EXACT_LIMB_BITS * k) for k, d in enumerate(row))
            for row in rows.tolist()]


def exact_to_float(units: Sequence[int]) -> np.ndarray:
    """The correctly rounded float64 values of exact sums."""
    # int -> float rounds correctly; the power-of-two scaling is exact.
    return np.array([math.ldexp(float(n), -EXACT_FRACTION_BITS) for n in units],
                    dtype=np.float64)


@dataclass
class Histogram:
    """Sums of weights and of squared weights per bin, flow bins included."""

    edges: np.ndarray
    sumw: np.ndarray
    sumw2: np.ndarray
    #: The exact sums (integers in units of 2**-EXACT_FRACTION_BITS), if known.
    exact_sumw: list[int] | None = None
    exact_sumw2: list[int] | None = None

    def __post_init__(self) -> None:
        self.edges = np.asarray(self.edges, dtype=np.float64)
        self.sumw = np.asarray(self.sumw, dtype=np.float64)
        self.sumw2 = np.asarray(self.sumw2, dtype=np.float64)
        n = len(self.edges) + 1
        if self.sumw.shape != (n,) or self.sumw2.shape != (n,):
            raise ValueError(
                f"histogram with {len(self.edges)} edges needs {n} values "
                f"(flow included); got {self.sumw.shape} and {self.sumw2.shape}"
            )

    @classmethod
    def empty(cls, edges: np.ndarray | list[float]) -> Histogram:
        """Return a histogram with all bins zero."""
        n = len(edges) + 1
        return cls(np.asarray(edges), np.zeros(n), np.zeros(n), [0] * n, [0] * n)

    @classmethod
    def from_exact(cls, edges: np.ndarray | Sequence[float],
                   exact_sumw: Sequence[int], exact_sumw2: Sequence[int]
                   ) -> Histogram:
        """Return the histogram of exact sums (``sumw``, ``sumw2`` rounded once)."""
        return cls(np.asarray(edges), exact_to_float(exact_sumw),
                   exact_to_float(exact_sumw2), [int(n) for n in exact_sumw],
                   [int(n) for n in exact_sumw2])

    def __add__(self, other: Histogram) -> Histogram:
        self._check_edges(other)
        if self.exact_sumw is not None and other.exact_sumw is not None:
            return Histogram.from_exact(
                self.edges,
                [a + b for a, b in zip(self.exact_sumw, other.exact_sumw)],
                [a + b for a, b in zip(self.exact_sumw2, other.exact_sumw2)],
            )
        return Histogram(self.edges, self.sumw + other.sumw, self.sumw2 + other.sumw2)

    def scaled(self, factor: float) -> Histogram:
        """Return the histogram with every weight multiplied by ``factor``."""
        return Histogram(self.edges, self.sumw * factor, self.sumw2 * factor**2)

    def is_filled(self) -> bool:
        """Whether any event entered (some squared weight is positive)."""
        return bool(np.any(self.sumw2 > 0))

    @property
    def values(self) -> np.ndarray:
        """The regular bins' sums of weights (no flow)."""
        return self.sumw[1:-1]

    @property
    def variances(self) -> np.ndarray:
        """The regular bins' sums of squared weights (no flow)."""
        return self.sumw2[1:-1]

    def to_dict(self) -> dict[str, list[float]]:
        """Return ``{"edges", "contents", "variances"}`` (flow bins included)."""
        return {
            "edges": self.edges.tolist(),
            "contents": self.sumw.tolist(),
            "variances": self.sumw2.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        """Inverse of :meth:`to_dict`; missing variances are taken as contents."""
        contents = data["contents"]
        return cls(data["edges"], contents, data.get("variances", contents))

    def _check_edges(self, other: Histogram) -> None:
        if not np.array_equal(self.edges, other.edges):
            raise ValueError("cannot add histograms with different binning")


@dataclass
class FileHistograms:
    """The histograms of one input file (or chunk), before normalization."""

    process: str
    variation: str
    edges: np.ndarray
    #: region -> histogram variation -> Histogram
    histograms: dict[str, dict[str, Histogram]] = field(default_factory=dict)
    source: str = ""
    events: int = 0
    #: events after each requirement of the nominal selection
    cutflow: dict[str, int] = field(default_factory=dict)

    def write(self, path: str | Path) -> None:
        """Write the JSON form (see the module docstring) to ``path``, atomically."""
        doc = {
            "format": FILE_HISTOGRAMS_FORMAT,
            "process": self.process,
            "variation": self.variation,
            "source": self.source,
            "events": int(self.events),
            "cutflow": {k: int(v) for k, v in self.cutflow.items()},
            "edges": np.asarray(self.edges, dtype=float).tolist(),
            "histograms": {
                region: {name: _histogram_doc(h) for name, h in by_name.items()}
                for region, by_name in self.histograms.items()
            },
        }
        with atomic_output(path) as tmp, tmp.open("w") as stream:
            json.dump(doc, stream)

    @classmethod
    def read(cls, path: str | Path) -> FileHistograms:
        """Read a file written by :meth:`write`.

        Raises:
            ValueError: If the file is not a per-file histogram document.
        """
        doc = json.loads(Path(path).read_text())
        if doc.get("format") != FILE_HISTOGRAMS_FORMAT:
            raise ValueError(f"{path}: not a {FILE_HISTOGRAMS_FORMAT} document")

        edges = np.asarray(doc["edges"], dtype=np.float64)
        histograms = {
            region: {name: _histogram_of(edges, h) for name, h in by_name.items()}
            for region, by_name in doc["histograms"].items()
        }
        return cls(
            process=doc["process"],
            variation=doc["variation"],
            edges=edges,
            histograms=histograms,
            source=doc.get("source", ""),
            events=int(doc.get("events", 0)),
            cutflow=dict(doc.get("cutflow", {})),
        )


def _histogram_doc(hist: Histogram) -> dict[str, list[float] | list[int]]:
    """The per-file JSON form of one histogram (exact sums when known)."""
    doc: dict[str, list[float] | list[int]] = {
        "sumw": hist.sumw.tolist(), "sumw2": hist.sumw2.tolist()}
    if hist.exact_sumw is not None and hist.exact_sumw2 is not None:
        doc["exact_sumw"] = hist.exact_sumw
        doc["exact_sumw2"] = hist.exact_sumw2
    return doc


def _histogram_of(edges: np.ndarray, doc: Mapping[str, Any]) -> Histogram:
    """Inverse of :func:`_histogram_doc`."""
    if "exact_sumw" in doc:
        return Histogram.from_exact(edges, doc["exact_sumw"], doc["exact_sumw2"])
    return Histogram(edges, doc["sumw"], doc["sumw2"])
