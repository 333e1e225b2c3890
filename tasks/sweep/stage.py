"""The sweep stage: N parameter draws → N proxy runs → sweep table → LightGBM → search → chosen parameters.

Layout under ``store.sweeps(<id>)``::

    config.json              the SweepConfig (a sweep id is immutable: rerunning it with other settings fails)
    corpus/docs.parquet      the corpus sample: training documents and held-out documents (``heldout``), with
                             ``id, snapshot, shard, domain, n_tokens, <criteria>, heldout, text``
    plan.json                domains, their sample token totals, and every run: run_id, group, spec, seed (its
                             mixture draws and data order) and init_seed (the model initialisation, the same
                             for every run of a sweep: common random numbers, so that runs differ by mixture)
    runs/<run_id>.json       one proxy run: status (completed | diverged | empty | failed), target losses,
                             objective, mixture tokens per domain, training figures
    table.parquet            the sweep table (one row per run: status, features, mixture tokens, losses)
    fit.json  fit.svg        regression quality (held-out Spearman etc.) and predicted-vs-actual plot
    chosen.json              the chosen sampling function (average of the top-k of the search)
    validation/runs.json     proxies trained on the chosen mixture and on the baselines: at least 3 fresh seeds
                             each (no sweep run's seed), every seed's objective; the release gate
                             (``tasks.sweep.gate``) reads them with fit.json's held-out Spearman
    report.json              the validation report: per arm (chosen, baselines) target and held-out losses
    illusion.json            the data-quality-illusion experiment when ``illusion`` is set (``tasks.illusion``)
    sweep.json               the summary, written last
    ../latest.json           pointer to the last finished sweep (for the mix stage's ``--sweep latest``)

Groups of proxies train together (batched on one device). A group's completion marker is written after its
run records; a rerun trains only groups without a marker. A diverged or empty run is final (recorded, never fed
to the regression); a group that crashed leaves ``failed`` records and no marker, so a rerun retries it. The fit
uses whatever runs completed and fails clearly below ``regression.min_runs``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from dataclasses import asdict
from typing import Any

from tasks.runner import ClusterConfig, ShardFailures, run_shards
from tasks.storage import (
    exists,
    read_json,
    write_json_atomic,
)
from tasks.sweep.config import SweepConfig, SweepPaths, SweepResult, load_config, objective_value
from tasks.sweep.fit import fit_sweep, sweep_table
from tasks.sweep.plan import SweepPlan, plan_sweep
from tasks.sweep.train import train_group, train_group_task
from tasks.sweep.validate import baseline_specs, validate_sweep

__all__ = [  # the steps, importable from here as before the split
    "SweepConfig",
    "SweepPlan",
    "SweepResult",
    "baseline_specs",
    "finished_groups",
    "fit_sweep",
    "load_config",
    "objective_value",
    "plan_sweep",
    "publish_latest",
    "resolve_sweep_id",
    "run_sweep",
    "sweep_table",
    "train_group",
    "validate_sweep",
]

log = logging.getLogger(__name__)


def publish_latest(store: str, sweep_id: str) -> str:
    """Point ``sweeps/latest.json`` at a finished sweep; returns the pointer's URL."""
    paths = SweepPaths(store, sweep_id)
    if not exists(paths.chosen):
        raise FileNotFoundError(f"sweep {sweep_id!r} has no chosen parameters")
    write_json_atomic(paths.latest, {"sweep_id": sweep_id, "chosen": paths.chosen, "at": time.time()})
    return paths.latest


def resolve_sweep_id(store: str, sweep_id: str) -> str:
    """``latest`` → the id in ``sweeps/latest.json``."""
    if sweep_id != "latest":
        return sweep_id
    url = SweepPaths(store, "latest").latest
    if not exists(url):
        raise FileNotFoundError(f"no finished sweep yet ({url} missing)")
    return str(read_json(url)["sweep_id"])


def finished_groups(store: str, sweep_id: str) -> set[str]:
    return SweepPaths(store, sweep_id).markers.done()


def run_sweep(config: SweepConfig) -> SweepResult:
    """Plan, train every pending group (on Dask), fit, search, validate, report. Resumable."""
    paths = SweepPaths(config.store, config.sweep_id)
    plan = plan_sweep(config)
    done = finished_groups(config.store, config.sweep_id)
    pending = [g for g in plan.groups if g not in done]
    failed: dict[str, str] = {}
    if pending:
        task = functools.partial(
            train_group_task,
            store=config.store,
            sweep_id=config.sweep_id,
            device=config.device,
            faults=dict(config.faults),
        )
        cluster = config.cluster or ClusterConfig.from_env(n_workers=0)
        ctx: Any = contextlib.nullcontext()
        if config.gpu_resource:
            from dask.base import annotate

            ctx = annotate(resources={config.gpu_resource: 1})
        try:
            with ctx:
                run_shards(
                    task, pending, names=pending, cluster=cluster, description=f"sweep-{config.sweep_id}"
                )
        except ShardFailures as exc:
            failed = exc.failures
            log.error(
                "sweep %s: %d group(s) failed; fitting on the completed runs: %s",
                config.sweep_id,
                len(failed),
                failed,
            )
    fit = fit_sweep(config.store, config.sweep_id)
    report = validate_sweep(config.store, config.sweep_id, device=config.device)
    if config.illusion is not None:
        from tasks.illusion.experiment import run_illusion

        run_illusion(config.store, config.sweep_id, config.illusion, device=config.device)
    chosen = read_json(paths.chosen)
    losses = {k: float(v["objective_loss"]) for k, v in report["mixtures"].items()}
    result = SweepResult(
        sweep_id=config.sweep_id,
        root=paths.root,
        n_runs=len(plan.runs),
        n_completed=int(fit["status_counts"].get("completed", 0)),
        n_failed=len(plan.runs) - int(fit["status_counts"].get("completed", 0)),
        spearman=float(fit["spearman_heldout"]),
        chosen=chosen["spec"],
        objective_losses=losses,
        failed_groups=failed,
    )
    write_json_atomic(paths.summary, {**asdict(result), "finished_at": time.time()})
    publish_latest(config.store, config.sweep_id)
    return result
