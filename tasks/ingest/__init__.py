"""Ingest: crawl snapshot (WARC/WET/JSONL, local or s3://) → documents/ + attributes/ (heuristics, dedup).

Public API::

    from tasks.ingest import IngestConfig, run_ingest
    result = run_ingest(IngestConfig(input="crawl/CC-MAIN-2024-22", store="quarry-data"))
    # a Common Crawl root: one snapshot, 10 WARC files picked deterministically from warc.paths.gz
    run_ingest(IngestConfig(input="s3://commoncrawl", snapshot="CC-MAIN-2024-33", store="quarry-data",
                            select=InputSelection(sample_files=10)))

``plan_shards`` + ``ingest_shard`` + ``run_dedup`` are the pieces the Airflow DAG maps over.
"""

from tasks.ingest.config import DedupConfig, ExtractSettings, FilterConfig, IngestConfig, InputSelection
from tasks.ingest.dedup import DedupResult, run_dedup
from tasks.ingest.shard import ShardSpec, ingest_shard
from tasks.ingest.stage import IngestResult, plan_shards, run_ingest

__all__ = [
    "DedupConfig",
    "DedupResult",
    "ExtractSettings",
    "FilterConfig",
    "IngestConfig",
    "IngestResult",
    "InputSelection",
    "ShardSpec",
    "ingest_shard",
    "plan_shards",
    "run_dedup",
    "run_ingest",
]
