"""The Assets that chain Quarry's DAGs (data-aware scheduling). Names only; no I/O at import.

    crawl_ingest ──quarry_documents──▶ score_corpus ──quarry_scores──▶ nightly_mixture ──quarry_published_mixture──▶
    proxy_sweep  ──quarry_sweep──────────────────────────────────────▶ nightly_mixture
    publish_mixture (UI / REST) ──quarry_published_mixture──▶

Every Asset a DAG is scheduled on has a producer, no DAG consumes an Asset it produces, and the graph has no
cycle (tests/dags/test_dag_integrity.py checks all three).
"""

from airflow.sdk import Asset

DOCUMENTS = Asset(name="quarry_documents", uri="quarry://documents")
SCORES = Asset(name="quarry_scores", uri="quarry://scores")
SWEEP = Asset(name="quarry_sweep", uri="quarry://sweep")
PUBLISHED_MIXTURE = Asset(name="quarry_published_mixture", uri="quarry://published-mixture")
