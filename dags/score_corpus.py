"""score_corpus: every distilled fastText model applied to every document on Dask, plus cluster ids.

Runs when new documents land (the ``quarry_documents`` Asset) or from the UI; produces ``quarry_scores``.
Thin wiring only: ``score`` calls ``tasks.score.run_score``; ``clusters`` calls ``tasks.cluster.run_cluster``
(fits the clusters on a sample the first time, then labels every document; skipped when ``cluster_k`` is 0).
Dask: ``$QUARRY_DASK_SCHEDULER`` (or the ``scheduler`` Param) names an existing cluster, else a LocalCluster.
Before the first distilled model exists (``rater_distill`` or a bootstrapping ``nightly_mixture`` makes it) a
run is skipped with that reason, and emits no ``quarry_scores`` event.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag, task
from quarry_common.assets import DOCUMENTS, SCORES
from quarry_common.config import default_store
from quarry_common.errors import task_outcome


@dag(
    dag_id="score_corpus",
    schedule=[DOCUMENTS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "score"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1)},
    params={
        "store": Param("", type="string", description="store root; empty: $QUARRY_STORE or ./quarry-data"),
        "model_version": Param("latest", type="string", description="distilled model version, or 'latest'"),
        "snapshots": Param([], type="array", description="snapshots to score; empty: all"),
        "workers": Param(
            0,
            type="integer",
            minimum=0,
            description="LocalCluster workers; 0: default size (ignored with a scheduler)",
        ),
        "scheduler": Param(
            "", type="string", description="Dask scheduler address; empty: $QUARRY_DASK_SCHEDULER"
        ),
        "batch_size": Param(1000, type="integer", minimum=1),
        "cluster_k": Param(16, type="integer", minimum=0, description="k-means clusters; 0 skips clustering"),
        "cluster_sample_size": Param(2000, type="integer", minimum=2),
        "cluster_max_seq_length": Param(256, type="integer", minimum=8),
    },
    doc_md=__doc__,
)
def score_corpus() -> None:
    def _common(p: dict[str, Any]) -> dict[str, Any]:
        return {
            "store": p.get("store") or default_store(),
            "snapshots": tuple(p["snapshots"]) if p.get("snapshots") else None,
            "n_workers": int(p["workers"]) if p.get("workers") else None,
            "scheduler": p.get("scheduler") or None,
        }

    @task(outlets=[SCORES])
    def score(params: dict[str, Any] | None = None, outlet_events: Any = None) -> dict[str, Any]:
        from tasks.score import ScoreConfig, run_score

        p = dict(params or {})
        with task_outcome():
            result = run_score(
                ScoreConfig(
                    model_version=p.get("model_version") or "latest",
                    batch_size=int(p.get("batch_size", 1000)),
                    **_common(p),
                )
            )
        summary = {
            "model_version": result.model_version,
            "documents": result.documents,
            "shards_scored": result.shards_scored,
            "shards_skipped": result.shards_skipped,
        }
        if outlet_events is not None:
            outlet_events[SCORES].extra = {
                "store": _common(p)["store"],
                "model_version": result.model_version,
            }
        return summary

    @task
    def clusters(scored: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        from tasks.cluster import ClusterRunConfig, run_cluster

        p = dict(params or {})
        k = int(p.get("cluster_k", 16))
        if k == 0:
            return {"skipped": True}
        with task_outcome():
            result = run_cluster(
                ClusterRunConfig(
                    k=k,
                    sample_size=max(k, int(p.get("cluster_sample_size", 2000))),
                    max_seq_length=int(p.get("cluster_max_seq_length", 256)),
                    **_common(p),
                )
            )
        return {
            "version": result.version,
            "documents": result.documents,
            "k": result.k,
            "model_version": scored["model_version"],
        }

    clusters(score())


score_corpus_dag = score_corpus()
