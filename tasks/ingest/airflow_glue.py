"""Plain, JSON-in/JSON-out wrappers of the ingest stage for orchestrators (XCom carries only these dicts).

No Airflow import here: the DAG calls these, the CLI and Python users call ``run_ingest`` directly, and all
of them end in the same ``ingest_shard`` / ``run_dedup``.
"""

from __future__ import annotations

from typing import Any

from tasks.errors import NotConfigured
from tasks.ingest.config import FilterConfig, IngestConfig, InputSelection
from tasks.ingest.dedup import run_dedup
from tasks.ingest.discover import InputFile, discover, newest_snapshot
from tasks.ingest.shard import ShardSpec
from tasks.ingest.stage import summarise
from tasks.ingest.unreadable import ingest_or_quarantine


def config_from_params(params: dict[str, Any], default_store: str) -> IngestConfig:
    import os

    source = params.get("input") or os.environ.get("QUARRY_CRAWL_ROOT", "")
    if not source:
        raise NotConfigured("no crawl input configured: set the 'input' Param or $QUARRY_CRAWL_ROOT")
    filters: dict[str, Any] = {}
    if params.get("recipe"):
        filters["recipe"] = str(params["recipe"])
    if params.get("min_language_score") is not None:  # None: the recipe's own language thresholds
        filters["min_language_score"] = float(params["min_language_score"])
    if params.get("languages"):
        filters["languages"] = tuple(params["languages"])
    select: dict[str, Any] = {}
    if params.get("crawl_format"):
        select["crawl_format"] = str(params["crawl_format"])
    for name in ("sample_files", "sample_fraction", "sample_seed"):
        if params.get(name) is not None:
            select[name] = params[name]
    return IngestConfig(
        input=newest_snapshot(source, params.get("snapshot") or None),
        store=params.get("store") or default_store,
        snapshot=params.get("snapshot") or None,
        select=InputSelection(**select),
        filters=FilterConfig(**filters),
        workers=0,
    )


def plan_batches(params: dict[str, Any], default_store: str) -> list[dict[str, Any]]:
    config = config_from_params(params, default_store)
    found = discover(config.input, config.snapshot, config.select)
    size = int(params.get("batch_size") or 4)
    files = [f.__dict__ for f in found.files]
    return [
        {"config": config.model_dump(mode="json"), "snapshot": found.snapshot, "files": files[i : i + size]}
        for i in range(0, len(files), size)
    ]


def ingest_batch(batch: dict[str, Any]) -> dict[str, Any]:
    config = IngestConfig.model_validate(batch["config"])
    specs = [ShardSpec(InputFile(**f), batch["snapshot"], config) for f in batch["files"]]
    stats = [ingest_or_quarantine(spec) for spec in specs]
    result = summarise(batch["snapshot"], stats)
    return {
        "config": batch["config"],
        "snapshot": batch["snapshot"],
        "shards": result.shards,
        "documents": result.documents,
        "counts": result.counts,
        "quarantined_files": result.quarantined_files,
    }


def dedup_snapshot(results: list[dict[str, Any]]) -> dict[str, Any]:
    if not results:
        raise ValueError("no ingest batches ran")
    config = IngestConfig.model_validate(results[0]["config"])
    snapshot = results[0]["snapshot"]
    dedup = run_dedup(config.store, snapshot, config.dedup)
    return {
        "store": config.store,
        "snapshot": snapshot,
        "shards": sum(r["shards"] for r in results),
        "documents": sum(r["documents"] for r in results),
        "quarantined_files": [q for r in results for q in r.get("quarantined_files", [])],
        "dedup": dedup.as_dict(),
    }
