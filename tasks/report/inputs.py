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
    illusion: Mapping[str, Any] | None = None  # a sweep's illusion.json (tasks/illusion/experiment.py)
    bakeoff: Mapping[str, Any] | None = None  # a sweep's bakeoff.json (tasks/bakeoff/runner.py)
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
