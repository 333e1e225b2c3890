"""The report's selection-method bake-off panel, from a sweep's ``bakeoff.json`` (:mod:`tasks.bakeoff`): the
summary, the losses per arm with their 95 % intervals, diversity against loss, and the full table (arms that
could not run are listed with the reason)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from tasks.bakeoff.plots import diversity_chart, interval_chart, table_rows

LOSS_CHARTS = (
    ("target", "Target sets (mean)"),
    ("hq_heldout", "Held-out HQ text"),
    ("web_heldout", "Held-out web"),
)


def bakeoff_panel(report: Mapping[str, Any] | None) -> str:
    if not isinstance(report, Mapping) or not isinstance(report.get("arms"), list):
        return (
            '<div class="na" data-panel="bakeoff">Not available: the selection-method bake-off was not run for '
            "this sweep (quarry bakeoff, the bakeoff DAG, or the proxy_sweep Param bakeoff_methods)</div>"
        )
    arms = [a for a in report["arms"] if isinstance(a, Mapping)]
    ok = [a for a in arms if a.get("status") == "ok"]
    pool = report.get("pool") or {}
    facts = (
        f"{len(report.get('seeds') or [])} seeds per arm (the same in every arm), "
        f"{escape(str(report.get('proxy_token_budget', '?')))} tokens per proxy; every arm selects "
        f"{escape(str(report.get('budget_tokens', '?')))} of the pool's {pool.get('tokens', 0):,.0f} tokens "
        f"({pool.get('documents', '?')} documents); targets: "
        f"{escape(', '.join(str(t) for t in report.get('targets') or []))}."
    )
    parts = [
        f'<p data-bakeoff-summary="1">{escape(str(report.get("summary", "")))}</p>',
        f'<p class="muted">{facts}</p>',
    ]
    if ok:
        charts = [interval_chart(ok, m, title) for m, title in LOSS_CHARTS]
        parts.append(f'<div class="grid">{"".join(charts)}{diversity_chart(ok)}</div>')
    head, rows = table_rows(report)
    cells = "".join(
        "<tr>"
        + "".join(
            f"<th>{escape(c)}</th>" if i == 0 else f'<td class="{"num" if i > 1 else ""}">{escape(c)}</td>'
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    parts.append(
        f"<table><tr>{''.join(f'<th>{escape(h)}</th>' for h in head)}</tr>{cells}</table>"
        '<p class="muted">Losses: mean over seeds (95 % interval), nats per byte. Domain entropy, unique '
        "documents and repetition are of one draw of the selection; n-gram KL is KL(target ‖ selection) over "
        "DSIR's hashed n-grams. Target losses are measured on target text beyond what the methods that read "
        "the targets (DSIR, PreSelect, CLIMB) and the sweep's fit (chosen) saw; "
        f"{_unseen(report)}.</p>"
    )
    climb = next((a for a in ok if a.get("method") == "climb"), None)
    gains = ((climb or {}).get("facts") or {}).get("gains_per_round")
    if isinstance(gains, list):
        parts.append(
            '<p class="muted">CLIMB gain per round: '
            + escape(", ".join(f"{g:+.4f}" if isinstance(g, int | float) else str(g) for g in gains))
            + "</p>"
        )
    return f'<div data-panel="bakeoff">{"".join(parts)}</div>'


def _unseen(report: Mapping[str, Any]) -> str:
    split = report.get("target_split") or {}
    seen = sorted(name for name, v in split.items() if not (v or {}).get("eval_unseen_by_sweep"))
    if not split:
        return "this bake-off predates the split: its target losses are on fitted text"
    if seen:
        return f"{', '.join(seen)}: too short, cut in halves (the measured half was seen by the sweep)"
    return "every target set had unseen text"
