"""Bounded materialisation of a mixture: per-source-shard parts, then a k-way merge into release shards.

Each source-shard task joins its rows to their documents (:func:`tasks.publish.mixture.materialise_source_shard`),
sorts them by (domain, id) and writes them as one Parquet *part*; it returns only counts (per-domain and
per-snapshot sums for the manifest) and the part's location. The driver then merges the parts with
``heapq.merge`` keyed (domain, id, task index), reading each part in record batches, and cuts the merged stream
into release shards of at most ``max_rows`` rows, one domain per shard.

The bytes are those of the in-memory path (:func:`tasks.publish.staging.stage_shards` over the concatenated,
stably sorted table): the same rows in the same order (ties, the same id from two source shards, in task
order, as a stable sort leaves them), and each release shard gathered into one chunk and written with one
``pq.write_table`` call with the same options (Parquet bytes depend on the chunking). Memory: one release
shard plus one record batch per part (``batch_rows``), independent of the mixture's size.

Parts go into the local staging folder for in-process runs and under the store
(``<store>/_publish/<staging>-<prefix>/``) when a Dask cluster runs the tasks (its workers need not share the
driver's disk). :func:`materialise_mixture` drives both steps for the publisher (:mod:`tasks.publish.publisher`).
"""

from __future__ import annotations

import heapq
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.publish.config import PublishConfig
from tasks.publish.contents import GroupSums, add_sums, group_sums
from tasks.publish.mixture import (
    OUTPUT_SCHEMA,
    MixturePlan,
    ShardRowsTask,
    SourceShardTask,
    materialise_source_shard,
    read_shard_rows,
    shard_rows_tasks,
)
from tasks.publish.staging import StagedShard, reclaim_dead_parts, write_release_shard
from tasks.runner import run_shards
from tasks.storage import Store, exists, open_input, remove, write_bytes_atomic
from tasks.storage.fs import resolve


@dataclass(frozen=True)
class PartTask:
    task: SourceShardTask | ShardRowsTask  # rows given, or read by the worker from the mixture's row files
    url: str  # where this source shard's part goes


@dataclass(frozen=True)
class PartResult:
    url: str | None  # None: no document of this source shard was found
    rows: int
    wanted: int  # the source shard's selected ids (found or missing)
    missing: int
    model_versions: tuple[str, ...]
    domains: GroupSums = field(default_factory=dict)
    sources: GroupSums = field(default_factory=dict)


PART_ROW_GROUP = 1024  # rows per row group of a part: a reader holds one row group of each part it merges
MERGE_FAN_IN = 32  # parts merged at once; more parts are first merged in contiguous groups (a merge tree)
PARTS_DIR = "_publish"  # <store>/_publish/<staging>-<prefix>/: a cluster run's parts, removed when merged


def write_part(part: PartTask) -> PartResult:
    """Materialise one source shard and write it as a part sorted by (domain, id); return only counts."""
    task = read_shard_rows(part.task) if isinstance(part.task, ShardRowsTask) else part.task
    result = materialise_source_shard(task)
    table = result.table
    if not len(table):
        return PartResult(None, 0, len(task.rows), result.missing, result.model_versions)
    table = table.sort_by([("domain", "ascending"), ("id", "ascending")])
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", row_group_size=PART_ROW_GROUP)
    write_bytes_atomic(part.url, sink.getvalue())
    return PartResult(
        part.url,
        len(table),
        len(task.rows),
        result.missing,
        result.model_versions,
        domains=group_sums(table, "domain"),
        sources=group_sums(table, "snapshot"),
    )


def _keyed_rows(index: int, url: str, batch_rows: int) -> Iterator[tuple[str, str, int, int, pa.RecordBatch]]:
    """(domain, id, part index, row, batch) for every row of a part, one record batch in memory at a time."""
    with open_input(url) as fh:
        # pre_buffer (pyarrow's default) would read every row group of the file up front
        for batch in pq.ParquetFile(fh, pre_buffer=False).iter_batches(batch_size=batch_rows):
            domains = batch.column("domain").to_pylist()
            ids = batch.column("id").to_pylist()
            for row, (domain, doc_id) in enumerate(zip(domains, ids, strict=True)):
                yield domain, doc_id, index, row, batch


def _merged(urls: list[str], batch_rows: int) -> Iterator[tuple[str, pa.RecordBatch, int]]:
    """(domain, batch, row) of every row of ``urls`` (each sorted by (domain, id), given in task order) in
    (domain, id) order, ties in the order of ``urls``: what a stable sort of their concatenation gives."""
    streams = [_keyed_rows(i, url, batch_rows) for i, url in enumerate(urls)]
    for domain, _, _, row, batch in heapq.merge(
        *streams
    ):  # (domain, id, index) is unique: batches never compared
        yield domain, batch, row


class _Rows:
    """Rows referenced as runs of record batches, gathered into one single-chunk table on ``take``."""

    def __init__(self) -> None:
        self.runs: list[tuple[pa.RecordBatch, int, int]] = []  # (batch, first row, length)
        self.count = 0

    def add(self, batch: pa.RecordBatch, row: int) -> None:
        if self.runs and self.runs[-1][0] is batch and self.runs[-1][1] + self.runs[-1][2] == row:
            last = self.runs[-1]
            self.runs[-1] = (batch, last[1], last[2] + 1)
        else:
            self.runs.append((batch, row, 1))
        self.count += 1

    def take(self) -> pa.Table:
        slices = [batch.slice(start, length).cast(OUTPUT_SCHEMA) for batch, start, length in self.runs]
        self.runs, self.count = [], 0
        return pa.Table.from_batches(slices, schema=OUTPUT_SCHEMA).combine_chunks()


class ReleaseShardWriter:
    """Cuts a (domain, id)-ordered row stream into release shards of at most ``max_rows`` rows, one domain per
    shard, each gathered into one chunk and written in one call; holds at most one shard's rows."""

    def __init__(self, staging: str, max_rows: int, prefix: str) -> None:
        self.staging, self.max_rows, self.prefix = staging, max_rows, prefix
        self.staged: list[StagedShard] = []
        self._rows = _Rows()
        self._domain: str | None = None
        self.peak_rows = 0  # the most rows held at once (tests check it does not grow with the parts)

    def add(self, domain: str, batch: pa.RecordBatch, row: int) -> None:
        if self._rows.count and (domain != self._domain or self._rows.count >= self.max_rows):
            self.flush()
        self._domain = domain
        self._rows.add(batch, row)
        self.peak_rows = max(self.peak_rows, self._rows.count)

    def flush(self) -> None:
        if not self._rows.count:
            return
        name = f"{self.prefix}-{len(self.staged):05d}.parquet"
        self.staged.append(write_release_shard(self._rows.take(), self.staging, name, str(self._domain)))


def _merge_into_part(urls: list[str], out: str, batch_rows: int) -> None:
    """Merge ``urls`` into one part ``out`` (same order and sort key), a row group of ``batch_rows`` at a time."""
    fs, path = resolve(out)
    if "://" not in out:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    buffer = _Rows()
    with fs.open(path, "wb") as fh, pq.ParquetWriter(fh, OUTPUT_SCHEMA, compression="zstd") as writer:
        for _, batch, row in _merged(urls, batch_rows):
            buffer.add(batch, row)
            if buffer.count >= batch_rows:  # one row group per batch: what its next reader holds at once
                writer.write_table(buffer.take())
        if buffer.count:
            writer.write_table(buffer.take())


def merge_parts(
    urls: list[str],
    staging: str,
    max_rows: int,
    prefix: str = "part",
    batch_rows: int = PART_ROW_GROUP,
    fan_in: int = MERGE_FAN_IN,
    writer: ReleaseShardWriter | None = None,
) -> ReleaseShardWriter:
    """Merge parts (each sorted by (domain, id), given in task order) into release shards in ``staging``.

    More than ``fan_in`` parts are first merged in contiguous groups into parts beside them (which keeps ties in
    task order), so at most ``fan_in`` parts are read at once. The parts given are consumed (removed)."""
    if fan_in < 2:
        raise ValueError(f"fan_in must be at least 2, got {fan_in}")
    level = 0
    while len(urls) > fan_in:
        merged = []
        for start in range(0, len(urls), fan_in):
            group = urls[start : start + fan_in]
            head, _, _ = group[0].rpartition("/")
            out = f"{head}/merge-{level}-{start // fan_in:06d}.parquet"
            _merge_into_part(group, out, batch_rows)
            for url in group:
                remove(url)
            merged.append(out)
        urls, level = merged, level + 1
    writer = writer or ReleaseShardWriter(staging, max_rows, prefix)
    for domain, batch, row in _merged(urls, batch_rows):
        writer.add(domain, batch, row)
    writer.flush()
    return writer


@dataclass(frozen=True)
class Materialised:
    """A mixture's release shards, staged, and what the manifest needs from its rows (summed over parts)."""

    staged: list[StagedShard]
    domain_sums: GroupSums
    source_sums: GroupSums
    snapshots: list[str]  # of the rows found
    missing: int  # rows whose document is missing
    model_versions: list[str]  # the scores' model versions


def materialise_mixture(
    config: PublishConfig, store: Store, mixture: MixturePlan, staging: str, prefix: str
) -> Materialised:
    """Join the mixture's rows to their documents, one part per source shard (sorted by domain, id), and merge
    the parts into release shards ``shards/<prefix>-NNNNN.parquet`` (:func:`merge_parts`: the bytes of a global
    stable sort by (domain, id), one release shard in memory at a time). The parts go to the local ``staging``
    folder in-process, else under the store (``<store>/_publish/``); they are removed once merged."""
    tasks_ = shard_rows_tasks(store, mixture)  # each worker reads its source shard's rows itself
    in_process = config.cluster.n_workers == 0 and not config.cluster.address
    if in_process:
        parts_root = os.path.join(staging, "_parts", prefix)
    else:  # workers need not share our disk; named after our staging folder, so a dead run's parts are reclaimed
        reclaim_dead_parts(f"{store.root}/{PARTS_DIR}")
        parts_root = f"{store.root}/{PARTS_DIR}/{os.path.basename(staging)}-{prefix}"
    try:
        results = run_shards(
            write_part,
            [PartTask(t, f"{parts_root}/{i:06d}.parquet") for i, t in enumerate(tasks_)],
            names=[f"{t.snapshot}-{t.shard}" for t in tasks_],
            cluster=config.cluster,
            description=f"publish {mixture.name}: read documents",
        )
        missing = sum(r.missing for r in results)
        total_rows = sum(r.wanted for r in results)
        if total_rows and missing / total_rows > config.max_missing_fraction:
            raise ValueError(
                f"mixture {mixture.name!r} references {missing} of {total_rows} documents that are not in the "
                f"store {store.root} (allowed fraction {config.max_missing_fraction}); re-run ingest or mix"
            )
        urls = [r.url for r in results if r.url is not None and r.rows]
        if not urls:
            raise ValueError(f"mixture {mixture.name!r}: none of its documents were found in {store.root}")
        writer = merge_parts(urls, staging, config.max_rows_per_shard, prefix=prefix)
    finally:
        if exists(parts_root):
            remove(parts_root, recursive=True)
    domain_sums: GroupSums = {}
    source_sums: GroupSums = {}
    for r in results:
        add_sums(domain_sums, r.domains)
        add_sums(source_sums, r.sources)
    return Materialised(
        staged=writer.staged,
        domain_sums=domain_sums,
        source_sums=source_sums,
        snapshots=sorted(source_sums),
        missing=missing,
        model_versions=sorted({v for r in results for v in r.model_versions}),
    )
