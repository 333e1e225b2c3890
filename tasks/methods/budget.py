"""Token budgets: sampling without replacement by Gumbel top-k, hard top-k, and the budget a selection spends.

Every selection function of :mod:`tasks.methods` returns *values*: the expected number of copies of each
document in the selection (0 or 1 for selection without replacement), the same "sampling value" the mix
framework uses (:mod:`tasks.mix.sampling`). A selection's size in tokens is ``Σ values · n_tokens``
(:func:`budget_of`).

The Gumbel top-k trick (Kool, van Hoof and Welling 2019, "Stochastic Beams and Where to Find Them"): with
``G_i`` i.i.d. standard Gumbel, the documents in descending order of ``log w_i / τ + G_i`` are a sample without
replacement from the distribution ``p_i ∝ exp(log w_i / τ)``. DSIR (``dsir.base.DSIR.resample``) and QuRating
(``data_tools/select_subset.py``) both select this way; as in QuRating's reference, documents are taken in
descending key order until their tokens reach the budget (the document that crosses the budget is kept, so a
selection overshoots by less than one document).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def _tokens(n_tokens: npt.ArrayLike, n: int) -> FloatArray:
    tokens = np.asarray(n_tokens, dtype=np.float64)
    if tokens.shape != (n,):
        raise ValueError(f"n_tokens has shape {tokens.shape}, expected ({n},) (one count per document)")
    if not np.isfinite(tokens).all() or np.any(tokens < 0):
        raise ValueError("n_tokens must be finite and >= 0")
    return tokens


def _check_budget(budget_tokens: float) -> float:
    budget = float(budget_tokens)
    if not budget >= 0 or not np.isfinite(budget):
        raise ValueError(f"budget_tokens must be a finite number >= 0, got {budget_tokens}")
    return budget


Crossing = Literal["take", "closer"]
"""What happens to the document whose tokens cross the budget: ``take`` keeps it (the selection overshoots by
less than one document, QuRating's rule); ``closer`` keeps it only when that lands closer to the budget than
stopping short (the bake-off's uniform and top-k arms, which compare selections of equal size)."""


def fill_budget(
    keys: npt.ArrayLike, n_tokens: npt.ArrayLike, budget_tokens: float, crossing: Crossing = "take"
) -> FloatArray:
    """0/1 values: documents in descending ``keys`` order (ties by position) until their tokens reach
    ``budget_tokens``, the crossing document kept or not by ``crossing``. Non-finite keys (NaN, -inf) are
    never taken; ``+inf`` keys are taken first."""
    k = np.asarray(keys, dtype=np.float64)
    if k.ndim != 1:
        raise ValueError("keys must be one-dimensional")
    tokens = _tokens(n_tokens, len(k))
    budget = _check_budget(budget_tokens)
    usable = ~np.isnan(k) & (k > -np.inf)
    idx = np.flatnonzero(usable)
    order = idx[np.argsort(-k[idx], kind="stable")]
    take = order[: _taken(np.cumsum(tokens[order]), budget, crossing)]
    values = np.zeros(len(k), dtype=np.float64)
    values[take] = 1.0
    return values


def fill_in_order(
    order: npt.ArrayLike, n_tokens: npt.ArrayLike, budget_tokens: float, crossing: Crossing = "take"
) -> FloatArray:
    """:func:`fill_budget` with the documents taken in the given ``order`` (indices; documents not in it are
    never taken)."""
    idx = np.asarray(order, dtype=np.int64)
    n = len(np.asarray(n_tokens))
    if idx.ndim != 1 or np.any((idx < 0) | (idx >= n)) or len(np.unique(idx)) != len(idx):
        raise ValueError(f"order must list distinct document indices in [0, {n})")
    keys = np.full(n, -np.inf)
    keys[idx] = np.arange(len(idx), 0, -1, dtype=np.float64)
    return fill_budget(keys, n_tokens, budget_tokens, crossing)


def _taken(cum_tokens: FloatArray, budget: float, crossing: Crossing) -> int:
    """How many of the documents (in order, cumulative tokens ``cum_tokens``) the budget takes."""
    if crossing not in ("take", "closer"):
        raise ValueError(f"crossing must be 'take' or 'closer', got {crossing!r}")
    if budget <= 0:
        return 0
    k = int(np.searchsorted(cum_tokens, budget, side="left"))  # the first document reaching the budget
    if k >= len(cum_tokens):
        return len(cum_tokens)
    if crossing == "take":
        return k + 1
    short = budget - (float(cum_tokens[k - 1]) if k > 0 else 0.0)
    return k + int(float(cum_tokens[k]) - budget <= short)


def gumbel_keys(log_weights: npt.ArrayLike, seed: int, temperature: float = 1.0) -> FloatArray:
    """``log_w / τ + G`` with ``G`` standard Gumbel from ``numpy.random.default_rng(seed)`` (one draw per
    document, in order). ``τ = 0`` gives the keys of a hard top-k (``log_w`` itself). Non-finite weights give
    ``-inf`` (never selected)."""
    lw = np.asarray(log_weights, dtype=np.float64)
    tau = float(temperature)
    if not tau >= 0 or not np.isfinite(tau):
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
    noise = np.random.default_rng(seed).gumbel(size=lw.shape)
    finite = np.isfinite(lw) | (lw == np.inf)
    keys = lw.copy() if tau == 0 else lw / tau + noise
    out: FloatArray = np.where(finite, keys, -np.inf)
    return out


def gumbel_topk(
    log_weights: FloatArray,
    n_tokens: npt.ArrayLike,
    budget_tokens: float,
    seed: int,
    temperature: float = 1.0,
) -> FloatArray:
    """Sample documents without replacement with probability ``∝ exp(log_w / τ)`` until ``budget_tokens``
    are selected (Gumbel top-k; 0/1 values). NaN or ``-inf`` weights are never selected; deterministic for a
    seed; ``τ = 0`` is the hard top-k of ``log_w``."""
    return fill_budget(gumbel_keys(log_weights, seed, temperature), n_tokens, budget_tokens)


def top_by_score(scores: npt.ArrayLike, n_tokens: npt.ArrayLike, budget_tokens: float) -> FloatArray:
    """Deterministic hard top-k: the highest-scoring documents until ``budget_tokens`` (0/1 values; ties by
    position; NaN never selected)."""
    return fill_budget(scores, n_tokens, budget_tokens)


def budget_of(values: npt.ArrayLike, n_tokens: npt.ArrayLike) -> float:
    """Tokens a selection spends: ``Σ values · n_tokens``."""
    v = np.asarray(values, dtype=np.float64)
    tokens = _tokens(n_tokens, len(v))
    return float(np.sum(v * tokens))
