"""Hand-written inline SVG charts: no JavaScript, no external assets, every label escaped."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

BEFORE = "#9aa5b1"
AFTER = "#2f6fdf"
ACCENT = "#d9534f"
PALETTE = ("#2f6fdf", "#e8833a", "#3aa676", "#9b59b6", "#d9534f", "#17a2b8", "#8c6d31", "#6c757d")
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000 or abs(value) < 0.01:
        return f"{value:.2g}"
    return f"{value:.3g}"


def _open(width: int, height: int, label: str) -> str:
    return (
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
    )


def _nice_max(value: float) -> float:
    if value <= 0 or not math.isfinite(value):
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        top = step * 10**exponent
        if top >= value:
            return float(top)
    return float(10 ** (exponent + 1))


def grouped_hbars(
    series: Mapping[str, Mapping[str, float]], title: str, width: int = 640, value_format: str = "{:.1%}"
) -> str:
    """Horizontal bars per category, one bar per series (e.g. before/after mixing)."""
    categories = sorted({c for values in series.values() for c in values})
    names = list(series)
    colours = [BEFORE, AFTER] if len(names) == 2 else list(PALETTE)
    bar = 12
    row = bar * len(names) + 8
    left, right, top = 150, 60, 28
    height = top + row * max(1, len(categories)) + 30
    peak = max((v for values in series.values() for v in values.values()), default=0.0)
    scale = (width - left - right) / (peak or 1.0)
    out = [
        _open(width, height, title),
        f'<text x="0" y="14" {FONT} font-weight="bold">{escape(title)}</text>',
    ]
    for i, category in enumerate(categories):
        y0 = top + i * row
        out.append(
            f'<text x="{left - 6}" y="{y0 + row / 2 + 2:.1f}" text-anchor="end" {FONT}>'
            f"{escape(category)}</text>"
        )
        for j, name in enumerate(names):
            value = float(series[name].get(category, 0.0))
            y = y0 + j * bar
            w = max(0.0, value * scale)
            out.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar - 2}" '
                f'fill="{colours[j % len(colours)]}"><title>{escape(name)} · {escape(category)}: '
                f"{escape(value_format.format(value))}</title></rect>"
            )
            out.append(
                f'<text x="{left + w + 4:.1f}" y="{y + bar - 3}" {FONT} fill="#444">'
                f"{escape(value_format.format(value))}</text>"
            )
    legend_y = height - 12
    x = left
    for j, name in enumerate(names):
        if j:
            x += 14 + 7 * len(names[j - 1]) + 16  # after the previous swatch and label
        out.append(
            f'<rect x="{x}" y="{legend_y - 9}" width="10" height="10" fill="{colours[j % len(colours)]}"/>'
        )
        out.append(f'<text x="{x + 14}" y="{legend_y}" {FONT}>{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def histogram(
    edges: Sequence[float],
    series: Mapping[str, Sequence[float]],
    title: str,
    width: int = 300,
    height: int = 170,
) -> str:
    """Overlaid step histograms (fractions per bin) sharing ``edges``."""
    left, right, top, bottom = 34, 8, 22, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    lo, hi = float(edges[0]), float(edges[-1])
    span = (hi - lo) or 1.0
    peak = _nice_max(max((max(v) if len(v) else 0.0) for v in series.values()) if series else 0.0)
    out = [
        _open(width, height, title),
        f'<text x="0" y="13" {FONT} font-weight="bold">{escape(title)}</text>',
    ]
    out.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#888"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#888"/>'
        f'<text x="{left - 3}" y="{top + 4}" text-anchor="end" {FONT}>{_fmt(peak)}</text>'
        f'<text x="{left}" y="{top + plot_h + 13}" {FONT}>{_fmt(lo)}</text>'
        f'<text x="{left + plot_w}" y="{top + plot_h + 13}" text-anchor="end" {FONT}>{_fmt(hi)}</text>'
    )
    colours = [BEFORE, AFTER] if len(series) == 2 else list(PALETTE)
    for j, (name, values) in enumerate(series.items()):
        points = []
        for i, value in enumerate(values):
            x0 = left + (float(edges[i]) - lo) / span * plot_w
            x1 = left + (float(edges[i + 1]) - lo) / span * plot_w
            y = top + plot_h - (float(value) / peak) * plot_h
            points.append(f"{x0:.1f},{y:.1f} {x1:.1f},{y:.1f}")
        if points:
            first_x = left + (float(edges[0]) - lo) / span * plot_w
            last_x = left + (float(edges[len(values)]) - lo) / span * plot_w
            path = f"{first_x:.1f},{top + plot_h} " + " ".join(points) + f" {last_x:.1f},{top + plot_h}"
            colour = colours[j % len(colours)]
            out.append(
                f'<polyline points="{path}" fill="{colour}" fill-opacity="0.25" stroke="{colour}" '
                f'stroke-width="1.5"><title>{escape(name)}</title></polyline>'
            )
        out.append(
            f'<text x="{left + plot_w - 4}" y="{top + 10 + 12 * j}" text-anchor="end" {FONT} '
            f'fill="{colours[j % len(colours)]}">{escape(name)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def scatter(
    xs: Sequence[float],
    ys: Sequence[float],
    title: str,
    x_label: str,
    y_label: str,
    width: int = 360,
    height: int = 320,
    diagonal: bool = True,
) -> str:
    """Points with an optional y = x line (predicted vs actual)."""
    left, right, top, bottom = 52, 12, 24, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [float(v) for v in (*xs, *ys) if math.isfinite(float(v))]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (hi - lo) * 0.05 or 0.5
    lo, hi = lo - pad, hi + pad

    def px(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot_w

    def py(v: float) -> float:
        return top + plot_h - (v - lo) / (hi - lo) * plot_h

    out = [
        _open(width, height, title),
        f'<text x="0" y="14" {FONT} font-weight="bold">{escape(title)}</text>',
    ]
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#888"/>')
    if diagonal:
        out.append(
            f'<line x1="{px(lo):.1f}" y1="{py(lo):.1f}" x2="{px(hi):.1f}" y2="{py(hi):.1f}" '
            f'stroke="{ACCENT}" stroke-dasharray="4 3"/>'
        )
    for x, y in zip(xs, ys, strict=True):
        if math.isfinite(float(x)) and math.isfinite(float(y)):
            out.append(
                f'<circle cx="{px(float(x)):.1f}" cy="{py(float(y)):.1f}" r="3" fill="{AFTER}" '
                'fill-opacity="0.7">'
                f"<title>{_fmt(float(x))}, {_fmt(float(y))}</title></circle>"
            )
    out.append(
        f'<text x="{left}" y="{top + plot_h + 14}" {FONT}>{_fmt(lo)}</text>'
        f'<text x="{left + plot_w}" y="{top + plot_h + 14}" text-anchor="end" {FONT}>{_fmt(hi)}</text>'
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" {FONT}>{_fmt(lo)}</text>'
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" {FONT}>{_fmt(hi)}</text>'
        f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle" {FONT}>{escape(x_label)}</text>'
        f'<text x="12" y="{top + plot_h / 2}" text-anchor="middle" {FONT} '
        f'transform="rotate(-90 12 {top + plot_h / 2})">{escape(y_label)}</text>'
    )
    out.append("</svg>")
    return "".join(out)


def lines(
    series: Mapping[str, Sequence[float]],
    title: str,
    x_labels: Sequence[str],
    y_label: str,
    width: int = 520,
    height: int = 260,
) -> str:
    """One polyline per series over shared categorical x positions (e.g. score deciles)."""
    left, right, top, bottom = 52, 130, 24, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [float(v) for vs in series.values() for v in vs if math.isfinite(float(v))]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (hi - lo) * 0.1 or 0.5
    lo, hi = lo - pad, hi + pad
    n = max(1, len(x_labels) - 1)

    def px(i: int) -> float:
        return left + i / n * plot_w

    def py(v: float) -> float:
        return top + plot_h - (v - lo) / (hi - lo) * plot_h

    out = [
        _open(width, height, title),
        f'<text x="0" y="14" {FONT} font-weight="bold">{escape(title)}</text>',
    ]
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#888"/>')
    out.append(
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" {FONT}>{_fmt(hi)}</text>'
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" {FONT}>{_fmt(lo)}</text>'
        f'<text x="12" y="{top + plot_h / 2}" text-anchor="middle" {FONT} '
        f'transform="rotate(-90 12 {top + plot_h / 2})">{escape(y_label)}</text>'
    )
    for i, label in enumerate(x_labels):
        out.append(
            f'<text x="{px(i):.1f}" y="{top + plot_h + 14}" text-anchor="middle" {FONT}>'
            f"{escape(label)}</text>"
        )
    for j, (name, vs) in enumerate(series.items()):
        colour = PALETTE[j % len(PALETTE)]
        points = " ".join(
            f"{px(i):.1f},{py(float(v)):.1f}" for i, v in enumerate(vs) if math.isfinite(float(v))
        )
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for i, v in enumerate(vs):
            if math.isfinite(float(v)):
                out.append(
                    f'<circle cx="{px(i):.1f}" cy="{py(float(v)):.1f}" r="2.5" fill="{colour}">'
                    f"<title>{escape(name)} · {escape(x_labels[i] if i < len(x_labels) else str(i))}: "
                    f"{_fmt(float(v))}</title></circle>"
                )
        out.append(
            f'<rect x="{left + plot_w + 10}" y="{top + 14 * j}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{left + plot_w + 24}" y="{top + 9 + 14 * j}" {FONT}>{escape(name[:18])}</text>'
        )
    out.append("</svg>")
    return "".join(out)
