"""The ``gumbel`` sampling function (:class:`tasks.mix.sampling.GumbelSpec`): QuRating's sampling with
temperature (Wettig et al. 2024, "QuRating: Selecting High-Quality Data for Training Language Models": "sample
documents according to p(d_i) ∝ exp(s_i / τ) ... without replacement").

The key of a document is ``s/τ + G`` with ``G = −log(−log u)`` standard Gumbel noise from the
hash-uniform ``u`` of ``(seed, id)``, and a document is kept (value 1) when its key is above one global
threshold ``t``. Exact Gumbel top-k would take the documents with the highest keys until ``keep_fraction`` of the
tokens; here ``t`` solves ``Σ_j w_j P(s_j/τ + G > t) = keep_fraction · Σ_j w_j`` over the corpus's token-weighted
score sketch (``P(x + G > t) = 1 − exp(−exp(x − t))``), so every shard applies the same threshold without a
pass over the keys. Approximation: the kept share of tokens equals ``keep_fraction`` in expectation (its spread
is that of a sum of independent draws, ~1/√(kept documents) relative) and up to the sketch's resolution; the
per-document inclusion probabilities are those of thresholded Gumbel keys (the large-corpus limit of Gumbel
top-k). With ``normalize`` (QuRating's reference ``--normalize``) ``s`` is z-normalised by the corpus's
document-weighted mean and standard deviation of the criterion (from the per-domain sketches).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tasks.mix.sampling import CorpusStats, FloatArray, hash_uniform
from tasks.mix.sketch import QuantileSketch
from tasks.mix.specs import GumbelSpec


def gumbel_noise(ids: Sequence[str], seed: int) -> FloatArray:
    """Standard Gumbel noise ``−log(−log u)`` per document, ``u`` the hash-uniform of ``(seed, "gumbel", id)``."""
    u = np.clip(hash_uniform(ids, seed, "gumbel"), 2.0**-64, 1.0 - 2.0**-53)
    out: FloatArray = -np.log(-np.log(u))
    return out


def _standardise(spec: GumbelSpec, stats: CorpusStats) -> tuple[float, float]:
    """(mean, std) the criterion is z-normalised by: document-weighted, from the per-domain sketches."""
    if not spec.normalize:
        return 0.0, 1.0
    parts = [per[spec.criterion] for per in stats.score_sketches.values() if spec.criterion in per]
    sk = QuantileSketch.merge(parts, max_size=1 << 30) if parts else QuantileSketch.empty()
    if not sk.total:
        return 0.0, 1.0
    mean = float(np.sum(sk.values * sk.weights) / sk.total)
    std = float(np.sqrt(np.sum(sk.weights * (sk.values - mean) ** 2) / sk.total))
    return mean, (std if std > 0 else 1.0)


def expected_kept_share(threshold: float, logits: FloatArray, weights: FloatArray) -> float:
    """``Σ_j w_j P(x_j + G > t) / Σ_j w_j`` with ``P(x + G > t) = 1 − exp(−exp(x − t))``."""
    with np.errstate(over="ignore"):
        p = -np.expm1(-np.exp(logits - threshold))
    return float(np.sum(weights * p) / np.sum(weights))


def gumbel_threshold(spec: GumbelSpec, stats: CorpusStats) -> float:
    """The key threshold that keeps ``keep_fraction`` of the corpus's tokens in expectation (bisection over the
    token-weighted sketch of the criterion)."""
    sk = stats.global_sketches.get(spec.criterion, QuantileSketch.empty())
    if not sk.total or spec.keep_fraction >= 1.0:
        return -np.inf
    if spec.keep_fraction <= 0.0:
        return np.inf
    mean, std = _standardise(spec, stats)
    logits = (sk.values - mean) / std / spec.temperature
    lo, hi = float(logits.min()) - 60.0, float(logits.max()) + 60.0  # share ≈ 1 at lo, ≈ 0 at hi
    for _ in range(200):
        mid = (lo + hi) / 2
        if expected_kept_share(mid, logits, sk.weights) > spec.keep_fraction:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, abs(mid)):
            break
    return (lo + hi) / 2


def gumbel_values(
    spec: GumbelSpec, score: FloatArray, ids: Sequence[str], seed: int, stats: CorpusStats
) -> FloatArray:
    """0/1: kept when ``s/τ + G`` is above :func:`gumbel_threshold` (NaN scores are never kept). ``τ = 0``
    is the top-k of the criterion over the corpus's token-weighted sketch."""
    finite = np.isfinite(score)
    if spec.temperature == 0:
        sk = stats.global_sketches.get(spec.criterion, QuantileSketch.empty())
        top: FloatArray = np.where(finite & (sk.fraction_above(score) < spec.keep_fraction), 1.0, 0.0)
        return top
    mean, std = _standardise(spec, stats)
    keys = (score - mean) / std / spec.temperature + gumbel_noise(ids, seed)
    out: FloatArray = np.where(finite & (keys > gumbel_threshold(spec, stats)), 1.0, 0.0)
    return out
