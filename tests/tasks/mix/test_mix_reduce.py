"""Bounded-memory merging of per-shard sketches (tasks/mix/reduce.py): lazy consumption, groups of at most
``fan_in``, the same result as one big merge while sketches are exact, and bounded error when they compress."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tasks.mix.reduce import merge_ranks, merge_stats, merge_tree
from tasks.mix.sampling import CorpusStats
from tasks.mix.sketch import QuantileSketch


class _Counter:
    """Counts the parts alive at once: each yielded part adds one, a merge of g parts leaves one."""

    def __init__(self) -> None:
        self.alive = 0
        self.peak = 0
        self.groups: list[int] = []

    def parts(self, n: int) -> Iterator[int]:
        for i in range(n):
            self.alive += 1
            self.peak = max(self.peak, self.alive)
            yield i

    def merge(self, group: list[int]) -> int:
        self.groups.append(len(group))
        self.alive -= len(group) - 1
        return sum(group)


@pytest.mark.parametrize(("n", "fan_in"), [(1, 2), (2, 2), (7, 3), (1000, 4), (1000, 32)])
def test_merge_tree_is_lazy_and_merges_small_groups(n: int, fan_in: int) -> None:
    counter = _Counter()
    assert merge_tree(counter.parts(n), counter.merge, fan_in) == sum(range(n))
    assert max(counter.groups, default=0) <= fan_in
    depth = int(np.ceil(np.log(n) / np.log(fan_in))) if n > 1 else 0
    # at most fan_in - 1 pending per level plus the one being added: never the whole input
    assert counter.peak <= (fan_in - 1) * max(depth, 1) + 1
    if n >= 1000:
        assert counter.peak < n / 10


def test_merge_tree_of_nothing_is_none() -> None:
    assert merge_tree(iter([]), sum, 4) is None
    with pytest.raises(ValueError, match="fan_in"):
        merge_tree(iter([1]), sum, 1)


def _shard_stats(rng: np.random.Generator, n: int, size: int) -> CorpusStats:
    domains = np.array(rng.choice(["a", "b", "c"], n), dtype=object)
    tokens = rng.integers(1, 500, n)
    scores = rng.normal(size=(n, 2))
    return CorpusStats.from_arrays(domains, tokens, scores, ("q1", "q2"), size)


def test_tree_merge_equals_one_merge_while_exact() -> None:
    rng = np.random.default_rng(0)
    parts = [_shard_stats(rng, 40, 4096) for _ in range(30)]
    one = CorpusStats.merge(parts, 4096)
    tree = merge_stats(iter(parts), 4096, fan_in=3)
    assert tree is not None
    assert tree.domain_tokens == one.domain_tokens and tree.domain_documents == one.domain_documents
    for d in one.score_sketches:
        for c in one.criteria:
            np.testing.assert_array_equal(tree.score_sketches[d][c].values, one.score_sketches[d][c].values)
            np.testing.assert_array_equal(tree.score_sketches[d][c].weights, one.score_sketches[d][c].weights)
    ranks = [{"x": QuantileSketch.from_values(rng.normal(size=20))} for _ in range(9)]
    merged = merge_ranks(iter(ranks), 4096, fan_in=2)
    assert len(merged["x"]) == 180


def test_tree_merge_error_is_bounded_when_sketches_compress() -> None:
    rng = np.random.default_rng(1)
    size, shards, per = 64, 200, 300
    values = [rng.normal(size=per) for _ in range(shards)]
    tree = merge_tree(
        (QuantileSketch.from_values(v, max_size=size) for v in values),
        lambda group: QuantileSketch.merge(group, size),
        fan_in=8,
    )
    assert tree is not None and len(tree) <= size
    everything = np.sort(np.concatenate(values))
    probes = np.quantile(everything, np.linspace(0.01, 0.99, 41))
    exact = np.searchsorted(everything, probes) / len(everything)
    depth = int(np.ceil(np.log(shards) / np.log(8))) + 1  # + the per-shard compression
    assert float(np.max(np.abs(tree.fraction_below(probes) - exact))) <= depth / size
