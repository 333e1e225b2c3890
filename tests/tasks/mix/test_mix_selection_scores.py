"""Mixtures of the whole corpus by a selection method's score (``attributes/selection``, written by
``quarry selection-scores``): DSIR's importance resampling (``--baseline gumbel --criterion dsir --temperature 1``)
moves the corpus's hashed n-gram distribution toward the target, further than a uniform sample of the same
share of tokens; DCLM's keep ratio (``--baseline topk --criterion dclm --keep 0.1``) keeps 10% of the tokens,
the cleanest text; a criterion found in neither attribute set skips the shard with a reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from quarry_scored_corpus import CorpusInfo, build_scored_corpus

from tasks.cli import main as quarry
from tasks.methods.dsir import dsir_log_weights, gumbel_topk, hashed_ngram_counts, ngram_kl_counts
from tasks.mix.corpus import ShardSkipped, list_shards, load_shard
from tasks.storage import Store, read_parquet
from tasks.sweep.targets import TargetSpec, load_target_text

KEEP = 0.3


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> CorpusInfo:
    return build_scored_corpus(tmp_path_factory.mktemp("selmix") / "store", shared_data, n_shards=3)


def _mix(root: str, name: str, *args: str) -> dict[str, float]:
    assert quarry(["--store", root, "mix", "--name", name, "--workers", "0", "--seed", "1", *args]) == 0
    out: dict[str, float] = {}
    for f in sorted(Path(root, "mixtures", name, "documents").rglob("*.parquet")):
        t = pq.read_table(f)
        out.update(zip(t["id"].to_pylist(), map(float, t["repetitions"].to_pylist()), strict=True))
    return out


def _documents(root: str, info: CorpusInfo) -> pa.Table:
    st = Store(root)
    return pa.concat_tables(
        [
            read_parquet(st.document_shard(info.snapshot, s), columns=["id", "text", "n_tokens"])
            for s in info.shards
        ]
    )


def test_dsir_and_dclm_mixtures_of_the_whole_corpus(
    corpus: CorpusInfo, tmp_path: Path, shared_data: Path
) -> None:
    root = str(tmp_path / "store")
    shutil.copytree(corpus.root, root)
    target = TargetSpec(
        "wikitext2", str(shared_data / "eval" / "wikitext-2" / "wiki.test.txt"), "text", 200_000
    )
    assert quarry(["--store", root, "selection-scores", "--method", "dsir", "--target",
                   f"wikitext2=text:{target.path}", "--target-max-bytes", "200000"]) == 0  # fmt: skip

    dsir = _mix(root, "by-dsir", "--baseline", "gumbel", "--criterion", "dsir", "--temperature", "1",
                "--keep", str(KEEP))  # fmt: skip
    uniform = _mix(root, "uniform", "--baseline", "uniform", "--rate", str(KEEP))
    summary = json.loads(Path(root, "mixtures", "by-dsir", "summary.json").read_text())
    assert summary["spec"] == {
        "kind": "gumbel", "criterion": "dsir", "temperature": 1.0, "keep_fraction": KEEP, "normalize": False,
    }  # fmt: skip
    card = json.loads(Path(root, "mixtures", "by-dsir", "selection_dsir.json").read_text())
    assert card["target_names"] == ["wikitext2"] and card["buckets"] == 10_000

    docs = _documents(root, corpus)
    ids, texts = docs["id"].to_pylist(), docs["text"].to_pylist()
    tokens = docs["n_tokens"].to_numpy().astype(np.float64)
    counts = hashed_ngram_counts(texts)
    target_counts = hashed_ngram_counts([load_target_text(target)])
    v_dsir = np.array([dsir.get(i, 0.0) for i in ids])
    v_uniform = np.array([uniform.get(i, 0.0) for i in ids])
    kl = {
        "corpus": ngram_kl_counts(target_counts, counts, np.ones(len(ids))),
        "uniform": ngram_kl_counts(target_counts, counts, v_uniform),
        "dsir": ngram_kl_counts(target_counts, counts, v_dsir),
        # the bake-off's exact DSIR (Gumbel top-k over the same log weights, in one process), for reference
        "dsir_exact": ngram_kl_counts(
            target_counts,
            counts,
            gumbel_topk(dsir_log_weights(texts, [load_target_text(target)]), tokens, KEEP * tokens.sum(), 1),
        ),
    }
    print("KL(target || selection) nats:", kl)
    share = {
        "dsir": (v_dsir * tokens).sum() / tokens.sum(),
        "uniform": (v_uniform * tokens).sum() / tokens.sum(),
    }
    print("kept token share:", share)
    assert abs(share["dsir"] - KEEP) < 0.08 and abs(share["uniform"] - KEEP) < 0.08
    assert kl["dsir"] < kl["uniform"] - 0.05, kl
    assert kl["dsir"] < kl["dsir_exact"] + 0.1, kl  # the thresholded draw is as good as exact Gumbel top-k

    assert quarry(["--store", root, "selection-scores", "--method", "dclm", "--eval-dir",
                   str(shared_data / "eval"), "--sample-size", "300"]) == 0  # fmt: skip
    dclm = _mix(root, "by-dclm", "--baseline", "topk", "--criterion", "dclm", "--keep", "0.1")
    v_dclm = np.array([dclm.get(i, 0.0) for i in ids])
    share_dclm = (v_dclm * tokens).sum() / tokens.sum()
    assert 0.07 < share_dclm < 0.13, share_dclm
    st = Store(root)
    clean = pa.concat_tables(
        [read_parquet(st.attribute_shard("scores", corpus.snapshot, s)) for s in corpus.shards]
    )["cleanliness"].to_numpy()
    print("mean cleanliness: corpus", clean.mean(), "dclm top 10%", clean[v_dclm > 0].mean())
    assert clean[v_dclm > 0].mean() > clean.mean() + 0.5


def test_a_criterion_in_neither_attribute_set_skips_the_shard(corpus: CorpusInfo) -> None:
    st = Store(corpus.root)
    ref = list_shards(st)[0]
    with pytest.raises(ShardSkipped, match="selection attributes lack columns \\['dsir'\\]"):
        load_shard(st, ref, criteria=("cleanliness", "dsir"))
    # a scores criterion alone still loads without any selection attributes
    assert len(load_shard(st, ref, criteria=("cleanliness",))) > 0
