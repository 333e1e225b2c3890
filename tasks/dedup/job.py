"""Run the distributed dedup of one snapshot against the index of earlier snapshots.

The index (``dedup-index/<snapshot>/``) holds each deduplicated snapshot's bucket files; it is complete when
its ``_markers/dedup-index/<snapshot>/_snapshot.done`` marker exists (written last, with the shard versions it
was built from). A crash mid-build leaves no marker, and the rebuild rewrites the same per-shard files, so
the index never holds duplicate rows. ``remove_from_index`` retires a snapshot (retention).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from tasks.dedup.graph import (
    FinalTask,
    GroupTask,
    NodeTask,
    Source,
    emit_duplicates,
    group_bucket,
    init_nodes,
    keep_smallest,
    send_labels,
)
from tasks.dedup.partition import PartitionTask, partition_shard
from tasks.ingest.config import DedupConfig
from tasks.runner import ClusterConfig, dask_client
from tasks.storage import CompletionMarkers, Store, read_parquet, write_parquet_atomic
from tasks.storage.fs import join, list_files, remove, remove_stale_temps

INDEX = "dedup-index"
COMPLETE = "_snapshot"
RETIRED = "_retired"
MAX_ROUNDS = 200

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class DistributedDedupConfig:
    """``buckets`` splits every key kind and the node state: per-task memory ~ corpus rows x 15 / buckets.
    ``cluster`` None runs in process unless ``$QUARRY_DASK_SCHEDULER`` names a scheduler."""

    buckets: int = 16
    cluster: ClusterConfig | None = None
    keep_work: bool = False


@dataclass
class Counts:
    documents: int = 0
    exact_duplicates: int = 0
    fuzzy_duplicates: int = 0
    reference_documents: int = 0
    rounds: int = 0
    edges: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # wall seconds per phase


class _Map:
    def __init__(self, client: Any) -> None:
        self.client = client

    def __call__(self, func: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if self.client is None:
            return [func(item) for item in items]
        futures = self.client.map(func, list(items), pure=False)
        return list(self.client.gather(futures))


@contextmanager
def _mapper(cluster: ClusterConfig | None) -> Iterator[_Map]:
    cluster = cluster or ClusterConfig(address=os.environ.get("QUARRY_DASK_SCHEDULER") or None, n_workers=0)
    if cluster.n_workers == 0 and not cluster.address:
        yield _Map(None)
        return
    with dask_client(cluster) as client:
        yield _Map(client)


def index_dir(store: Store, snapshot: str) -> str:
    return store.path(INDEX, snapshot)


def index_markers(store: Store, snapshot: str) -> CompletionMarkers:
    return CompletionMarkers(store.markers(INDEX, snapshot))


def is_retired(store: Store, snapshot: str) -> bool:
    return index_markers(store, snapshot).is_done(RETIRED)


def remove_from_index(store_root: str, snapshot: str) -> bool:
    """Retire ``snapshot``: later dedup runs no longer compare against it. Marker first, then the files, so a
    crash in between never leaves a half index that counts as complete. Returns whether it was indexed."""
    store = Store(store_root)
    markers = index_markers(store, snapshot)
    was = markers.is_done(COMPLETE)
    markers.mark_done(RETIRED, {"snapshot": snapshot})
    remove(markers.path(COMPLETE))
    remove(index_dir(store, snapshot), recursive=True)
    return was


def _build_index(
    store: Store,
    snapshot: str,
    shards: list[str],
    versions: list[str],
    config: DedupConfig,
    buckets: int,
    run: _Map,
) -> int:
    markers = index_markers(store, snapshot)
    remove_stale_temps(store.markers(INDEX, snapshot))  # a killed run's marker temp (index files: see below)
    want = {"shards": shards, "versions": versions, "config": config.model_dump(), "buckets": buckets}
    if markers.is_done(COMPLETE):
        info = markers.info(COMPLETE)
        if {k: info.get(k) for k in want} == want:
            return int(info["rows"])
        remove(markers.path(COMPLETE))
    remove(index_dir(store, snapshot), recursive=True)  # stale or half-built: start clean
    remove(markers.path(RETIRED))
    tasks = [
        PartitionTask(
            minhash_path=store.minhash_shard(snapshot, shard),
            index_dir=index_dir(store, snapshot),
            shard=shard,
            shard_index=i,
            bands=config.bands,
            rows=config.rows,
            fuzzy=config.fuzzy,
            buckets=buckets,
        )
        for i, shard in enumerate(shards)
    ]
    rows = sum(run(partition_shard, tasks))
    markers.mark_done(COMPLETE, {**want, "rows": rows})
    return rows


def dedup_snapshot(
    store_root: str,
    snapshot: str,
    shards: list[str],
    references: list[tuple[str, list[str], list[str]]],
    config: DedupConfig,
    options: DistributedDedupConfig | None = None,
) -> Counts:
    """Write the ``dedup`` attributes of ``snapshot``'s ``shards`` against ``references`` (earliest first:
    (snapshot, its shards, their versions)); references missing from the index are indexed first."""
    options = options or DistributedDedupConfig()
    store = Store(store_root)
    buckets = options.buckets
    counts = Counts()
    work = store.path("tmp", "dedup", snapshot)
    remove(work, recursive=True)
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        counts.seconds[phase] = round(counts.seconds.get(phase, 0.0) + now - clock, 2)
        clock = now

    with _mapper(options.cluster) as run:
        lap("start")
        sources: list[Source] = []
        for seq, (ref, ref_shards, ref_versions) in enumerate(references):
            counts.reference_documents += _build_index(
                store, ref, ref_shards, ref_versions, config, buckets, run
            )
            sources.append(Source(index_dir(store, ref), seq))
        current = len(references)
        versions = [store.documents_version(snapshot, s) for s in shards]
        counts.documents = _build_index(store, snapshot, shards, versions, config, buckets, run)
        sources.append(Source(index_dir(store, snapshot), current))
        lap("index")

        kinds = (["exact"] if config.exact else []) + (["band"] if config.fuzzy else [])
        groups = [
            GroupTask(sources, kind, b, buckets, work, current, exact_roots=kind == "exact")
            for kind in kinds
            for b in range(buckets)
        ]
        counts.edges = sum(run(group_bucket, groups))
        lap("edges")
        run(init_nodes, [NodeTask(sources, b, buckets, work) for b in range(buckets)])
        round_ = 0
        while True:
            nodes = [NodeTask(sources, b, buckets, work, round_) for b in range(buckets)]
            run(send_labels, nodes)
            changed = sum(run(keep_smallest, nodes))
            round_ += 1
            if changed == 0:
                break
            if round_ >= MAX_ROUNDS:
                raise RuntimeError(f"dedup labels did not settle after {MAX_ROUNDS} rounds")
        counts.rounds = round_
        lap("components")
        run(emit_duplicates, [FinalTask(b, work, round_, current) for b in range(buckets)])
        written = run(
            _write_attributes,
            [(store_root, snapshot, shard, i, work) for i, shard in enumerate(shards)],
        )
        lap("attributes")
    for exact, fuzzy in written:
        counts.exact_duplicates += exact
        counts.fuzzy_duplicates += fuzzy
    if not options.keep_work:
        remove(work, recursive=True)
    return counts


def _write_attributes(item: tuple[str, str, str, int, str]) -> tuple[int, int]:
    store_root, snapshot, shard, shard_index, work = item
    store = Store(store_root)
    ids = read_parquet(store.minhash_shard(snapshot, shard), columns=["id"]).column("id").combine_chunks()
    n = len(ids)
    is_dup = np.zeros(n, dtype=bool)
    is_exact = np.zeros(n, dtype=bool)
    dup_of: list[str | None] = [None] * n
    for path in list_files(join(work, "out", f"s{shard_index:07d}"), (".parquet",)):
        part = read_parquet(path).to_pydict()
        for row, label_id, root_id in zip(part["row"], part["label_id"], part["exact_root_id"], strict=True):
            is_dup[row] = True
            is_exact[row] = root_id is not None
            dup_of[row] = root_id if root_id is not None else label_id
    is_fuzzy = is_dup & ~is_exact
    table = pa.table(
        {
            "id": pa.array(ids, type=pa.string()),
            "is_duplicate": pa.array(is_dup, type=pa.bool_()),
            "exact_duplicate": pa.array(is_exact, type=pa.bool_()),
            "fuzzy_duplicate": pa.array(is_fuzzy, type=pa.bool_()),
            "duplicate_of": pa.array(dup_of, type=pa.string()),
        }
    )
    write_parquet_atomic(store.attribute_shard("dedup", snapshot, shard), table)
    return int(is_exact.sum()), int(is_fuzzy.sum())
