"""Bradley–Terry aggregation of pairwise judgments into one quality score per document (QuRating).

QuRating (Wettig et al., 2024, "QuRating: Selecting High-Quality Data for Training Language Models") asks an
LLM which of two texts is better on a criterion, averages the two presentation orders, and models the outcome
with Bradley–Terry: each document ``i`` has a strength ``θ_i`` and

    P(i is preferred over j) = σ(θ_i − θ_j) = π_i / (π_i + π_j),      π_i = exp(θ_i).

QuRating fits ``θ`` as the output of a trained rater model; here the strengths of the rated sample itself are
fitted directly, by maximum a posteriori with Hunter's (2004) minorise–maximise iteration. A judgment gives a
*soft* outcome ``p_ij ∈ [0, 1]`` (the order-averaged probability that ``i`` wins), counted as ``p_ij`` of a win
for ``i`` and ``1 − p_ij`` for ``j``. With ``W_i`` the (soft) wins of ``i``, ``N_ij`` the number of comparisons
between ``i`` and ``j``, and a prior of ``α`` virtual wins and ``α`` virtual losses of every document against a
reference of strength ``π_0 = 1`` (so a page that wins every comparison keeps a finite score and an isolated
one stays at the reference), the update is

    π_i ← (W_i + α) / ( Σ_j N_ij / (π_i + π_j)  +  2α / (π_i + 1) ),

which increases the log posterior Σ p_ij log σ(θ_i − θ_j) + α Σ_i [log σ(θ_i) + log σ(−θ_i)] at every step and
is iterated until no ``θ_i`` moves by more than ``tol``. The likelihood cannot tell a common shift of all
strengths (per connected part of the comparison graph) apart, so after each update the shift is set to the one the
prior prefers (:func:`_recentre`); with a small prior, plain MM would otherwise take thousands of steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Comparison:
    """One order-averaged judgment: ``p`` = probability that document ``i`` is preferred over ``j``."""

    i: int
    j: int
    p: float


@dataclass(frozen=True)
class BTFit:
    theta: np.ndarray  # log strengths, on the scale of the reference (θ_0 = 0)
    iterations: int
    converged: bool
    comparisons: np.ndarray  # per document, how many comparisons it took part in

    def scores(self) -> np.ndarray:
        """σ(θ_i − mean θ): the modelled probability that a document is preferred over an average one of the
        sample, in (0, 1)."""
        if self.theta.size == 0:
            return self.theta.copy()
        out: np.ndarray = 1.0 / (1.0 + np.exp(-(self.theta - self.theta.mean())))
        return out


def fit_bradley_terry(
    n: int,
    comparisons: Sequence[Comparison],
    prior: float = 0.5,
    max_iter: int = 10_000,
    tol: float = 1e-9,
) -> BTFit:
    """The MAP Bradley–Terry strengths of ``n`` documents from ``comparisons`` (see the module docstring)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    if prior <= 0:
        raise ValueError("prior must be > 0 (it keeps unbeaten or isolated documents finite)")
    i = np.array([c.i for c in comparisons], dtype=np.int64)
    j = np.array([c.j for c in comparisons], dtype=np.int64)
    p = np.array([c.p for c in comparisons], dtype=np.float64)
    if i.size and (i.min() < 0 or j.min() < 0 or max(i.max(), j.max()) >= n):
        raise ValueError("comparison index out of range")
    if np.any(i == j):
        raise ValueError("a document cannot be compared with itself")
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("comparison probabilities must lie in [0, 1]")
    wins = np.bincount(i, weights=p, minlength=n) + np.bincount(j, weights=1.0 - p, minlength=n)
    counts = np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
    pi = np.ones(n, dtype=np.float64)
    component = _components(n, i, j)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is reported)
        inv = 1.0 / (pi[i] + pi[j])
        denom = (
            np.bincount(i, weights=inv, minlength=n)
            + np.bincount(j, weights=inv, minlength=n)
            + 2.0 * prior / (pi + 1.0)
        )
        new = np.log((wins + prior) / denom)
        new = _recentre(new, component, prior)
        delta = float(np.max(np.abs(new - np.log(pi)))) if n else 0.0
        pi = np.exp(new)
        if delta < tol:
            converged = True
            break
    return BTFit(theta=np.log(pi), iterations=it, converged=converged, comparisons=counts)


def _components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The connected component of every document in the comparison graph."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(i.size), (i, j)), shape=(n, n))
    labels: np.ndarray = connected_components(graph, directed=False)[1]
    return labels


def _recentre(theta: np.ndarray, component: np.ndarray, prior: float) -> np.ndarray:
    """The likelihood does not change when one component's strengths all move by the same amount; only the
    prior pins them. Move each component to the shift that maximises the prior, Σ σ(θ_i + c) = size / 2
    (a few Newton steps). This step only raises the posterior, and without it a small prior leaves the MM
    iteration crawling along the shift for thousands of steps."""
    out = theta.copy()
    for comp in np.unique(component):
        members = component == comp
        t = theta[members]
        c = 0.0
        for _ in range(50):
            s = 1.0 / (1.0 + np.exp(-(t + c)))
            grad = float(np.sum(1.0 - 2.0 * s))
            hess = float(np.sum(2.0 * s * (1.0 - s)))
            step = grad / hess if hess > 0 else 0.0
            c += step
            if abs(step) < 1e-12:
                break
        out[members] = t + c
    return out


def order_averaged(p_a_forward: float, p_a_backward: float) -> float:
    """QuRating's position-bias correction: the pair (x, y) asked as (A=x, B=y) gives P(A) = ``p_a_forward``;
    asked as (A=y, B=x) it gives P(A) = ``p_a_backward``. The probability that x is preferred is the mean of
    the two readings that concern x, ``(p_a_forward + 1 − p_a_backward) / 2``: a judge that leans towards
    whichever text comes first (or second) by the same amount in both orders has that lean cancel."""
    return (p_a_forward + 1.0 - p_a_backward) / 2.0


def position_bias(p_a_forward: float, p_a_backward: float) -> float:
    """How far the judge leans towards the first position on this pair: mean P(A) over both orders − 0.5."""
    return (p_a_forward + p_a_backward) / 2.0 - 0.5
