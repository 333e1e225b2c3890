"""One self-contained HTML page per mixture version: inline CSS and SVG, no script, no external asset."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any

from tasks.report import svg
from tasks.report.bakeoff import bakeoff_panel
from tasks.report.illusion import illusion_panel
from tasks.report.inputs import ReportInputs
from tasks.report.release import human_labels_panel, parameters_panel, rater_signal_panel, verdict_panel

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;line-height:1.4}
h1{font-size:22px;margin-bottom:4px}
h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}
table{border-collapse:collapse;font-size:13px}
td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.na{color:#777;background:#f6f6f6;border:1px dashed #ccc;padding:12px;border-radius:4px}
.grid{display:flex;flex-wrap:wrap;gap:12px}
.warn{color:#a94442;background:#fdf1f1;padding:8px;border-radius:4px}
.ok{color:#2b6a2b;background:#eef8ee;padding:8px;border-radius:4px}
.muted{color:#666;font-size:12px} code{font-size:12px}
"""


def _not_available(panel: str, why: str) -> str:
    return f'<div class="na" data-panel="{escape(panel)}">Not available: {escape(why)}</div>'


def _table(rows: Mapping[str, Any]) -> str:
    cells = []
    for key, value in rows.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            text, cls = (f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"), ' class="num"'
        elif isinstance(value, Mapping | list | tuple):
            text, cls = json.dumps(value, sort_keys=True, default=str), ""
        else:
            text, cls = str(value), ""
        cells.append(f"<tr><th>{escape(str(key))}</th><td{cls}>{escape(text)}</td></tr>")
    return f"<table>{''.join(cells)}</table>"


def _domains(inputs: ReportInputs) -> str:
    series: dict[str, Mapping[str, float]] = {}
    if inputs.domains_before:
        series["before mixing (scored pool)"] = inputs.domains_before
    if inputs.domains_after:
        series["after mixing"] = inputs.domains_after
    if not series:
        return _not_available("domains", "no domain proportions (no summary, manifest or scores)")
    note = ""
    if "before mixing (scored pool)" not in series:
        note = _not_available("domains-before", "no pre-mixing proportions (no scores attributes found)")
    rows = []
    categories = sorted({c for s in series.values() for c in s})
    for c in categories:
        before = inputs.domains_before.get(c) if inputs.domains_before else None
        after = inputs.domains_after.get(c) if inputs.domains_after else None
        rows.append(
            f"<tr><th>{escape(c)}</th>"
            f'<td class="num">{"" if before is None else f"{before:.2%}"}</td>'
            f'<td class="num">{"" if after is None else f"{after:.2%}"}</td></tr>'
        )
    table = f"<table><tr><th>domain</th><th>before</th><th>after</th></tr>{''.join(rows)}</table>"
    return (
        f'<div data-panel="domains">{svg.grouped_hbars(series, "Token share per domain")}{table}</div>{note}'
    )


def _scores(inputs: ReportInputs) -> str:
    if not inputs.scores:
        return _not_available("scores", "no quality scores (the scores attribute set was not found)")
    charts = [
        svg.histogram(d.edges, {"pool": d.before, "mixture": d.after}, d.criterion) for d in inputs.scores
    ]
    return f'<div class="grid" data-panel="scores">{"".join(charts)}</div>'


def _sweep(inputs: ReportInputs) -> str:
    fit = inputs.sweep
    if fit is None:
        return _not_available("sweep", "no proxy sweep for this mixture yet")
    if not fit.predicted:
        return _not_available("sweep", "the sweep recorded no held-out runs")
    rho = "n/a" if fit.spearman is None else f"{fit.spearman:.3f}"
    chart = svg.scatter(
        fit.predicted,
        fit.actual,
        f"Predicted vs measured loss ({fit.label})",
        "predicted loss",
        "measured loss",
    )
    best = _table(dict(fit.best_parameters)) if fit.best_parameters else ""
    return (
        f'<div data-panel="sweep"><p>Spearman ρ on {len(fit.predicted)} {escape(fit.label)}: '
        f"<b>{escape(rho)}</b> (RegMix reports about 0.97–0.99).</p>{chart}{best}</div>"
    )


def render_html(inputs: ReportInputs) -> str:
    version = f" {inputs.version}" if inputs.version else ""
    title = f"Quarry mixture report: {inputs.mixture}{version}"
    generated = inputs.generated_at or datetime.now(UTC).isoformat(timespec="seconds")
    notes = "".join(f'<p class="muted">{escape(n)}</p>' for n in inputs.notes)
    lineage = {k: v for k, v in inputs.lineage.items() if k != "sampling_parameters"}  # a table of its own
    sampling = inputs.sampling or inputs.lineage.get("sampling_parameters") or None
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="muted">generated {escape(generated)}</p>'
        f"<h2>Verdict</h2>{verdict_panel(inputs.validation)}{notes}"
        f"<h2>Totals</h2>{_table(dict(inputs.totals)) if inputs.totals else _not_available('totals', '-')}"
        f"<h2>Lineage</h2>{_table(lineage) if lineage else _not_available('lineage', '')}"
        f"<h2>Sampling parameters</h2>{parameters_panel(sampling)}"
        f"<h2>Domain proportions before and after mixing</h2>{_domains(inputs)}"
        f"<h2>Quality-score distributions</h2>{_scores(inputs)}"
        f"<h2>Rater signal</h2>{rater_signal_panel(inputs.rater_signal)}"
        f"{human_labels_panel(inputs.human_labels)}"
        f"<h2>Proxy sweep fit</h2>{_sweep(inputs)}"
        f"<h2>Data-quality illusion experiment</h2>{illusion_panel(inputs.illusion)}"
        f"<h2>Selection-method bake-off</h2>{bakeoff_panel(inputs.bakeoff)}"
        "</body></html>\n"
    )
