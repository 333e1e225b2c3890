"""Under Airflow's own scheduler, the way users run it: a fresh AIRFLOW_HOME set up by the README's command
(``infra/airflow_setup.sh``), api-server + scheduler (LocalExecutor) + dag-processor, runs triggered through the
REST API. ``crawl_ingest`` then ``nightly_mixture`` (real vLLM rater, Dask LocalCluster worker processes inside
the task, publication to a real S3 server); then the release is read back and nothing else ran."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from crawlgen import readable_articles, write_cc_snapshot
from fixtures_airflow import AirflowServices

DAG_IDS = [
    "crawl_ingest",
    "score_corpus",
    "nightly_mixture",
    "proxy_sweep",
    "rater_distill",
    "publish_mixture",
]


@pytest.mark.integration
# The slowest test in CI: two DAG runs and a rating bootstrap on a 2-core machine (14.4 min at load ~9 while other
# work shared the machine, 2026-11-29; the float32 CPU rater made it fit).
@pytest.mark.timeout(2400)
def test_ingest_and_nightly_under_the_real_scheduler(
    airflow_services: AirflowServices,
    vllm_server,  # type: ignore[no-untyped-def]
    s3_server,  # type: ignore[no-untyped-def]
    s3_prefix: str,
    shared_data: Path,
    tmp_path: Path,
) -> None:
    af = airflow_services
    crawl = tmp_path / "crawl"
    write_cc_snapshot(crawl, "CC-MAIN-2026-30", readable_articles(shared_data, limit=40), files=2)
    store = tmp_path / "store"
    af.extra_env.update(
        {
            "QUARRY_STORE": str(store),
            "QUARRY_SHARED_DATA": str(shared_data),
            "QUARRY_RATER_URL": vllm_server.url,
            "QUARRY_PROGRESS": "0",
        }
    )
    af.extra_env.pop("QUARRY_CRAWL_ROOT", None)
    assert "QUARRY_CRAWL_ROOT" not in af.env  # a scheduled ingest has nothing configured
    assert "pool gpu=1" in af.setup()
    af.start()
    af.wait_for_dags(DAG_IDS)
    assert af.api("GET", "/pools/gpu")["slots"] == 1  # created by the setup command, not by hand

    # Unpausing crawl_ingest fires its scheduled run at once: with nothing configured it is skipped with the
    # reason, on its first try, instead of burning its retries.
    for dag_id in ("crawl_ingest", "score_corpus", "nightly_mixture"):
        af.unpause(dag_id)
    run_id = af.trigger("crawl_ingest", {"input": str(crawl)})
    assert af.wait_for_run("crawl_ingest", run_id, timeout=600) == "success", af.failure_report(
        "crawl_ingest", run_id
    )
    deadline = time.time() + 120
    scheduled: list[dict[str, object]] = []
    while time.time() < deadline:
        scheduled = [r for r in af.runs("crawl_ingest") if r["run_type"] == "scheduled"]
        if scheduled and all(r["state"] in ("success", "failed") for r in scheduled):
            break
        time.sleep(3)
    assert scheduled, "unpausing crawl_ingest should have started its scheduled run"
    sched_id = str(scheduled[0]["dag_run_id"])
    assert scheduled[0]["state"] == "success"
    assert af.task_states("crawl_ingest", sched_id)["plan"] == "skipped"
    assert "no crawl input configured" in af.task_log("crawl_ingest", sched_id, "plan")

    # quarry_documents triggered score_corpus; with no rater model yet it skips and emits no quarry_scores.
    deadline = time.time() + 180
    while time.time() < deadline and not [
        r for r in af.runs("score_corpus") if r["state"] in ("success", "failed")
    ]:
        time.sleep(3)
    score_runs = af.runs("score_corpus")
    assert [r["run_type"] for r in score_runs] == ["asset_triggered"]
    assert score_runs[0]["state"] == "success"
    assert af.task_states("score_corpus", str(score_runs[0]["dag_run_id"]))["score"] == "skipped"

    conf = {
        "inputs": [str(crawl)],  # the snapshot crawl_ingest already ingested: its shards are reused
        # The smallest settings the DAG accepts where nothing asserted depends on size: the rating bootstrap
        # was half the run (16 pages x 6 criteria, prefill-bound on the CPU rater), so each page is read
        # through 32 tokens instead of 128; 16 pages stay (distill needs 10 training rows per criterion).
        "rate_sample_size": 16,
        "rate_max_doc_tokens": 32,
        "n_proxies": 10,
        "proxy_token_budget": 4096,
        "search_size": 500,
        "clusters": 4,
        "publish_to": s3_prefix,
        "force_latest": True,  # tiny proxies: the gate's verdict is recorded, latest moves regardless
    }
    nightly = af.trigger("nightly_mixture", conf)
    state = af.wait_for_run("nightly_mixture", nightly, timeout=1500)
    assert state == "success", af.failure_report("nightly_mixture", nightly)
    ingest_log = af.task_log("nightly_mixture", nightly, "ingest")
    assert "Nanny failed" not in ingest_log and "SQLAlchemy" not in ingest_log
    records = af.task_log_records("nightly_mixture", nightly, "score")
    assert any(level == "info" and text.startswith("score:") for level, text in records)  # progress lines
    assert [text for level, text in records if level in ("error", "critical")] == []

    from tasks.publish import open_mixture

    release = open_mixture(f"{s3_prefix}/nightly")
    release.verify()  # every shard's sha256 and row count
    assert release.manifest.version == 1
    assert sum(1 for _ in release.iter_documents(columns=["id", "repetitions"])) > 0
    manifest = json.loads(release.manifest.model_dump_json())
    assert manifest["lineage"]["snapshots"] == ["CC-MAIN-2026-30"]
    assert sorted(os.listdir(store / "documents")) == ["CC-MAIN-2026-30"]  # one snapshot, not two spellings

    events = {e["asset_id"]: e for e in af.asset_events()}
    names = {a["id"]: a["name"] for a in af.api("GET", "/assets", params={"limit": 100})["assets"]}
    produced = sorted(names[i] for i in events)
    assert produced == ["quarry_documents", "quarry_published_mixture"]

    # A second run with nothing new reuses everything and publishes nothing new.
    again = af.trigger("nightly_mixture", conf)
    assert af.wait_for_run("nightly_mixture", again, timeout=900) == "success"
    assert open_mixture(f"{s3_prefix}/nightly").manifest.version == 1

    time.sleep(15)  # a few scheduler loops: nothing may have triggered anything else
    counts = {d: len(af.runs(d)) for d in DAG_IDS}
    assert counts == {
        "crawl_ingest": 2,  # the manual run and the skipped scheduled one
        "score_corpus": 1,
        "nightly_mixture": 2,  # the two manual runs; it never triggers itself
        "proxy_sweep": 0,
        "rater_distill": 0,
        "publish_mixture": 0,
    }
