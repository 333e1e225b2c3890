"""End to end: the nightly_mixture DAG under real Airflow (dag.test()), a real vLLM rater server, a real Dask
LocalCluster and publication to a real S3 server (SeaweedFS); then a training job's view of the release."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from crawlgen import wikitext_articles, write_cc_snapshot

REPO = Path(__file__).resolve().parents[2]


def test_nightly_mixture_publishes_a_verified_release(
    airflow_db: str,
    vllm_server,
    s3_server,
    s3_prefix: str,
    shared_data: Path,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from airflow.models.pool import Pool

    Pool.create_or_update_pool(name="gpu", slots=1, description="proxy training", include_deferred=False)
    crawl = tmp_path / "crawl"
    write_cc_snapshot(crawl, "CC-MAIN-2026-30", wikitext_articles(shared_data, limit=40), files=2)
    store = tmp_path / "store"
    sys.path.insert(0, str(REPO / "dags"))
    import nightly_mixture

    conf = {
        "store": str(store),
        "shared_data": str(shared_data),
        "inputs": ["sample", str(crawl)],
        "rater_url": vllm_server.url,
        "rate_sample_size": 24,
        "n_proxies": 12,
        "proxy_token_budget": 16384,
        "search_size": 2000,
        "mixture": "nightly",
        "publish_to": s3_prefix,
        "workers": 2,
        "bootstrap": True,
        "dry_run": False,
        "force_latest": True,  # a 12-proxy bootstrap sweep does not pass the release gate (tests/tasks/sweep)
    }
    run = nightly_mixture.nightly_mixture_dag.test(run_conf=conf)
    assert run.state == "success"
    assert sorted(p.name for p in (store / "documents").iterdir()) == [
        "CC-MAIN-2026-30",
        "QUARRY-SAMPLE-2026-47",
    ]
    assert list((store / "attributes" / "scores").iterdir())

    from tasks.publish import open_mixture

    release = open_mixture(f"{s3_prefix}/nightly")
    assert release.manifest.version == 1
    release.verify()  # every shard's sha256 and row count
    proportions = release.proportions("domain")
    assert proportions and abs(sum(proportions.values()) - 1.0) < 1e-6
    rows = sum(1 for _ in release.iter_documents(columns=["id", "text", "repetitions"]))
    assert rows > 0
    assert release.manifest.validation and release.manifest.validation["verdict"] in ("passed", "forced")
    lineage = json.loads(release.manifest.model_dump_json())["lineage"]
    # "-<hash>" when some criteria carried no rater signal and the sweep left them out (tasks/distill/signal.py)
    assert lineage["sweep_id"].startswith(("bootstrap-domain", "bootstrap-cluster"))
    if lineage["sweep_id"].startswith("bootstrap-cluster"):  # a one-domain rater: CLIMB clusters are domains
        assert len(proportions) >= 2 and all(d.startswith("cluster-") for d in proportions)

    # A second run with nothing new reuses everything and publishes nothing new.
    again = nightly_mixture.nightly_mixture_dag.test(run_conf=conf)
    assert again.state == "success"
    assert open_mixture(f"{s3_prefix}/nightly").manifest.version == 1
