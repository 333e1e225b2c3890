"""The score stage: every fastText model of one version applied to every document, on Dask.

One Dask task per documents shard. A worker process loads the models of a version once (module-level cache,
remote files copied to local disk first) and keeps them for every later shard. A shard is streamed in record
batches of ``batch_size`` documents (only ``id`` and ``text`` are read), so memory is bounded by the batch and the
per-document output columns, whatever the corpus size. Output: ``attributes/<set>/<snapshot>/<shard>.parquet``
with ``id`` plus one column set per model — ``educational_value``, ``professionalism``, ``readability``,
``reasoning``, ``cleanliness`` (expected score, float32; null when the version has no such model), ``domain`` and
``domain_score`` (float32), ``model_version`` — same rows, same order as the documents shard. A completion
marker per shard records the model version; a shard already scored with that version is skipped.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.distill.predict import LoadedModel, load_card, load_models, resolve_version
from tasks.distill.text import fasttext_line
from tasks.errors import NotReady
from tasks.progress import print_summary
from tasks.rate.criteria import SCORE_CRITERIA
from tasks.rate.sample import list_document_shards
from tasks.runner import ClusterConfig, run_shards
from tasks.storage import CompletionMarkers, Store, open_input, validate_name, write_parquet_atomic

SCORE_COLUMNS: tuple[str, ...] = SCORE_CRITERIA


def output_schema() -> pa.Schema:
    fields = [pa.field("id", pa.string())]
    fields += [pa.field(name, pa.float32()) for name in SCORE_COLUMNS]
    fields += [
        pa.field("domain", pa.string()),
        pa.field("domain_score", pa.float32()),
        pa.field("model_version", pa.string()),
    ]
    return pa.schema(fields)


@dataclass(frozen=True)
class ScoreConfig:
    store: str
    model_version: str | None = None  # None or "latest": the most recently distilled version
    snapshots: tuple[str, ...] | None = None
    attribute_set: str = "scores"
    batch_size: int = 1000
    n_workers: int | None = None  # LocalCluster size; 0 = in-process
    scheduler: str | None = None  # address of an existing Dask scheduler
    force: bool = False

    def __post_init__(self) -> None:
        validate_name(self.attribute_set, "attribute set")
        for snap in self.snapshots or ():
            validate_name(snap, "snapshot")
        if self.model_version not in (None, "latest"):
            validate_name(self.model_version, "model version")
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")

    def cluster(self) -> ClusterConfig:
        if self.scheduler:
            return ClusterConfig(address=self.scheduler)
        return ClusterConfig.from_env(n_workers=self.n_workers)

    def marker_stage(self) -> str:
        return "score" if self.attribute_set == "scores" else f"score.{self.attribute_set}"


@dataclass
class ScoreResult:
    model_version: str
    shards_scored: int
    shards_skipped: int
    documents: int
    seconds: float
    docs_per_second: float
    per_shard: list[dict[str, Any]]


@dataclass(frozen=True)
class ShardTask:
    store: str
    snapshot: str
    shard: str
    url: str
    version: str
    attribute_set: str
    marker_stage: str
    batch_size: int
    force: bool


# Per worker process: models of a version, loaded once and reused for every shard this process scores.
_MODELS: dict[tuple[str, str], dict[str, LoadedModel]] = {}
_LOADS: dict[tuple[str, str], int] = {}


def worker_models(store: str, version: str) -> dict[str, LoadedModel]:
    key = (store, version)
    if key not in _MODELS:
        _MODELS[key] = load_models(Store(store), version)
        _LOADS[key] = _LOADS.get(key, 0) + 1
    return _MODELS[key]


def score_shard(task: ShardTask) -> dict[str, Any]:
    """Score one documents shard with every model of ``task.version`` (idempotent, marker last)."""
    store = Store(task.store)
    markers = CompletionMarkers(store.markers(task.marker_stage, task.snapshot))
    documents = store.documents_version(task.snapshot, task.shard)
    if (
        not task.force
        and markers.is_done(task.shard)
        and markers.info(task.shard).get("model_version") == task.version
        and markers.info(task.shard).get("documents_version", "") == documents
    ):
        return {"shard": task.shard, "snapshot": task.snapshot, "skipped": True, "documents": 0}
    start = time.perf_counter()
    models = worker_models(task.store, task.version)
    ids: list[str] = []
    scores: dict[str, list[np.ndarray]] = {name: [] for name in SCORE_COLUMNS}
    domains: list[str | None] = []
    domain_scores: list[np.ndarray] = []
    batches = 0
    with open_input(task.url) as fh:
        reader = pq.ParquetFile(fh)
        for batch in reader.iter_batches(batch_size=task.batch_size, columns=["id", "text"]):
            batches += 1
            batch_ids = batch.column(0).to_pylist()
            lines = [fasttext_line(t) for t in batch.column(1).to_pylist()]
            ids.extend(batch_ids)
            for name in SCORE_COLUMNS:
                model = models.get(name)
                if model is None:
                    scores[name].append(np.full(len(lines), np.nan, dtype=np.float64))
                else:
                    scores[name].append(model.predict(lines)[0])
            dom = models.get("domain")
            if dom is None:
                domains.extend([None] * len(lines))
                domain_scores.append(np.full(len(lines), np.nan))
            else:
                probs, labels = dom.predict(lines)
                domains.extend(labels)
                domain_scores.append(probs)
    n = len(ids)

    def column(parts: list[np.ndarray]) -> pa.Array:
        values = np.concatenate(parts) if parts else np.zeros(0)
        return pa.array(values.astype(np.float32), type=pa.float32(), from_pandas=True)  # NaN -> null

    arrays = [pa.array(ids, pa.string())]
    arrays += [column(scores[name]) for name in SCORE_COLUMNS]
    arrays += [
        pa.array(domains, pa.string()),
        column(domain_scores),
        pa.array([task.version] * n, pa.string()),
    ]
    table = pa.Table.from_arrays(arrays, schema=output_schema())
    write_parquet_atomic(store.attribute_shard(task.attribute_set, task.snapshot, task.shard), table)
    seconds = time.perf_counter() - start
    info = {
        "model_version": task.version,
        "documents_version": documents,
        "documents": n,
        "batches": batches,
        "seconds": seconds,
        "pid": os.getpid(),
        "model_loads": _LOADS[(task.store, task.version)],
        "models": sorted(models),
    }
    markers.mark_done(task.shard, info)
    return {"shard": task.shard, "snapshot": task.snapshot, "skipped": False, **info}


def run_score(config: ScoreConfig) -> ScoreResult:
    store = Store(config.store)
    version = resolve_version(store, config.model_version)
    card = load_card(store, version)
    if not card["models"]:
        raise ValueError(f"model version {version} has no models")
    shards = list_document_shards(store, config.snapshots)
    if not shards:
        raise NotReady(f"no documents shards under {store.path('documents')}")
    tasks = [
        ShardTask(
            config.store,
            ref.snapshot,
            ref.shard,
            ref.url,
            version,
            config.attribute_set,
            config.marker_stage(),
            config.batch_size,
            config.force,
        )
        for ref in shards
    ]
    start = time.perf_counter()
    results = run_shards(
        score_shard,
        tasks,
        names=[f"{t.snapshot}/{t.shard}" for t in tasks],
        cluster=config.cluster(),
        description="score",
    )
    seconds = time.perf_counter() - start
    scored = [r for r in results if not r["skipped"]]
    docs = sum(int(r["documents"]) for r in scored)
    result = ScoreResult(
        version,
        len(scored),
        len(results) - len(scored),
        docs,
        seconds,
        docs / seconds if seconds > 0 else 0.0,
        results,
    )
    print_summary(
        f"score ({version})",
        {
            "shards scored": len(scored),
            "shards skipped": result.shards_skipped,
            "documents": docs,
            "models": ", ".join(sorted(card["models"])),
            "docs/s": result.docs_per_second,
        },
    )
    return result
