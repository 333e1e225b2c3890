"""Step 1: one shard's exact hashes, band keys and ids, split by hash into bucket files of the index.

A document's ordinal is ``seq << LOCAL_BITS | shard_index << ROW_BITS | row``: earlier snapshots get lower
``seq``, so the smallest ordinal of a component is its earliest document, as in the in-memory dedup. The
index stores only the local part (``shard_index << ROW_BITS | row``); ``seq`` is added when it is read.

Keys are stored as int64 (the uint64 bits). Each shard first writes ``<kind>/b<bucket>/<shard>.parquet``;
``seal_bucket`` then merges a bucket's shard files into one file ``<kind>/b<bucket>.parquet`` sorted by key
(by ordinal for ``ids``) in small row groups, so a later night can probe it (see ``probe``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tasks.dedup.probe import write_sorted
from tasks.ingest.minhash import band_keys
from tasks.storage import read_parquet, write_parquet_atomic
from tasks.storage.fs import join, list_files, remove

ROW_BITS = 24
LOCAL_BITS = 44
LOCAL_MASK = (1 << LOCAL_BITS) - 1
KINDS = ("exact", "band", "ids")


def mix(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: bucket choice independent of how the keys were made."""
    x = values.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def key_bucket(keys: np.ndarray, buckets: int) -> np.ndarray:
    return (mix(keys) % np.uint64(buckets)).astype(np.int64)


def node_bucket(ords: np.ndarray, buckets: int) -> np.ndarray:
    return key_bucket((ords & LOCAL_MASK).astype(np.uint64), buckets)


def bucket_file(index_dir: str, kind: str, bucket: int, shard: str) -> str:
    return join(index_dir, kind, f"b{bucket:05d}", f"{shard}.parquet")


def sealed_file(index_dir: str, kind: str, bucket: int) -> str:
    """The one sorted file of a bucket (kinds exact, band, ids, and parent for the labels)."""
    return join(index_dir, kind, f"b{bucket:05d}.parquet")


@dataclass(frozen=True)
class PartitionTask:
    minhash_path: str
    index_dir: str
    shard: str
    shard_index: int
    bands: int
    rows: int
    fuzzy: bool
    buckets: int


def partition_shard(task: PartitionTask) -> int:
    """Write the shard's rows into ``index_dir/{exact,band,ids}/b<bucket>/<shard>.parquet``; returns rows.

    Rewriting a shard replaces its files, so a rerun after a crash never leaves duplicate index rows."""
    table = read_parquet(task.minhash_path, columns=["id", "exact_hash", "signature"])
    n = int(table.num_rows)
    if n >= 1 << ROW_BITS or task.shard_index >= 1 << (LOCAL_BITS - ROW_BITS):
        raise ValueError(f"shard {task.shard}: {n} rows / index {task.shard_index} exceed the ordinal layout")
    width = task.bands * task.rows
    column = table.column("signature")
    if column.type.list_size != width:
        raise ValueError(
            "signatures in the store were made with other MinHash settings; re-ingest the snapshot"
        )
    ords = (np.int64(task.shard_index) << np.int64(ROW_BITS)) + np.arange(n, dtype=np.int64)
    exact = table.column("exact_hash").to_numpy().astype(np.uint64)
    _write_buckets(task, "exact", {"key": exact.view(np.int64), "ord": ords}, key_bucket(exact, task.buckets))
    ids = table.column("id").combine_chunks()
    _write_buckets(task, "ids", {"ord": ords, "id": ids}, node_bucket(ords, task.buckets))
    if task.fuzzy:
        flat = column.combine_chunks().flatten().to_numpy()
        sig = flat.reshape(-1, width) if flat.size else np.zeros((0, width), np.uint32)
        keys = band_keys(sig, task.bands, task.rows)  # band index is mixed into the key
        band_ords = np.repeat(ords, task.bands)
        flat_keys = keys.reshape(-1)
        _write_buckets(
            task,
            "band",
            {"key": flat_keys.view(np.int64), "ord": band_ords},
            key_bucket(flat_keys, task.buckets),
        )
    return n


def _write_buckets(task: PartitionTask, kind: str, columns: dict[str, object], bucket: np.ndarray) -> None:
    # by bucket, then by key (sealing merges sorted runs); ids stay in ordinal order
    by_key = "key" in columns
    order = np.lexsort((np.asarray(columns["key"]), bucket)) if by_key else np.argsort(bucket, kind="stable")
    sorted_bucket = bucket[order]
    bounds = np.searchsorted(sorted_bucket, np.arange(task.buckets + 1))
    table = pa.table({name: _array(values) for name, values in columns.items()}).take(pa.array(order))
    for b in range(task.buckets):
        lo, hi = int(bounds[b]), int(bounds[b + 1])
        write_parquet_atomic(bucket_file(task.index_dir, kind, b, task.shard), table.slice(lo, hi - lo))


def _array(values: object) -> pa.Array:
    if isinstance(values, np.ndarray):
        return pa.array(values)
    assert isinstance(values, pa.Array)
    return values


@dataclass(frozen=True)
class SealTask:
    index_dir: str
    kinds: tuple[str, ...]
    bucket: int
    row_group_rows: int


def seal_bucket(task: SealTask) -> int:
    """Merge the bucket's per-shard files of each kind into one sorted file with small row groups; returns
    the rows of the last kind."""
    rows = 0
    for kind in task.kinds:
        folder = join(task.index_dir, kind, f"b{task.bucket:05d}")
        parts = [read_parquet(p) for p in list_files(folder, (".parquet",))]
        if parts:
            table = pa.concat_tables(parts)
        elif kind == "ids":
            table = pa.table({"ord": pa.array([], pa.int64()), "id": pa.array([], pa.string())})
        else:
            table = pa.table({"key": pa.array([], pa.int64()), "ord": pa.array([], pa.int64())})
        if kind == "ids":
            order = np.argsort(table.column("ord").to_numpy(), kind="stable")
        else:
            order = np.lexsort((table.column("ord").to_numpy(), table.column("key").to_numpy()))
        write_sorted(
            sealed_file(task.index_dir, kind, task.bucket), table.take(pa.array(order)), task.row_group_rows
        )
        remove(folder, recursive=True)
        rows = int(table.num_rows)
    return rows
