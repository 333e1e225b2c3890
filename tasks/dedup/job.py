"""Run the distributed dedup of one snapshot against the index of earlier snapshots.

The index (``dedup-index/<snapshot>/``) holds each deduplicated snapshot's sealed, key-sorted bucket files;
it is complete when its ``_markers/dedup-index/<snapshot>/_snapshot.done`` marker exists (written last, with
the shard versions it was built from). A crash mid-build leaves no marker, and the rebuild rewrites the same
files, so the index never holds duplicate rows.

Each snapshot's night also stores its labels (``parent/``, see ``labels``), valid for the exact chain of
earlier snapshot indexes it was computed against (``_labels.done`` records their fingerprints). A night reads
the current snapshot's index whole and of the earlier snapshots only the row groups its keys and label
lookups touch. If an earlier snapshot's labels do not match the present chain (a snapshot before it was
retired or re-indexed, or it was indexed as a reference and never labelled), they are recomputed first, in
order, each by a night of its own that writes no attributes: exact, at the cost of one pass.

``remove_from_index`` retires a snapshot (retention). The components of the remaining snapshots are then
recomputed without it (the labels of every later snapshot are recomputed at their next use), so a document
whose only link to its kept document ran through the retired snapshot is no longer a duplicate, exactly as
if the retired snapshot had never been indexed; earlier snapshots' labels stay valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from tasks.dedup.graph import (
    GroupTask,
    NodeTask,
    Source,
    group_bucket,
    init_nodes,
    keep_smallest,
    send_labels,
)
from tasks.dedup.labels import (
    PARENT,
    EmitTask,
    LookupTask,
    SizeTask,
    cluster_sizes,
    emit_labels,
    lookup_parents,
    size_parts,
)
from tasks.dedup.partition import KINDS, PartitionTask, SealTask, partition_shard, seal_bucket
from tasks.dedup.probe import ReadStats
from tasks.ingest.config import DedupConfig
from tasks.runner import ClusterConfig, dask_client
from tasks.storage import CompletionMarkers, Store, read_parquet, write_parquet_atomic
from tasks.storage.fs import join, list_files, remove, remove_stale_temps

INDEX = "dedup-index"
COMPLETE = "_snapshot"
RETIRED = "_retired"
LABELS = "_labels"
INDEX_FORMAT = 2  # 2: sealed key-sorted bucket files with row-group statistics, and stored labels
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
    row_group_rows: int = 8192  # rows per row group of the sealed index files (the probe's read unit)
    prune: bool = True  # False reads earlier snapshots' bucket files whole (for measurement only)


@dataclass
class Counts:
    documents: int = 0
    exact_duplicates: int = 0
    fuzzy_duplicates: int = 0
    reference_documents: int = 0
    rounds: int = 0
    edges: int = 0
    lookup_rounds: int = 0
    history: ReadStats = field(default_factory=ReadStats)  # this night's reads of earlier snapshots' index
    relabelled: list[str] = field(default_factory=list)  # earlier snapshots whose labels were recomputed
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
    remove(markers.path(LABELS))
    remove(markers.path(COMPLETE))
    remove(index_dir(store, snapshot), recursive=True)
    return was


def _build_index(
    store: Store,
    snapshot: str,
    shards: list[str],
    versions: list[str],
    config: DedupConfig,
    options: DistributedDedupConfig,
    run: _Map,
) -> int:
    buckets = options.buckets
    markers = index_markers(store, snapshot)
    remove_stale_temps(store.markers(INDEX, snapshot))  # a killed run's marker temp (index files: see below)
    want = {
        "shards": shards,
        "versions": versions,
        "config": config.model_dump(),
        "buckets": buckets,
        "format": INDEX_FORMAT,
        "row_group_rows": options.row_group_rows,
    }
    if markers.is_done(COMPLETE):
        info = markers.info(COMPLETE)
        if {k: info.get(k) for k in want} == want:
            return int(info["rows"])
        remove(markers.path(COMPLETE))
    remove(markers.path(LABELS))
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
    kinds = [k for k in KINDS if k != "band" or config.fuzzy]
    seals = [
        SealTask(index_dir(store, snapshot), tuple(kinds), b, options.row_group_rows) for b in range(buckets)
    ]
    run(seal_bucket, seals)
    markers.mark_done(COMPLETE, {**want, "rows": rows})
    return rows


def index_fingerprint(store: Store, snapshot: str) -> str:
    """What the snapshot's index was built from (its completion marker without the time it was written: a
    rebuild of the same shards after a crash is the same index)."""
    info = {k: v for k, v in index_markers(store, snapshot).info(COMPLETE).items() if k != "finished_at"}
    return hashlib.sha256(json.dumps([snapshot, info], sort_keys=True).encode()).hexdigest()


def _labels_valid(store: Store, snapshot: str, chain: list[str]) -> bool:
    markers = index_markers(store, snapshot)
    if not markers.is_done(LABELS):
        return False
    info = markers.info(LABELS)
    return bool(info.get("chain") == chain and info.get("self") == index_fingerprint(store, snapshot))


def dedup_snapshot(
    store_root: str,
    snapshot: str,
    shards: list[str],
    references: list[tuple[str, list[str], list[str]]],
    config: DedupConfig,
    options: DistributedDedupConfig | None = None,
) -> Counts:
    """Write the ``dedup`` attributes of ``snapshot``'s ``shards`` against ``references`` (earliest first:
    (snapshot, its shards, their versions)); references missing from the index are indexed first, and
    references whose stored labels do not match this chain are relabelled first."""
    options = options or DistributedDedupConfig()
    store = Store(store_root)
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
        chain: list[str] = []
        for seq, (ref, ref_shards, ref_versions) in enumerate(references):
            counts.reference_documents += _build_index(
                store, ref, ref_shards, ref_versions, config, options, run
            )
            sources.append(Source(index_dir(store, ref), seq))
            if not _labels_valid(store, ref, chain):
                lap("index")
                ref_work = store.path("tmp", "dedup", ref)
                _night(run, ref_work, list(sources), config, options, Counts())
                _mark_labels(store, ref, chain)
                remove(ref_work, recursive=True)
                counts.relabelled.append(ref)
                lap("relabel")
            chain.append(index_fingerprint(store, ref))
        current = len(references)
        versions = [store.documents_version(snapshot, s) for s in shards]
        counts.documents = _build_index(store, snapshot, shards, versions, config, options, run)
        remove(index_markers(store, snapshot).path(LABELS))
        sources.append(Source(index_dir(store, snapshot), current))
        lap("index")
        _night(run, work, sources, config, options, counts, lap)
        written = run(
            _write_attributes,
            [(store_root, snapshot, shard, i, work) for i, shard in enumerate(shards)],
        )
        _mark_labels(store, snapshot, chain)
        lap("attributes")
    for exact, fuzzy in written:
        counts.exact_duplicates += exact
        counts.fuzzy_duplicates += fuzzy
    if not options.keep_work:
        remove(work, recursive=True)
    return counts


def _mark_labels(store: Store, snapshot: str, chain: list[str]) -> None:
    info = {"chain": chain, "self": index_fingerprint(store, snapshot)}
    index_markers(store, snapshot).mark_done(LABELS, info)


def _night(
    run: _Map,
    work: str,
    sources: list[Source],
    config: DedupConfig,
    options: DistributedDedupConfig,
    counts: Counts,
    lap: Callable[[str], None] = lambda phase: None,
) -> None:
    """Components of the last source's documents against the earlier sources' stored labels; writes the
    per-shard rows for the attributes under ``work/out`` and the last source's labels (parent files)."""
    buckets, prune = options.buckets, options.prune
    current = sources[-1]
    remove(work, recursive=True)
    remove(join(current.index_dir, PARENT), recursive=True)
    kinds = (["exact"] if config.exact else []) + (["band"] if config.fuzzy else [])
    groups = [
        GroupTask(sources, kind, b, buckets, work, current.seq, exact_roots=kind == "exact", prune=prune)
        for kind in kinds
        for b in range(buckets)
    ]
    for edges, stats in run(group_bucket, groups):
        counts.edges += edges
        counts.history.add(stats)
    lap("edges")
    round_ = 0
    while len(sources) > 1:  # the first snapshot has no stored labels to look up
        found = run(
            lookup_parents, [LookupTask(sources, b, buckets, work, round_, prune) for b in range(buckets)]
        )
        for _, stats in found:
            counts.history.add(stats)
        round_ += 1
        if sum(n for n, _ in found) == 0:
            break
        if round_ >= MAX_ROUNDS:
            raise RuntimeError(f"stored dedup labels did not resolve after {MAX_ROUNDS} lookups")
    counts.lookup_rounds = round_
    lap("lookup")
    for stats in run(init_nodes, [NodeTask(sources, b, buckets, work, prune=prune) for b in range(buckets)]):
        counts.history.add(stats)
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
    sizes = [SizeTask(b, buckets, work, round_, current.seq) for b in range(buckets)]
    run(size_parts, sizes)
    run(cluster_sizes, sizes)
    emits = [
        EmitTask(b, work, round_, current.seq, current.index_dir, options.row_group_rows)
        for b in range(buckets)
    ]
    run(emit_labels, emits)
    lap("labels")


def _write_attributes(item: tuple[str, str, str, int, str]) -> tuple[int, int]:
    store_root, snapshot, shard, shard_index, work = item
    store = Store(store_root)
    ids = read_parquet(store.minhash_shard(snapshot, shard), columns=["id"]).column("id").combine_chunks()
    n = len(ids)
    is_dup = np.zeros(n, dtype=bool)
    is_exact = np.zeros(n, dtype=bool)
    size = np.ones(n, dtype=np.int64)
    dup_of: list[str | None] = [None] * n
    for path in list_files(join(work, "out", f"s{shard_index:07d}"), (".parquet",)):
        part = read_parquet(path).to_pydict()
        rows = zip(
            part["row"],
            part["duplicate"],
            part["label_id"],
            part["exact_root_id"],
            part["cluster_size"],
            strict=True,
        )
        for row, duplicate, label_id, root_id, cluster_size in rows:
            size[row] = cluster_size
            if duplicate:
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
            "cluster_size": pa.array(size, type=pa.int64()),
        }
    )
    write_parquet_atomic(store.attribute_shard("dedup", snapshot, shard), table)
    return int(is_exact.sum()), int(is_fuzzy.sum())
