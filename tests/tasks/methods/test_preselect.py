"""PreSelect (Shum et al. 2025): predictive strength, its labels, the fastText scorer, and per-document proxy
losses from real (tiny) proxies."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from tasks.illusion.classifier import auc
from tasks.methods.preselect import (
    predictive_strength,
    preselect_labels,
    preselect_negatives,
    preselect_scores,
    proxy_document_losses,
)
from tasks.sweep.model import ProxyModelConfig
from tasks.sweep.tokenizer import encode, encode_documents
from tasks.sweep.trainer import TrainConfig

SCORES = np.array([2.9, 3.4, 3.1, 3.8, 3.3, 3.6])  # six models' target losses (lower is better)


def _built_case(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """100 documents: the first 50 rank the models by loss exactly as their target losses do (plus noise far
    below the gaps), the other 50 give each model a loss unrelated to its target loss."""
    rng = np.random.default_rng(seed)
    predictive = 1.0 + 0.5 * SCORES[:, None] + rng.normal(0, 0.002, (6, 50)) + rng.uniform(0, 1, 50)[None, :]
    shuffled = rng.uniform(1.0, 3.0, (6, 50))
    return np.concatenate([predictive, shuffled], axis=1), np.r_[np.ones(50, bool), np.zeros(50, bool)]


def test_strength_by_hand() -> None:
    # three models, best (lowest target loss) last; a document whose losses fall with ability scores 1,
    # one whose losses rise scores 0, one with a single inverted pair 2/3
    losses = np.array([[3.0, 1.0, 3.0], [2.0, 2.0, 1.0], [1.0, 3.0, 2.0]])
    s = predictive_strength(losses, [5.0, 4.0, 3.0])
    assert s.tolist() == pytest.approx([1.0, 0.0, 2 / 3])
    # the same with an accuracy (higher is better) instead of a loss
    assert predictive_strength(losses, [0.1, 0.2, 0.3], lower_is_better=False).tolist() == pytest.approx(
        s.tolist()
    )
    # a NaN loss gives no strength; a model without a score is left out
    losses[1, 2] = np.nan
    assert np.isnan(predictive_strength(losses, [5.0, 4.0, 3.0])[2])
    assert predictive_strength(losses, [5.0, np.nan, 3.0])[2] == 1.0
    with pytest.raises(ValueError, match="n_models"):
        predictive_strength(losses, [1.0, 2.0])


def test_strength_separates_predictive_documents_and_depends_on_the_scores() -> None:
    losses, is_predictive = _built_case()
    s = predictive_strength(losses, SCORES)
    assert s[is_predictive].min() == 1.0
    assert 0.35 < s[~is_predictive].mean() < 0.65
    assert auc(s[is_predictive], s[~is_predictive]) > 0.97
    # against the scores reversed, the predictive documents rank the models exactly the wrong way
    assert predictive_strength(losses, -SCORES)[is_predictive].max() == 0.0
    # against shuffled scores the separation is gone (this is what a strength ignoring the scores would give)
    rng = np.random.default_rng(5)
    shuffled = [
        auc(
            *(lambda v: (v[is_predictive], v[~is_predictive]))(
                predictive_strength(losses, rng.permutation(SCORES))
            )
        )
        for _ in range(20)
    ]
    assert np.median([a for a in shuffled if a is not None]) < 0.8


def test_labels_are_the_top_and_bottom_and_pick_predictive_documents() -> None:
    losses, is_predictive = _built_case(1)
    s = predictive_strength(losses, SCORES)
    pos, neg = preselect_labels(s, 0.2), preselect_negatives(s, 0.2)
    assert pos.sum() == neg.sum() == 20 and not (pos & neg).any()
    assert is_predictive[pos].all() and s[pos].min() >= s[~pos & np.isfinite(s)].max()
    assert (~is_predictive[neg]).all() and s[neg].max() <= np.nanmin(s[~neg])
    s[:3] = np.nan
    assert not preselect_labels(s, 0.5)[:3].any() and preselect_labels(s, 0.5).sum() == 48
    assert preselect_labels(s, 0.2, seed=1).sum() == 19  # 20 % of the 97 documents with a strength


def _paragraphs(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        docs = [json.loads(line)["text"] for line in fh if line.strip()]
    return [p for d in docs for p in d.split("\n") if len(p) > 80]


def test_classifier_on_strength_labels_scores_unseen_pool_documents(shared_data: Path) -> None:
    """End to end on real text: news paragraphs (The Guardian) are the documents whose losses predict, web
    paragraphs (CC head) the ones that do not; the fastText scorer trained on the labelled half ranks the
    unseen half's news above its web text."""
    base = shared_data / "crawl" / "cc-derived-jsonl"
    news = _paragraphs(base / "olmo" / "paloma_c4_100_domains_theguardian_val.jsonl.gz")
    web = _paragraphs(base / "dolma" / "cc_en_head-0091.jsonl.gz")[: 2 * len(news)]
    texts = news + web
    is_news = np.r_[np.ones(len(news), bool), np.zeros(len(web), bool)]
    rng = np.random.default_rng(0)
    losses = np.where(
        is_news[None, :],
        1.0 + 0.5 * SCORES[:, None] + rng.normal(0, 0.01, (6, len(texts))),
        rng.uniform(1.0, 3.0, (6, len(texts))),
    )
    half = rng.permutation(len(texts)) % 2 == 0
    s = predictive_strength(losses[:, half], SCORES)
    pos, neg = preselect_labels(s, 0.3), preselect_negatives(s, 0.3)
    labelled = [t for t, h in zip(texts, half, strict=True) if h]
    scores = preselect_scores(
        [t for t, h in zip(texts, half, strict=True) if not h],
        [t for t, p in zip(labelled, pos, strict=True) if p],
        [t for t, n in zip(labelled, neg, strict=True) if n],
        seed=0,
    )
    pool_news = is_news[~half]
    score_auc = auc(scores[pool_news], scores[~pool_news])
    assert score_auc is not None and score_auc > 0.85, score_auc
    with pytest.raises(ValueError, match="positive and negative"):
        preselect_scores(texts, [], web, seed=0)


def test_proxy_document_losses_from_real_proxies(shared_data: Path) -> None:
    """Four tiny proxies trained on lower-case text mixed with 0, 1/3, 2/3, all upper-case text; target: lower
    case. The proxies' losses on held-out lower-case documents order them like their target loss (strength 1),
    on upper-case documents the other way round (strength 0): the per-document losses are each proxy's own."""
    paras = _paragraphs(shared_data / "crawl" / "cc-derived-jsonl" / "dolma" / "cc_en_head-0091.jsonl.gz")
    train, held = paras[:160], paras[160:200]
    texts = [p.lower() for p in train[:80]] + [p.upper() for p in train[80:]]
    tokens, offsets = encode_documents(texts)
    is_upper = np.r_[np.zeros(80), np.ones(80)]
    values = [np.where(is_upper == 1, u, 1 - u) for u in (0.0, 1 / 3, 2 / 3, 1.0)]
    docs = [encode(p.lower()) for p in held[:20]] + [encode(p.upper()) for p in held[20:]]
    out = proxy_document_losses(
        tokens,
        offsets,
        values,
        docs,
        model_config=ProxyModelConfig(n_layer=1, n_head=2, d_model=32, d_ff=64, seq_len=64),
        train_config=TrainConfig(batch_size=8, lr=3e-3, eval_tokens=4096, threads=1),
        token_budget=8 * 64 * 80,
        targets={"lower": encode(" ".join(p.lower() for p in paras[200:230]))},
        seed=0,
        device="cpu",
    )
    assert out.status == ["completed"] * 4 and out.doc_losses.shape == (4, 40)
    assert np.isfinite(out.doc_losses).all()
    scores = out.model_scores(["lower"])
    assert np.all(np.diff(scores) > 0), scores  # more upper-case text, worse on the lower-case target
    s = predictive_strength(out.doc_losses, scores)
    assert s[:20].mean() > 0.9 and s[20:].mean() < 0.1, s
