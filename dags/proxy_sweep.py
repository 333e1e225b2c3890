"""proxy_sweep: the QuaDMix / RegMix mixture optimiser, weekly (or from the UI with Params).

plan (corpus sample + N parameter draws) → train (one mapped task per group of proxies, batched on one GPU;
Airflow pool ``gpu`` bounds how many run at once) → fit (sweep table → LightGBM → 100k-candidate search →
chosen parameters; held-out Spearman reported) → validate (proxies on the chosen mixture and on the baselines,
then, with ``illusion_seeds``, the data-quality-illusion experiment of ``tasks.illusion``, and with
``bakeoff_methods`` the selection-method bake-off of ``tasks.bakeoff``; also in the ``gpu`` pool) → publish (``sweeps/latest.json`` and the ``quarry_sweep`` Asset, which the nightly mixture uses).

Outputs go to ``<store>/sweeps/<sweep_id>/`` (layout in ``tasks/sweep/stage.py``). A group that dies is retried;
if it keeps failing, ``fit`` still runs on the completed proxies (and fails clearly if too few completed). A
rerun with the same sweep id resumes: finished groups are not trained again.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task
from quarry_common.assets import SCORES, SWEEP
from quarry_common.config import default_shared_data, default_store
from quarry_common.errors import task_outcome


@dag(
    dag_id="proxy_sweep",
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["quarry", "sweep", "gpu"],
    default_args={"retries": 1, "retry_delay": pendulum.duration(minutes=2)},
    params={
        "n_proxies": Param(
            512, type="integer", minimum=1, description="number of parameter draws / proxy runs"
        ),
        "token_budget": Param(
            20_000_000, type="integer", minimum=1, description="training tokens (bytes) per proxy"
        ),
        "targets": Param(
            [],
            type="array",
            items={"type": "string"},
            description="target sets NAME=[FORMAT:]PATH (formats: text, jsonl, mmlu, hellaswag, parquet); "
            "empty: wikitext2, hellaswag and mmlu under $QUARRY_EVAL_DIR",
        ),
        "search_size": Param(
            100_000, type="integer", minimum=1, description="candidates scored by the regression"
        ),
        "top_k": Param(100, type="integer", minimum=1, description="the chosen parameters average the top k"),
        "mode": Param(
            "quadmix", enum=["quadmix", "regmix"], description="QuaDMix (quality + domain) or RegMix"
        ),
        "objective": Param(
            "mean", type="string", description="a target name, 'heldout', or 'mean' of the targets"
        ),
        "model": Param("regmix-1m", enum=["regmix-1m", "small", "tiny"], description="proxy model shape"),
        "group_size": Param(
            64, type="integer", minimum=1, description="proxies trained together on one device"
        ),
        "snapshots": Param([], type="array", items={"type": "string"}, description="empty: every snapshot"),
        "sweep_id": Param("", type="string", description="empty: derived from the run id"),
        "store": Param("", type="string", description="store root; empty: $QUARRY_STORE"),
        "device": Param("auto", type="string", description="auto (CUDA when present), cuda, cpu"),
        "sample_tokens": Param(
            50_000_000,
            type="integer",
            minimum=1,
            description="tokens of the corpus sample the proxies draw from",
        ),
        "heldout_documents": Param(2000, type="integer", minimum=0, description="held-out scored documents"),
        "validation_seeds": Param(2, type="integer", minimum=1, description="proxies per validated mixture"),
        "target_max_bytes": Param(
            2_000_000, type="integer", minimum=1, description="text read per target set"
        ),
        "model_overrides": Param({}, type="object", description="ProxyModelConfig fields, e.g. seq_len"),
        "train_overrides": Param({}, type="object", description="TrainConfig fields, e.g. lr, batch_size"),
        "regression_overrides": Param({}, type="object", description="RegressionConfig fields"),
        "illusion_seeds": Param(
            0,
            type="integer",
            minimum=0,
            description="data-quality-illusion experiment (HQ reference set, fastText filter, keep-ratio sweep, "
            "synthetic control): proxies per arm, at least 3; 0: not run",
        ),
        "illusion_keep": Param(
            [1.0, 0.5, 0.25, 0.1],
            type="array",
            items={"type": "number"},
            description="keep ratios (with 1.0)",
        ),
        "illusion_token_budget": Param(
            0, type="integer", minimum=0, description="tokens per illusion proxy; 0: token_budget"
        ),
        "bakeoff_methods": Param(
            [],
            type="array",
            items={"type": "string"},
            description="selection-method bake-off after validation (tasks.bakeoff: uniform, topk, chosen, dsir, "
            "qurating, dclm, rebalance, preselect, climb) at a matched budget, 3 seeds per arm; empty: not run",
        ),
    },
    doc_md=__doc__,
)
def proxy_sweep() -> None:
    @task(inlets=[SCORES])
    def plan(params: dict[str, Any] | None = None, run_id: str | None = None) -> list[dict[str, Any]]:
        """Write the corpus sample and the draws; one job per group of proxies (what ``train`` maps over)."""
        from airflow.sdk.exceptions import AirflowFailException

        from tasks.sweep.glue import config_from_params
        from tasks.sweep.stage import plan_sweep

        try:
            config = config_from_params(
                dict(params or {}),
                run_id=run_id or "manual",
                default_store=default_store(),
                default_eval_dir=os.path.join(default_shared_data(), "eval"),
            )
        except ValueError as exc:  # bad Params: retrying cannot help
            raise AirflowFailException(str(exc)) from exc
        with task_outcome():
            planned = plan_sweep(config)
        return [
            {"group": g, "store": config.store, "sweep_id": config.sweep_id, "device": config.device}
            for g in planned.groups
        ]

    @task(pool="gpu", max_active_tis_per_dag=16)
    def train(job: dict[str, Any]) -> dict[str, Any]:
        from tasks.sweep.stage import train_group

        return train_group(job["store"], job["sweep_id"], job["group"], device=job["device"])

    @task(trigger_rule="all_done_min_one_success")
    def fit(jobs: list[dict[str, Any]]) -> dict[str, Any]:
        from tasks.sweep.stage import fit_sweep

        job = jobs[0]
        info = fit_sweep(job["store"], job["sweep_id"])
        keep = ("spearman_heldout", "n_runs", "status_counts", "chosen_predicted_loss")
        return {
            **{k: info[k] for k in keep},
            "store": job["store"],
            "sweep_id": job["sweep_id"],
            "device": job["device"],
        }

    @task(pool="gpu")
    def validate(fitted: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        from tasks.illusion.experiment import run_illusion, settings_from_params
        from tasks.sweep.glue import DEFAULT_EVAL_DIR_ENV
        from tasks.sweep.stage import validate_sweep

        report = validate_sweep(fitted["store"], fitted["sweep_id"], device=fitted["device"])
        eval_dir = os.environ.get(DEFAULT_EVAL_DIR_ENV) or os.path.join(default_shared_data(), "eval")
        illusion = settings_from_params(dict(params or {}), eval_dir)
        if illusion is not None:  # after the gate's proxies: the experiment adds figures, decides nothing
            run_illusion(fitted["store"], fitted["sweep_id"], illusion, device=fitted["device"])
        from tasks.bakeoff import run_bakeoff
        from tasks.bakeoff import settings_from_params as bakeoff_settings

        bakeoff = bakeoff_settings(dict(params or {}), eval_dir)
        if bakeoff is not None:  # like the illusion experiment: figures for the report, decides nothing
            run_bakeoff(fitted["store"], fitted["sweep_id"], bakeoff, device=fitted["device"])
        return {name: m["objective_loss"] for name, m in report["mixtures"].items()}

    @task(outlets=[SWEEP])
    def publish(fitted: dict[str, Any], losses: dict[str, Any], outlet_events: Any = None) -> dict[str, Any]:
        from tasks.sweep.stage import publish_latest

        pointer = publish_latest(fitted["store"], fitted["sweep_id"])
        extra = {
            "store": fitted["store"],
            "sweep_id": fitted["sweep_id"],
            "latest": pointer,
            "spearman_heldout": fitted["spearman_heldout"],
            "objective_losses": losses,
        }
        if outlet_events is not None:
            outlet_events[SWEEP].extra = extra
        return extra

    jobs = plan()
    trained = train.expand(job=jobs)
    fitted = fit(jobs)
    trained >> fitted
    publish(fitted, validate(fitted))


proxy_sweep_dag = proxy_sweep()
