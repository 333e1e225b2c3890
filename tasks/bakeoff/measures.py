"""What the bake-off measures of each arm's selection (before any proxy trains) and of its proxies.

Selection (per arm, from its sampling values over the sample pool):

* ``selected_tokens``: expected tokens, ``Σ value · n_tokens`` (what the matched budget constrains), and its
  ratio to the budget; ``realised_tokens``: one draw of repetitions (:func:`tasks.mix.sampling.repetitions`,
  the first seed), the tokens the mixture actually holds.
* diversity of that draw: ``domain_entropy`` (bits, of the selected tokens' domain shares),
  ``unique_documents`` and ``repetition`` (copies / unique documents).
* ``ngram_kl``: KL(target ‖ selection) of hashed unigram+bigram distributions (DSIR's features,
  :mod:`tasks.methods.dsir`), when that module is present: lower = closer to the target sets.

Proxies: per metric (each target set, their mean ``target``, held-out high-quality text ``hq_heldout``,
held-out web documents ``web_heldout``), the loss of every seed, its mean, spread and 95 % interval; and, since
every arm trains with the same seeds (common random numbers), the paired difference to ``uniform`` per seed,
whose interval is the one to read when two arms' own intervals overlap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tasks.mix.sampling import repetitions
from tasks.sweep.gate import ArmStats
from tasks.sweep.train import SampleCorpus

TARGET = "target"
HQ = "hq_heldout"
WEB = "web_heldout"


def entropy_bits(weights: npt.ArrayLike) -> float:
    w = np.asarray(weights, dtype=np.float64)
    w = w[w > 0]
    if not len(w):
        return 0.0
    p = w / w.sum()
    return float(-(p * np.log2(p)).sum())


def selection_facts(
    corpus: SampleCorpus, values: npt.NDArray[np.float64], budget: float, seed: int
) -> dict[str, Any]:
    n_tokens = corpus.n_tokens.astype(np.float64)
    expected = float((values * n_tokens).sum())
    reps = repetitions(corpus.train_ids, values, seed)
    realised = reps * n_tokens
    unique = int((reps > 0).sum())
    domains = sorted(corpus.stats.domain_tokens)
    per_domain = {d: float(realised[corpus.domains == d].sum()) for d in domains}
    byte_len = (corpus.offsets[1:] - corpus.offsets[:-1]).astype(np.float64)
    total = sum(per_domain.values())
    return {
        "selected_tokens": expected,
        "budget_ratio": expected / budget if budget else math.nan,
        "selected_byte_tokens": float((values * byte_len).sum()),
        "realised_tokens": float(realised.sum()),
        "realised_budget_ratio": float(realised.sum()) / budget if budget else math.nan,
        "documents_with_value": int((values > 0).sum()),
        "unique_documents": unique,
        "repetition": float(reps.sum()) / unique if unique else math.nan,
        "domain_entropy": entropy_bits(list(per_domain.values())),
        "domain_shares": {d: (v / total if total else 0.0) for d, v in per_domain.items()},
    }


def pool_facts(corpus: SampleCorpus) -> dict[str, Any]:
    domains = sorted(corpus.stats.domain_tokens)
    tokens = [float(corpus.n_tokens[corpus.domains == d].sum()) for d in domains]
    return {
        "documents": len(corpus.n_tokens),
        "tokens": float(corpus.n_tokens.sum()),
        "domains": len(domains),
        "domain_entropy": entropy_bits(tokens),
    }


class NgramCloseness:
    """KL(target ‖ selection) over hashed n-grams, the pool's counts computed once for every arm (the formula of
    :func:`tasks.methods.dsir.ngram_kl`). ``None`` without that module."""

    def __init__(self, target_texts: Sequence[str], pool_texts: Sequence[str], buckets: int) -> None:
        self.available = False
        try:
            from tasks.methods.dsir import bucket_totals, hashed_ngram_counts
        except ImportError:
            return
        target = bucket_totals(hashed_ngram_counts(list(target_texts), buckets))
        if target.sum() <= 0:
            return
        self.p = target / target.sum()
        self.counts = hashed_ngram_counts(list(pool_texts), buckets)
        self.totals = bucket_totals
        self.available = True

    def kl(self, values: npt.NDArray[np.float64], smoothing: float = 1.0) -> float | None:
        if not self.available or float(values.sum()) <= 0:
            return None
        sel = self.totals(self.counts, values) + smoothing
        q = sel / sel.sum()
        nz = self.p > 0
        return float(np.sum(self.p[nz] * (np.log(self.p[nz]) - np.log(q[nz]))))


def loss_stats(losses: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    """Per metric: seeds, per-seed losses, mean, std and Student-t 95 % interval (:class:`ArmStats`)."""
    return {
        m: ArmStats(m, tuple(float(v) for v in vs if math.isfinite(float(v)))).to_json()
        for m, vs in losses.items()
    }


def paired_differences(
    arm: Mapping[int, Mapping[str, float]], reference: Mapping[int, Mapping[str, float]]
) -> dict[str, Any]:
    """Per metric: ``arm − reference`` on each seed both completed, mean and 95 % interval (negative = better)."""
    common = sorted(set(arm) & set(reference))
    metrics = sorted({m for s in common for m in arm[s]} & {m for s in common for m in reference[s]})
    return {
        m: ArmStats(m, tuple(float(arm[s][m]) - float(reference[s][m]) for s in common)).to_json()
        for m in metrics
    }
