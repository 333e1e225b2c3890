"""CLIMB-style clusters: the packaged all-MiniLM-L6-v2 (offline), k-means, assignment on a Dask LocalCluster."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from fixtures_vllm import SourceDoc, mixed_corpus, write_documents

from tasks.cluster import ClusterRunConfig, run_cluster, spherical_kmeans

SNAP = "CC-TEST-2024-01"


def test_fit_and_assign_every_document(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may be downloaded
    docs = mixed_corpus(shared_data, en_web=12, per_register=6, wiki=6)
    docs.append(SourceDoc("https://edge.example/empty", "", "en"))
    write_documents(tmp_path, docs, snapshot=SNAP, n_shards=2)
    config = ClusterRunConfig(
        store=str(tmp_path), k=4, sample_size=24, max_seq_length=48, n_workers=2, read_batch_size=8
    )
    result = run_cluster(config)
    assert result.fitted and result.k == 4 and result.sample_size == 24 and sum(result.sizes) == 24
    assert result.documents == len(docs) and result.shards_assigned == 2
    card = json.loads((tmp_path / "models" / result.version / "cluster_card.json").read_text())
    assert card["settings"]["k"] == 4 and len(card["languages_per_cluster"]) == 4
    centroids = np.load(tmp_path / "models" / result.version / "centroids.npy")
    assert centroids.shape == (4, 384) and np.allclose(np.linalg.norm(centroids, axis=1), 1.0, atol=1e-4)
    seen = set()
    for shard in sorted((tmp_path / "documents" / SNAP).glob("*.parquet")):
        ids = pq.read_table(shard, columns=["id"]).column("id").to_pylist()
        attrs = pq.read_table(tmp_path / "attributes" / "clusters" / SNAP / shard.name)
        assert attrs.column("id").to_pylist() == ids
        assert str(attrs.schema.field("cluster").type) == "int32"
        clusters = attrs.column("cluster").to_pylist()
        assert all(0 <= c < 4 for c in clusters)
        assert set(attrs.column("cluster_version").to_pylist()) == {result.version}
        seen.update(clusters)
    assert len(seen) >= 2  # real text lands in more than one cluster

    again = run_cluster(config)  # same sample and settings: same version, nothing refitted or reassigned
    assert again.version == result.version and not again.fitted and again.shards_skipped == 2


def test_spherical_kmeans_separates_clear_groups() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(3, 8, dtype=np.float32)
    x = np.concatenate([c + 0.05 * rng.standard_normal((20, 8)).astype(np.float32) for c in centres])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    _, labels, inertia = spherical_kmeans(x, 3, seed=1, n_iter=20)
    groups = [set(labels[i * 20 : (i + 1) * 20].tolist()) for i in range(3)]
    assert all(len(g) == 1 for g in groups) and len(set().union(*groups)) == 3
    assert inertia < 0.05 * len(x)  # mean cosine distance to the centroid well under 0.05
