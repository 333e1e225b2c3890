"""Benchmark: the bucketed, distributed dedup (tasks/dedup) at 1M / 4M / 16M documents of synthetic signatures.

Synthetic MinHash shards (id, exact_hash, 112 uint32 values, the layout ingest writes) with realistic duplicate
rates: ``--exact`` of the documents are exact copies, ``--near`` are near copies in clusters of 2-8 (each copy
re-draws ``--noise`` of its signature values: 10% -> P(some band of 8 rows equal) ~ 1.0). Dedup runs on a
LocalCluster of ``--workers`` single-threaded processes through tasks.runner; the bucket count grows with the
corpus (``--rows-per-bucket`` band rows per bucket), so per-task memory stays flat. Reported: wall seconds
per million documents and the peak RSS (VmHWM) of every worker process. Run ONE size per call:

    .venv/bin/python bench/bench_dedup_scale.py --docs 1000000
    .venv/bin/python bench/bench_dedup_scale.py --docs 4000000

``--second-docs N`` adds an incremental second night: a snapshot of N documents whose first shard copies the
first snapshot's last shard at the same rates, deduplicated against the first snapshot's index and stored
labels. Reported for it: wall time, and the bytes / row groups it read of the first snapshot's index beside
that index's size on disk (what reading it whole, as nights did before probing, would cost).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tasks.dedup.job import DistributedDedupConfig, dedup_snapshot
from tasks.ingest.config import DedupConfig
from tasks.runner import ClusterConfig
from tasks.storage import Store, write_parquet_atomic

WIDTH = 112


def make_shards(
    store: Store,
    snapshot: str,
    docs: int,
    shard_rows: int,
    exact: float,
    near: float,
    noise: float,
    seed: int,
    dt_dir: Path | None = None,
    base: tuple[np.ndarray, np.ndarray] | None = None,
    last: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[list[str], int, int]:
    """Write the shards; returns (shard names, planted exact copies, planted near copies). ``base``: the
    (signatures, hashes) the first shard copies from; the last shard's are appended to ``last``."""
    rng = np.random.default_rng(seed)
    shards: list[str] = []
    planted_exact = planted_near = 0
    base_sigs: np.ndarray | None = base[0] if base else None
    base_hash: np.ndarray | None = base[1] if base else None
    for index, start in enumerate(range(0, docs, shard_rows)):
        n = min(shard_rows, docs - start)
        sig = rng.integers(0, 2**32, size=(n, WIDTH), dtype=np.uint32)
        ehash = rng.integers(0, 2**63, size=n, dtype=np.uint64)
        kind = rng.random(n)
        if base_sigs is not None:  # copies of documents of the previous shard (clusters across shards)
            src = rng.integers(0, len(base_sigs), size=n)
            ex = kind < exact
            sig[ex], ehash[ex] = base_sigs[src[ex]], base_hash[src[ex]]  # type: ignore[index]
            nr = (kind >= exact) & (kind < exact + near)
            # clusters of 2-8: copies of the first 1/5 of the previous shard's documents only
            src_near = src[nr] % max(1, len(base_sigs) // 5)
            copy = base_sigs[src_near].copy()
            redraw = rng.random(copy.shape) < noise
            copy[redraw] = rng.integers(0, 2**32, size=int(redraw.sum()), dtype=np.uint32)
            sig[nr] = copy
            planted_exact += int(ex.sum())
            planted_near += int(nr.sum())
        base_sigs, base_hash = sig, ehash
        name = f"s{index:05d}"
        ids = pa.array([f"{snapshot}-{start + i}" for i in range(n)], type=pa.string())
        table = pa.table(
            {
                "id": ids,
                "exact_hash": pa.array(ehash, type=pa.uint64()),
                "signature": pa.FixedSizeListArray.from_arrays(pa.array(sig.reshape(-1)), WIDTH),
            }
        )
        write_parquet_atomic(store.minhash_shard(snapshot, name), table)
        if dt_dir is not None:
            write_datatrove_sigs(dt_dir, index, sig)
        shards.append(name)
    if last is not None and base_sigs is not None and base_hash is not None:
        last.append((base_sigs, base_hash))
    return shards, planted_exact, planted_near


def write_datatrove_sigs(dt_dir: Path, rank: int, sig: np.ndarray, bands: int = 14, rows: int = 8) -> None:
    """The same signatures in datatrove's MinhashDedupSignature output: per band, records of 8 hashes
    (64-bit, its default precision) + doc index, sorted, in signatures/bucket_<b>/<rank>.minhash.sig."""
    dtype = np.dtype([(f"field{i + 1}", "<u8") for i in range(rows)] + [(f"field{rows + 1}", "<u4")])
    n = sig.shape[0]
    for b in range(bands):
        records = np.zeros(n, dtype=dtype)
        for i in range(rows):
            records[f"field{i + 1}"] = sig[:, b * rows + i]
        records[f"field{rows + 1}"] = np.arange(n, dtype=np.uint32)
        records.sort(order=dtype.names)
        path = dt_dir / "signatures" / f"bucket_{b:03d}" / f"{rank:05d}.minhash.sig"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(records.tobytes())


def run_datatrove(dt_dir: Path) -> dict[str, object]:
    """datatrove's MinhashDedupBuckets (14 tasks, one process at a time) + MinhashDedupCluster on the files."""
    from common import DATATROVE_PYTHON, run_measured

    out: dict[str, object] = {}
    for step in ("buckets", "cluster"):
        cmd = [str(DATATROVE_PYTHON), "bench/peers/datatrove_dedup.py", "--step", step, "--work", str(dt_dir)]
        measured = run_measured(f"datatrove {step}", cmd, timeout=3000)
        out[f"dt_{step}_wall_s"] = round(measured.process_wall_s, 1)
        out[f"dt_{step}_peak_rss_mib"] = round(measured.peak_tree_rss_mib, 1)
        if step == "cluster":
            out["dt_to_remove"] = measured.result.get("to_remove")
    return out


def _worker_peak_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shard-rows", type=int, default=250_000)
    ap.add_argument("--rows-per-bucket", type=int, default=1_750_000, help="band-key rows per bucket")
    ap.add_argument("--exact", type=float, default=0.03)
    ap.add_argument("--near", type=float, default=0.10)
    ap.add_argument("--noise", type=float, default=0.10)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--datatrove", action="store_true", help="also run datatrove's buckets + cluster steps")
    ap.add_argument("--second-docs", type=int, default=0, help="documents of an incremental second night")
    args = ap.parse_args()
    root = Path(args.workdir or tempfile.mkdtemp(prefix="bench-dedup-scale-"))
    store = Store(str(root))
    try:
        t0 = time.perf_counter()
        last: list[tuple[np.ndarray, np.ndarray]] = []
        shards, planted_exact, planted_near = make_shards(
            store,
            "synth",
            args.docs,
            args.shard_rows,
            args.exact,
            args.near,
            args.noise,
            seed=7,
            dt_dir=root / "datatrove" if args.datatrove else None,
            last=last,
        )
        second: list[str] = []
        if args.second_docs:
            second, _, _ = make_shards(
                store,
                "synth2",
                args.second_docs,
                args.shard_rows,
                args.exact,
                args.near,
                args.noise,
                seed=8,
                base=last[0],
            )
        gen_s = time.perf_counter() - t0
        buckets = max(4, -(-args.docs * 14 // args.rows_per_bucket))
        peaks: dict[str, float] = {}
        from distributed import Client, LocalCluster

        from tasks.runner import _workers_do_not_rerun_main

        with (
            _workers_do_not_rerun_main(),
            LocalCluster(
                n_workers=args.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                memory_limit=0,
            ) as cluster,
            Client(cluster) as client,
        ):
            options = DistributedDedupConfig(
                buckets=buckets, cluster=ClusterConfig(address=cluster.scheduler_address)
            )
            t1 = time.perf_counter()
            counts = dedup_snapshot(str(root), "synth", shards, [], DedupConfig(), options)
            wall = time.perf_counter() - t1
            peaks = client.run(_worker_peak_mib)
            night2: dict[str, object] = {}
            if second:
                t2 = time.perf_counter()
                refs = [("synth", shards, [""] * len(shards))]
                counts2 = dedup_snapshot(str(root), "synth2", second, refs, DedupConfig(), options)
                index_bytes = sum(
                    f.stat().st_size for f in (root / "dedup-index" / "synth").rglob("*.parquet")
                )
                night2 = {
                    "night2_docs": args.second_docs,
                    "night2_wall_s": round(time.perf_counter() - t2, 1),
                    "night2_phase_s": counts2.seconds,
                    "night2_exact_found": counts2.exact_duplicates,
                    "night2_fuzzy_found": counts2.fuzzy_duplicates,
                    "night2_relabelled": counts2.relabelled,
                    "night2_history_read": dataclasses.asdict(counts2.history),
                    "night1_index_bytes_on_disk": index_bytes,
                    "night2_worker_peak_rss_mib": sorted(
                        round(v, 1) for v in client.run(_worker_peak_mib).values()
                    ),
                }
        result = {
            "docs": args.docs,
            "workers": args.workers,
            "buckets": buckets,
            "generate_s": round(gen_s, 1),
            "dedup_wall_s": round(wall, 1),
            "wall_s_per_million": round(wall / (args.docs / 1e6), 1),
            "worker_peak_rss_mib": sorted(round(v, 1) for v in peaks.values()),
            "exact_found": counts.exact_duplicates,
            "fuzzy_found": counts.fuzzy_duplicates,
            "planted_exact": planted_exact,
            "planted_near": planted_near,
            "rounds": counts.rounds,
            "phase_s": counts.seconds,
            "edges": counts.edges,
            **night2,
        }
        if args.datatrove:
            result.update(run_datatrove(root / "datatrove"))
        print("RESULT " + json.dumps(result, sort_keys=True), flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
