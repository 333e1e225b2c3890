"""score_corpus under Airflow (dag.test()): fastText scores and cluster ids for every document, on Dask."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq
from fixtures_vllm import mixed_corpus, register_rated_docs, write_documents, write_label_ratings

from tasks.distill import DistillConfig, run_distill

REPO = Path(__file__).resolve().parents[2]
SNAP = "CC-TEST-2024-01"


def test_score_corpus_scores_and_clusters_every_document(
    airflow_db: str, shared_data: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    write_label_ratings(store, register_rated_docs(shared_data, 40), name="human")
    write_documents(
        store, mixed_corpus(shared_data, en_web=10, per_register=4, wiki=4), snapshot=SNAP, n_shards=2
    )
    version = run_distill(DistillConfig(store=str(store), ratings="human", dim=8, epoch=10)).version
    sys.path.insert(0, str(REPO / "dags"))
    import score_corpus

    run = score_corpus.score_corpus_dag.test(
        run_conf={
            "store": str(store),
            "workers": 2,
            "batch_size": 5,
            "cluster_k": 3,
            "cluster_sample_size": 12,
            "cluster_max_seq_length": 32,
        }
    )
    assert run.state == "success"
    for shard in sorted((store / "documents" / SNAP).glob("*.parquet")):
        ids = pq.read_table(shard, columns=["id"]).column("id").to_pylist()
        scores = pq.read_table(store / "attributes" / "scores" / SNAP / shard.name).to_pandas()
        clusters = pq.read_table(store / "attributes" / "clusters" / SNAP / shard.name).to_pandas()
        assert scores["id"].tolist() == ids and clusters["id"].tolist() == ids
        assert set(scores["model_version"]) == {version} and scores["educational_value"].notna().all()
        assert clusters["cluster"].between(0, 2).all()
