"""Classifier-based quality filtering as in DCLM: Li et al. (2024), "DataComp-LM: In search of the next
generation of training sets for language models".

The paper's best filter (section 4.4, "Model-based quality filtering") is "a fastText classifier ... trained on
OpenHermes 2.5 (OH-2.5) and high-scoring posts from the r/ExplainLikeImFive (ELI5) subreddit" as positives
against RefinedWeb as negatives, with "bigram" features; documents are scored by the classifier's probability of
the positive class and "we keep the top 10%" of the pool (the keep ratio is the method's parameter).

Here the positives are the user's high-quality reference texts and the negatives the web pool itself (the
classifier is :func:`tasks.illusion.classifier.train_classifier`: fastText supervised, word bigrams, the
distill stage's text normalisation). Because the negatives *are* the pool, a model would partly memorise the
very documents it scores; scores are therefore cross-fitted: the pool is split into ``folds`` parts (a seeded
permutation) and each part is scored by a classifier trained on the high-quality texts against the other
parts only. The keep ratio is a share of the pool's *tokens* (the paper's threshold keeps a share of
documents), the highest-scoring documents first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from tasks.illusion.classifier import train_classifier
from tasks.methods.budget import top_by_score

FloatArray = npt.NDArray[np.float64]

DEFAULT_FOLDS = 2
DCLM_KEEP_RATIO = 0.1  # the paper's "top 10%"


def fold_of(n: int, folds: int, seed: int) -> npt.NDArray[np.int64]:
    """The cross-fitting fold of each of ``n`` pool documents: a seeded permutation cut into ``folds`` parts of
    (nearly) equal size."""
    if folds < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, got {folds}")
    out = np.empty(n, dtype=np.int64)
    out[np.random.default_rng(seed).permutation(n)] = np.arange(n) % folds
    return out


def dclm_scores(
    pool_texts: Sequence[str],
    hq_texts: Sequence[str],
    seed: int,
    folds: int = DEFAULT_FOLDS,
    epoch: int = 20,
    dim: int = 32,
) -> FloatArray:
    """P(high quality) of every pool document, each scored by a fastText classifier (high-quality texts vs the
    pool documents of the *other* folds) that never saw it."""
    if not hq_texts:
        raise ValueError("DCLM filtering needs high-quality reference texts")
    n = len(pool_texts)
    if n < folds:
        raise ValueError(f"{n} pool documents cannot be cross-fitted over {folds} folds")
    fold = fold_of(n, folds, seed)
    scores = np.full(n, np.nan)
    for k in range(folds):
        train_web = [t for t, f in zip(pool_texts, fold, strict=True) if f != k]
        model = train_classifier(list(hq_texts), train_web, seed=seed + k, epoch=epoch, dim=dim)
        held = np.flatnonzero(fold == k)
        scores[held] = model.score([pool_texts[int(i)] for i in held])
    return scores


def dclm_select(scores: npt.ArrayLike, n_tokens: npt.ArrayLike, keep_ratio: float) -> FloatArray:
    """Keep (value 1) the highest-scoring documents until ``keep_ratio`` of the pool's tokens is reached."""
    if not 0.0 <= keep_ratio <= 1.0:
        raise ValueError(f"keep_ratio must be in [0, 1], got {keep_ratio}")
    tokens = np.asarray(n_tokens, dtype=np.float64)
    return top_by_score(scores, tokens, keep_ratio * float(np.sum(tokens)))
