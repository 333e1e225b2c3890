"""The bake-off's figures and table, as plain text from ``bakeoff.json``: inline SVG (the report's palette and
font, every label escaped) and a markdown table. Used by the runner (files beside ``bakeoff.json``) and by the
release report's panel (:mod:`tasks.report.bakeoff`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

# the report's palette and font (tasks/report/svg.py; not imported: tasks.report imports this module)
PALETTE = ("#2f6fdf", "#e8833a", "#3aa676", "#9b59b6", "#d9534f", "#17a2b8", "#8c6d31", "#6c757d")
FONT = 'font-family="system-ui, sans-serif" font-size="11"'

METRICS = (
    ("target", "target sets (mean)"),
    ("hq_heldout", "held-out HQ text"),
    ("web_heldout", "held-out web"),
)


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan


def _stat(arm: Mapping[str, Any], metric: str) -> tuple[float, float, float]:
    s = (arm.get("metrics") or {}).get(metric) or {}
    low, high = [*list(s.get("interval95") or []), None, None][:2]
    return _num(s.get("mean")), _num(low), _num(high)


def _fmt(v: float) -> str:
    return "" if not math.isfinite(v) else f"{v:.4g}"


def interval_chart(arms: Sequence[Mapping[str, Any]], metric: str, title: str, width: int = 420) -> str:
    """One row per arm: its mean loss over seeds (dot) and 95 % interval (whisker)."""
    rows = [(str(a.get("method", "?")), *_stat(a, metric)) for a in arms]
    rows = [r for r in rows if math.isfinite(r[1])]
    left, right, top, row = 90, 16, 26, 20
    height = top + row * max(1, len(rows)) + 28
    values = [v for r in rows for v in r[1:] if math.isfinite(v)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (hi - lo) * 0.08 or 0.01
    lo, hi = lo - pad, hi + pad
    plot_w = width - left - right

    def px(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot_w

    out = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="0" y="14" {FONT} font-weight="bold">{escape(title)}</text>',
    ]
    for i, (label, mean, low, high) in enumerate(rows):
        y = top + i * row + row / 2
        colour = PALETTE[i % len(PALETTE)]
        out.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT}>{escape(label[:14])}</text>'
        )
        if math.isfinite(low) and math.isfinite(high):
            out.append(
                f'<line x1="{px(low):.1f}" y1="{y:.1f}" x2="{px(high):.1f}" y2="{y:.1f}" stroke="{colour}" '
                'stroke-width="2"/>'
            )
        out.append(
            f'<circle cx="{px(mean):.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"><title>{escape(label)}: '
            f"{_fmt(mean)} ({_fmt(low)}–{_fmt(high)})</title></circle>"
        )
    base = top + row * max(1, len(rows))
    out.append(
        f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#888"/>'
        f'<text x="{left}" y="{base + 14}" {FONT}>{_fmt(lo)}</text>'
        f'<text x="{left + plot_w}" y="{base + 14}" text-anchor="end" {FONT}>{_fmt(hi)}</text>'
        f'<text x="{left + plot_w / 2}" y="{base + 24}" text-anchor="middle" {FONT}>loss (nats/byte), '
        "mean and 95 % interval over seeds</text></svg>"
    )
    return "".join(out)


def diversity_chart(arms: Sequence[Mapping[str, Any]], width: int = 420, height: int = 300) -> str:
    """Domain entropy of the selected tokens (x) against the mean target loss (y), one labelled point per arm."""
    pts = [
        (
            str(a.get("method", "?")),
            _num((a.get("selection") or {}).get("domain_entropy")),
            _stat(a, "target")[0],
        )
        for a in arms
    ]
    pts = [p for p in pts if math.isfinite(p[1]) and math.isfinite(p[2])]
    left, right, top, bottom = 56, 70, 24, 40
    pw, ph = width - left - right, height - top - bottom
    xs, ys = [p[1] for p in pts] or [0.0, 1.0], [p[2] for p in pts] or [0.0, 1.0]
    x0, x1 = min(xs) - (max(xs) - min(xs)) * 0.1 - 0.05, max(xs) + (max(xs) - min(xs)) * 0.1 + 0.05
    y0, y1 = min(ys) - (max(ys) - min(ys)) * 0.1 - 0.005, max(ys) + (max(ys) - min(ys)) * 0.1 + 0.005
    title = "Diversity vs target loss"
    out = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="0" y="14" {FONT} font-weight="bold">{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>',
    ]
    for i, (label, x, y) in enumerate(pts):
        cx, cy = left + (x - x0) / (x1 - x0) * pw, top + ph - (y - y0) / (y1 - y0) * ph
        colour = PALETTE[i % len(PALETTE)]
        out.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{colour}"><title>{escape(label)}: entropy '
            f"{x:.3f} bits, target loss {y:.4f}</title></circle>"
            f'<text x="{cx + 6:.1f}" y="{cy + 4:.1f}" {FONT}>{escape(label[:14])}</text>'
        )
    out.append(
        f'<text x="{left}" y="{top + ph + 14}" {FONT}>{x0:.2f}</text>'
        f'<text x="{left + pw}" y="{top + ph + 14}" text-anchor="end" {FONT}>{x1:.2f}</text>'
        f'<text x="{left - 4}" y="{top + ph}" text-anchor="end" {FONT}>{_fmt(y0)}</text>'
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" {FONT}>{_fmt(y1)}</text>'
        f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle" {FONT}>domain entropy of the '
        "selected tokens (bits)</text>"
        f'<text x="12" y="{top + ph / 2}" text-anchor="middle" {FONT} transform="rotate(-90 12 '
        f'{top + ph / 2})">mean target loss</text></svg>'
    )
    return "".join(out)


def _cell(arm: Mapping[str, Any], metric: str) -> str:
    mean, low, high = _stat(arm, metric)
    if not math.isfinite(mean):
        return ""
    band = f" ({low:.4f}–{high:.4f})" if math.isfinite(low) and math.isfinite(high) else ""
    return f"{mean:.4f}{band}"


def _paired(arm: Mapping[str, Any], metric: str) -> str:
    """The arm's per-seed difference to uniform (the same seeds): mean (95 % interval)."""
    mean, low, high = _stat({"metrics": arm.get("vs_uniform_paired") or {}}, metric)
    if not math.isfinite(mean):
        return ""
    band = f" ({low:+.4f}–{high:+.4f})" if math.isfinite(low) and math.isfinite(high) else ""
    return f"{mean:+.4f}{band}"


def table_rows(report: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The bake-off table: one row per arm (unavailable and failed arms with their reason)."""
    targets = [str(t) for t in report.get("targets") or []]
    head = [
        "arm", "status", "selected tokens (× budget)", "unique docs", "repetition", "domain entropy (bits)",
        "n-gram KL to target", "target mean", "target − uniform (paired)", *targets, "held-out HQ", "held-out web", "selection CPU s",
        "proxy s",
    ]  # fmt: skip
    rows = []
    for a in report.get("arms") or []:
        sel = a.get("selection") or {}
        cost = a.get("cost") or {}
        status = str(a.get("status", ""))
        if status != "ok":
            rows.append([str(a.get("method")), f"{status}: {a.get('reason', '')}"] + [""] * (len(head) - 2))
            continue
        kl = sel.get("ngram_kl")
        rows.append(
            [
                str(a.get("method")),
                status,
                f"{_num(sel.get('selected_tokens')):,.0f} ({_num(sel.get('budget_ratio')):.3f})",
                str(sel.get("unique_documents", "")),
                f"{_num(sel.get('repetition')):.2f}",
                f"{_num(sel.get('domain_entropy')):.3f}",
                f"{kl:.4f}" if isinstance(kl, int | float) else "",
                _cell(a, "target"),
                _paired(a, "target"),
                *[_cell(a, t) for t in targets],
                _cell(a, "hq_heldout"),
                _cell(a, "web_heldout"),
                f"{_num(cost.get('selection_cpu_seconds')):.2f}",
                f"{_num(cost.get('proxy_train_seconds')):.1f}",
            ]
        )
    return head, rows


def markdown_table(report: Mapping[str, Any]) -> str:
    head, rows = table_rows(report)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"
