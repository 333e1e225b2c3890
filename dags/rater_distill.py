"""rater_distill: LLM raters on a vLLM server rate a stratified sample, then fastText models are distilled.

Thin wiring only: ``rate`` calls ``tasks.rate.run_rate`` and ``distill`` calls ``tasks.distill.run_distill``.
Triggered from the UI with Params (criteria, sample size, server URL). The server URL defaults to
``$QUARRY_RATER_URL`` or the local vLLM-on-CPU server (``infra/vllm/serve.sh 8000``); in production it points
at the GPU vLLM deployment. A rerun resumes from the rating cache.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Param, dag, task
from quarry_common.config import default_shared_data, default_store
from quarry_common.errors import task_outcome

ALL_CRITERIA = ["educational_value", "professionalism", "readability", "reasoning", "cleanliness", "domain"]


@dag(
    dag_id="rater_distill",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "rate", "distill"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1)},
    params={
        "store": Param("", type="string", description="store root; empty: $QUARRY_STORE or ./quarry-data"),
        "server_url": Param(
            "",
            type="string",
            description="OpenAI-compatible vLLM base URL; empty: $QUARRY_RATER_URL or "
            "http://127.0.0.1:8000/v1",
        ),
        "criteria": Param(
            ALL_CRITERIA,
            type="array",
            description=f"criteria to rate, from {ALL_CRITERIA}, or pairwise ones (QuRating, Bradley-Terry): "
            "pairwise_educational_value, pairwise_writing_style, pairwise_required_expertise, "
            "pairwise_facts_and_trivia",
        ),
        "sample_size": Param(
            1000, type="integer", minimum=1, description="documents in the stratified sample"
        ),
        "ratings_name": Param("default", type="string", description="ratings set name (ratings/<name>/)"),
        "max_doc_tokens": Param(1024, type="integer", minimum=16),
        "max_requests": Param(0, type="integer", minimum=0, description="request budget; 0 = unlimited"),
        "model_version": Param("", type="string", description="model version name; empty: derived"),
        "min_train_rows": Param(20, type="integer", minimum=2),
        "dim": Param(32, type="integer", minimum=1, description="fastText dimension"),
    },
    doc_md=__doc__,
)
def rater_distill() -> None:
    @task
    def rate(params: dict[str, Any] | None = None) -> dict[str, Any]:
        import os
        from dataclasses import asdict

        from tasks.rate import RateConfig, run_rate

        p = dict(params or {})
        with task_outcome():
            result = run_rate(
                RateConfig(
                    store=p.get("store") or default_store(),
                    server_url=p.get("server_url")
                    or os.environ.get("QUARRY_RATER_URL", "http://127.0.0.1:8000/v1"),
                    criteria=tuple(p.get("criteria") or ALL_CRITERIA),
                    sample_size=int(p.get("sample_size", 1000)),
                    name=p.get("ratings_name") or "default",
                    max_doc_tokens=int(p.get("max_doc_tokens", 1024)),
                    max_requests=int(p["max_requests"]) if p.get("max_requests") else None,
                )
            )
        if not result.complete:
            raise RuntimeError(
                f"ratings incomplete (budget exhausted: {result.budget_exhausted}); rerun to resume"
            )
        return asdict(result)

    @task
    def distill(rated: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        import os

        from tasks.distill import DistillConfig, run_distill

        p = dict(params or {})
        with task_outcome():
            result = run_distill(
                DistillConfig(
                    store=p.get("store") or default_store(),
                    ratings=rated["name"],
                    version=p.get("model_version") or None,
                    min_train_rows=int(p.get("min_train_rows", 20)),
                    dim=int(p.get("dim", 32)),
                    human_labels=os.path.join(default_shared_data(), "labels", "turku-register"),
                )
            )
        return {
            "version": result.version,
            "models_url": result.models_url,
            "models": sorted(result.models),
            "skipped": result.skipped,
        }

    distill(rate())


rater_distill_dag = rater_distill()
