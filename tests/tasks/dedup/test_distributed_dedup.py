"""The bucketed, out-of-core dedup gives the same ``dedup`` attributes as the in-memory reference, keeps an
incremental index that survives kill -9, and retires snapshots from it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tasks.dedup import DistributedDedupConfig, remove_from_index
from tasks.dedup.job import COMPLETE, index_markers
from tasks.ingest import DedupConfig
from tasks.ingest.dedup import SNAPSHOT_MARKER, STAGE, run_dedup
from tasks.storage import CompletionMarkers, Store
from tasks.storage.fs import remove

REPO = Path(__file__).resolve().parents[3]


def attributes(store: Path, snapshot: str) -> dict[str, list[dict[str, object]]]:
    folder = store / "attributes" / "dedup" / snapshot
    return {p.name: pq.read_table(p).to_pylist() for p in sorted(folder.glob("*.parquet"))}


def forget_result(store: Path, snapshot: str) -> None:
    remove(CompletionMarkers(Store(str(store)).markers(STAGE, snapshot)).path(SNAPSHOT_MARKER))
    remove(str(store / "attributes" / "dedup" / snapshot), recursive=True)


def by_url(store: Path, snapshot: str) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for name, rows in attributes(store, snapshot).items():
        docs = pq.read_table(store / "documents" / snapshot / name, columns=["id", "url"]).to_pylist()
        for d, a in zip(docs, rows, strict=True):
            assert d["id"] == a["id"]
            out[str(d["url"])] = a
    return out


def reference(store: Path) -> dict[str, dict[str, list[dict[str, object]]]]:
    """The in-memory algorithm's attributes for both snapshots (snap1 alone, then snap2 against it)."""
    forget_result(store, "snap1")
    run_dedup(str(store), "snap1", DedupConfig(), in_memory=True)
    run_dedup(str(store), "snap2", DedupConfig(), in_memory=True)
    return {s: attributes(store, s) for s in ("snap1", "snap2")}


def test_same_duplicates_as_the_in_memory_dedup(store_copy: Path) -> None:
    expected = reference(store_copy)
    for snapshot in ("snap1", "snap2"):
        forget_result(store_copy, snapshot)
    one = run_dedup(str(store_copy), "snap1", DedupConfig(), DistributedDedupConfig(buckets=4))
    two = run_dedup(str(store_copy), "snap2", DedupConfig(), DistributedDedupConfig(buckets=4))
    assert attributes(store_copy, "snap1") == expected["snap1"]
    assert attributes(store_copy, "snap2") == expected["snap2"]
    assert one.exact_duplicates == 1 and one.fuzzy_duplicates == 2
    assert two.reference_documents == one.documents
    rows = by_url(store_copy, "snap2")
    assert rows["https://two-copy.example/2"]["exact_duplicate"] is True
    assert rows["https://two-near.example/3"]["fuzzy_duplicate"] is True
    assert (
        rows["https://two-near.example/1"]["duplicate_of"]
        == by_url(store_copy, "snap1")["https://one.example/1"]["id"]
    )
    assert rows["https://two-copy.example/o0"]["duplicate_of"] == rows["https://two.example/0"]["id"]
    assert rows["https://two-near.example/o1"]["fuzzy_duplicate"] is True
    assert two.exact_duplicates == 2 and two.fuzzy_duplicates == 3
    # an unchanged snapshot is not recomputed
    assert run_dedup(str(store_copy), "snap2", DedupConfig(), DistributedDedupConfig(buckets=4)).skipped_done


def index_rows(store: Path, snapshot: str, kind: str) -> int:
    return sum(
        pq.read_metadata(p).num_rows for p in (store / "dedup-index" / snapshot / kind).rglob("*.parquet")
    )


def test_kill_9_while_indexing_then_rerun_gives_the_same_index_and_result(store_copy: Path) -> None:
    expected = reference(store_copy)
    forget_result(store_copy, "snap2")
    script = (
        "import sys; from tasks.ingest import DedupConfig; from tasks.ingest.dedup import run_dedup; "
        "from tasks.dedup import DistributedDedupConfig; "
        "run_dedup(sys.argv[1], 'snap2', DedupConfig(), DistributedDedupConfig(buckets=4))"
    )
    # snapshot 1 is indexed first (12 files of shard a.jsonl), then the kill lands in snapshot 2's a.jsonl
    env = {**os.environ, "PYTHONPATH": str(REPO), "QUARRY_FAILPOINT": "kill-before-rename:a.jsonl.parquet:18"}
    env.pop("QUARRY_DASK_SCHEDULER", None)
    died = subprocess.run([sys.executable, "-c", script, str(store_copy)], env=env, cwd=REPO, check=False)
    assert died.returncode == -9
    store = Store(str(store_copy))
    assert not index_markers(store, "snap2").is_done(COMPLETE)  # half an index never counts
    assert index_markers(store, "snap1").is_done(COMPLETE)
    assert 0 < index_rows(store_copy, "snap2", "exact") < 60
    result = run_dedup(str(store_copy), "snap2", DedupConfig(), DistributedDedupConfig(buckets=4))
    assert attributes(store_copy, "snap2") == expected["snap2"]
    # every document exactly once in the index: no duplicate rows left by the killed run
    assert index_rows(store_copy, "snap2", "exact") == result.documents
    assert index_rows(store_copy, "snap2", "ids") == result.documents
    assert index_rows(store_copy, "snap2", "band") == result.documents * DedupConfig().bands
    assert index_rows(store_copy, "snap1", "exact") == result.reference_documents


def test_retired_snapshot_is_no_longer_a_reference(store_copy: Path) -> None:
    forget_result(store_copy, "snap2")
    before = run_dedup(str(store_copy), "snap2", DedupConfig(), DistributedDedupConfig(buckets=4))
    assert before.reference_documents > 0 and before.exact_duplicates == 2
    from tasks.cli import main

    assert main(["--store", str(store_copy), "dedup", "snap1", "--retire"]) == 0
    assert not (store_copy / "dedup-index" / "snap1").exists()
    forget_result(store_copy, "snap2")
    after = run_dedup(str(store_copy), "snap2", DedupConfig(), DistributedDedupConfig(buckets=4))
    assert after.reference_documents == 0
    rows = by_url(store_copy, "snap2")
    assert rows["https://two-copy.example/2"]["is_duplicate"] is False  # its original was retired
    assert rows["https://two-copy.example/o0"]["exact_duplicate"] is True  # within-snapshot still found
    assert after.exact_duplicates == 1 and after.fuzzy_duplicates == 1
    assert remove_from_index(str(store_copy), "snap1") is False  # already retired


@pytest.mark.parametrize("kill", [False, True], ids=["two-workers", "worker-killed"])
def test_real_tcp_cluster(store_copy: Path, dask_tcp_cluster: object, kill: bool) -> None:
    import threading
    import time

    from fixtures_dask import DaskCluster

    from tasks.runner import ClusterConfig

    assert isinstance(dask_tcp_cluster, DaskCluster)
    expected = reference(store_copy)
    forget_result(store_copy, "snap2")
    remove(str(store_copy / "dedup-index" / "snap2"), recursive=True)
    options = DistributedDedupConfig(buckets=8, cluster=ClusterConfig(address=dask_tcp_cluster.address))
    errors: list[BaseException] = []

    def job() -> None:
        try:
            run_dedup(str(store_copy), "snap2", DedupConfig(), options)
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=job)
    thread.start()
    if kill:
        state = store_copy / "tmp" / "dedup" / "snap2" / "state"
        deadline = time.time() + 60
        while not state.exists() and time.time() < deadline and thread.is_alive():
            time.sleep(0.05)
        assert thread.is_alive(), "the job ended before a worker could be killed"
        dask_tcp_cluster.kill_worker(0)
    thread.join(120)
    assert not thread.is_alive() and not errors, errors
    assert attributes(store_copy, "snap2") == expected["snap2"]
