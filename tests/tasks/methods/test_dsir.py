"""DSIR on real text: a pool of Bible verses, Shakespeare and Wikipedia articles, the target WikiText-2 *test*
split (disjoint from the pool's validation articles). Importance resampling must move the selection's hashed
n-gram distribution toward the target's."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mix"))
from quarry_scored_corpus import source_texts

from tasks.methods.budget import budget_of, gumbel_topk
from tasks.methods.dsir import (
    dsir_log_weights,
    dsir_select,
    fit_ngram_model,
    hashed_ngram_counts,
    ngram_kl,
    ngram_kl_counts,
    words,
)


@pytest.fixture(scope="module")
def pool_and_target(shared_data: Path) -> tuple[list[str], list[str], list[str]]:
    by_domain = source_texts(
        shared_data, {"Religion": 200_000, "Literature": 200_000, "Miscellaneous": 200_000}
    )
    pool, domains = [], []
    for d, docs in sorted(by_domain.items()):
        pool += docs
        domains += [d] * len(docs)
    wiki = (shared_data / "eval" / "wikitext-2" / "wiki.test.txt").read_text(encoding="utf-8")[:120_000]
    target = [p for p in re.split(r"\n \= [^=].*? \= \n", wiki) if len(p) > 200]
    return pool, domains, target


def test_features_follow_the_reference_tokenisation() -> None:
    assert words("Hello, World's end!") == ["hello", ",", "world", "'", "s", "end", "!"]
    m = hashed_ngram_counts(["a b a b", ""], buckets=50)
    assert m.shape == (2, 50)
    assert m[0].sum() == 4 + 3  # unigrams + bigrams
    assert m[1].sum() == 0
    lp = fit_ngram_model(["a b a b"], buckets=50)
    assert np.isclose(np.exp(lp).sum(), 1.0, atol=1e-4)


def test_dsir_moves_the_selection_toward_the_target(
    pool_and_target: tuple[list[str], list[str], list[str]],
) -> None:
    pool, domains, target = pool_and_target
    tokens = np.array([len(words(t)) for t in pool], dtype=np.float64)
    budget = 0.3 * tokens.sum()
    lw = dsir_log_weights(pool, target)
    seeds = range(6)
    target_counts, pool_counts = hashed_ngram_counts(target), hashed_ngram_counts(pool)
    kl: dict[str, list[float]] = {"dsir": [], "uniform": [], "shuffled": []}
    for seed in seeds:
        selections = {
            "dsir": gumbel_topk(lw, tokens, budget, seed=seed),
            "uniform": gumbel_topk(np.zeros(len(pool)), tokens, budget, seed=seed),
            "shuffled": gumbel_topk(np.random.default_rng(seed).permutation(lw), tokens, budget, seed=seed),
        }
        for name, v in selections.items():
            assert budget <= budget_of(v, tokens) < budget + tokens.max()
            kl[name].append(ngram_kl_counts(target_counts, pool_counts, v))
    print("KL(target || selection) per seed:", {k: np.round(v, 3).tolist() for k, v in kl.items()})
    # DSIR beats every uniform draw at the same budget, by a margin on average ...
    assert max(kl["dsir"]) < min(kl["uniform"])
    assert np.mean(kl["dsir"]) < 0.8 * np.mean(kl["uniform"])
    # ... and the same weights shuffled over the documents do not: the weights make the difference.
    assert max(kl["dsir"]) < min(kl["shuffled"])
    assert np.mean(kl["shuffled"]) > 0.85 * np.mean(kl["uniform"])
    dsir = dsir_select(pool, tokens, target, budget, seed=0)
    assert np.array_equal(dsir, gumbel_topk(lw, tokens, budget, seed=0))
    assert ngram_kl(target, pool, dsir) == pytest.approx(kl["dsir"][0])
    wiki_share = float(np.mean([d == "Miscellaneous" for d, v in zip(domains, dsir, strict=True) if v]))
    assert wiki_share > 0.6
