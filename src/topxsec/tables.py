"""Tables of the report: the cutflow with the I/O per file set, and the fit.

Each table is built as plain data (for JSON) and rendered as a small
self-contained HTML page (for the Snakemake report).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

SKIM_STEPS = ("all", "one_lepton", "four_jets", "btag")
REGION_STEPS = ("4j1b", "4j2b")

_STYLE = (
    "body{font-family:sans-serif;font-size:13px}"
    "table{border-collapse:collapse}"
    "td,th{border:1px solid #bbb;padding:2px 8px;text-align:right}"
    "th{background:#eee}td.name{text-align:left}"
)


def cutflow(skims: Iterable[Mapping[str, Any]],
            histograms: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Sum skim summaries and histogram cutflows per file set.

    Args:
        skims: Skim summaries, each with ``set`` (``process__variation``) added
            by the caller, ``cutflow``, ``bytes_read``, ``seconds``.
        histograms: Per-file histogram documents' ``set`` and ``cutflow``.

    Returns:
        ``set -> {"files", steps..., "4j1b", "4j2b", "bytes_read", "seconds"}``.
    """
    out: dict[str, dict[str, Any]] = {}
    for summary in skims:
        row = out.setdefault(summary["set"], _empty_row())
        row["files"] += 1
        for step in SKIM_STEPS:
            row[step] += int(summary["cutflow"][step])
        row["bytes_read"] += int(summary["bytes_read"])
        row["seconds"] += float(summary["seconds"])

    for doc in histograms:
        row = out.setdefault(doc["set"], _empty_row())
        for step in REGION_STEPS:
            row[step] += int(doc["cutflow"].get(step, 0))
    return dict(sorted(out.items()))


def _empty_row() -> dict[str, Any]:
    row: dict[str, Any] = {"files": 0, "bytes_read": 0, "seconds": 0.0}
    row.update({step: 0 for step in SKIM_STEPS + REGION_STEPS})
    return row


def render_html(title: str, header: Sequence[str],
                rows: Iterable[Sequence[Any]], note: str = "") -> str:
    """Render a table as a self-contained HTML page."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for row in rows:
        cells = [f'<td class="name">{html.escape(str(row[0]))}</td>']
        cells += [f"<td>{html.escape(_format(v))}</td>" for v in row[1:]]
        body.append("<tr>" + "".join(cells) + "</tr>")
    note_html = f"<p>{html.escape(note)}</p>" if note else ""
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{_STYLE}</style></head><body><h3>{html.escape(title)}</h3>"
        f"<table><tr>{head}</tr>{''.join(body)}</table>{note_html}</body></html>\n"
    )


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.6g}"
    return str(value)


def cutflow_html(table: Mapping[str, Mapping[str, Any]]) -> str:
    """The cutflow table as HTML, with MB read and events per second."""
    header = ["file set", "files", *SKIM_STEPS, *REGION_STEPS, "MB read", "job s",
              "events/s"]
    rows = []
    for name, row in table.items():
        rate = row["all"] / row["seconds"] if row["seconds"] > 0 else float("nan")
        rows.append([name, row["files"], *(row[s] for s in SKIM_STEPS),
                     *(row[s] for s in REGION_STEPS), row["bytes_read"] / 1e6,
                     row["seconds"], rate])
    return render_html(
        "Cutflow and I/O per file set", header, rows,
        "Skim steps are sequential; 4j1b / 4j2b count events of the final "
        "nominal selection. Job seconds are the skim jobs' own times.",
    )


def fit_html(fit: Mapping[str, Any]) -> str:
    """The fit result (every parameter, min NLL, status) as HTML."""
    rows = [
        [name, fit["parameters"][name]["value"], fit["parameters"][name]["error"]]
        for name in fit["labels"]
    ]
    status = fit.get("status", {})
    note = (
        f"min -log L = {fit['min_nll']:.6g}; status: "
        + ", ".join(f"{k} = {v}" for k, v in status.items())
    )
    return render_html("Fit result", ["parameter", "best fit", "uncertainty"], rows,
                       note)
