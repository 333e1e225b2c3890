"""The report's release panels: the validation verdict (first thing on the page) and the sampling parameters
as a table per domain (α per criterion, ω, λ, η, ε for QuaDMix; weights for RegMix) instead of raw JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape
from typing import Any

_VERDICT_CSS = {"passed": "ok", "failed": "warn", "forced": "warn"}


def _na(panel: str, why: str) -> str:
    return f'<div class="na" data-panel="{escape(panel)}">Not available: {escape(why)}</div>'


def _f(value: Any, digits: int = 4) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(float(value)):
        return f"{float(value):.{digits}f}"
    return "n/a"


def _interval(arm: Mapping[str, Any]) -> tuple[Any, Any]:
    bounds = arm.get("interval95")
    return (bounds[0], bounds[1]) if isinstance(bounds, list | tuple) and len(bounds) == 2 else (None, None)


def _arm_text(name: str, arm: Mapping[str, Any]) -> str:
    low, high = _interval(arm)
    return (
        f"{name} {_f(arm.get('mean'))} (95% interval {_f(low)}–{_f(high)}, "
        f"sd {_f(arm.get('std'))}, {arm.get('seeds', 0)} seeds)"
    )


def verdict_panel(validation: Mapping[str, Any] | None, latest_note: str | None = None) -> str:
    """One paragraph: the verdict, why, the Spearman against its threshold, and each arm's mean and interval
    over its seeds; then the same numbers as a table."""
    if not validation:
        return _na(
            "verdict", "this version carries no validation verdict (published without the release gate)"
        )
    verdict = str(validation.get("verdict") or "unknown")
    given = validation.get("arms")
    arms: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    spearman = validation.get("spearman")
    threshold = validation.get("threshold")
    headline = {
        "passed": "The mixture passed validation and may become latest.",
        "failed": "The mixture failed validation: it is published for inspection only and latest did not move.",
        "forced": "The mixture failed validation but was promoted by force_latest.",
    }.get(verdict, "")
    sentences = [
        f"<b>Validation: {escape(verdict)}.</b> {escape(headline)}",
        f"Reason: {escape(str(validation.get('reason') or '-'))}.",
        f"The sweep's held-out Spearman is {escape(_f(spearman, 3))} (threshold {escape(_f(threshold, 3))}).",
    ]
    if arms:
        order = ["chosen", *sorted(k for k in arms if k != "chosen")]
        texts = [_arm_text(k, arms[k]) for k in order if isinstance(arms.get(k), Mapping)]
        objective = validation.get("objective") or "objective"
        sentences.append(f"Fresh-seed proxies, {escape(str(objective))} loss: {escape('; '.join(texts))}.")
        best = validation.get("best_baseline")
        if best:
            sentences.append(
                f"Best baseline: {escape(str(best))}; margin {escape(_f(validation.get('margin')))} against a "
                f"seed-to-seed spread of {escape(_f(validation.get('spread')))}."
            )
    if latest_note:
        sentences.append(escape(latest_note))
    rows = "".join(
        f"<tr><th>{escape(str(k))}</th><td class='num'>{v.get('seeds', 0)}</td>"
        f"<td class='num'>{_f(v.get('mean'))}</td><td class='num'>{_f(v.get('std'))}</td>"
        f"<td class='num'>{_f(_interval(v)[0])} – {_f(_interval(v)[1])}</td></tr>"
        for k, v in arms.items()
        if isinstance(v, Mapping)
    )
    table = (
        "<table><tr><th>arm</th><th>seeds</th><th>mean loss</th><th>sd</th><th>95% interval</th></tr>"
        f"{rows}</table>"
        if rows
        else ""
    )
    css = _VERDICT_CSS.get(verdict, "warn")
    return f'<div class="{css}" data-panel="verdict" data-verdict="{escape(verdict)}"><p>{" ".join(sentences)}</p>{table}</div>'


def parameters_panel(spec: Mapping[str, Any] | None) -> str:
    """The chosen sampling function as a table per domain."""
    if not spec:
        return _na("parameters", "no sampling parameters recorded")
    kind = spec.get("kind")
    if kind == "quadmix" and isinstance(spec.get("domains"), Mapping):
        criteria = [str(c) for c in spec.get("criteria") or []]
        head = "".join(f"<th>α {escape(c)}</th>" for c in criteria)
        lines: list[str] = []
        for domain, p in sorted(spec["domains"].items()):
            if not isinstance(p, Mapping):
                continue
            alphas = list(p.get("alpha") or [])
            cells = "".join(
                f"<td class='num'>{_f(alphas[i] if i < len(alphas) else None, 3)}</td>"
                for i in range(len(criteria))
            )
            lines.append(
                f"<tr><th>{escape(str(domain))}</th>{cells}<td class='num'>{_f(p.get('omega'), 3)}</td>"
                f"<td class='num'>{_f(p.get('lam'), 2)}</td><td class='num'>{_f(p.get('eta'), 2)}</td>"
                f"<td class='num'>{_f(p.get('eps'), 4)}</td></tr>"
            )
        return (
            '<div data-panel="parameters"><p>QuaDMix, per domain: merge weights α per criterion, ω (kept share '
            "of the domain's tokens), λ (sigmoid steepness), η (up to 2^η copies of the best documents), ε "
            "(sampling rate of the rest).</p>"
            f"<table><tr><th>domain</th>{head}<th>ω</th><th>λ</th><th>η</th><th>ε</th></tr>{''.join(lines)}"
            "</table></div>"
        )
    if kind == "regmix" and isinstance(spec.get("weights"), Mapping):
        rows = "".join(
            f"<tr><th>{escape(str(d))}</th><td class='num'>{_f(w, 4)}</td></tr>"
            for d, w in sorted(spec["weights"].items())
        )
        total = spec.get("total_tokens")
        note = f" sharing {_f(total, 0)} tokens" if total is not None else ""
        return (
            f'<div data-panel="parameters"><p>RegMix domain weights{escape(note)}.</p>'
            f"<table><tr><th>domain</th><th>weight</th></tr>{rows}</table></div>"
        )
    rows = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(str(v))}</td></tr>" for k, v in sorted(spec.items())
    )
    return f'<div data-panel="parameters"><table>{rows}</table></div>'


def rater_signal_panel(signal: Mapping[str, Mapping[str, Any]] | None) -> str:
    """Per criterion: the spread of the distilled model's predicted scores, its agreement with held-out LLM
    ratings, and whether it carries signal (the nightly sweep leaves criteria without signal out)."""
    if not signal:
        return _na("rater-signal", "no model card with signal figures for the scores of this mixture")
    rows = []
    for name, s in sorted(signal.items()):
        ok = bool(s.get("carries_signal"))
        verdict = "yes" if ok else f"no: {s.get('reason')}"
        spread = s.get("spread_fraction")
        share = f"{100 * spread:.1f}%" if isinstance(spread, int | float) else "n/a"
        css = "" if ok else ' class="warn"'
        rows.append(
            f"<tr><th>{escape(name)}</th>"
            f"<td class='num'>{_f(s.get('predicted_p5'), 3)} – {_f(s.get('predicted_p95'), 3)}</td>"
            f"<td class='num'>{share}</td><td class='num'>{_f(s.get('spearman'), 3)}</td>"
            f"<td{css}>{escape(verdict)}</td></tr>"
        )
    return (
        '<div data-panel="rater-signal"><table><tr><th>criterion</th><th>predicted p5–p95</th>'
        "<th>share of range</th><th>Spearman with held-out ratings</th><th>carries signal</th></tr>"
        f"{''.join(rows)}</table></div>"
    )


def human_labels_panel(human: Mapping[str, Any] | None) -> str:
    """The domain model against human register (genre) labels: mapped accuracy, Cohen's κ, the confusion of the
    mapped classes, and Cramér's V of register × domain (tasks/distill/human_labels.py)."""
    if not human:  # a note, not a missing panel: most model versions are distilled without a labels path
        return (
            '<p class="muted" data-panel="human-labels">No agreement with human labels was measured for '
            "these models (distil with a labels path: DistillConfig.human_labels).</p>"
        )
    if human.get("skipped"):
        return _na("human-labels", f"agreement with human labels not measured: {human['skipped']}")
    confusion = human.get("confusion") or {}
    classes = sorted(confusion)
    rows = "".join(
        f"<tr><th>{escape(str(t))}</th>"
        + "".join(f"<td class='num'>{escape(str(confusion[t].get(p, 0)))}</td>" for p in classes)
        + "</tr>"
        for t in classes
    )
    mapping = human.get("mapping") or {}
    return (
        f'<div data-panel="human-labels"><p>Domain model against human register labels of '
        f"{escape(str(human.get('n_answered')))} pages ({escape(str(human.get('source')))}): mapped accuracy "
        f"{_f(human.get('accuracy'), 3)} (majority baseline {_f(human.get('majority_baseline'), 3)}), "
        f"Cohen's κ {_f(human.get('kappa'), 3)}; Cramér's V of register × domain {_f(human.get('cramers_v'), 3)}. "
        f"Mapping: registers {escape(str(mapping.get('registers')))} ↔ domains "
        f"{escape(str(mapping.get('domains')))}, else {escape(str(mapping.get('else')))}.</p>"
        "<table><tr><th>human \\ rater</th>"
        + "".join(f"<th>{escape(str(c))}</th>" for c in classes)
        + f"</tr>{rows}</table></div>"
    )
