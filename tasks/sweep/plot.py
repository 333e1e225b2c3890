"""Predicted-vs-actual plot of the sweep regression, as a standalone SVG (matplotlib when installed, otherwise
a hand-written SVG with the same content: points, the y = x line, axes with ticks, and the Spearman in the
title)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from html import escape

import numpy as np


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** np.floor(np.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    first = np.ceil(lo / step) * step
    return [float(v) for v in np.arange(first, hi + step * 1e-9, step)]


def _svg_scatter(pred: Sequence[float], actual: Sequence[float], title: str, labels: Sequence[str]) -> str:
    w, h, m = 520, 480, 60
    allv = np.concatenate([np.asarray(pred, float), np.asarray(actual, float)])
    lo, hi = float(allv.min()), float(allv.max())
    pad = (hi - lo) * 0.05 or 0.05
    lo, hi = lo - pad, hi + pad

    def sx(v: float) -> float:
        return m + (v - lo) / (hi - lo) * (w - 2 * m)

    def sy(v: float) -> float:
        return h - m - (v - lo) / (hi - lo) * (h - 2 * m)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{w / 2}" y="24" text-anchor="middle" font-size="14">{escape(title)}</text>',
        f'<line x1="{m}" y1="{h - m}" x2="{w - m}" y2="{h - m}" stroke="black"/>',
        f'<line x1="{m}" y1="{m}" x2="{m}" y2="{h - m}" stroke="black"/>',
        f'<line x1="{sx(lo):.1f}" y1="{sy(lo):.1f}" x2="{sx(hi):.1f}" y2="{sy(hi):.1f}" stroke="#999" '
        'stroke-dasharray="4 4"/>',
        f'<text x="{w / 2}" y="{h - 16}" text-anchor="middle">actual proxy loss</text>',
        f'<text x="16" y="{h / 2}" text-anchor="middle" transform="rotate(-90 16 {h / 2})">'
        "predicted loss (held-out folds)</text>",
    ]
    for t in _ticks(lo, hi):
        out.append(f'<line x1="{sx(t):.1f}" y1="{h - m}" x2="{sx(t):.1f}" y2="{h - m + 5}" stroke="black"/>')
        out.append(f'<text x="{sx(t):.1f}" y="{h - m + 18}" text-anchor="middle">{t:.3g}</text>')
        out.append(f'<line x1="{m - 5}" y1="{sy(t):.1f}" x2="{m}" y2="{sy(t):.1f}" stroke="black"/>')
        out.append(f'<text x="{m - 8}" y="{sy(t) + 4:.1f}" text-anchor="end">{t:.3g}</text>')
    for p, a, label in zip(pred, actual, labels, strict=True):
        out.append(
            f'<circle cx="{sx(float(a)):.1f}" cy="{sy(float(p)):.1f}" r="4" fill="#1f77b4" fill-opacity="0.7">'
            f"<title>{escape(label)}: actual {float(a):.4f}, predicted {float(p):.4f}</title></circle>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def predicted_vs_actual_svg(
    pred: Sequence[float], actual: Sequence[float], title: str, labels: Sequence[str] | None = None
) -> str:
    labels = list(labels) if labels is not None else [str(i) for i in range(len(pred))]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _svg_scatter(pred, actual, title, labels)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter(actual, pred, alpha=0.7)
    both = list(pred) + list(actual)
    ax.plot([min(both), max(both)], [min(both), max(both)], "--", color="grey")
    ax.set_xlabel("actual proxy loss")
    ax.set_ylabel("predicted loss (held-out folds)")
    ax.set_title(title)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
