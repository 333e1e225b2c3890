"""DSIR: Xie, Santurkar, Ma and Liang (2023), "Data Selection for Language Models via Importance Resampling".

The paper, section 4 ("Hashed n-gram features"): "we take a bag of n-grams model with hashing ... we extract
unigrams and bigrams, hash each n-gram into one of m buckets, and return the counts in the hashed buckets" (the
paper uses m = 10,000). The raw and target feature distributions are bag-of-words models over the buckets,
``p̂_feat(z) = Π_j γ[h_j]`` with ``γ`` the bucket probabilities fitted on each dataset, and the importance
weight of a raw example with feature counts ``z`` is

    w_i = p̂_feat(z_i) / q̂_feat(z_i),        log w_i = Σ_b z_ib (log γ_target[b] − log γ_raw[b]),

after which "we resample k examples without replacement from a categorical distribution with probabilities
w_i / Σ_j w_j", implemented with the Gumbel top-k trick (:func:`tasks.methods.budget.gumbel_topk`, τ = 1).

Matched to the reference implementation (p-lambda/dsir, ``dsir/hashed_ngram_dsir.py``): text is lowercased,
each unigram and each space-joined bigram is hashed with SHA-256 modulo the bucket count, the bucket model is
``counts / counts.sum()`` and ``log γ`` is ``log(γ + 1e-8)``. Deliberate difference: the reference's default
tokenizer is NLTK's ``word_tokenize`` (which needs the Punkt model downloaded); Quarry downloads nothing at run
time and uses the reference's other option, ``wordpunct`` (NLTK's ``WordPunctTokenizer``, the regular
expression ``\\w+|[^\\w\\s]+``, reproduced here without NLTK). Selection is by token budget rather than by a
document count.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import sparse

from tasks.methods.budget import gumbel_topk

FloatArray = npt.NDArray[np.float64]

DEFAULT_BUCKETS = 10_000
REFERENCE_EPS = 1e-8  # the reference's floor inside the log: log(γ + 1e-8)
WORDPUNCT = re.compile(r"\w+|[^\w\s]+")


def words(text: str) -> list[str]:
    """The reference's ``wordpunct`` tokenisation of the lowercased text."""
    return WORDPUNCT.findall(text.lower())


_BUCKET_CACHE: dict[int, dict[str, int]] = {}
_CACHE_LIMIT = 500_000  # n-grams remembered per bucket count (then the cache starts over; ~60 MB)


def _buckets_of(grams: list[str], buckets: int) -> list[int]:
    cache = _BUCKET_CACHE.setdefault(buckets, {})
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    for g in set(grams).difference(cache):
        cache[g] = int(hashlib.sha256(g.encode("utf-8")).hexdigest(), 16) % buckets
    return [cache[g] for g in grams]


def hashed_ngram_counts(texts: Sequence[str], buckets: int = DEFAULT_BUCKETS) -> sparse.csr_matrix:
    """Unigram + bigram counts of every text hashed into ``buckets`` (SHA-256 of the n-gram mod ``buckets``,
    bigrams joined by one space), as a sparse ``(len(texts), buckets)`` float64 matrix."""
    if buckets < 1:
        raise ValueError(f"buckets must be >= 1, got {buckets}")
    indptr = [0]
    grams: list[str] = []
    for text in texts:
        w = words(text)
        grams.extend(w)
        grams.extend([f"{a} {b}" for a, b in itertools.pairwise(w)])
        indptr.append(len(grams))
    indices = np.asarray(_buckets_of(grams, buckets), dtype=np.int64)
    data = np.ones(len(indices), dtype=np.float64)
    m = sparse.csr_matrix((data, indices, np.asarray(indptr, dtype=np.int64)), shape=(len(texts), buckets))
    m.sum_duplicates()
    return m


def bucket_totals(counts: sparse.csr_matrix, weights: npt.ArrayLike | None = None) -> FloatArray:
    """Σ_i weights_i · counts_i (all ones without weights): the pooled bucket counts."""
    if weights is None:
        out: FloatArray = np.asarray(counts.sum(axis=0), dtype=np.float64).ravel()
        return out
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (counts.shape[0],):
        raise ValueError(f"{w.shape[0] if w.ndim else 0} weights for {counts.shape[0]} documents")
    total: FloatArray = np.asarray(counts.T @ w, dtype=np.float64).ravel()
    return total


def fit_ngram_model(
    texts: Sequence[str], buckets: int = DEFAULT_BUCKETS, eps: float = REFERENCE_EPS
) -> FloatArray:
    """``log(γ + eps)`` per bucket, ``γ = counts / counts.sum()`` over ``texts`` (the reference's model)."""
    totals = bucket_totals(hashed_ngram_counts(texts, buckets))
    if totals.sum() <= 0:
        raise ValueError("no n-grams in the texts: cannot fit a bag-of-n-grams model")
    out: FloatArray = np.log(totals / totals.sum() + eps)
    return out


def dsir_log_weights(
    pool_texts: Sequence[str], target_texts: Sequence[str], buckets: int = DEFAULT_BUCKETS
) -> FloatArray:
    """``log w_i = log p_target(x_i) − log p_raw(x_i)`` of every pool document, the raw model fitted on the
    pool itself."""
    counts = hashed_ngram_counts(pool_texts, buckets)
    raw_totals = bucket_totals(counts)
    if raw_totals.sum() <= 0:
        raise ValueError("the pool has no n-grams")
    log_raw = np.log(raw_totals / raw_totals.sum() + REFERENCE_EPS)
    log_diff = fit_ngram_model(target_texts, buckets) - log_raw
    out: FloatArray = np.asarray(counts @ log_diff, dtype=np.float64).ravel()
    return out


def dsir_select(
    pool_texts: Sequence[str],
    n_tokens: npt.ArrayLike,
    target_texts: Sequence[str],
    budget_tokens: float,
    seed: int,
    buckets: int = DEFAULT_BUCKETS,
) -> FloatArray:
    """DSIR's selection: importance resampling without replacement (Gumbel top-k over ``log w``, τ = 1) until
    ``budget_tokens``; 0/1 values."""
    return gumbel_topk(dsir_log_weights(pool_texts, target_texts, buckets), n_tokens, budget_tokens, seed)


def ngram_kl(
    target_texts: Sequence[str],
    texts: Sequence[str],
    values: npt.ArrayLike,
    buckets: int = DEFAULT_BUCKETS,
    smoothing: float = 1.0,
) -> float:
    """``KL(target ‖ selection)`` in nats between the hashed n-gram distributions of the target texts and of
    the selected mixture (each document's counts weighted by its value). The selection's distribution is
    add-``smoothing`` smoothed so that the divergence stays finite; the target's is not smoothed."""
    return ngram_kl_counts(
        hashed_ngram_counts(target_texts, buckets), hashed_ngram_counts(texts, buckets), values, smoothing
    )


def ngram_kl_counts(
    target_counts: sparse.csr_matrix, counts: sparse.csr_matrix, values: npt.ArrayLike, smoothing: float = 1.0
) -> float:
    """:func:`ngram_kl` from precomputed :func:`hashed_ngram_counts` (to compare many selections of one pool)."""
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (counts.shape[0],):
        raise ValueError(f"values has shape {v.shape}, expected ({counts.shape[0]},)")
    if not np.isfinite(v).all() or np.any(v < 0) or v.sum() <= 0:
        raise ValueError("values must be finite, >= 0 and select something")
    if smoothing < 0:
        raise ValueError("smoothing must be >= 0")
    target = bucket_totals(target_counts)
    if target.sum() <= 0:
        raise ValueError("the target texts have no n-grams")
    p = target / target.sum()
    sel = bucket_totals(counts, v) + smoothing
    q = sel / sel.sum()
    nz = p > 0
    return float(np.sum(p[nz] * (np.log(p[nz]) - np.log(q[nz]))))
