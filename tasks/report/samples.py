"""Bounded, seeded samples and exact small aggregates for the report, built shard by shard.

:class:`BottomK` keeps the ``k`` rows with the smallest seeded hash of their id (the idea of
:mod:`tasks.rate.sample`): a uniform sample without replacement, the same whatever the shard order, and never more
than ``k`` rows (plus one shard's) in memory. When the corpus has at most ``k`` rows every row is kept, in the
order the shards were added, so a small corpus gives exactly the rows (and the numbers) of reading it whole.

:class:`WeightSums` sums a weight per key (a domain) shard by shard: exact, and bounded by the number of keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.rate.sample import seeded_priority

_PRIORITY, _ORDER, _ROW = "__priority", "__order", "__row"
_BY_PRIORITY = [(_PRIORITY, "ascending"), (_ORDER, "ascending"), (_ROW, "ascending")]


@dataclass
class BottomK:
    """The ``k`` rows of smallest ``seeded_priority(seed, id)`` among every row added."""

    k: int
    seed: int = 0
    seen: int = 0
    _kept: pa.Table | None = None
    _parts: int = 0

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"a bottom-k sample needs k >= 1, got {self.k}")

    def add(self, table: pa.Table) -> None:
        """Add one shard's rows (an ``id`` column and any others); keeps at most ``k`` of all rows seen."""
        n = len(table)
        order = self._parts
        self._parts += 1
        self.seen += n
        priority = pa.array(
            [seeded_priority(self.seed, str(i)) for i in table["id"].to_pylist()], pa.uint64()
        )
        tagged = (
            table.append_column(_PRIORITY, priority)
            .append_column(_ORDER, pa.array(np.full(n, order, dtype=np.int64)))
            .append_column(_ROW, pa.array(np.arange(n, dtype=np.int64)))
        )
        if self._kept is not None and len(self._kept) >= self.k:  # full: only rows below the largest kept
            cutoff = pc.max(self._kept[_PRIORITY])
            tagged = tagged.filter(pc.less_equal(tagged[_PRIORITY], cutoff))
        tagged = self._bottom(tagged)
        merged = (
            tagged
            if self._kept is None
            else pa.concat_tables([self._kept, tagged], promote_options="default")
        )
        self._kept = self._bottom(merged)

    def _bottom(self, table: pa.Table) -> pa.Table:
        if len(table) <= self.k:
            return table
        return table.take(pc.sort_indices(table, sort_keys=_BY_PRIORITY)[: self.k])

    @property
    def sampled(self) -> bool:
        """Whether rows were left out (more than ``k`` seen)."""
        return self.seen > len(self._kept) if self._kept is not None else False

    def table(self) -> pa.Table | None:
        """The kept rows in the order they were added (shard, then row), without the bookkeeping columns."""
        if self._kept is None:
            return None
        ordered = self._kept.sort_by([(_ORDER, "ascending"), (_ROW, "ascending")])
        return ordered.drop_columns([_PRIORITY, _ORDER, _ROW])


@dataclass
class WeightSums:
    """Sum of a weight per key (nulls counted as ``unknown``), added shard by shard."""

    sums: dict[str, float] = field(default_factory=dict)
    added: bool = False

    def add(self, keys: Any, weights: Any) -> None:
        self.added = True
        frame = pa.table(
            {"k": pc.fill_null(pc.cast(keys, pa.string()), "unknown"), "w": pc.cast(weights, pa.float64())}
        )
        grouped = frame.group_by(["k"]).aggregate([("w", "sum")])
        for key, weight in zip(grouped["k"].to_pylist(), grouped["w_sum"].to_pylist(), strict=True):
            self.sums[str(key)] = self.sums.get(str(key), 0.0) + float(weight or 0.0)

    def shares(self) -> dict[str, float] | None:
        """Each key's share of the total, keys sorted; None when nothing was added, {} when the total is 0."""
        if not self.added:
            return None
        total = sum(self.sums.values())
        if total <= 0:
            return {}
        return {k: self.sums[k] / total for k in sorted(self.sums)}
