"""The report's data-quality-illusion panel, from a sweep's ``illusion.json`` (:mod:`tasks.illusion`): the
computed conclusion first, then the curves (change of each loss against the group's reference arm, mean over
seeds) and a table of every arm's mean and 95 % interval."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from tasks.report import svg

METRICS = (
    ("target", "target sets (mean)"),
    ("hq_heldout", "held-out HQ text"),
    ("web_heldout", "held-out web"),
)
GROUPS = (
    ("web", "Web pool: keep ratio of the quality classifier", "keep"),
    ("quality", "Synthetic control: known quality (share of token-permuted text)", "permuted"),
    ("synthetic_filter", "Synthetic control: the same filter on the most permuted pool", "keep"),
)


def _mean(arm: Mapping[str, Any], metric: str) -> float:
    stats = (arm.get("metrics") or {}).get(metric) or {}
    value = stats.get("mean")
    return float(value) if isinstance(value, int | float) else math.nan


def _chart(arms: Sequence[Mapping[str, Any]], title: str, axis: str) -> str:
    """Loss minus the first arm's (the unfiltered pool, or the most permuted one), per metric."""
    series: dict[str, list[float]] = {}
    for metric, name in METRICS:
        base = _mean(arms[0], metric)
        values = [_mean(a, metric) - base for a in arms]
        if any(math.isfinite(v) for v in values):
            series[name] = values
    labels = [f"{axis} {float(a.get('x', math.nan)):.0%}" for a in arms]
    return svg.lines(series, f"{title}: loss change vs {labels[0]}", labels, "Δ loss (nats/byte)", width=560)


def _cell(arm: Mapping[str, Any], metric: str) -> str:
    stats = (arm.get("metrics") or {}).get(metric) or {}
    mean, interval = stats.get("mean"), stats.get("interval95") or [None, None]
    if not isinstance(mean, int | float):
        return '<td class="num"></td>'
    low, high = interval if len(interval) == 2 else (None, None)
    band = (
        f" ({low:.4f}–{high:.4f})" if isinstance(low, int | float) and isinstance(high, int | float) else ""
    )
    return f'<td class="num">{mean:.4f}{escape(band)}</td>'


def _table(groups: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    head = "".join(f"<th>{escape(name)}</th>" for _, name in METRICS)
    rows = []
    for group, _, _ in GROUPS:
        for a in groups.get(group) or ():
            kept = a.get("intact_share_kept")
            best = a.get("intact_share_best")
            recovered = (
                f"{kept:.0%} of {best:.0%}"
                if isinstance(kept, int | float) and isinstance(best, int | float)
                else ""
            )
            rows.append(
                f"<tr><th>{escape(group)}: {escape(str(a.get('label', '')))}</th>"
                f'<td class="num">{a.get("documents", "")}</td>'
                + "".join(_cell(a, m) for m, _ in METRICS)
                + f'<td class="num">{escape(recovered)}</td></tr>'
            )
    return (
        f"<table><tr><th>arm</th><th>documents</th>{head}<th>intact text kept (best possible)</th></tr>"
        f"{''.join(rows)}</table>"
        '<p class="muted">Mean loss over seeds (95 % interval), nats per byte.</p>'
    )


def illusion_panel(report: Mapping[str, Any] | None) -> str:
    if not isinstance(report, Mapping) or not isinstance(report.get("curves"), Mapping):
        return (
            '<div class="na" data-panel="quality-illusion">Not available: the data-quality-illusion experiment '
            "was not run for this sweep (proxy_sweep Param illusion_seeds, or SweepConfig.illusion)</div>"
        )
    curves: Mapping[str, Sequence[Mapping[str, Any]]] = report["curves"]
    verdict = str((report.get("conclusions") or {}).get("web", {}).get("verdict", "undetermined"))
    css = "warn" if verdict == "illusion" else "ok" if verdict == "consistent" else "muted"
    clf = report.get("classifier") or {}
    ref = report.get("reference") or {}
    docs: Mapping[str, Any] = ref["documents"] if isinstance(ref.get("documents"), Mapping) else {}
    facts = [
        "HQ reference documents: " + escape(", ".join(f"{k} {v}" for k, v in docs.items())),
        f"dropped for overlapping the pool: {escape(str(ref.get('dropped_overlapping_the_pool', 0)))}",
    ]
    if isinstance(clf.get("auc_heldout_hq_vs_web"), int | float):
        facts.append(f"classifier AUC held-out HQ vs web {clf['auc_heldout_hq_vs_web']:.3f}")
    if isinstance(clf.get("auc_intact_vs_permuted"), int | float):
        facts.append(f"intact vs permuted {clf['auc_intact_vs_permuted']:.3f}")
    parts = [
        f'<p class="{css}" data-illusion-verdict="{escape(verdict)}">{escape(str(report.get("conclusion", "")))}</p>',
        f'<p class="muted">{"; ".join(facts)}; {len(report.get("seeds") or [])} seeds per arm, '
        f"{escape(str(report.get('token_budget', '?')))} tokens per proxy; targets: "
        f"{escape(', '.join(str(t) for t in report.get('targets') or []))}.</p>",
    ]
    charts = [_chart(curves[g], title, axis) for g, title, axis in GROUPS if curves.get(g)]
    parts.append(f'<div class="grid">{"".join(charts)}</div>')
    parts.append(_table(curves))
    return f'<div data-panel="quality-illusion">{"".join(parts)}</div>'
