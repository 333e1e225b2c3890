"""Sweep stage: proxy sweeps for the QuaDMix / RegMix mixture optimiser.

Entry point: :func:`run_sweep` with :class:`SweepConfig` (``quarry sweep``). The Airflow DAG ``proxy_sweep``
calls the steps separately: :func:`plan_sweep`, :func:`train_group` (one mapped task per group of proxies, in
the ``gpu`` pool), :func:`fit_sweep`, :func:`validate_sweep`, :func:`publish_latest`. The layout of a sweep's
outputs is described in :mod:`tasks.sweep.stage`.
"""

from tasks.sweep.model import BatchedProxyLM, ProxyModelConfig
from tasks.sweep.params import QuaDMixRanges, RegMixSettings
from tasks.sweep.regression import InsufficientRunsError, RegressionConfig
from tasks.sweep.stage import (
    SweepConfig,
    SweepPlan,
    SweepResult,
    fit_sweep,
    load_config,
    plan_sweep,
    publish_latest,
    resolve_sweep_id,
    run_sweep,
    sweep_table,
    train_group,
    validate_sweep,
)
from tasks.sweep.targets import TargetSpec, default_targets
from tasks.sweep.trainer import TrainConfig

__all__ = [
    "BatchedProxyLM",
    "InsufficientRunsError",
    "ProxyModelConfig",
    "QuaDMixRanges",
    "RegMixSettings",
    "RegressionConfig",
    "SweepConfig",
    "SweepPlan",
    "SweepResult",
    "TargetSpec",
    "TrainConfig",
    "default_targets",
    "fit_sweep",
    "load_config",
    "plan_sweep",
    "publish_latest",
    "resolve_sweep_id",
    "run_sweep",
    "sweep_table",
    "train_group",
    "validate_sweep",
]
