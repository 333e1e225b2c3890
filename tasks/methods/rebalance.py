"""FineWeb2 "rehydration": Penedo et al. (2025), "FineWeb2: One Pipeline to Scale Them All — Adapting
Pre-Training Data Processing to Every Language".

FineWeb2 deduplicates globally (MinHash) but keeps, in the one document it retains from each duplicate cluster,
the size of that cluster (``minhash_cluster_size``; Quarry's dedup attribute ``cluster_size``). Its README
(github.com/huggingface/fineweb-2, ``README.md``, section "Deduplication", read at commit 7bdf8fc29a2f) says:
"This allows us to 're-hydrate' the dataset: by upsampling documents based on their cluster size, we see clear
performance improvements for some languages, particularly high resource ones. We did not extensively explore
different upsampling weights, but observed promising results with the following weights:

- documents with no duplicates: 1 time
- documents from a cluster of size N=2 or N=3: document will be N times in the final dataset
- documents from a cluster of size N=4: document will be 3 times in the final dataset
- documents from a cluster of size N>=5 and N<100: document will be 5 times in the final dataset
- documents from a cluster of size N>=100: document will be 8 times in the final dataset
- documents from a cluster of size N>=1000: document will be 1 time in the final dataset (the assumption here
  is that very large clusters are lower quality)"

and its example ``Rehydrater`` block uses ``upsampling_weights = {1: 1, 2: 2, 3: 3, 5: 5, 100: 8, 1000: 1}``
with the weight of the largest bucket key ``<=`` the cluster size (``bisect_right(limits, size) - 1``), which is
:data:`REHYDRATION_BUCKETS` and :func:`rehydration_weights`. These weights are published once, for all
languages (no per-language table is published), so they are the default here; other tables can be passed as
``buckets``.

Budget: the rehydrated dataset has ``Σ w_i · n_i`` tokens. :func:`rebalance_select` scales the repetitions by
``budget / Σ w_i n_i`` so that mixtures compared at one token budget stay comparable (FineWeb2 itself applies
the weights unscaled: pass the full rehydrated size, :func:`rehydrated_tokens`, to get exactly those), then
resolves each fractional value ``a.b`` into ``a`` or ``a + 1`` copies (probability ``b``, seeded).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from tasks.methods.budget import gumbel_topk

FloatArray = npt.NDArray[np.float64]

REHYDRATION_BUCKETS: Mapping[int, int] = MappingProxyType({1: 1, 2: 2, 3: 3, 5: 5, 100: 8, 1000: 1})


def _sizes(cluster_size: npt.ArrayLike) -> FloatArray:
    sizes = np.asarray(cluster_size, dtype=np.float64)
    if sizes.ndim != 1:
        raise ValueError("cluster_size must be one-dimensional (one size per kept document)")
    if not np.isfinite(sizes).all() or np.any(sizes < 1):
        bad = int(np.sum(~np.isfinite(sizes) | (sizes < 1)))
        raise ValueError(
            f"{bad} cluster sizes are missing or < 1 (a kept document's cluster holds at least itself)"
        )
    return sizes


def rehydration_weights(
    cluster_size: npt.ArrayLike, buckets: Mapping[int, int] = REHYDRATION_BUCKETS
) -> FloatArray:
    """Repetitions of every kept document: the weight of the largest bucket limit ``<=`` its cluster size."""
    if not buckets or min(buckets) > 1:
        raise ValueError("the buckets must cover cluster size 1 (a limit <= 1)")
    if any(w < 0 for w in buckets.values()):
        raise ValueError("repetition counts must be >= 0")
    sizes = _sizes(cluster_size)
    limits = np.array(sorted(buckets), dtype=np.float64)
    weights = np.array([buckets[int(k)] for k in limits], dtype=np.float64)
    out: FloatArray = weights[np.searchsorted(limits, sizes, side="right") - 1]
    return out


def rehydrated_tokens(
    cluster_size: npt.ArrayLike, n_tokens: npt.ArrayLike, buckets: Mapping[int, int] = REHYDRATION_BUCKETS
) -> float:
    """Tokens of the fully rehydrated dataset, ``Σ w_i · n_i``."""
    return float(np.sum(rehydration_weights(cluster_size, buckets) * np.asarray(n_tokens, dtype=np.float64)))


def rebalance_select(
    cluster_size: npt.ArrayLike,
    n_tokens: npt.ArrayLike,
    budget_tokens: float,
    seed: int,
    buckets: Mapping[int, int] = REHYDRATION_BUCKETS,
) -> FloatArray:
    """Whole numbers of copies: the rehydration weights scaled to ``budget_tokens``. Each document keeps the
    whole part of its scaled weight; the tokens left to the budget are filled by one more copy of documents
    drawn without replacement with probability proportional to their fractional parts (Gumbel top-k,
    :func:`tasks.methods.budget.gumbel_topk`), so the selection spends the budget (overshooting by less than
    one document) instead of meeting it only in expectation, which on a small pool misses by a wide margin."""
    weights = rehydration_weights(cluster_size, buckets)
    tokens = np.asarray(n_tokens, dtype=np.float64)
    if tokens.shape != weights.shape or not np.isfinite(tokens).all() or np.any(tokens < 0):
        raise ValueError(f"n_tokens must be {len(weights)} finite counts >= 0")
    budget = float(budget_tokens)
    if not budget >= 0 or not np.isfinite(budget):
        raise ValueError(f"budget_tokens must be a finite number >= 0, got {budget_tokens}")
    full = float(np.sum(weights * tokens))
    if full <= 0:
        return np.zeros(len(weights))
    expected = weights * (budget / full)
    whole = np.floor(expected + 1e-12)
    fraction = np.clip(expected - whole, 0.0, 1.0)
    left = budget - float(np.sum(whole * tokens))
    with np.errstate(divide="ignore"):
        extra = gumbel_topk(np.log(fraction), tokens, max(left, 0.0), seed) if left > 0 else 0.0
    out: FloatArray = whole + extra
    return out
