"""nightly_mixture: ingest → rater models → score → clusters → sweep → mix → publish, for the newest snapshots.

Runs nightly at 02:00 UTC and whenever ``score_corpus`` lands new scores or ``proxy_sweep`` a new sweep (Assets).
It consumes those Assets and produces only ``quarry_published_mixture``, so it never triggers itself (its own
scoring step is not an Asset producer). Each task calls one plain step of ``tasks.pipeline``; the same steps run
in order under ``quarry run``. On an empty store the run bootstraps a rater model (rate + distill on the vLLM
server) and a small proxy sweep when ``bootstrap`` is set; in production ``rater_distill`` and ``proxy_sweep``
produce them. The proxy sweep uses the ``gpu`` pool (``infra/airflow_setup.sh`` creates it).
A configuration error fails its task at once with the reason (no retries); a failed validation publishes the
version for inspection, keeps ``latest`` where it was and fails the ``publish`` task.
"""

from __future__ import annotations

import datetime
from typing import Any

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable
from quarry_common.assets import PUBLISHED_MIXTURE, SCORES, SWEEP
from quarry_common.errors import task_outcome
from quarry_common.gate import gate_params

PIPELINE_PARAMS = (
    "store", "shared_data", "inputs", "workers", "scheduler", "rater_url", "rate_sample_size", "rate_max_doc_tokens", "model_version",
    "sweep_id", "n_proxies", "proxy_token_budget", "search_size", "proxy_model", "mixture", "publish_to",
    "bootstrap", "dry_run", "domains", "clusters", "min_spearman", "force_latest", "illusion_seeds",
    "bakeoff_methods",
)  # fmt: skip


def _config() -> Any:
    """The run's PipelineConfig from its Params (empty strings mean "default")."""
    from tasks.pipeline import PipelineConfig

    params = get_current_context()["params"]
    given = {k: params[k] for k in PIPELINE_PARAMS if k in params and params[k] not in ("", None, [])}
    for listed in ("inputs", "bakeoff_methods"):
        if listed in given:
            given[listed] = tuple(given[listed])
    from quarry_common.config import default_shared_data, default_store

    given.setdefault("store", default_store())
    given.setdefault("shared_data", default_shared_data())
    return PipelineConfig(**given)


@dag(
    dag_id="nightly_mixture",
    schedule=AssetOrTimeSchedule(
        # no start_date and no immediate run: unpausing waits for the next 02:00 instead of starting a run
        timetable=CronTriggerTimetable("0 2 * * *", timezone="UTC", run_immediately=datetime.timedelta(0)),
        assets=(SCORES | SWEEP),
    ),
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "nightly"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=2)},
    params={
        "store": Param("", type="string", description="store root; empty: $QUARRY_STORE or ./quarry-data"),
        "shared_data": Param(
            "",
            type="string",
            description="real pages and eval sets; empty: $QUARRY_SHARED_DATA or ../shared/data",
        ),
        "inputs": Param(
            ["sample", "shared-crawl"],
            type="array",
            description="crawl roots or snapshot folders (newest crawl-data/<id> is taken); 'sample' and "
            "'shared-crawl' are the embedded demo inputs",
        ),
        "workers": Param(2, type="integer", minimum=0, description="Dask LocalCluster workers"),
        "scheduler": Param("", type="string", description="existing Dask scheduler address"),
        "rater_url": Param(
            "", type="string", description="OpenAI-compatible vLLM URL for bootstrapping raters"
        ),
        "rate_sample_size": Param(16, type="integer", minimum=10),
        "rate_max_doc_tokens": Param(
            128, type="integer", minimum=16, description="tokens of each page the bootstrap rater reads"
        ),
        "model_version": Param("", type="string", description="rater model version; empty: latest"),
        "sweep_id": Param("", type="string", description="sweep whose parameters to use; empty: latest"),
        "n_proxies": Param(24, type="integer", minimum=10),
        "proxy_token_budget": Param(65536, type="integer", minimum=4096),
        "search_size": Param(20000, type="integer", minimum=100),
        "proxy_model": Param("tiny", enum=["tiny", "small", "regmix-1m"]),
        "mixture": Param("nightly", type="string", description="release name of the published mixture"),
        "publish_to": Param(
            "", type="string", description="s3://bucket/prefix or a directory; empty: <store>/published"
        ),
        "domains": Param(
            "auto", enum=["auto", "domain", "cluster"], description="what defines mixture domains"
        ),
        "clusters": Param(8, type="integer", minimum=2, description="k of the embedding clusters"),
        "bootstrap": Param(True, type="boolean", description="build missing rater models / sweep"),
        "dry_run": Param(False, type="boolean", description="plan the publication, write nothing"),
        "illusion_seeds": Param(
            0,
            type="integer",
            minimum=0,
            description="data-quality-illusion experiment: proxies per arm; 0: off",
        ),
        "bakeoff_methods": Param(
            [],
            type="array",
            items={"type": "string"},
            description="selection-method bake-off on the sweep in use (tasks.bakeoff: uniform, topk, chosen, "
            "dsir, qurating, dclm, rebalance, preselect, climb); empty: not run",
        ),
        **gate_params(),
    },
    doc_md=__doc__,
)
def nightly_mixture() -> None:
    @task
    def ingest() -> dict[str, Any]:
        from tasks.pipeline import step_ingest

        with task_outcome():
            return step_ingest(_config())

    @task
    def models() -> dict[str, Any]:
        from tasks.pipeline import step_models

        with task_outcome():
            return step_models(_config())

    @task  # not an outlet of SCORES: this DAG consumes that Asset and must not trigger itself
    def score(models: dict[str, Any], ingested: dict[str, Any]) -> dict[str, Any]:
        from tasks.pipeline import step_score

        with task_outcome():
            return step_score(_config(), models["model_version"])

    @task
    def clusters(scored: dict[str, Any]) -> dict[str, Any]:
        from tasks.pipeline import step_cluster

        with task_outcome():
            return step_cluster(_config())

    @task(pool="gpu", pool_slots=1)
    def sweep() -> dict[str, Any]:
        from tasks.pipeline import step_sweep

        with task_outcome():
            return step_sweep(_config())

    @task
    def mix(
        models: dict[str, Any], sweep: dict[str, Any], ingested: dict[str, Any], scored: dict[str, Any]
    ) -> dict[str, Any]:
        from tasks.pipeline import step_mix

        with task_outcome():
            return step_mix(_config(), models["model_version"], sweep["sweep_id"], ingested["snapshots"])

    @task(outlets=[PUBLISHED_MIXTURE])
    def publish(mixed: dict[str, Any], sweep: dict[str, Any], outlet_events: Any = None) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from tasks.pipeline import step_publish
        from tasks.sweep.gate import ValidationFailed, raise_if_failed

        config = _config()
        with task_outcome():
            published = step_publish(config, mixed["mixture"], sweep["sweep_id"])
        print(f"published {published['release']} v{published['version']}: {published['url']}")
        print(f"report: {published['report']}")
        validation = published.get("validation") or {}
        print(f"validation {validation.get('verdict')}: {validation.get('reason')}")
        try:  # published as v<N> for inspection, but latest stayed: fail the task so that a person notices
            raise_if_failed(
                None if config.dry_run else validation,
                release=published["release"],
                version=f"v{published['version']}",
                latest=f"v{published['latest']}" if published.get("latest") else None,
            )
        except ValidationFailed as exc:
            raise AirflowFailException(str(exc)) from exc
        if outlet_events is not None:
            outlet_events[PUBLISHED_MIXTURE].extra = {
                "store": config.store,
                "name": mixed["mixture"],
                **published,
            }
        return published

    ingested = ingest()
    rater = models()
    ingested >> rater
    scored = score(rater, ingested)
    swept = sweep()
    clusters(scored) >> swept
    publish(mix(rater, swept, ingested, scored), swept)


nightly_mixture_dag = nightly_mixture()
