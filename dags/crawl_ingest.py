"""crawl_ingest: a crawl snapshot → documents/ + attributes/ (heuristics, dedup), mapped over file batches.

Thin wiring only: every task calls a plain function of ``tasks.ingest``. Triggered daily (newest snapshot
under the configured crawl root) or from the UI with Params. Produces the ``quarry_documents`` Asset.
A scheduled run with no input configured (no ``input`` Param, no ``$QUARRY_CRAWL_ROOT``) is skipped with that
reason; a bad input path fails at once, without retries.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag, task
from quarry_common.assets import DOCUMENTS
from quarry_common.config import default_store
from quarry_common.errors import task_outcome


@dag(
    dag_id="crawl_ingest",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "ingest"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1)},
    params={
        "input": Param(
            "",
            type="string",
            description="crawl root (newest crawl-data/<snapshot> is taken), snapshot folder or file; local or s3://. "
            "Empty: $QUARRY_CRAWL_ROOT",
        ),
        "snapshot": Param(
            "",
            type="string",
            description="snapshot id: of a crawl root, the crawl-data/<id> to ingest (e.g. CC-MAIN-2024-33); "
            "empty: the newest, named from the path",
        ),
        "crawl_format": Param(
            "auto",
            enum=["auto", "warc", "wet"],
            description="WARC or WET, never both (auto: WARC when there is any); with a published "
            "crawl-data/<id>/{warc,wet}.paths.gz the files come from that listing",
        ),
        "sample_files": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            description="ingest N files (deterministic hash sample)",
        ),
        "sample_fraction": Param(
            None,
            type=["null", "number"],
            exclusiveMinimum=0,
            maximum=1,
            description="ingest this fraction of the files (hash sample); not with sample_files",
        ),
        "sample_seed": Param(0, type="integer", description="seed of the file sample"),
        "store": Param("", type="string", description="store root; empty: $QUARRY_STORE or ./quarry-data"),
        "batch_size": Param(4, type="integer", minimum=1, description="files per mapped task"),
        "recipe": Param(
            "fineweb2",
            enum=["fineweb2", "fineweb"],
            description="filtering recipe (tasks/ingest/recipes): fineweb2 (multilingual), fineweb (English)",
        ),
        "languages": Param([], type="array", description="ISO codes to keep; empty: the recipe's"),
        "min_language_score": Param(
            None,
            type=["null", "number"],
            minimum=0,
            maximum=1,
            description="one language-score threshold for all languages; empty: the recipe's per language",
        ),
    },
    doc_md=__doc__,
)
def crawl_ingest() -> None:
    @task
    def plan(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        from tasks.ingest.airflow_glue import plan_batches

        with task_outcome():
            return plan_batches(dict(params or {}), default_store())

    @task(max_active_tis_per_dagrun=4)
    def ingest_batch(batch: dict[str, Any]) -> dict[str, Any]:
        from tasks.ingest.airflow_glue import ingest_batch as run_batch

        with task_outcome():
            return run_batch(batch)

    @task(outlets=[DOCUMENTS])
    def dedup(results: list[dict[str, Any]], outlet_events: Any = None) -> dict[str, Any]:
        from tasks.ingest.airflow_glue import dedup_snapshot

        with task_outcome():
            summary = dedup_snapshot(list(results))
        if outlet_events is not None:
            outlet_events[DOCUMENTS].extra = {"store": summary["store"], "snapshot": summary["snapshot"]}
        return summary

    dedup(ingest_batch.expand(batch=plan()))


crawl_ingest_dag = crawl_ingest()
