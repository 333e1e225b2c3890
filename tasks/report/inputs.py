"""What a mixture report shows, as plain typed values. The mix and sweep stages (or anyone) can fill a
:class:`ReportInputs` directly; :func:`tasks.report.collect_inputs` fills one from a store. Every panel is
optional: a missing one renders as "not available"."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tasks.metrics import spearman as spearman  # re-exported: reports compute the sweep fit's rho


def _finite(values: Sequence[float], what: str) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if any(not math.isfinite(v) for v in out):
        raise ValueError(f"{what} must be finite numbers")
    return out


@dataclass(frozen=True)
class ScoreDistribution:
    """Fractions of documents per score bin, in the scored pool ("before") and in the mixture ("after",
    weighted by repetitions). ``edges`` has one more entry than each series."""

    criterion: str
    edges: tuple[float, ...]
    before: tuple[float, ...]
    after: tuple[float, ...]

    def __post_init__(self) -> None:
        bins = len(self.edges) - 1
        if bins < 1 or len(self.before) != bins or len(self.after) != bins:
            raise ValueError(f"{self.criterion}: edges must have one more entry than before/after")
        _finite(self.edges, "edges")
        _finite(self.before, "before")
        _finite(self.after, "after")
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError(f"{self.criterion}: edges must increase")

    @classmethod
    def from_values(
        cls,
        criterion: str,
        before: Sequence[float],
        after: Sequence[float],
        after_weights: Sequence[float] | None = None,
        bins: int = 20,
    ) -> ScoreDistribution:
        b = np.asarray(before, dtype=np.float64)
        a = np.asarray(after, dtype=np.float64)
        w = np.ones_like(a) if after_weights is None else np.asarray(after_weights, dtype=np.float64)
        if w.shape != a.shape:
            raise ValueError(f"{criterion}: after_weights must match after")
        b = b[np.isfinite(b)]
        keep = np.isfinite(a) & np.isfinite(w)
        a, w = a[keep], w[keep]
        both = np.concatenate([b, a])
        lo, hi = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
        if hi <= lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, bins + 1)
        hb, _ = np.histogram(b, bins=edges)
        ha, _ = np.histogram(a, bins=edges, weights=w)
        nb, na = hb.sum(), ha.sum()
        return cls(
            criterion=criterion,
            edges=tuple(float(e) for e in edges),
            before=tuple(float(v / nb) if nb else 0.0 for v in hb),
            after=tuple(float(v / na) if na else 0.0 for v in ha),
        )


@dataclass(frozen=True)
class SweepFit:
    """The regression's predicted vs measured proxy loss on held-out proxy runs."""

    predicted: tuple[float, ...]
    actual: tuple[float, ...]
    spearman: float | None = None
    label: str = "held-out proxy runs"
    best_parameters: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.predicted) != len(self.actual):
            raise ValueError("predicted and actual must have the same length")
        object.__setattr__(self, "predicted", _finite(self.predicted, "predicted"))
        object.__setattr__(self, "actual", _finite(self.actual, "actual"))
        if self.spearman is None:
            object.__setattr__(self, "spearman", spearman(self.predicted, self.actual))


@dataclass(frozen=True)
class IllusionRow:
    """One mixture (or baseline) in the data-quality-illusion check: the downstream-like target (objective)
    loss of proxies trained on it beside their loss on held-out scored text, overall and per quality-score
    decile (1 = lowest scores, 10 = best). NaN marks a decile that was not evaluated."""

    label: str
    target_loss: float | None = None
    hq_loss: float | None = None
    hq_loss_by_decile: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for what in ("target_loss", "hq_loss"):
            value = getattr(self, what)
            if value is not None and not math.isfinite(float(value)):
                object.__setattr__(self, what, None)
        object.__setattr__(self, "hq_loss_by_decile", tuple(float(v) for v in self.hq_loss_by_decile))
        if len(self.hq_loss_by_decile) not in (0, 10):
            raise ValueError(f"{self.label}: hq_loss_by_decile needs 10 values (deciles), or none")


@dataclass(frozen=True)
class ReportInputs:
    mixture: str
    version: str | None = None
    generated_at: str | None = None
    totals: Mapping[str, int | float | str] = field(default_factory=dict)
    lineage: Mapping[str, Any] = field(default_factory=dict)
    domains_before: Mapping[str, float] | None = None  # token proportions in the scored pool
    domains_after: Mapping[str, float] | None = None  # token proportions in the mixture (with repetitions)
    scores: tuple[ScoreDistribution, ...] = ()
    sweep: SweepFit | None = None
    quality_illusion: tuple[IllusionRow, ...] = ()
    notes: tuple[str, ...] = ()
    validation: Mapping[str, Any] | None = None  # the release gate's block (tasks/sweep/gate.py), shown first
    sampling: Mapping[str, Any] | None = None  # the sampling function's JSON (tasks/mix/sampling.py)
    rater_signal: Mapping[str, Mapping[str, Any]] | None = None  # per criterion (tasks/distill/signal.py)
    human_labels: Mapping[str, Any] | None = None  # domain model vs human labels (distill/human_labels.py)

    def __post_init__(self) -> None:
        for what, proportions in (
            ("domains_before", self.domains_before),
            ("domains_after", self.domains_after),
        ):
            if proportions is None:
                continue
            values = _finite(list(proportions.values()), what)
            if any(v < 0 for v in values):
                raise ValueError(f"{what} must not be negative")


def illusion_flags(rows: Sequence[IllusionRow]) -> list[str]:
    """Pairs where the mixture that looks better on the target set is worse on held-out scored text, overall
    or on its best-scored decile: what classifier filtering can hide."""
    flags = []
    for a in rows:
        for b in rows:
            if a.target_loss is None or b.target_loss is None or not a.target_loss < b.target_loss:
                continue
            better = (
                f"{a.label} beats {b.label} on the target set ({a.target_loss:.4f} < {b.target_loss:.4f})"
            )
            if a.hq_loss is not None and b.hq_loss is not None and a.hq_loss > b.hq_loss:
                flags.append(f"{better} but is worse on held-out text ({a.hq_loss:.4f} > {b.hq_loss:.4f})")
                continue
            top_a = a.hq_loss_by_decile[-1] if a.hq_loss_by_decile else math.nan
            top_b = b.hq_loss_by_decile[-1] if b.hq_loss_by_decile else math.nan
            if top_a > top_b:  # False when either is NaN
                flags.append(f"{better} but is worse on the best-scored decile ({top_a:.4f} > {top_b:.4f})")
    return flags
