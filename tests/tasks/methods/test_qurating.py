"""QuRating: temperature sampling between top-k and uniform, and Bradley–Terry recovering a known ranking."""

from __future__ import annotations

import itertools

import numpy as np
from scipy.stats import spearmanr

from tasks.methods.budget import budget_of, top_by_score
from tasks.methods.qurating import quality_from_judgments, qurating_select
from tasks.rate.bradley_terry import Comparison

N = 2000


def _pool() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=N), rng.integers(50, 500, size=N).astype(np.float64)


def test_near_zero_temperature_is_top_k() -> None:
    quality, tokens = _pool()
    budget = 0.2 * tokens.sum()
    top = top_by_score(quality, tokens, budget)
    cold = qurating_select(quality, tokens, budget, seed=0, temperature=1e-3)
    warm = qurating_select(quality, tokens, budget, seed=0, temperature=2.0)
    overlap = lambda a, b: float((a * b).sum() / max(a.sum(), b.sum()))  # noqa: E731
    assert overlap(cold, top) > 0.97
    assert overlap(warm, top) < 0.8
    assert np.array_equal(qurating_select(quality, tokens, budget, seed=0, temperature=0.0), top)


def test_higher_temperature_trades_quality_for_diversity() -> None:
    quality, tokens = _pool()
    budget = 0.2 * tokens.sum()
    rows: list[tuple[float, float, int]] = []
    for tau in (0.25, 1.0, 2.0, 8.0):
        picks = [qurating_select(quality, tokens, budget, seed=s, temperature=tau) for s in range(5)]
        for v in picks:
            assert budget <= budget_of(v, tokens) < budget + tokens.max()
        mean_quality = float(np.mean([quality[v > 0].mean() for v in picks]))
        chosen = int((np.sum(picks, axis=0) > 0).sum())  # documents chosen by any of 5 seeds
        rows.append((tau, mean_quality, chosen))
    print("tau, mean z-quality of the selection, distinct documents over 5 seeds:", rows)
    qualities = [r[1] for r in rows]
    distinct = [r[2] for r in rows]
    assert all(a > b for a, b in itertools.pairwise(qualities))
    assert all(a < b for a, b in itertools.pairwise(distinct))
    assert qualities[-1] > 0.0  # still above a uniform sample's 0 at τ = 8


def test_bradley_terry_recovers_a_known_ranking() -> None:
    rng = np.random.default_rng(1)
    n = 60
    theta = np.linspace(-3, 3, n)
    rng.shuffle(theta)
    comparisons = []
    for _ in range(12 * n):
        i, j = rng.choice(n, size=2, replace=False)
        p_true = 1.0 / (1.0 + np.exp(-(theta[i] - theta[j])))
        comparisons.append(Comparison(int(i), int(j), float(rng.random() < p_true)))
    fitted = quality_from_judgments(n, comparisons)
    rho = spearmanr(fitted, theta).statistic
    assert rho > 0.9, rho
    # The same comparisons with the outcomes shuffled among them carry no information about the ranking.
    outcomes = rng.permutation([c.p for c in comparisons])
    shuffled = [Comparison(c.i, c.j, float(p)) for c, p in zip(comparisons, outcomes, strict=True)]
    rho_shuffled = spearmanr(quality_from_judgments(n, shuffled), theta).statistic
    assert abs(rho_shuffled) < 0.4, rho_shuffled
