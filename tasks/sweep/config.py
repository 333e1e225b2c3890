"""Sweep settings (:class:`SweepConfig`, immutable per sweep id), the result, and the layout of a sweep's
files (:class:`SweepPaths`; described in :mod:`tasks.sweep.stage`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from tasks.mix.corpus import DomainColumn
from tasks.mix.sampling import QUALITY_CRITERIA
from tasks.runner import ClusterConfig
from tasks.storage import (
    CompletionMarkers,
    Store,
    exists,
    join,
    read_json,
    validate_name,
)
from tasks.sweep.model import ProxyModelConfig
from tasks.sweep.params import (
    QuaDMixRanges,
    RegMixSettings,
)
from tasks.sweep.regression import RegressionConfig
from tasks.sweep.targets import HELDOUT, TargetSpec
from tasks.sweep.trainer import Fault, TrainConfig

if TYPE_CHECKING:
    from tasks.illusion.experiment import IllusionSettings

log = logging.getLogger(__name__)


Mode = Literal["quadmix", "regmix"]
EXACT = 1 << 40  # sketch size that never compresses: in-memory samples are ranked exactly


@dataclass(frozen=True)
class SweepConfig:
    """Everything that defines a sweep. Fields below the line do not change results (not part of identity)."""

    store: str
    sweep_id: str
    targets: tuple[TargetSpec, ...]
    snapshots: tuple[str, ...] = ()
    mode: Mode = "quadmix"
    n_proxies: int = 64
    token_budget: int = 20_000_000  # byte tokens per proxy
    objective: str = "mean"  # a target name, "heldout", or "mean" (of the target sets)
    search_size: int = 100_000
    top_k: int = 100
    model: ProxyModelConfig = field(default_factory=ProxyModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    group_size: int = 64
    sample_tokens: int = 50_000_000  # platform tokens of training documents in the corpus sample
    heldout_documents: int = 2000
    criteria: tuple[str, ...] = QUALITY_CRITERIA
    domain_column: DomainColumn = "domain"
    domains: tuple[str, ...] = ()  # () = the domains found in the sample
    ranges: QuaDMixRanges = field(default_factory=QuaDMixRanges)
    regmix: RegMixSettings = field(default_factory=RegMixSettings)
    regression: RegressionConfig = field(default_factory=RegressionConfig)
    validation_seeds: int = 3  # at least gate.MIN_SEEDS are trained whatever this says
    topk_criterion: str = "educational_value"
    topk_keep: float = 0.3
    seed: int = 0
    # ---- not part of identity ----
    device: str = "auto"
    cluster: ClusterConfig | None = None
    gpu_resource: str | None = None  # Dask worker resource each group needs (e.g. "GPU"), None locally
    faults: Mapping[str, Fault] = field(default_factory=dict)  # run_id → "nan" | "die": a testing hook
    # the data-quality-illusion experiment (tasks/illusion), run after validation; None: not run
    illusion: IllusionSettings | None = None

    def __post_init__(self) -> None:
        validate_name(self.sweep_id, "sweep id")
        for s in self.snapshots:
            validate_name(s, "snapshot")
        if self.mode not in ("quadmix", "regmix"):
            raise ValueError(f"mode must be quadmix or regmix, got {self.mode!r}")
        if self.n_proxies < 1 or self.token_budget < 1 or self.group_size < 1 or self.search_size < 1:
            raise ValueError("n_proxies, token_budget, group_size and search_size must be positive")
        if not 1 <= self.top_k <= self.search_size:
            raise ValueError("top_k must be between 1 and search_size")
        names = [t.name for t in self.targets]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate target names in {names}")
        if self.objective not in (*names, "mean", HELDOUT):
            raise ValueError(f"objective {self.objective!r} must be one of {names} or 'mean' or '{HELDOUT}'")
        if self.objective == "mean" and not names and self.heldout_documents < 1:
            raise ValueError("objective 'mean' needs at least one target set or held-out documents")
        if not self.criteria:
            raise ValueError("at least one quality criterion is needed")
        if self.topk_criterion not in self.criteria:
            raise ValueError(f"topk_criterion {self.topk_criterion!r} is not one of {list(self.criteria)}")
        if not 0 < self.topk_keep <= 1:
            raise ValueError("topk_keep must be in (0, 1]")
        if self.validation_seeds < 1 or self.sample_tokens < 1 or self.heldout_documents < 0:
            raise ValueError("validation_seeds and sample_tokens must be positive, heldout_documents >= 0")
        bad = {k: v for k, v in self.faults.items() if v not in ("nan", "die")}
        if bad:
            raise ValueError(f"unknown faults {bad} (nan, die)")

    def identity(self) -> dict[str, Any]:
        return {
            "sweep_id": self.sweep_id,
            "targets": [t.to_json() for t in self.targets],
            "snapshots": list(self.snapshots),
            "mode": self.mode,
            "n_proxies": self.n_proxies,
            "token_budget": self.token_budget,
            "objective": self.objective,
            "search_size": self.search_size,
            "top_k": self.top_k,
            "model": self.model.to_json(),
            "train": {k: v for k, v in self.train.to_json().items() if k != "threads"},
            "group_size": self.group_size,
            "sample_tokens": self.sample_tokens,
            "heldout_documents": self.heldout_documents,
            "criteria": list(self.criteria),
            "domain_column": self.domain_column,
            "domains": list(self.domains),
            "ranges": self.ranges.to_json(),
            "regmix": self.regmix.to_json(),
            "regression": self.regression.to_json(),
            "validation_seeds": self.validation_seeds,
            "topk_criterion": self.topk_criterion,
            "topk_keep": self.topk_keep,
            "seed": self.seed,
        }

    @classmethod
    def from_identity(cls, store: str, data: Mapping[str, Any], **runtime: Any) -> SweepConfig:
        """Rebuild a config from ``config.json`` (plus runtime-only fields)."""
        ranges = {k: tuple(v) for k, v in data["ranges"].items()}
        return cls(
            store=store,
            sweep_id=data["sweep_id"],
            targets=tuple(TargetSpec.from_json(t) for t in data["targets"]),
            snapshots=tuple(data["snapshots"]),
            mode=data["mode"],
            n_proxies=int(data["n_proxies"]),
            token_budget=int(data["token_budget"]),
            objective=data["objective"],
            search_size=int(data["search_size"]),
            top_k=int(data["top_k"]),
            model=ProxyModelConfig(**data["model"]),
            train=TrainConfig(**data["train"]),
            group_size=int(data["group_size"]),
            sample_tokens=int(data["sample_tokens"]),
            heldout_documents=int(data["heldout_documents"]),
            criteria=tuple(data["criteria"]),
            domain_column=data["domain_column"],
            domains=tuple(data["domains"]),
            ranges=QuaDMixRanges(**ranges),  # type: ignore[arg-type]
            regmix=RegMixSettings(**data["regmix"]),
            regression=RegressionConfig(**data["regression"]),
            validation_seeds=int(data["validation_seeds"]),
            topk_criterion=data["topk_criterion"],
            topk_keep=float(data["topk_keep"]),
            seed=int(data["seed"]),
            **runtime,
        )


@dataclass
class SweepResult:
    sweep_id: str
    root: str
    n_runs: int
    n_completed: int
    n_failed: int
    spearman: float
    chosen: dict[str, Any]
    objective_losses: dict[str, float]
    failed_groups: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------------------
# paths and small helpers
# --------------------------------------------------------------------------------------------------------------
class SweepPaths:
    def __init__(self, store_root: str, sweep_id: str) -> None:
        self.store = Store(store_root)
        self.root = self.store.sweeps(sweep_id)
        self.config = join(self.root, "config.json")
        self.corpus = join(self.root, "corpus", "docs.parquet")
        self.plan = join(self.root, "plan.json")
        self.runs = join(self.root, "runs")
        self.table = join(self.root, "table.parquet")
        self.fit = join(self.root, "fit.json")
        self.plot = join(self.root, "fit.svg")
        self.chosen = join(self.root, "chosen.json")
        self.validation = join(self.root, "validation", "runs.json")
        self.report = join(self.root, "report.json")
        self.illusion = join(self.root, "illusion.json")
        self.summary = join(self.root, "sweep.json")
        self.markers = CompletionMarkers(self.store.markers("sweep", sweep_id))
        self.latest = join(self.store.path("sweeps"), "latest.json")

    def run(self, run_id: str) -> str:
        return join(self.runs, f"{run_id}.json")


def json_digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_config(store_root: str, sweep_id: str, **runtime: Any) -> SweepConfig:
    paths = SweepPaths(store_root, sweep_id)
    if not exists(paths.config):
        raise FileNotFoundError(f"sweep {sweep_id!r} has no config at {paths.config}; plan it first")
    return SweepConfig.from_identity(store_root, read_json(paths.config)["config"], **runtime)


def objective_value(losses: Mapping[str, float], objective: str, target_names: Sequence[str]) -> float:
    if objective == "mean":
        names = list(target_names) or [HELDOUT]
        vals = [losses.get(n, float("nan")) for n in names]
        return float(np.mean(vals)) if vals else float("nan")
    return float(losses.get(objective, float("nan")))
