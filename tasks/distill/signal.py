"""Does a distilled quality model tell documents apart? Per criterion: the spread of its predicted scores and
its agreement with held-out LLM ratings, and a verdict the rest of the pipeline acts on.

A criterion **carries no signal** when its predictions barely move (the 5th–95th percentile span of the
predicted scores is below :data:`MIN_SPREAD_FRACTION` of the criterion's value range) or when they do not
rank held-out ratings (Spearman below :data:`MIN_SPEARMAN`, or undefined). Such a criterion is still scored
and shown, but the nightly sweep leaves it out of the mixture's quality criteria (see
:func:`signal_criteria`), falling back to RegMix (domain weights, no quality term) when none is left.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tasks.metrics import spearman

log = logging.getLogger(__name__)

MIN_SPREAD_FRACTION = 0.05
MIN_SPEARMAN = 0.2


def criterion_signal(
    predicted: Sequence[float] | np.ndarray,
    value_range: Sequence[float],
    truth: Sequence[float] | np.ndarray | None = None,
) -> dict[str, Any]:
    """Spread of ``predicted`` (the model's scores on held-out pages), its Spearman with ``truth`` (the LLM
    ratings of the same pages, when there are any) and whether the criterion carries signal."""
    pred = np.asarray(predicted, dtype=np.float64)
    pred = pred[np.isfinite(pred)]
    lo, hi = float(value_range[0]), float(value_range[1])
    width = hi - lo if hi > lo else 1.0
    out: dict[str, Any] = {"n": int(pred.size), "value_range": [lo, hi]}
    if pred.size:
        p5, p95 = (float(v) for v in np.percentile(pred, [5, 95]))
        out.update(
            predicted_min=float(pred.min()),
            predicted_max=float(pred.max()),
            predicted_p5=p5,
            predicted_p95=p95,
            predicted_std=float(pred.std()),
            spread_fraction=(p95 - p5) / width,
        )
    rho = None
    if truth is not None:
        t = np.asarray(truth, dtype=np.float64)
        if t.size:
            out["rating_std"] = float(np.nanstd(t))
            rho = spearman(t, np.asarray(predicted, dtype=np.float64))
        out["spearman"] = rho
    reasons = []
    spread = out.get("spread_fraction")
    if spread is None:
        reasons.append("no predictions to measure")
    elif spread < MIN_SPREAD_FRACTION:
        reasons.append(
            f"predictions span {out['predicted_p5']:.3g}–{out['predicted_p95']:.3g} (5th–95th percentile), "
            f"{spread:.1%} of the range {lo:g}–{hi:g} (< {MIN_SPREAD_FRACTION:.0%})"
        )
    if truth is not None and (rho is None or not math.isfinite(rho) or rho < MIN_SPEARMAN):
        shown = "undefined" if rho is None or not math.isfinite(rho) else f"{rho:.3f}"
        reasons.append(f"Spearman with held-out ratings {shown} (< {MIN_SPEARMAN})")
    out["carries_signal"] = not reasons
    out["reason"] = "; ".join(reasons) if reasons else "spread and agreement above the thresholds"
    return out


def signal_criteria(card: Mapping[str, Any], criteria: Sequence[str]) -> tuple[str, ...]:
    """The ``criteria`` whose model in ``card`` (a ``model_card.json``) carries signal. A model without a
    ``signal`` record (distilled before it was measured) is kept."""
    given = card.get("models")
    models: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    keep = []
    for name in criteria:
        entry = models.get(name)
        if not isinstance(entry, Mapping):
            continue
        signal = entry.get("signal")
        if not isinstance(signal, Mapping) or signal.get("carries_signal", True):
            keep.append(name)
    return tuple(keep)


def signal_markdown(card: Mapping[str, Any]) -> list[str]:
    """Model-card lines: a table of each score model's spread and agreement, and what lacks signal."""
    given = card.get("models")
    models: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    rows = []
    for name, entry in models.items():
        s = entry.get("signal") if isinstance(entry, Mapping) else None
        if not isinstance(s, Mapping):
            continue
        rho = s.get("spearman")
        rows.append(
            f"| {name} | {s.get('predicted_p5', float('nan')):.3g}–{s.get('predicted_p95', float('nan')):.3g} "
            f"| {s.get('spread_fraction', float('nan')):.1%} | {'n/a' if rho is None else f'{rho:.3f}'} "
            f"| {'yes' if s.get('carries_signal') else 'NO: ' + str(s.get('reason'))} |"
        )
    if not rows:
        return []
    return [
        "",
        "## Rater signal",
        "",
        f"A criterion carries signal when its predicted scores span at least {MIN_SPREAD_FRACTION:.0%} of its "
        f"range (5th–95th percentile, held-out pages) and rank held-out ratings with Spearman >= {MIN_SPEARMAN}. "
        "The nightly sweep leaves criteria without signal out of the mixture.",
        "",
        "| criterion | predicted p5–p95 | share of range | Spearman (held-out) | carries signal |",
        "|---|---|---|---|---|",
        *rows,
    ]


def mixture_criteria(store: str, model_version: str | None, criteria: Sequence[str]) -> tuple[str, ...]:
    """The ``criteria`` a mixture may lean on: those whose distilled model (``model_version``, or the latest)
    carries signal. Without a model card every criterion is kept (nothing says otherwise)."""
    from tasks.distill.predict import load_card, resolve_version
    from tasks.storage import Store

    try:
        version = resolve_version(Store(store), model_version)
        card = load_card(Store(store), version)
    except (FileNotFoundError, ValueError):
        return tuple(criteria)
    return signal_criteria(card, criteria)


@dataclass(frozen=True)
class SweepCriteria:
    """What a sweep leans on, given which distilled criteria carry signal."""

    criteria: tuple[
        str, ...
    ]  # the criteria with signal; every criterion when none has it (RegMix ignores them)
    leaned: tuple[str, ...]  # the criteria with signal (may be empty)
    dropped: tuple[str, ...]  # the criteria without signal, left out
    mode: Literal["quadmix", "regmix"]  # the requested mode, or "regmix" when QuaDMix has no criterion left
    topk_criterion: str  # the preferred top-k criterion if it carries signal, else the first one that does


def sweep_criteria(
    store: str, model_version: str | None, *, mode: str = "quadmix", topk_criterion: str = "educational_value"
) -> SweepCriteria:
    """The one rule the nightly bootstrap and the proxy_sweep DAG share: a sweep leans only on criteria whose
    distilled model carries signal (:func:`mixture_criteria`); with none left a QuaDMix sweep becomes RegMix
    (domain weights only)."""
    from tasks.mix.sampling import QUALITY_CRITERIA

    leaned = mixture_criteria(store, model_version, QUALITY_CRITERIA)
    dropped = tuple(c for c in QUALITY_CRITERIA if c not in leaned)
    if dropped:
        log.warning("criteria without signal, left out of the sweep: %s", list(dropped))
    criteria = leaned or tuple(QUALITY_CRITERIA)
    if mode not in ("quadmix", "regmix"):
        raise ValueError(f"unknown sweep mode {mode!r} (quadmix, regmix)")
    return SweepCriteria(
        criteria=criteria,
        leaned=leaned,
        dropped=dropped,
        mode="regmix" if mode == "regmix" or not leaned else "quadmix",
        topk_criterion=topk_criterion if topk_criterion in criteria else criteria[0],
    )


def _fmt(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) and math.isfinite(value) else "n/a"


def human_labels_markdown(card: Mapping[str, Any]) -> list[str]:
    """Model-card lines: the domain model against the human register labels (tasks/distill/human_labels.py)."""
    h = card.get("human_labels")
    if not isinstance(h, Mapping):
        return []
    head = ["", "## Agreement with human labels", ""]
    if h.get("skipped"):
        return [*head, f"Not measured: {h['skipped']}"]
    mapping = h.get("mapping") or {}
    lines = [
        *head,
        f"The domain model against human register (genre) labels of {h.get('n_answered')} pages "
        f"(Turku CORE, `{h.get('source')}`; languages {h.get('languages')}). Registers and domains are different "
        f"axes; the one shared class is mapped: registers {mapping.get('registers')} ↔ domains "
        f"{mapping.get('domains')}, everything else `{mapping.get('else')}`.",
        "",
        f"- mapped accuracy {_fmt(h.get('accuracy'))} (majority baseline {_fmt(h.get('majority_baseline'))}), "
        f"Cohen's κ {_fmt(h.get('kappa'))}",
        f"- Cramér's V of register × domain (no mapping): {_fmt(h.get('cramers_v'))}",
        "",
        "| human \\ rater | " + " | ".join(sorted(h.get("confusion") or {})) + " |",
        "|---|" + "---|" * len(h.get("confusion") or {}),
    ]
    confusion = h.get("confusion") or {}
    for truth in sorted(confusion):
        lines.append(
            f"| {truth} | " + " | ".join(str(confusion[truth].get(p, 0)) for p in sorted(confusion)) + " |"
        )
    return lines
