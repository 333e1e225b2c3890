"""crawl_ingest runs for real under Airflow (dag.test(), SQLite metadata DB) over a CC-layout crawl root."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq
from crawlgen import readable_articles, write_cc_snapshot

REPO = Path(__file__).resolve().parents[2]


def test_crawl_ingest_dag_ingests_newest_snapshot(airflow_db: str, shared_data: Path, tmp_path: Path) -> None:
    articles = readable_articles(shared_data, limit=12)
    root = tmp_path / "crawl"
    write_cc_snapshot(root, "CC-MAIN-2026-10", articles[:6], files=2)
    write_cc_snapshot(root, "CC-MAIN-2026-20", articles[6:], files=3)
    sys.path.insert(0, str(REPO / "dags"))
    import crawl_ingest

    store = tmp_path / "store"
    run = crawl_ingest.crawl_ingest_dag.test(
        run_conf={"input": str(root), "store": str(store), "batch_size": 2}
    )
    assert run.state == "success"
    shards = sorted((store / "documents" / "CC-MAIN-2026-20").glob("*.parquet"))
    assert len(shards) == 3  # the newest snapshot only, one shard per file
    assert not (store / "documents" / "CC-MAIN-2026-10").exists()
    kept = sum(pq.read_metadata(s).num_rows for s in shards)
    removed = sum(
        pq.read_metadata(s).num_rows for s in (store / "removed" / "CC-MAIN-2026-20").glob("*.parquet")
    )
    assert kept + removed == 6 and kept >= 5  # every page accounted for; encyclopedic text passes the filters
    dedup = sorted((store / "attributes" / "dedup" / "CC-MAIN-2026-20").glob("*.parquet"))
    assert [d.name for d in dedup] == [s.name for s in shards]
    assert (store / "_markers" / "dedup" / "CC-MAIN-2026-20" / "_snapshot.done").is_file()


def test_a_bad_input_fails_at_once_without_retries(airflow_db: str, tmp_path: Path) -> None:
    """A configuration error is not retried: the task fails on its first try with the one-line reason."""
    sys.path.insert(0, str(REPO / "dags"))
    import crawl_ingest

    missing = tmp_path / "no-such-crawl"
    run = crawl_ingest.crawl_ingest_dag.test(run_conf={"input": str(missing), "store": str(tmp_path / "s")})
    assert run.state == "failed"
    plan = next(ti for ti in run.get_task_instances() if ti.task_id == "plan")
    assert plan.state == "failed" and plan.try_number == 1
    assert not (tmp_path / "s").exists()
