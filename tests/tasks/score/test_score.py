"""The score stage on a real Dask LocalCluster: every model of a version applied to every document."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from fixtures_vllm import SourceDoc, mixed_corpus, register_rated_docs, write_documents, write_label_ratings

from tasks.distill import DistillConfig, run_distill
from tasks.rate.criteria import DOMAINS
from tasks.score import ScoreConfig, output_schema, run_score

SNAP = "CC-TEST-2024-01"


@pytest.fixture(scope="module")
def scored_store(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[str, str, int]:
    root = tmp_path_factory.mktemp("score-store")
    write_label_ratings(root, register_rated_docs(shared_data, 60), name="human")
    docs = mixed_corpus(shared_data, en_web=30, per_register=6, wiki=10)
    docs += [
        SourceDoc("https://edge.example/empty", "", "en"),
        SourceDoc("https://edge.example/lines", "line one\nline two\r\n\tthree " * 500, "en"),
    ]
    write_documents(root, docs, snapshot=SNAP, n_shards=3)
    version = run_distill(DistillConfig(store=str(root), ratings="human", dim=16, epoch=20)).version
    return str(root), version, len(docs)


def test_score_every_document_with_models_loaded_once_per_worker(scored_store: tuple[str, str, int]) -> None:
    root, version, n_docs = scored_store
    result = run_score(ScoreConfig(store=root, n_workers=2, batch_size=7))
    assert result.model_version == version and result.shards_scored == 3 and result.shards_skipped == 0
    docs_dir, attr_dir = Path(root) / "documents" / SNAP, Path(root) / "attributes" / "scores" / SNAP
    total = 0
    for shard in sorted(docs_dir.glob("*.parquet")):
        docs = pq.read_table(shard, columns=["id"])
        attrs = pq.read_table(attr_dir / shard.name)
        assert attrs.schema.equals(output_schema())
        assert attrs.column("id").to_pylist() == docs.column("id").to_pylist()  # same rows, same order
        df = attrs.to_pandas()
        assert df["educational_value"].notna().all()
        assert df["educational_value"].between(0.0, 5.0).all()
        assert df["domain"].notna().all() and df["domain_score"].between(0, 1).all()
        assert set(df["model_version"]) == {version}
        for column in ("professionalism", "readability", "reasoning", "cleanliness"):
            assert df[column].isna().all()  # this version has no such model: null, never a made-up score
        total += len(df)
    assert total == result.documents == n_docs
    per_shard = result.per_shard
    assert {r["batches"] for r in per_shard} == {
        int(np.ceil(r["documents"] / 7)) for r in per_shard
    }  # streamed
    loads_by_pid: dict[int, list[int]] = {}
    for r in per_shard:
        loads_by_pid.setdefault(r["pid"], []).append(r["model_loads"])
    assert all(max(v) == 1 for v in loads_by_pid.values())  # each worker loaded the models exactly once
    assert len(loads_by_pid) <= 2

    again = run_score(ScoreConfig(store=root, n_workers=0))
    assert again.shards_skipped == 3 and again.shards_scored == 0


def test_a_new_model_version_rescores(scored_store: tuple[str, str, int]) -> None:
    root, _, _ = scored_store
    v2 = run_distill(DistillConfig(store=root, ratings="human", dim=16, epoch=10, version="second")).version
    result = run_score(ScoreConfig(store=root, model_version=v2, n_workers=0))
    assert result.shards_scored == 3
    marker = json.loads((Path(root) / "_markers" / "score" / SNAP / "shard-00000.done").read_text())
    assert marker["model_version"] == "second"
    table = pq.read_table(Path(root) / "attributes" / "scores" / SNAP / "shard-00000.parquet").to_pandas()
    assert set(table["model_version"]) == {"second"}


def test_unknown_version_and_empty_store_are_clear_errors(
    scored_store: tuple[str, str, int], tmp_path: Path
) -> None:
    root, _, _ = scored_store
    with pytest.raises(FileNotFoundError, match="not found"):
        run_score(ScoreConfig(store=root, model_version="nope"))
    with pytest.raises(FileNotFoundError, match="quarry distill"):
        run_score(ScoreConfig(store=str(tmp_path)))


def test_domains_are_the_dataman_set_when_trained_on_rater_output() -> None:
    assert "Retail E-commerce" in DOMAINS  # the rater's labels; the test model above uses register labels


@pytest.mark.integration
def test_score_a_store_on_s3(s3_prefix: str, shared_data: Path) -> None:
    """The same stage on a real S3 endpoint (SeaweedFS): models are copied to each worker's disk once."""
    from tasks.storage import exists, read_parquet

    write_label_ratings(s3_prefix, register_rated_docs(shared_data, 30), name="human")
    docs = mixed_corpus(shared_data, en_web=6, per_register=2, wiki=2)
    write_documents(s3_prefix, docs, snapshot=SNAP, n_shards=2)
    version = run_distill(
        DistillConfig(store=s3_prefix, ratings="human", dim=8, epoch=10, min_train_rows=10)
    ).version
    result = run_score(ScoreConfig(store=s3_prefix, n_workers=2))
    assert result.model_version == version and result.shards_scored == 2 and result.documents == len(docs)
    for shard in ("shard-00000", "shard-00001"):
        ids = read_parquet(f"{s3_prefix}/documents/{SNAP}/{shard}.parquet", columns=["id"]).column("id")
        attrs = read_parquet(f"{s3_prefix}/attributes/scores/{SNAP}/{shard}.parquet")
        assert attrs.column("id").equals(ids)
        assert exists(f"{s3_prefix}/_markers/score/{SNAP}/{shard}.done")
