"""Snapshot-wide exact and fuzzy dedup over the signatures written by the shards.

Documents of earlier snapshots already in the store come first, then this snapshot's shards in name order
and rows in file order. A document is a duplicate when an earlier document has the same normalised text
(exact) or shares a MinHash LSH band with it, transitively (fuzzy; connected components as in FineWeb).
The result is the ``dedup`` attribute set; documents are never rewritten.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from tasks.ingest.config import DedupConfig
from tasks.ingest.minhash import band_keys
from tasks.ingest.shard import STAGE as INGEST_STAGE
from tasks.storage import (
    CompletionMarkers,
    Store,
    read_parquet,
    remove_stale_temps,
    write_json_atomic,
    write_parquet_atomic,
)

if TYPE_CHECKING:
    from tasks.dedup.job import DistributedDedupConfig

STAGE = "dedup"
SNAPSHOT_MARKER = "_snapshot"


@dataclass(frozen=True)
class DedupResult:
    snapshot: str
    documents: int
    exact_duplicates: int
    fuzzy_duplicates: int
    reference_documents: int
    seconds: float
    skipped_done: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def components(keys: list[np.ndarray], n: int) -> np.ndarray:
    """Smallest member index of each document's connected component, where documents sharing a value in
    any key array are connected."""
    labels = np.arange(n, dtype=np.int64)
    groups: list[np.ndarray] = []
    for key in keys:
        _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        shared = counts[inverse] > 1
        if shared.any():
            idx = np.nonzero(shared)[0]
            groups.append(np.stack([idx, inverse[idx]]))
    while True:
        before = labels.copy()
        for pair in groups:
            idx, group = pair[0], pair[1]
            gmin = np.full(int(group.max()) + 1, n, dtype=np.int64)
            np.minimum.at(gmin, group, labels[idx])
            labels[idx] = np.minimum(labels[idx], gmin[group])
        while True:  # pointer jumping
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(before, labels):
            return labels


def _fingerprint(config: DedupConfig, shards: list[str], references: list[str]) -> str:
    payload = json.dumps([config.model_dump(), shards, references], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def run_dedup(
    store_root: str,
    snapshot: str,
    config: DedupConfig,
    options: DistributedDedupConfig | None = None,
    *,
    in_memory: bool = False,
) -> DedupResult:
    """Dedup ``snapshot`` against the earlier deduplicated snapshots of the store.

    The work runs as the bucketed, out-of-core job of :mod:`tasks.dedup` (on Dask when ``options.cluster`` or
    ``$QUARRY_DASK_SCHEDULER`` names one). ``in_memory=True`` runs the original single-process algorithm, kept
    as the reference the distributed job is tested against."""
    from tasks.dedup.job import dedup_snapshot, is_retired

    store = Store(store_root)
    started = time.perf_counter()
    shards = sorted(CompletionMarkers(store.markers(INGEST_STAGE, snapshot)).done())
    references = (
        [
            s
            for s in store.snapshots()
            if s != snapshot
            and CompletionMarkers(store.markers(STAGE, s)).is_done(SNAPSHOT_MARKER)
            and not is_retired(store, s)
        ]
        if config.cross_snapshot
        else []
    )
    # Only snapshots deduplicated before this one count as "earlier"; they never point at this one.
    references = [s for s in references if not _references(store, s, snapshot)]
    for folder in (
        store.attributes(STAGE, snapshot),
        store.stats(STAGE, snapshot),
        store.markers(STAGE, snapshot),
    ):
        remove_stale_temps(folder)
    marker = CompletionMarkers(store.markers(STAGE, snapshot))
    versions = [store.documents_version(snapshot, shard) for shard in shards]
    fingerprint = _fingerprint(
        config, [f"{s}@{v}" for s, v in zip(shards, versions, strict=True)], references
    )
    if marker.is_done(SNAPSHOT_MARKER) and marker.info(SNAPSHOT_MARKER).get("fingerprint") == fingerprint:
        info = marker.info(SNAPSHOT_MARKER)
        return DedupResult(**{**info["result"], "skipped_done": True})
    if in_memory:
        result = _dedup_in_memory(store, snapshot, shards, references, config, started)
    else:
        refs = []
        for ref in references:
            ref_shards = sorted(CompletionMarkers(store.markers(INGEST_STAGE, ref)).done())
            refs.append((ref, ref_shards, [store.documents_version(ref, s) for s in ref_shards]))
        counts = dedup_snapshot(store_root, snapshot, shards, refs, config, options)
        result = DedupResult(
            snapshot=snapshot,
            documents=counts.documents,
            exact_duplicates=counts.exact_duplicates,
            fuzzy_duplicates=counts.fuzzy_duplicates,
            reference_documents=counts.reference_documents,
            seconds=round(time.perf_counter() - started, 4),
        )
    write_json_atomic(store.path("stats", STAGE, snapshot, "summary.json"), result.as_dict())
    marker.mark_done(
        SNAPSHOT_MARKER,
        {"fingerprint": fingerprint, "shards": shards, "references": references, "result": result.as_dict()},
    )
    return result


def _dedup_in_memory(
    store: Store, snapshot: str, shards: list[str], references: list[str], config: DedupConfig, started: float
) -> DedupResult:
    ids: list[pa.Array] = []
    exact: list[np.ndarray] = []
    bands: list[np.ndarray] = []
    owner: list[tuple[str, int]] = []  # (shard, rows) of this snapshot, in order
    n_ref = 0
    for ref in references:
        for ref_shard in sorted(CompletionMarkers(store.markers(INGEST_STAGE, ref)).done()):
            table = read_parquet(store.minhash_shard(ref, ref_shard))
            n_ref += table.num_rows
            _collect(table, config, ids, exact, bands)
    for shard in shards:
        table = read_parquet(store.minhash_shard(snapshot, shard))
        owner.append((shard, table.num_rows))
        _collect(table, config, ids, exact, bands)

    n = sum(len(a) for a in exact)
    all_ids = pa.concat_arrays(ids).to_numpy(zero_copy_only=False) if ids else np.zeros(0, dtype=object)
    exact_arr = np.concatenate(exact) if exact else np.zeros(0, np.uint64)

    index = np.arange(n, dtype=np.int64)
    exact_root = components([exact_arr], n) if config.exact and n else index
    keys: list[np.ndarray] = [exact_arr] if config.exact else []
    if config.fuzzy and n:
        band_arr = np.concatenate(bands)
        bands.clear()
        keys.extend(band_arr[:, b] for b in range(config.bands))
    root = components(keys, n) if keys and n else index

    is_exact = exact_root < index
    is_dup = root < index
    is_fuzzy = is_dup & ~is_exact
    duplicate_of = np.where(is_exact, exact_root, root)
    cluster_size = np.bincount(root, minlength=n)[root] if n else np.zeros(0, np.int64)

    start = n_ref
    for shard, rows in owner:
        sl = slice(start, start + rows)
        dup_of = [str(all_ids[j]) if d else None for j, d in zip(duplicate_of[sl], is_dup[sl], strict=True)]
        table = pa.table(
            {
                "id": pa.array(all_ids[sl], type=pa.string()),
                "is_duplicate": pa.array(is_dup[sl], type=pa.bool_()),
                "exact_duplicate": pa.array(is_exact[sl], type=pa.bool_()),
                "fuzzy_duplicate": pa.array(is_fuzzy[sl], type=pa.bool_()),
                "duplicate_of": pa.array(dup_of, type=pa.string()),
                "cluster_size": pa.array(cluster_size[sl], type=pa.int64()),
            }
        )
        write_parquet_atomic(store.attribute_shard("dedup", snapshot, shard), table)
        start += rows

    own = slice(n_ref, n)
    return DedupResult(
        snapshot=snapshot,
        documents=n - n_ref,
        exact_duplicates=int(is_exact[own].sum()),
        fuzzy_duplicates=int(is_fuzzy[own].sum()),
        reference_documents=n_ref,
        seconds=round(time.perf_counter() - started, 4),
    )


def _references(store: Store, snapshot: str, other: str) -> bool:
    info = CompletionMarkers(store.markers(STAGE, snapshot)).info(SNAPSHOT_MARKER)
    return other in info.get("references", [])


def _collect(
    table: pa.Table,
    config: DedupConfig,
    ids: list[pa.Array],
    exact: list[np.ndarray],
    bands: list[np.ndarray],
) -> None:
    """Keep a shard's ids, exact hashes and LSH band keys; its signatures are dropped once keyed."""
    ids.append(table.column("id").combine_chunks())
    exact.append(table.column("exact_hash").to_numpy().astype(np.uint64))
    width = config.num_perm
    column = table.column("signature")
    if column.type.list_size != width:
        raise ValueError(
            "signatures in the store were made with other MinHash settings; re-ingest the snapshot"
        )
    if config.fuzzy:
        flat = column.combine_chunks().flatten().to_numpy()
        sig = flat.reshape(-1, width) if flat.size else np.zeros((0, width), np.uint32)
        bands.append(band_keys(sig, config.bands, config.rows))
