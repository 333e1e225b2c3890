"""Bounded-memory merging of per-shard summaries (the mix stage's score and rank sketches).

Every mix pass leaves one small JSON summary per shard. Merging all of them in one call would concatenate every
shard's sketch values, which for shards smaller than the sketch size means every document's scores of the whole
corpus in one process. :func:`merge_tree` instead consumes the summaries lazily, one at a time, and merges them in
groups of at most ``fan_in``: a tree of depth ⌈log_fan_in(shards)⌉, holding at most ``fan_in`` summaries per level.
A value passes through at most one compression per level, so a percentile read from the result is off by at most
depth / sketch size (exact while the merged sketches stay within the sketch size).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from tasks.mix.sampling import CorpusStats
from tasks.mix.sketch import QuantileSketch
from tasks.storage import read_json

T = TypeVar("T")

DEFAULT_FAN_IN = 32


def merge_tree(parts: Iterable[T], merge: Callable[[list[T]], T], fan_in: int = DEFAULT_FAN_IN) -> T | None:
    """Fold ``parts`` into one with calls ``merge(group)`` of at most ``fan_in`` items; None when there are none.

    ``parts`` is read lazily; at any time at most ``fan_in - 1`` pending items are held per tree level."""
    if fan_in < 2:
        raise ValueError("fan_in must be >= 2")
    levels: list[list[T]] = []
    for part in parts:
        carry, level = part, 0
        while True:
            if level == len(levels):
                levels.append([])
            levels[level].append(carry)
            if len(levels[level]) < fan_in:
                break
            carry = merge(levels[level])
            levels[level] = []
            level += 1
    rest: T | None = None
    for pending in levels:  # bottom up: each level's leftovers plus what came from below (<= fan_in items)
        group = pending + ([rest] if rest is not None else [])
        if group:
            rest = merge(group) if len(group) > 1 else group[0]
    return rest


def merge_stats(
    parts: Iterable[CorpusStats], max_size: int, fan_in: int = DEFAULT_FAN_IN
) -> CorpusStats | None:
    """Per-domain totals and score sketches of all ``parts`` (see :meth:`CorpusStats.merge`), tree-merged."""
    return merge_tree(parts, lambda group: CorpusStats.merge(group, max_size), fan_in)


def _merge_rank_group(group: Sequence[dict[str, QuantileSketch]], max_size: int) -> dict[str, QuantileSketch]:
    domains = sorted({d for part in group for d in part})
    return {d: QuantileSketch.merge([p[d] for p in group if d in p], max_size) for d in domains}


def merge_ranks(
    parts: Iterable[dict[str, QuantileSketch]], max_size: int, fan_in: int = DEFAULT_FAN_IN
) -> dict[str, QuantileSketch]:
    """Per-domain rank sketches of all ``parts`` (domain → token-weighted sketch of the merged score)."""
    return merge_tree(parts, lambda group: _merge_rank_group(group, max_size), fan_in) or {}


def stats_from_files(urls: Iterable[str]) -> Iterator[CorpusStats]:
    """The ``stats`` of each per-shard pass-1 file, read one at a time (skipped shards have none)."""
    for url in urls:
        data = read_json(url)
        if not data.get("skipped"):
            yield CorpusStats.from_json(data["stats"])


def ranks_from_files(urls: Iterable[str]) -> Iterator[dict[str, QuantileSketch]]:
    """The ``ranks`` of each per-shard pass-2 file, read one at a time (skipped shards have none)."""
    for url in urls:
        data = read_json(url)
        if not data.get("skipped"):
            yield {d: QuantileSketch.from_json(s) for d, s in data["ranks"].items()}
