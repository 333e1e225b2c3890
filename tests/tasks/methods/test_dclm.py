"""DCLM-style classifier filtering on real text: high-quality reference texts (WikiText-2 validation articles,
an OpenStax textbook, GSM8K) against a web pool of C4/CCNet documents, Bible verses and Shakespeare that also
holds unseen Wikipedia articles. The cross-fitted classifier must rank those articles high; a classifier trained
on the whole pool (the articles among its negatives) scores them far lower, which is what cross-fitting avoids."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mix"))
from quarry_scored_corpus import source_texts

from tasks.illusion.classifier import auc, train_classifier
from tasks.methods.budget import budget_of
from tasks.methods.dclm import dclm_scores, dclm_select, fold_of


def test_folds_are_balanced_and_seeded() -> None:
    f = fold_of(11, 2, seed=0)
    assert sorted(np.bincount(f).tolist()) == [5, 6]
    assert np.array_equal(f, fold_of(11, 2, seed=0))
    assert not np.array_equal(f, fold_of(11, 2, seed=1))
    with pytest.raises(ValueError, match="folds"):
        fold_of(5, 1, seed=0)


def test_cross_fitted_scores_find_high_quality_pool_documents(shared_data: Path) -> None:
    by = source_texts(
        shared_data,
        {"Religion": 80_000, "Literature": 80_000, "Miscellaneous": 200_000, "Education": 100_000},
    )
    web = []
    for f in sorted((shared_data / "crawl" / "cc-derived-jsonl").rglob("*.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            web += [json.loads(line)["text"] for line in fh if line.strip()]
    wiki = by["Miscellaneous"]
    hq = wiki[: len(wiki) // 2] + by["Education"]
    hq_like = wiki[len(wiki) // 2 :]  # unseen articles of the same kind, in the pool
    pool = hq_like + by["Religion"] + by["Literature"] + web
    is_hq = np.arange(len(pool)) < len(hq_like)

    scores = dclm_scores(pool, hq, seed=0)
    assert np.isfinite(scores).all() and (scores >= 0).all() and (scores <= 1).all()
    cross_auc = auc(scores[is_hq], scores[~is_hq])
    assert cross_auc is not None and cross_auc > 0.85

    tokens = np.array([len(t.split()) for t in pool], dtype=np.float64)
    keep = dclm_select(scores, tokens, keep_ratio=0.15)
    assert 0.15 * tokens.sum() <= budget_of(keep, tokens) < 0.15 * tokens.sum() + tokens.max()
    assert tokens[(keep > 0) & is_hq].sum() > 0.7 * tokens[keep > 0].sum()

    # Without cross-fitting the classifier has seen every pool document as "web" and memorises it.
    in_sample = train_classifier(hq, pool, seed=0).score(pool)
    print(
        f"mean P(hq) of the pool's Wikipedia articles: cross-fitted {scores[is_hq].mean():.3f}, "
        f"in-sample {in_sample[is_hq].mean():.3f}; AUC cross-fitted {cross_auc:.3f}"
    )
    assert scores[is_hq].mean() > 2 * in_sample[is_hq].mean()
