"""The measurement of the data-quality-illusion experiment, and its conclusion computed from the curves.

Inputs are per-seed losses of proxy models per *arm* (a keep ratio of the classifier filter, or a share of
token-permuted text in the synthetic control); everything here is plain arithmetic on them, so that it can be
tested on constructed numbers.

An effect is called real only *beyond the seed spread*: the difference of two arms' means must exceed the larger
of their two sample standard deviations over seeds (the rule of the release gate, :mod:`tasks.sweep.gate`).
Anything smaller is reported as "within seed noise".

The web curve's conclusion follows the paper's framing: take the keep ratio that a benchmark-driven choice would
take (the lowest mean downstream-like target loss among the filtered arms) and ask, at that ratio, whether the
target loss improved on the unfiltered pool beyond the spread, and whether the loss on the *held-out
high-quality set* (the set the classifier was trained to find) improved too. "Illusion" means the first holds
and the second does not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tasks.sweep.gate import ArmStats

TARGET = "target"  # the mean of the downstream-like target sets' losses (each is also reported)
HQ = "hq_heldout"  # loss on the held-out part of the high-quality reference set
WEB = "web_heldout"  # loss on held-out documents of the web pool
METRICS_SHOWN = (TARGET, HQ, WEB)

Direction = Literal["improves", "worsens", "within seed noise", "undetermined"]
Verdict = Literal["illusion", "consistent", "hq_only", "no_target_gain", "undetermined"]


@dataclass(frozen=True)
class Arm:
    """Proxies trained on one pool (a keep ratio, or a permuted share): per metric, one loss per seed."""

    label: str
    x: float  # the keep ratio, or the permuted share
    losses: Mapping[str, Sequence[float]]
    facts: Mapping[str, Any] = field(default_factory=dict)  # documents, tokens, epochs, recovery, ...

    def stats(self, metric: str) -> ArmStats:
        values = tuple(float(v) for v in self.losses.get(metric, ()) if math.isfinite(float(v)))
        return ArmStats(self.label, values)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "x": self.x,
            **dict(self.facts),
            "metrics": {m: self.stats(m).to_json() for m in self.losses},
        }


@dataclass(frozen=True)
class Effect:
    """``arm`` minus ``reference`` on one metric (negative = lower loss = better)."""

    metric: str
    delta: float
    spread: float
    direction: Direction

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "delta": _num(self.delta),
            "spread": _num(self.spread),
            "direction": self.direction,
        }

    def phrase(self) -> str:
        if self.direction == "undetermined":
            return f"{self.metric}: undetermined (fewer than 2 seeds)"
        return f"{self.metric} {self.delta:+.4f} (seed spread {self.spread:.4f}: {self.direction})"


def effect(arm: Arm, reference: Arm, metric: str) -> Effect:
    a, r = arm.stats(metric), reference.stats(metric)
    if a.n < 2 or r.n < 2:
        return Effect(metric, a.mean - r.mean, math.nan, "undetermined")
    delta, spread = a.mean - r.mean, max(a.std, r.std)
    if delta < -spread:
        direction: Direction = "improves"
    elif delta > spread:
        direction = "worsens"
    else:
        direction = "within seed noise"
    return Effect(metric, delta, spread, direction)


@dataclass(frozen=True)
class Conclusion:
    verdict: Verdict
    sentence: str
    reference: str | None = None
    chosen: str | None = None
    effects: Mapping[str, Effect] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "sentence": self.sentence,
            "reference_arm": self.reference,
            "compared_arm": self.chosen,
            "effects": {k: e.to_json() for k, e in self.effects.items()},
        }


def _by_x(arms: Sequence[Arm], x: float) -> Arm | None:
    return next((a for a in arms if math.isclose(a.x, x)), None)


def filtering_conclusion(arms: Sequence[Arm]) -> Conclusion:
    """The web curve's conclusion (see the module docstring). ``arms[*].x`` are keep ratios; 1.0 must be one."""
    base = _by_x(arms, 1.0)
    filtered = [a for a in arms if a.x < 1.0 and a.stats(TARGET).n > 0]
    if base is None or base.stats(TARGET).n == 0 or not filtered:
        return Conclusion("undetermined", "No unfiltered arm or no filtered arm with completed proxies.")
    best = min(filtered, key=lambda a: a.stats(TARGET).mean)
    effects = {m: effect(best, base, m) for m in METRICS_SHOWN if best.losses.get(m) and base.losses.get(m)}
    t, h = effects.get(TARGET), effects.get(HQ)
    if t is None or h is None or "undetermined" in (t.direction, h.direction):
        return Conclusion(
            "undetermined", "Fewer than 2 seeds per arm: no effect can be told from seed noise.", base.label
        )
    at = f"keeping the top {best.x:.0%} by classifier score"
    others = "; ".join(e.phrase() for m, e in effects.items() if m not in (TARGET, HQ))
    tail = f" Also: {others}." if others else ""
    if t.direction == "improves" and h.direction != "improves":
        verdict: Verdict = "illusion"
        text = (
            f"The data-quality illusion holds here: {at} lowers the target loss by {-t.delta:.4f} (beyond the "
            f"seed spread {t.spread:.4f}) while the loss on held-out high-quality text does not improve "
            f"({h.delta:+.4f}, spread {h.spread:.4f}: {h.direction})."
        )
    elif t.direction == "improves":
        verdict = "consistent"
        text = (
            f"No illusion here: {at} lowers the target loss by {-t.delta:.4f} (spread {t.spread:.4f}) and the "
            f"loss on held-out high-quality text by {-h.delta:.4f} (spread {h.spread:.4f}), both beyond seed "
            "noise."
        )
    elif h.direction == "improves":
        verdict = "hq_only"
        text = (
            f"Filtering helps the high-quality set but not the targets: {at} lowers held-out high-quality loss "
            f"by {-h.delta:.4f} (spread {h.spread:.4f}); the target loss moves {t.delta:+.4f} "
            f"(spread {t.spread:.4f}: {t.direction})."
        )
    else:
        verdict = "no_target_gain"
        text = (
            f"Filtering does not improve the target loss beyond seed noise at any keep ratio: the best, {at}, "
            f"moves it {t.delta:+.4f} (spread {t.spread:.4f}: {t.direction}); held-out high-quality loss "
            f"{h.delta:+.4f} ({h.direction})."
        )
    return Conclusion(verdict, text + tail, base.label, best.label, effects)


def quality_conclusion(arms: Sequence[Arm]) -> Conclusion:
    """The synthetic control's known-quality curve: the cleanest pool (lowest permuted share) against the most
    corrupted one. Quality is known by construction, so both losses are expected to fall together."""
    usable = [a for a in arms if a.stats(TARGET).n > 0]
    if len(usable) < 2:
        return Conclusion("undetermined", "Fewer than two synthetic pools with completed proxies.")
    worst, clean = max(usable, key=lambda a: a.x), min(usable, key=lambda a: a.x)
    effects = {
        m: effect(clean, worst, m) for m in (TARGET, HQ) if clean.losses.get(m) and worst.losses.get(m)
    }
    t, h = effects.get(TARGET), effects.get(HQ)
    if t is None or h is None or "undetermined" in (t.direction, h.direction):
        return Conclusion("undetermined", "Fewer than 2 seeds per pool.", worst.label, clean.label, effects)
    both = t.direction == h.direction == "improves"
    verdict: Verdict = (
        "consistent" if both else ("illusion" if t.direction == "improves" else "no_target_gain")
    )
    text = (
        f"Known quality: going from {worst.x:.0%} to {clean.x:.0%} permuted text moves the target loss "
        f"{t.delta:+.4f} ({t.direction}) and the held-out high-quality loss {h.delta:+.4f} ({h.direction})"
        + (": both improve together." if both else ".")
    )
    return Conclusion(verdict, text, worst.label, clean.label, effects)


def recovery(kept_good: int, kept: int, good_share: float, keep: float) -> dict[str, float | None]:
    """How much of what the filter kept is known-good text, next to the best any filter could do."""
    best = min(1.0, good_share / keep) if keep > 0 else math.nan
    share = kept_good / kept if kept else math.nan
    return {"intact_share_kept": _num(share), "intact_share_best": _num(best)}


def overall(web: Conclusion, quality: Conclusion | None) -> str:
    """The experiment's headline: the web conclusion, and how it compares with the known-quality control."""
    if quality is None or quality.verdict == "undetermined":
        return web.sentence
    same = web.verdict == quality.verdict
    compare = (
        "The synthetic control (quality known by construction) behaves the same way."
        if same
        else f"The synthetic control behaves differently ({quality.verdict} vs {web.verdict}): "
        + quality.sentence
    )
    return f"{web.sentence} {compare}"


def curves_report(
    web: Sequence[Arm], quality: Sequence[Arm] = (), synthetic_filter: Sequence[Arm] = ()
) -> dict[str, Any]:
    """The experiment's curves and conclusions as JSON (what ``illusion.json`` and the report carry): ``curves``
    (per group, each arm's facts and per-metric mean, std and 95 % interval over seeds), ``conclusions`` (per
    group) and the headline ``conclusion``."""
    web_c = filtering_conclusion(web)
    quality_c = quality_conclusion(quality) if quality else None
    filter_c = filtering_conclusion(synthetic_filter) if synthetic_filter else None
    groups = {"web": web, "quality": quality, "synthetic_filter": synthetic_filter}
    conclusions = {"web": web_c.to_json()}
    if quality_c is not None:
        conclusions["synthetic_quality"] = quality_c.to_json()
    if filter_c is not None:
        conclusions["synthetic_filter"] = filter_c.to_json()
    return {
        "curves": {g: [a.to_json() for a in arms] for g, arms in groups.items() if arms},
        "conclusions": conclusions,
        "conclusion": overall(web_c, quality_c),
    }


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
