"""Sweep stage: proxy sweeps for the QuaDMix / RegMix mixture optimiser.

Entry point: :func:`run_sweep` with :class:`SweepConfig` (``quarry sweep``). The Airflow DAG ``proxy_sweep``
calls the steps separately: :func:`plan_sweep`, :func:`train_group` (one mapped task per group of proxies, in
the ``gpu`` pool), :func:`fit_sweep`, :func:`validate_sweep`, :func:`publish_latest`. The layout of a sweep's
outputs is described in :mod:`tasks.sweep.stage`. Modules: ``config`` (settings, paths), ``plan`` (corpus sample,
draws), ``train`` (a group of proxies), ``fit`` (regression, search), ``validate`` (fresh-seed proxies on the
chosen mixture and the baselines), ``gate`` (whether a mixture may become ``latest``), ``stage`` (the order).
"""

from tasks.sweep.config import SweepConfig, SweepResult, load_config
from tasks.sweep.fit import fit_sweep, sweep_table
from tasks.sweep.gate import DEFAULT_MIN_SPEARMAN, GateDecision, ValidationFailed, gate_mixture, gate_sweep
from tasks.sweep.model import BatchedProxyLM, ProxyModelConfig
from tasks.sweep.params import QuaDMixRanges, RegMixSettings
from tasks.sweep.plan import SweepPlan, plan_sweep
from tasks.sweep.regression import InsufficientRunsError, RegressionConfig
from tasks.sweep.stage import publish_latest, resolve_sweep_id, run_sweep
from tasks.sweep.targets import TargetSpec, default_targets
from tasks.sweep.train import train_group
from tasks.sweep.trainer import TrainConfig
from tasks.sweep.validate import validate_sweep

__all__ = [
    "DEFAULT_MIN_SPEARMAN",
    "BatchedProxyLM",
    "GateDecision",
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
    "ValidationFailed",
    "default_targets",
    "fit_sweep",
    "gate_mixture",
    "gate_sweep",
    "load_config",
    "plan_sweep",
    "publish_latest",
    "resolve_sweep_id",
    "run_sweep",
    "sweep_table",
    "train_group",
    "validate_sweep",
]
