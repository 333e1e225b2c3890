"""Gumbel top-k and the token budget: sampling without replacement in proportion to exp(log w / τ)."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.methods.budget import budget_of, fill_budget, fill_in_order, gumbel_topk, top_by_score


def test_budget_is_reached_by_at_most_one_document_more() -> None:
    rng = np.random.default_rng(0)
    tokens = rng.integers(10, 200, size=500)
    values = gumbel_topk(rng.normal(size=500), tokens, 10_000, seed=1)
    spent = budget_of(values, tokens)
    assert set(np.unique(values)) <= {0.0, 1.0}
    assert 10_000 <= spent < 10_000 + tokens.max()


def test_deterministic_for_a_seed_and_different_across_seeds() -> None:
    lw = np.zeros(1000)
    tokens = np.ones(1000)
    a = gumbel_topk(lw, tokens, 100, seed=3)
    assert np.array_equal(a, gumbel_topk(lw, tokens, 100, seed=3))
    assert not np.array_equal(a, gumbel_topk(lw, tokens, 100, seed=4))


def test_inclusion_frequencies_follow_the_weights() -> None:
    """One draw from 4 documents with weights 1:2:3:4 picks each in proportion to its weight (the property
    that makes the keys a sample from exp(log w), not a top-k)."""
    w = np.array([1.0, 2.0, 3.0, 4.0])
    picks = np.zeros(4)
    for seed in range(4000):
        picks += gumbel_topk(np.log(w), np.ones(4), 1, seed=seed)
    freq = picks / picks.sum()
    assert np.allclose(freq, w / w.sum(), atol=0.025), freq
    # A hard top-k would always take the heaviest one.
    assert np.array_equal(top_by_score(w, np.ones(4), 1), [0, 0, 0, 1])


def test_invalid_weights_are_never_selected_and_zero_temperature_is_top_k() -> None:
    lw = np.array([np.nan, -np.inf, 0.0, 5.0, 1.0])
    tokens = np.ones(5)
    for seed in range(50):
        v = gumbel_topk(lw, tokens, 10, seed=seed)  # budget larger than the pool
        assert v[0] == 0 and v[1] == 0 and v[2:].sum() == 3
    assert np.array_equal(gumbel_topk(lw, tokens, 2, seed=0, temperature=0.0), [0, 0, 0, 1, 1])


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="n_tokens"):
        gumbel_topk(np.zeros(3), np.ones(2), 1, seed=0)
    with pytest.raises(ValueError, match="temperature"):
        gumbel_topk(np.zeros(3), np.ones(3), 1, seed=0, temperature=-1)
    with pytest.raises(ValueError, match="budget"):
        top_by_score(np.zeros(3), np.ones(3), -1)


def test_crossing_document_rule() -> None:
    """``take`` keeps the document that crosses the budget; ``closer`` keeps it only when that lands nearer."""
    tokens = np.array([100, 300, 50, 200, 350])
    assert fill_in_order([4, 3, 2, 1, 0], tokens, 600, crossing="closer").tolist() == [0, 0, 1, 1, 1]  # exact
    # 300 + 100 = 400 is 20 short; taking document 4 too would overshoot by 330.
    assert fill_in_order([1, 0, 4], tokens, 420, crossing="closer").tolist() == [1, 1, 0, 0, 0]
    assert fill_in_order([1, 0, 4], tokens, 420, crossing="take").tolist() == [1, 1, 0, 0, 1]
    # At 600: stopping at 400 is 200 short, taking document 4 (750) 150 over: it is taken.
    assert fill_in_order([1, 0, 4], tokens, 600, crossing="closer").tolist() == [1, 1, 0, 0, 1]
    # Keys and an explicit order agree; documents outside the order are never taken.
    keys = np.array([3.0, 4.0, -np.inf, -np.inf, 2.0])
    assert np.array_equal(
        fill_budget(keys, tokens, 420, "closer"), fill_in_order([1, 0, 4], tokens, 420, "closer")
    )
    assert fill_in_order([1], tokens, 10_000).tolist() == [0, 1, 0, 0, 0]
    assert fill_in_order([1, 0], tokens, 0).tolist() == [0, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="distinct"):
        fill_in_order([1, 1], tokens, 100)
    with pytest.raises(ValueError, match="crossing"):
        fill_budget(keys, tokens, 100, "nearest")  # type: ignore[arg-type]
