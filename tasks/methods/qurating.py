"""QuRating: Wettig, Gupta, Malik and Chen (2024), "QuRating: Selecting High-Quality Data for Training Language
Models".

Quality ratings come from pairwise judgments aggregated with Bradley–Terry (``P(i ≻ j) = σ(s_i − s_j)``; see
:mod:`tasks.rate.bradley_terry`, which fits the scores, and :func:`quality_from_judgments` here). Selection is
not a hard top-k: the paper (section 2.3, "Sampling with temperature") says "we sample documents according to

    p(d_i) ∝ exp(s_i / τ)

... without replacement", a temperature ``τ`` trading quality for diversity (``τ → 0`` is top-k, ``τ → ∞``
uniform sampling); its main models use ``τ = 2.0``, sampling with the Gumbel top-k trick until the token budget
is reached. Matched to the reference (princeton-nlp/QuRating, ``data_tools/select_subset.py``): the metric is
z-normalised (``--normalize``; the released QuRatedPajama ratings are normalised), divided by ``τ``, Gumbel
noise added (``--sample``), and documents taken in descending order until their tokens reach the budget
(the one that crosses it kept).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from tasks.methods.budget import gumbel_topk
from tasks.rate.bradley_terry import Comparison, fit_bradley_terry

FloatArray = npt.NDArray[np.float64]

DEFAULT_TEMPERATURE = 2.0


def normalised(quality: npt.ArrayLike) -> FloatArray:
    """``(s − mean) / std`` over the finite scores (non-finite ones stay NaN; a constant column gives 0)."""
    q = np.asarray(quality, dtype=np.float64)
    finite = np.isfinite(q)
    out = np.full(q.shape, np.nan)
    if not finite.any():
        return out
    mu, sd = float(q[finite].mean()), float(q[finite].std())
    out[finite] = (q[finite] - mu) / sd if sd > 0 else 0.0
    return out


def qurating_select(
    quality: npt.ArrayLike,
    n_tokens: npt.ArrayLike,
    budget_tokens: float,
    seed: int,
    temperature: float = DEFAULT_TEMPERATURE,
    normalize: bool = True,
) -> FloatArray:
    """Sample without replacement with ``p ∝ exp(s / τ)`` (``s`` z-normalised unless ``normalize=False``) until
    ``budget_tokens``; 0/1 values. ``τ = 0`` is the hard top-k; documents without a finite score are never
    selected."""
    q = normalised(quality) if normalize else np.asarray(quality, dtype=np.float64)
    return gumbel_topk(q, n_tokens, budget_tokens, seed, temperature)


def quality_from_judgments(n: int, comparisons: Sequence[Comparison], prior: float = 0.5) -> FloatArray:
    """Bradley–Terry strengths ``θ`` of ``n`` documents from order-averaged pairwise judgments (the quality
    score QuRating's rater is trained to predict), via :func:`tasks.rate.bradley_terry.fit_bradley_terry`."""
    theta: FloatArray = np.asarray(fit_bradley_terry(n, comparisons, prior=prior).theta, dtype=np.float64)
    return theta
