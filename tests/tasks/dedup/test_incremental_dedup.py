"""Probe-only nights: a night reads of earlier snapshots only the index row groups its keys and label lookups
touch, and the stored labels give the in-memory result over many nights (chains of merged components,
cluster sizes across snapshots, retirement)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.dedup import DistributedDedupConfig, remove_from_index
from tasks.dedup.job import dedup_snapshot
from tasks.dedup.probe import ReadStats
from tasks.ingest import DedupConfig
from tasks.ingest.dedup import SNAPSHOT_MARKER, STAGE, run_dedup
from tasks.ingest.shard import STAGE as INGEST_STAGE
from tasks.storage import CompletionMarkers, Store, write_parquet_atomic
from tasks.storage.fs import remove

WIDTH = DedupConfig().num_perm


def random_sigs(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return (
        rng.integers(0, 2**32, size=(n, WIDTH), dtype=np.uint32),
        rng.integers(0, 2**63, size=n, dtype=np.uint64),
    )


def near(rng: np.random.Generator, sig: np.ndarray) -> np.ndarray:
    """A near copy: 10% of the values re-drawn (P(some band of 8 unchanged) > 0.999)."""
    copy = sig.copy()
    redraw = rng.random(copy.shape) < 0.1
    copy[redraw] = rng.integers(0, 2**32, size=int(redraw.sum()), dtype=np.uint32)
    return copy


def write_snapshot(
    store: Store, snapshot: str, sig: np.ndarray, exact: np.ndarray, shards: int = 2
) -> list[str]:
    """Minhash shards of a snapshot (the layout ingest writes), with their ingest markers."""
    names = []
    for i, rows in enumerate(np.array_split(np.arange(len(sig)), shards)):
        name = f"{snapshot}-{i}"
        table = pa.table(
            {
                "id": pa.array([f"{snapshot}/{r}" for r in rows], pa.string()),
                "exact_hash": pa.array(exact[rows], pa.uint64()),
                "signature": pa.FixedSizeListArray.from_arrays(pa.array(sig[rows].reshape(-1)), WIDTH),
            }
        )
        write_parquet_atomic(store.minhash_shard(snapshot, name), table)
        CompletionMarkers(store.markers(INGEST_STAGE, snapshot)).mark_done(name, {"version": "v1"})
        Path(store.path("documents", snapshot)).mkdir(parents=True, exist_ok=True)
        names.append(name)
    return names


def night(root: Path, unrelated: int) -> tuple[ReadStats, ReadStats]:
    """Snapshot a (100 docs), b (``unrelated`` docs sharing nothing with c), then c: 10 docs, 3 exact and 3
    near copies of a's. Returns what c's night read of a's and b's index, probing and reading whole files."""
    rng = np.random.default_rng(5)
    store = Store(str(root))
    config = DedupConfig()
    options = DistributedDedupConfig(buckets=4, row_group_rows=16)
    a_sig, a_exact = random_sigs(rng, 100)
    b_sig, b_exact = random_sigs(rng, unrelated)
    c_sig, c_exact = random_sigs(rng, 10)
    c_sig[:3], c_exact[:3] = a_sig[:3], a_exact[:3]
    c_sig[3:6] = [near(rng, s) for s in a_sig[10:13]]
    refs: list[tuple[str, list[str], list[str]]] = []
    for name, sig, exact in (("a", a_sig, a_exact), ("b", b_sig, b_exact)):
        shards = write_snapshot(store, name, sig, exact)
        dedup_snapshot(str(root), name, shards, list(refs), config, options)
        refs.append((name, shards, ["v1"] * len(shards)))
    shards = write_snapshot(store, "c", c_sig, c_exact)
    reads = []
    for prune in (True, False):
        options = DistributedDedupConfig(buckets=4, row_group_rows=16, prune=prune)
        counts = dedup_snapshot(str(root), "c", shards, refs, config, options)
        assert (counts.exact_duplicates, counts.fuzzy_duplicates) == (3, 3)
        assert counts.relabelled == []  # a's and b's labels from their own nights are reused
        reads.append(counts.history)
    return reads[0], reads[1]


def test_a_night_reads_only_the_row_groups_its_keys_touch(tmp_path: Path) -> None:
    small, small_full = night(tmp_path / "small", 1000)
    big, big_full = night(tmp_path / "big", 4000)
    # 10 documents probe 10 exact + 140 band keys and a few dozen ids / labels: each touches at most one
    # row group per earlier file, however large the earlier snapshot
    assert big.row_groups <= 2 * (10 + 140) + 100
    assert big.bytes < 1.3 * small.bytes
    assert big.row_groups < 0.1 * big_full.row_groups and big.bytes < 0.3 * big_full.bytes
    # the full read (the behaviour before probing) grows with the unrelated snapshot
    assert big_full.bytes > 3 * small_full.bytes
    assert big_full.row_groups == big_full.row_groups_total > 3 * small_full.row_groups_total / 1.2


def attributes(store: Path, snapshot: str) -> dict[str, list[dict[str, object]]]:
    folder = store / "attributes" / "dedup" / snapshot
    return {p.name: pq.read_table(p).to_pylist() for p in sorted(folder.glob("*.parquet"))}


def forget(store: Path, snapshot: str) -> None:
    remove(CompletionMarkers(Store(str(store)).markers(STAGE, snapshot)).path(SNAPSHOT_MARKER))
    remove(str(store / "attributes" / "dedup" / snapshot), recursive=True)


def chained_store(root: Path) -> list[str]:
    """Four snapshots whose duplicates chain across nights: copies of copies, and bridge documents (half of
    one earlier document's signature, half of another's) that merge two earlier components into one."""
    rng = np.random.default_rng(11)
    store = Store(str(root))
    all_sig: list[np.ndarray] = []
    all_exact: list[np.ndarray] = []
    names = []
    for k in range(4):
        sig, exact = random_sigs(rng, 60)
        if all_sig:
            old_sig, old_exact = np.concatenate(all_sig), np.concatenate(all_exact)
            for j in range(12):  # exact and near copies of earlier documents
                src = int(rng.integers(0, len(old_sig)))
                if j % 3 == 0:
                    sig[j], exact[j] = old_sig[src], old_exact[src]
                else:
                    sig[j] = near(rng, old_sig[src])
            for j in range(12, 16):  # bridges between two earlier documents
                x, y = rng.integers(0, len(old_sig), size=2)
                sig[j] = np.concatenate([old_sig[x][: WIDTH // 2], old_sig[y][WIDTH // 2 :]])
        for j in range(20, 24):  # near copies inside the snapshot
            sig[j] = near(rng, sig[j - 20 + 30])
        all_sig.append(sig)
        all_exact.append(exact)
        names.append(f"s{k}")
        write_snapshot(store, f"s{k}", sig, exact)
    return names


def test_stored_labels_give_the_in_memory_result_night_after_night(tmp_path: Path) -> None:
    root = tmp_path / "store"
    snapshots = chained_store(root)
    options = DistributedDedupConfig(buckets=4, row_group_rows=8)
    sizes: list[int] = []
    for snapshot in snapshots:
        run_dedup(str(root), snapshot, DedupConfig(), in_memory=True)
        expected = attributes(root, snapshot)
        forget(root, snapshot)
        run_dedup(str(root), snapshot, DedupConfig(), options)
        assert attributes(root, snapshot) == expected, snapshot
        sizes += [int(r["cluster_size"]) for rows in expected.values() for r in rows]  # type: ignore[call-overload]
    assert max(sizes) >= 4  # clusters grew across nights
    # retire the second snapshot: the last night's components are recomputed without it
    remove_from_index(str(root), "s1")
    remove(str(root / "_markers" / STAGE / "s1"), recursive=True)  # no longer a deduplicated snapshot
    forget(root, "s3")
    run_dedup(str(root), "s3", DedupConfig(), in_memory=True)
    expected = attributes(root, "s3")
    forget(root, "s3")
    run_dedup(str(root), "s3", DedupConfig(), options)
    assert attributes(root, "s3") == expected
