"""Turn the ``proxy_sweep`` DAG's Params (plain JSON) into a :class:`SweepConfig`. No Airflow imports."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from tasks.illusion.experiment import settings_from_params
from tasks.sweep.config import SweepConfig
from tasks.sweep.model import ProxyModelConfig
from tasks.sweep.regression import RegressionConfig
from tasks.sweep.targets import TargetSpec, default_targets
from tasks.sweep.trainer import TrainConfig

DEFAULT_EVAL_DIR_ENV = "QUARRY_EVAL_DIR"


log = logging.getLogger(__name__)


def sweep_id_for_run(run_id: str) -> str:
    """A valid sweep id from an Airflow run id (``scheduled__2026-01-05T00:00:00+00:00`` → ``sweep-...``)."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", run_id).strip("-.")
    return f"sweep-{clean}"[:200]


def _only(cls: type, data: Mapping[str, Any], what: str) -> dict[str, Any]:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {what} settings {unknown}; known: {sorted(known)}")
    return dict(data)


def _criteria_with_signal(store: str, params: Mapping[str, Any], mode: str) -> dict[str, Any]:
    """Overrides leaving criteria without signal out of the sweep (:func:`tasks.distill.signal.sweep_criteria`,
    as the nightly bootstrap does); none when every criterion carries signal or there is no model card."""
    from tasks.distill.signal import sweep_criteria

    model_version = str(params["model_version"]) if params.get("model_version") else None
    topk = str(params.get("topk_criterion") or "educational_value")
    chosen = sweep_criteria(store, model_version, mode=mode, topk_criterion=topk)
    if not chosen.dropped:
        return {}
    if not chosen.leaned:
        return {"mode": chosen.mode} if chosen.mode != mode else {}
    return {"criteria": chosen.criteria, "topk_criterion": chosen.topk_criterion}


def config_from_params(
    params: Mapping[str, Any], *, run_id: str, default_store: str, default_eval_dir: str | None = None
) -> SweepConfig:
    """Validated config (raises ValueError on bad Params). Without ``targets``, the default target sets are
    read from ``$QUARRY_EVAL_DIR``, else ``default_eval_dir``."""
    store = str(params.get("store") or default_store)
    sweep_id = str(params.get("sweep_id") or sweep_id_for_run(run_id))
    eval_dir = os.environ.get(DEFAULT_EVAL_DIR_ENV) or default_eval_dir
    raw_targets = list(params.get("targets") or [])
    max_bytes = int(params.get("target_max_bytes") or 2_000_000)
    if raw_targets:
        targets = tuple(TargetSpec.parse(str(t), max_bytes=max_bytes) for t in raw_targets)
    else:
        if not eval_dir or not os.path.isdir(eval_dir):
            raise ValueError(
                f"no targets given and no evaluation folder (${DEFAULT_EVAL_DIR_ENV}, or {default_eval_dir})"
            )
        targets = default_targets(eval_dir)
    model = ProxyModelConfig.preset(
        str(params.get("model") or "regmix-1m"),
        **_only(ProxyModelConfig, params.get("model_overrides") or {}, "model"),
    )
    train = TrainConfig(**_only(TrainConfig, params.get("train_overrides") or {}, "train"))
    regression = RegressionConfig(
        **_only(RegressionConfig, params.get("regression_overrides") or {}, "regression")
    )
    kwargs: dict[str, Any] = {}
    for key in (
        "n_proxies",
        "token_budget",
        "search_size",
        "top_k",
        "group_size",
        "sample_tokens",
        "heldout_documents",
        "validation_seeds",
        "seed",
    ):
        if params.get(key) is not None:
            kwargs[key] = int(params[key])
    for key in ("mode", "objective", "device", "topk_criterion", "domain_column"):
        if params.get(key):
            kwargs[key] = str(params[key])
    if params.get("topk_keep") is not None:
        kwargs["topk_keep"] = float(params["topk_keep"])
    kwargs.update(_criteria_with_signal(store, params, str(kwargs.get("mode", "quadmix"))))
    return SweepConfig(
        store=store,
        sweep_id=sweep_id,
        targets=targets,
        snapshots=tuple(params.get("snapshots") or ()),
        model=model,
        train=train,
        regression=regression,
        illusion=settings_from_params(params, eval_dir),
        **kwargs,
    )
