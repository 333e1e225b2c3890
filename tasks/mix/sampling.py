"""Sampling functions: QuaDMix (quality + domain), RegMix (domain weights only), top-k by score, Gumbel
(QuRating-style sampling with a temperature over a score), uniform.

Every function maps a document to a *sampling value* ``S >= 0`` read as "a.b": the document is repeated
``a = floor(S)`` times plus once more with probability ``b = S - a``. The extra copy is decided by a uniform
number derived from a hash of ``(seed, document id)``, so the result is deterministic under a seed and does
not depend on how documents are split into shards or workers.

QuaDMix (``../shared/DESIGN.md``), per document with domain ``d`` and quality scores ``q_n``:

* ``q_n`` is percentile-normalised within ``d`` (mid-rank among the domain's documents; 1 = best);
* merged ``q̄ = Σ_n α_{n,d} q_n`` (``α_{·,d}`` sums to 1);
* ``r̄`` = token-weighted rank of ``q̄`` within ``d`` from the top (0 = best, 1 = worst);
* ``S(r̄) = (2 / (1 + exp(-λ_d (ω_d - r̄))))^{η_d} + ε_d`` if ``r̄ <= ω_d`` else ``ε_d``.

So the best ``ω_d`` of a domain's tokens are kept (up to ``2^η_d`` times for the very top) and the rest is
sampled at rate ``ε_d``. Because ``r̄`` is uniform over the domain's tokens, the expected share of a domain's
tokens that a function keeps is ``∫_0^1 S(r) dr`` (:func:`expected_mass`): it needs no pass over the data.

The baselines: RegMix gives each domain one value ``S_d = w_d · total_tokens / T_d``; top-k keeps (value 1)
the documents whose score on one criterion is in the best ``keep_fraction`` of all tokens (the
classifier-filtering baseline, global across domains); uniform gives every document the same value.

Gumbel (QuRating's sampling with temperature over one score, ``p ∝ exp(s / τ)`` without replacement) keeps
documents whose hash-seeded Gumbel key is above one corpus-wide threshold: see :mod:`tasks.mix.gumbel`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tasks.mix.sketch import QuantileSketch
from tasks.mix.specs import GumbelSpec, QuaDMixSpec, RegMixSpec, SamplingSpec, TopKSpec, UniformSpec

QUALITY_CRITERIA: tuple[str, ...] = (
    "educational_value",
    "professionalism",
    "readability",
    "reasoning",
    "cleanliness",
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ObjArray = npt.NDArray[np.object_]


# --------------------------------------------------------------------------------------------------------------
# statistics the functions rank against
# --------------------------------------------------------------------------------------------------------------
@dataclass
class CorpusStats:
    """Per-domain totals and score distributions (document-weighted), plus the global token-weighted
    distribution of every criterion (for top-k). Built once per corpus (or per sample) and merged over shards."""

    criteria: tuple[str, ...]
    domain_tokens: dict[str, float] = field(default_factory=dict)
    domain_documents: dict[str, int] = field(default_factory=dict)
    score_sketches: dict[str, dict[str, QuantileSketch]] = field(default_factory=dict)
    global_sketches: dict[str, QuantileSketch] = field(default_factory=dict)

    @classmethod
    def from_arrays(
        cls,
        domains: ObjArray,
        n_tokens: npt.ArrayLike,
        scores: FloatArray,
        criteria: Sequence[str],
        max_size: int,
    ) -> CorpusStats:
        tokens = np.asarray(n_tokens, dtype=np.float64)
        stats = cls(criteria=tuple(criteria))
        for d in sorted(set(domains.tolist())):
            mask = domains == d
            stats.domain_tokens[d] = float(tokens[mask].sum())
            stats.domain_documents[d] = int(mask.sum())
            stats.score_sketches[d] = {
                c: QuantileSketch.from_values(scores[mask, j], max_size=max_size)
                for j, c in enumerate(criteria)
            }
        for j, c in enumerate(criteria):
            stats.global_sketches[c] = QuantileSketch.from_values(scores[:, j], tokens, max_size=max_size)
        return stats

    @classmethod
    def merge(cls, parts: Sequence[CorpusStats], max_size: int) -> CorpusStats:
        if not parts:
            raise ValueError("nothing to merge")
        criteria = parts[0].criteria
        out = cls(criteria=criteria)
        domains = sorted({d for p in parts for d in p.domain_tokens})
        for d in domains:
            out.domain_tokens[d] = sum(p.domain_tokens.get(d, 0.0) for p in parts)
            out.domain_documents[d] = sum(p.domain_documents.get(d, 0) for p in parts)
            out.score_sketches[d] = {
                c: QuantileSketch.merge(
                    [p.score_sketches[d][c] for p in parts if d in p.score_sketches], max_size
                )
                for c in criteria
            }
        for c in criteria:
            out.global_sketches[c] = QuantileSketch.merge([p.global_sketches[c] for p in parts], max_size)
        return out

    @property
    def total_tokens(self) -> float:
        return float(sum(self.domain_tokens.values()))

    def to_json(self) -> dict[str, Any]:
        return {
            "criteria": list(self.criteria),
            "domain_tokens": self.domain_tokens,
            "domain_documents": self.domain_documents,
            "score_sketches": {
                d: {c: s.to_json() for c, s in per.items()} for d, per in self.score_sketches.items()
            },
            "global_sketches": {c: s.to_json() for c, s in self.global_sketches.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CorpusStats:
        return cls(
            criteria=tuple(data["criteria"]),
            domain_tokens={k: float(v) for k, v in data["domain_tokens"].items()},
            domain_documents={k: int(v) for k, v in data["domain_documents"].items()},
            score_sketches={
                d: {c: QuantileSketch.from_json(s) for c, s in per.items()}
                for d, per in data["score_sketches"].items()
            },
            global_sketches={c: QuantileSketch.from_json(s) for c, s in data["global_sketches"].items()},
        )


# --------------------------------------------------------------------------------------------------------------
# the QuaDMix steps
# --------------------------------------------------------------------------------------------------------------
def normalise_scores(domains: ObjArray, scores: FloatArray, stats: CorpusStats) -> FloatArray:
    """Per-domain percentile (mid-rank, 1 = best) of every criterion column of ``scores`` (n × C)."""
    out = np.full(scores.shape, 0.5, dtype=np.float64)
    for d in set(domains.tolist()):
        mask = domains == d
        sketches = stats.score_sketches.get(d)
        if sketches is None:
            continue
        for j, c in enumerate(stats.criteria):
            out[mask, j] = sketches[c].fraction_below(scores[mask, j])
    return out


def merge_scores(
    domains: ObjArray, normalised: FloatArray, spec: QuaDMixSpec, criteria: Sequence[str]
) -> FloatArray:
    """``q̄ = Σ_n α_{n,d} q_n``; ``normalised`` columns follow ``criteria``. Documents of a domain the spec does
    not know get NaN (they are not sampled)."""
    cols = [list(criteria).index(c) for c in spec.criteria]
    q = normalised[:, cols]
    merged = np.full(len(domains), np.nan)
    for d in set(domains.tolist()):
        params = spec.domains.get(d)
        if params is None:
            continue
        mask = domains == d
        merged[mask] = q[mask] @ np.asarray(params.alpha)
    return merged


def rank_sketches(
    domains: ObjArray, merged: FloatArray, n_tokens: npt.ArrayLike, max_size: int
) -> dict[str, QuantileSketch]:
    """Token-weighted distribution of the merged score within each domain."""
    tokens = np.asarray(n_tokens, dtype=np.float64)
    return {
        d: QuantileSketch.from_values(merged[domains == d], tokens[domains == d], max_size=max_size)
        for d in set(domains.tolist())
    }


def token_rank(domains: ObjArray, merged: FloatArray, sketches: Mapping[str, QuantileSketch]) -> FloatArray:
    """``r̄``: the share of the domain's tokens in documents with a higher merged score (mid-rank; 0 = best)."""
    r = np.full(len(domains), np.nan)
    for d in set(domains.tolist()):
        mask = domains == d
        sk = sketches.get(d)
        if sk is None:
            continue
        r[mask] = sk.fraction_above(merged[mask])
    return r


def sigmoid_value(
    r: FloatArray, lam: FloatArray, omega: FloatArray, eta: FloatArray, eps: FloatArray
) -> FloatArray:
    """QuaDMix's ``S(r̄)``, elementwise (NaN ranks give 0)."""
    with np.errstate(over="ignore", invalid="ignore"):
        core = (2.0 / (1.0 + np.exp(-lam * (omega - r)))) ** eta + eps
    value = np.where(r <= omega, core, eps)
    out: FloatArray = np.where(np.isnan(r), 0.0, value)
    return out


def quadmix_values(domains: ObjArray, r: FloatArray, spec: QuaDMixSpec) -> FloatArray:
    lam = np.zeros(len(domains))
    omega = np.zeros(len(domains))
    eta = np.zeros(len(domains))
    eps = np.zeros(len(domains))
    known = np.zeros(len(domains), dtype=bool)
    for d in set(domains.tolist()):
        p = spec.domains.get(d)
        if p is None:
            continue
        mask = domains == d
        lam[mask], omega[mask], eta[mask], eps[mask] = p.lam, p.omega, p.eta, p.eps
        known |= mask
    out: FloatArray = np.where(known, sigmoid_value(np.where(known, r, np.nan), lam, omega, eta, eps), 0.0)
    return out


def expected_mass(
    lam: npt.ArrayLike, omega: npt.ArrayLike, eta: npt.ArrayLike, eps: npt.ArrayLike, grid: int = 129
) -> FloatArray:
    """``∫_0^1 S(r) dr`` (the expected sampled share of a domain's tokens, repetitions counted), vectorised
    over parameter arrays of any (broadcastable) shape. Trapezoid rule on ``[0, ω]`` plus ``ε (1 - ω)``."""
    lam_a, omega_a, eta_a, eps_a = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.float64) for x in (lam, omega, eta, eps))
    )
    t = np.linspace(0.0, 1.0, grid)
    r = omega_a[..., None] * t  # points in [0, ω]
    with np.errstate(over="ignore"):
        s = (2.0 / (1.0 + np.exp(-lam_a[..., None] * (omega_a[..., None] - r)))) ** eta_a[..., None]
    inside = np.trapezoid(s, t, axis=-1) * omega_a
    out: FloatArray = inside + eps_a  # ε over the whole [0, 1], the sigmoid part only over [0, ω]
    return out


# --------------------------------------------------------------------------------------------------------------
# one entry point for every kind
# --------------------------------------------------------------------------------------------------------------
def sampling_values(
    spec: SamplingSpec,
    *,
    domains: ObjArray,
    n_tokens: npt.ArrayLike,
    scores: FloatArray,
    criteria: Sequence[str],
    stats: CorpusStats,
    ranks: Mapping[str, QuantileSketch] | None = None,
    normalised: FloatArray | None = None,
    max_size: int = 1 << 30,
    ids: Sequence[str] | None = None,
    seed: int = 0,
) -> FloatArray:
    """Sampling value of every document. ``scores`` columns follow ``criteria``; ``stats`` holds the per-domain
    distributions (of this batch for an in-memory corpus, or merged over shards). For QuaDMix, ``ranks`` are the
    per-domain token-weighted sketches of the merged score; without them they are computed from this batch (exact
    for an in-memory corpus). ``normalised`` may pass precomputed percentiles (they do not depend on ``spec``).
    Gumbel needs the documents' ``ids`` and the ``seed`` (its noise is a pure function of both)."""
    n = len(domains)
    tokens = np.asarray(n_tokens, dtype=np.float64)
    if isinstance(spec, UniformSpec):
        return np.full(n, spec.rate)
    if isinstance(spec, RegMixSpec):
        total = stats.total_tokens if spec.total_tokens is None else spec.total_tokens
        values = np.zeros(n)
        for d in set(domains.tolist()):
            have = stats.domain_tokens.get(d, 0.0)
            w = spec.weights.get(d, 0.0)
            if have > 0 and w > 0:
                values[domains == d] = w * total / have
        return values
    if isinstance(spec, TopKSpec):
        if spec.criterion not in criteria:
            raise ValueError(
                f"top-k criterion {spec.criterion!r} is not among the score columns {list(criteria)}"
            )
        col = scores[:, list(criteria).index(spec.criterion)]
        sk = stats.global_sketches.get(spec.criterion, QuantileSketch.empty())
        above = sk.fraction_above(col)
        out: FloatArray = np.where(np.isfinite(col) & (above < spec.keep_fraction), 1.0, 0.0)
        return out
    if isinstance(spec, GumbelSpec):
        if spec.criterion not in criteria:
            raise ValueError(
                f"gumbel criterion {spec.criterion!r} is not among the score columns {list(criteria)}"
            )
        if ids is None or len(ids) != n:
            raise ValueError("gumbel sampling needs the documents' ids (its noise is a hash of seed and id)")
        from tasks.mix.gumbel import gumbel_values  # it imports this module

        return gumbel_values(spec, scores[:, list(criteria).index(spec.criterion)], ids, seed, stats)
    missing = [c for c in spec.criteria if c not in criteria]
    if missing:
        raise ValueError(f"QuaDMix criteria {missing} are not among the score columns {list(criteria)}")
    if normalised is None:
        normalised = normalise_scores(domains, scores, stats)
    merged = merge_scores(domains, normalised, spec, criteria)
    if ranks is None:
        ranks = rank_sketches(domains, merged, tokens, max_size)
    return quadmix_values(domains, token_rank(domains, merged, ranks), spec)


# --------------------------------------------------------------------------------------------------------------
# repetitions
# --------------------------------------------------------------------------------------------------------------
def hash_uniform(ids: Sequence[str], seed: int, salt: str = "mix") -> FloatArray:
    """A uniform number in [0, 1) per id, a pure function of (seed, salt, id)."""
    key = f"{salt}:{seed}".encode()[:64]
    out = np.empty(len(ids), dtype=np.float64)
    for i, doc_id in enumerate(ids):
        h = hashlib.blake2b(str(doc_id).encode(), digest_size=8, key=key).digest()
        out[i] = int.from_bytes(h, "little") / 2.0**64
    return out


def repetitions(ids: Sequence[str], values: FloatArray, seed: int) -> IntArray:
    """``a.b`` → ``a`` copies plus one more with probability ``b`` (deterministic under ``seed``)."""
    v = np.where(np.isfinite(values) & (values > 0), values, 0.0)
    whole = np.floor(v)
    extra = hash_uniform(ids, seed) < (v - whole)
    return (whole + extra).astype(np.int64)
