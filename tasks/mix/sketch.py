"""Weighted quantile sketches: the per-domain score distributions the sampling functions rank against.

A sketch is a sorted list of values with weights. Built from at most ``max_size`` values it is exact; larger
inputs are compressed into ``max_size`` equal-mass buckets, so a percentile read from it is off by at most
``1 / max_size``. Sketches from different shards merge (concatenate, re-compress), which is how the mix stage
ranks documents within a domain across a whole snapshot without ever holding the domain in one process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_SKETCH_SIZE = 4096

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class QuantileSketch:
    values: FloatArray  # ascending
    weights: FloatArray  # > 0, same length

    @classmethod
    def empty(cls) -> QuantileSketch:
        return cls(np.zeros(0, dtype=np.float64), np.zeros(0, dtype=np.float64))

    @classmethod
    def from_values(
        cls,
        values: npt.ArrayLike,
        weights: npt.ArrayLike | None = None,
        max_size: int = DEFAULT_SKETCH_SIZE,
    ) -> QuantileSketch:
        """Sketch of ``values`` (NaN and non-positive weights are ignored)."""
        v = np.asarray(values, dtype=np.float64).ravel()
        w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
        if w.shape != v.shape:
            raise ValueError(f"values and weights differ in length: {v.shape} vs {w.shape}")
        keep = np.isfinite(v) & np.isfinite(w) & (w > 0)
        v, w = v[keep], w[keep]
        order = np.argsort(v, kind="stable")
        return cls._compress(v[order], w[order], max_size)

    @staticmethod
    def _compress(v: FloatArray, w: FloatArray, max_size: int) -> QuantileSketch:
        if max_size < 2:
            raise ValueError("max_size must be at least 2")
        if len(v) > 1:
            # Fold exact duplicates first: ties keep their total weight at one value.
            boundaries = np.flatnonzero(np.diff(v) != 0) + 1
            if len(boundaries) + 1 < len(v):
                starts = np.concatenate(([0], boundaries))
                v = v[starts]
                w = np.add.reduceat(w, starts)
        if len(v) <= max_size:
            return QuantileSketch(v.astype(np.float64), w.astype(np.float64))
        cum = np.cumsum(w)
        total = cum[-1]
        bucket = np.minimum(((cum - w / 2) / total * max_size).astype(np.int64), max_size - 1)
        starts = np.concatenate(([0], np.flatnonzero(np.diff(bucket)) + 1))
        bw = np.add.reduceat(w, starts)
        bv = np.add.reduceat(v * w, starts) / bw
        return QuantileSketch(bv, bw)

    @classmethod
    def merge(cls, sketches: Iterable[QuantileSketch], max_size: int = DEFAULT_SKETCH_SIZE) -> QuantileSketch:
        parts = [s for s in sketches if len(s.values)]
        if not parts:
            return cls.empty()
        v = np.concatenate([s.values for s in parts])
        w = np.concatenate([s.weights for s in parts])
        order = np.argsort(v, kind="stable")
        return cls._compress(v[order], w[order], max_size)

    @property
    def total(self) -> float:
        return float(self.weights.sum())

    def __len__(self) -> int:
        return len(self.values)

    def fraction_below(self, x: npt.ArrayLike) -> FloatArray:
        """Mid-rank: (weight strictly below x + half the weight equal to x) / total weight, in [0, 1].

        An empty sketch answers 0.5 for everything (no information: the middle)."""
        xs = np.asarray(x, dtype=np.float64)
        if not len(self.values):
            return np.full(xs.shape, 0.5)
        cum = np.concatenate(([0.0], np.cumsum(self.weights)))
        left = np.searchsorted(self.values, xs, side="left")
        right = np.searchsorted(self.values, xs, side="right")
        below = cum[left]
        equal = cum[right] - below
        out: FloatArray = (below + 0.5 * equal) / cum[-1]
        return out

    def fraction_above(self, x: npt.ArrayLike) -> FloatArray:
        """Mid-rank from the top: 0 for the highest value, 1 for the lowest."""
        out: FloatArray = 1.0 - self.fraction_below(x)
        return out

    def to_json(self) -> dict[str, Any]:
        return {"values": self.values.tolist(), "weights": self.weights.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QuantileSketch:
        return cls(
            np.asarray(data["values"], dtype=np.float64), np.asarray(data["weights"], dtype=np.float64)
        )
