"""``quarry selection-scores``: DSIR and DCLM scores of the whole corpus, shard by shard, into
``attributes/selection`` (one file per shard, markers, rerun a no-op, resume after a kill), and the shard-by-shard
DSIR equal to DSIR over all the texts at once. Real text from ../shared/data (the scored-corpus fixture)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mix"))
from quarry_scored_corpus import CorpusInfo, build_scored_corpus

import tasks.methods.corpus_scores as cs
from tasks.cli import main as quarry
from tasks.illusion.classifier import auc
from tasks.methods.corpus_dclm import fit_dclm, load_models
from tasks.methods.corpus_scores import SelectionScoresConfig, run_selection_scores
from tasks.methods.dsir import dsir_log_weights, fit_ngram_model
from tasks.storage import Store, read_parquet
from tasks.sweep.targets import TargetSpec, load_target_text

TARGET_BYTES = 200_000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> CorpusInfo:
    return build_scored_corpus(tmp_path_factory.mktemp("selection") / "store", shared_data, n_shards=3)


def _copy(corpus: CorpusInfo, tmp_path: Path) -> str:
    root = tmp_path / "store"
    shutil.copytree(corpus.root, root)
    return str(root)


def _target(shared_data: Path) -> TargetSpec:
    return TargetSpec(
        "wikitext2", str(shared_data / "eval" / "wikitext-2" / "wiki.test.txt"), "text", TARGET_BYTES
    )


def _all_texts(root: str, corpus: CorpusInfo) -> tuple[list[str], list[str]]:
    store = Store(root)
    ids: list[str] = []
    texts: list[str] = []
    for shard in corpus.shards:
        t = read_parquet(store.document_shard(corpus.snapshot, shard), columns=["id", "text"])
        ids += t.column("id").to_pylist()
        texts += t.column("text").to_pylist()
    return ids, texts


def _selection(root: str, corpus: CorpusInfo) -> pa.Table:
    store = Store(root)
    return pa.concat_tables(
        [read_parquet(store.attribute_shard("selection", corpus.snapshot, s)) for s in corpus.shards]
    )


def test_dsir_per_shard_equals_dsir_over_all_texts_and_rerun_is_a_noop(
    corpus: CorpusInfo, tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _copy(corpus, tmp_path)
    monkeypatch.setattr(cs, "BATCH", 37)  # shards of ~140 documents counted in several batches
    target = _target(shared_data)
    config = SelectionScoresConfig(store=root, method="dsir", targets=(target,))
    first = run_selection_scores(config)
    assert sorted(first.shards_written) == sorted(f"{corpus.snapshot}/{s}" for s in corpus.shards)
    assert first.documents == corpus.documents
    store = Store(root)
    for shard in corpus.shards:  # one attribute file per shard, rows aligned with the documents shard
        docs = read_parquet(store.document_shard(corpus.snapshot, shard), columns=["id"])
        attrs = read_parquet(store.attribute_shard("selection", corpus.snapshot, shard))
        assert attrs.column_names == ["id", "dsir"]
        assert attrs.column("id").equals(docs.column("id"))

    ids, texts = _all_texts(root, corpus)
    # the raw model summed over per-shard count vectors == the model fitted on every text at once
    shards = cs._shards(store, ())
    np.testing.assert_allclose(
        cs.raw_model(config, store, shards), fit_ngram_model(texts), rtol=0, atol=1e-12
    )
    # and every document's weight == DSIR over the whole corpus in one process
    expected = dsir_log_weights(texts, [load_target_text(target)])
    got = _selection(root, corpus)
    assert got.column("id").to_pylist() == ids
    np.testing.assert_allclose(got.column("dsir").to_numpy(), expected, rtol=1e-9, atol=1e-6)

    card = cs.selection_card(store, "dsir")
    assert card is not None and card["buckets"] == 10_000 and card["target_names"] == ["wikitext2"]
    mtimes = {p: p.stat().st_mtime_ns for p in (Path(root) / "attributes" / "selection").rglob("*.parquet")}
    again = run_selection_scores(config)
    assert again.shards_written == [] and len(again.shards_skipped) == len(corpus.shards)
    assert again.version == first.version
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes


def test_a_run_killed_between_shards_resumes_with_the_rest(
    corpus: CorpusInfo, tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _copy(corpus, tmp_path)
    config = SelectionScoresConfig(store=root, method="dsir", targets=(_target(shared_data),))
    real_write = cs.write_selection_column
    calls = {"n": 0}

    def dies_on_the_second_shard(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        real_write(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cs, "write_selection_column", dies_on_the_second_shard)
    with pytest.raises(KeyboardInterrupt):
        run_selection_scores(config)
    monkeypatch.setattr(cs, "write_selection_column", real_write)
    done = list((Path(root) / "attributes" / "selection").rglob("*.parquet"))
    assert len(done) == 1
    resumed = run_selection_scores(config)
    assert len(resumed.shards_skipped) == 1 and len(resumed.shards_written) == len(corpus.shards) - 1
    fresh_root = _copy(corpus, tmp_path / "fresh")
    fresh = run_selection_scores(
        SelectionScoresConfig(store=fresh_root, method="dsir", targets=config.targets)
    )
    assert fresh.version == resumed.version
    assert _selection(root, corpus).equals(_selection(fresh_root, corpus))


def test_dclm_scores_every_shard_keeps_the_dsir_column_and_ranks_clean_text_higher(
    corpus: CorpusInfo, tmp_path: Path, shared_data: Path
) -> None:
    root = _copy(corpus, tmp_path)
    run_selection_scores(SelectionScoresConfig(store=root, method="dsir", targets=(_target(shared_data),)))
    dsir_before = _selection(root, corpus).column("dsir")
    code = quarry(
        [
            "--store", root, "selection-scores", "--method", "dclm",
            "--eval-dir", str(shared_data / "eval"), "--sample-size", "300",
        ]
    )  # fmt: skip
    assert code == 0
    sel = _selection(root, corpus)
    assert sel.column_names == ["id", "dsir", "dclm"]
    assert sel.column("dsir").equals(dsir_before)
    p = sel.column("dclm").to_numpy()
    assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()
    # the fixture's symbol-noise-corrupted documents look less like the reference than clean ones
    store = Store(root)
    scores = pa.concat_tables(
        [read_parquet(store.attribute_shard("scores", corpus.snapshot, s)) for s in corpus.shards]
    )
    assert scores.column("id").equals(sel.column("id"))
    dirty = np.asarray(pc.less(scores.column("cleanliness"), 2.0))
    assert dirty.sum() > 20 and (~dirty).sum() > 20
    a = auc(p[~dirty], p[dirty])
    assert a is not None and a > 0.8, a
    card = cs.selection_card(store, "dclm")
    assert card is not None and card["train_web"] == 300 and card["train_hq"] > 50
    assert card["settings"]["folds"] == 2 and len(card["learning_rates"]) == 2
    config = SelectionScoresConfig(
        store=root, method="dclm", eval_dir=str(shared_data / "eval"), sample_size=300
    )
    again = run_selection_scores(config)
    assert again.shards_written == []
    # cross-fitting: the sample's documents (the classifiers' negatives) are scored by the classifier that did
    # not train on them; scored by one that did, they would look much worse than the rest of the corpus
    _, model_urls, sample, _ = fit_dclm(config, store, cs._shards(store, ()))
    models = load_models(model_urls)
    fold_of = {i: f for folds in sample.values() for i, f in folds.items()}
    ids, texts = _all_texts(root, corpus)
    in_sample = np.array([i in fold_of for i in ids])
    per_model = np.stack([m.score(texts) for m in models])
    seen = np.array([per_model[1 - fold_of[i], j] for j, i in enumerate(ids) if i in fold_of])
    print("P(hq): sample cross-fitted", p[in_sample].mean(), "sample by a classifier that saw it", seen.mean(),
          "rest", p[~in_sample].mean())  # fmt: skip
    assert seen.mean() < p[in_sample].mean() - 0.05
    assert abs(p[in_sample].mean() - p[~in_sample].mean()) < 0.05


def test_bad_requests_fail_with_a_clear_error(corpus: CorpusInfo, tmp_path: Path) -> None:
    root = _copy(corpus, tmp_path)
    with pytest.raises(ValueError, match="target"):
        run_selection_scores(SelectionScoresConfig(store=root, method="dsir"))
    with pytest.raises(ValueError, match="eval-dir"):
        run_selection_scores(SelectionScoresConfig(store=root, method="dclm"))
    with pytest.raises(ValueError, match="no documents"):
        run_selection_scores(SelectionScoresConfig(store=str(tmp_path / "empty"), method="dsir"))
