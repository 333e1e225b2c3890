"""publish_mixture: a mixture (``mixtures/<name>/`` in the store) → an immutable version on S3.

Writes ``<target>/<name>/v<N>/`` (Parquet shards, ``report.html``, ``manifest.json`` last), then moves
``<target>/<name>/latest`` with compare-and-swap. Triggered from the UI or the REST API with Params (the
``mixture`` to publish, built by ``quarry mix`` or a ``nightly_mixture`` run); the nightly DAG publishes its own
mixture itself, so this DAG is not scheduled on an Asset (a consumer without a producer would never run). Rerunning is safe:
the same mixture is not published twice and an interrupted publication is resumed. S3 credentials come from the
worker's environment (a Kubernetes secret in the helm chart), never from Params.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag, task
from quarry_common.assets import PUBLISHED_MIXTURE
from quarry_common.config import default_store
from quarry_common.gate import gate_params


@dag(
    dag_id="publish_mixture",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=4,
    tags=["quarry", "publish"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1)},
    params={
        "mixture": Param("", type="string", description="mixture name (mixtures/<name>/ in the store)"),
        "store": Param(
            "", type="string", description="store root; empty: the event's store or $QUARRY_STORE"
        ),
        "target": Param(
            "",
            type="string",
            description="s3://bucket/prefix or a directory; empty: $QUARRY_PUBLISH_URL or <store>/published",
        ),
        "dry_run": Param(False, type="boolean", description="build and describe the version, write nothing"),
        "report": Param(True, type="boolean", description="render report.html into the version"),
        "annealing": Param(
            "",
            type="string",
            description="an annealing mixture (tasks.methods.anneal) to release beside it; empty: none",
        ),
        "annealing_fraction": Param(
            None,
            type=["null", "number"],
            description="share of the last training tokens drawn from it; empty: what its summary records",
        ),
        **gate_params(),
    },
    doc_md=__doc__,
)
def publish_mixture() -> None:
    @task
    def publish(params: dict[str, Any] | None = None, triggering_asset_events: Any = None) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from tasks.publish.airflow_glue import publish_from_params, resolve_config
        from tasks.sweep.gate import ValidationFailed, raise_if_failed

        extras = [
            dict(event.extra or {}) for events in (triggering_asset_events or {}).values() for event in events
        ]
        try:
            resolve_config(dict(params or {}), extras, default_store())
        except ValueError as exc:  # bad Params or no mixture named: retrying cannot help
            raise AirflowFailException(str(exc)) from exc
        summary = publish_from_params(dict(params or {}), extras, default_store())
        validation = summary.get("validation") or {}
        print(f"published {summary['mixture']} {summary['version']}: {summary['url']}")
        print(f"validation {validation.get('verdict')}: {validation.get('reason')}")
        try:  # published for inspection, but latest stayed: fail so that a person notices (no retry)
            raise_if_failed(
                None if summary["dry_run"] else validation,
                release=summary["mixture"],
                version=summary["version"],
                latest=f"v{summary['latest']}" if summary.get("latest") else None,
            )
        except ValidationFailed as exc:
            raise AirflowFailException(str(exc)) from exc
        return summary

    @task.short_circuit
    def check_published(summary: dict[str, Any]) -> bool:
        return not summary["dry_run"]  # a dry run announces nothing

    @task(outlets=[PUBLISHED_MIXTURE])
    def announce(summary: dict[str, Any], outlet_events: Any = None) -> None:
        if outlet_events is not None:
            outlet_events[PUBLISHED_MIXTURE].extra = {
                "name": summary["mixture"],
                "version": summary["version"],
                "url": summary["url"],
            }

    summary = publish()
    check_published(summary) >> announce(summary)


publish_mixture_dag = publish_mixture()
