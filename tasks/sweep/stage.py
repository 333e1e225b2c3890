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
    validation/runs.json     proxies trained on the chosen mixture and on the baselines, several seeds each
    report.json              the quality-illusion report (see ``tasks.mix.illusion``)
    report_deciles.parquet   the report's mixture × decile table
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
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from tasks.mix.corpus import DomainColumn, ScoredShard, ShardRef, ShardSkipped, list_shards, load_shard
from tasks.mix.illusion import MixtureEvaluation, decile_rows, illusion_report, quality_of
from tasks.mix.sampling import (
    QUALITY_CRITERIA,
    CorpusStats,
    QuaDMixSpec,
    RegMixSpec,
    SamplingSpec,
    TopKSpec,
    UniformSpec,
    hash_uniform,
    normalise_scores,
    repetitions,
    sampling_values,
    spec_from_json,
)
from tasks.runner import ClusterConfig, ShardFailures, run_shards
from tasks.storage import (
    CompletionMarkers,
    Store,
    exists,
    join,
    read_json,
    read_parquet,
    validate_name,
    write_bytes_atomic,
    write_json_atomic,
    write_parquet_atomic,
)
from tasks.sweep.model import ProxyModelConfig
from tasks.sweep.params import (
    CompositionFeaturizer,
    QuaDMixDraws,
    QuaDMixRanges,
    RegMixDraws,
    RegMixSettings,
    sample_quadmix,
    sample_regmix,
)
from tasks.sweep.plot import predicted_vs_actual_svg
from tasks.sweep.regression import InsufficientRunsError, RegressionConfig, fit_regression
from tasks.sweep.targets import HELDOUT, TargetSpec, load_target_text
from tasks.sweep.tokenizer import encode, encode_documents
from tasks.sweep.trainer import Fault, TrainConfig, make_stream, train_proxies

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
    validation_seeds: int = 2
    topk_criterion: str = "educational_value"
    topk_keep: float = 0.3
    illusion_quality: str = "mean"
    seed: int = 0
    # ---- not part of identity ----
    device: str = "auto"
    cluster: ClusterConfig | None = None
    gpu_resource: str | None = None  # Dask worker resource each group needs (e.g. "GPU"), None locally
    faults: Mapping[str, Fault] = field(default_factory=dict)  # run_id → "nan" | "die": a testing hook

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
        if self.illusion_quality != "mean" and self.illusion_quality not in self.criteria:
            raise ValueError(f"illusion_quality must be 'mean' or one of {list(self.criteria)}")
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
            "illusion_quality": self.illusion_quality,
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
            illusion_quality=data["illusion_quality"],
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
class _Paths:
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
        self.report_deciles = join(self.root, "report_deciles.parquet")
        self.summary = join(self.root, "sweep.json")
        self.markers = CompletionMarkers(self.store.markers("sweep", sweep_id))
        self.latest = join(self.store.path("sweeps"), "latest.json")

    def run(self, run_id: str) -> str:
        return join(self.runs, f"{run_id}.json")


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_config(store_root: str, sweep_id: str, **runtime: Any) -> SweepConfig:
    paths = _Paths(store_root, sweep_id)
    if not exists(paths.config):
        raise FileNotFoundError(f"sweep {sweep_id!r} has no config at {paths.config}; plan it first")
    return SweepConfig.from_identity(store_root, read_json(paths.config)["config"], **runtime)


def objective_value(losses: Mapping[str, float], objective: str, target_names: Sequence[str]) -> float:
    if objective == "mean":
        names = list(target_names) or [HELDOUT]
        vals = [losses.get(n, float("nan")) for n in names]
        return float(np.mean(vals)) if vals else float("nan")
    return float(losses.get(objective, float("nan")))


# --------------------------------------------------------------------------------------------------------------
# plan: corpus sample + parameter draws
# --------------------------------------------------------------------------------------------------------------
def _count_shard(
    ref: ShardRef, *, store: str, criteria: tuple[str, ...], domain_column: DomainColumn
) -> dict[str, Any]:
    try:
        shard = load_shard(Store(store), ref, criteria=criteria, domain_column=domain_column)
    except ShardSkipped as exc:
        return {"skipped": str(exc), "tokens": 0, "documents": 0}
    return {
        "skipped": None,
        "tokens": int(shard.n_tokens.sum()),
        "documents": len(shard),
        "dropped": shard.dropped,
    }


def _sample_shard(
    ref: ShardRef,
    *,
    store: str,
    criteria: tuple[str, ...],
    domain_column: DomainColumn,
    train_rate: float,
    heldout_rate: float,
    seed: int,
) -> pa.Table | None:
    try:
        shard = load_shard(Store(store), ref, criteria=criteria, domain_column=domain_column, with_text=True)
    except ShardSkipped:
        return None
    ids = shard.ids.tolist()
    held = hash_uniform(ids, seed, "heldout") < heldout_rate
    train = (hash_uniform(ids, seed, "sample") < train_rate) & ~held
    keep = held | train
    sub: ScoredShard = shard.take(keep)
    cols: dict[str, Any] = {
        "id": pa.array(sub.ids.tolist(), pa.string()),
        "snapshot": pa.array([ref.snapshot] * len(sub), pa.string()),
        "shard": pa.array([ref.shard] * len(sub), pa.string()),
        "domain": pa.array(sub.domains.tolist(), pa.string()),
        "n_tokens": pa.array(sub.n_tokens, pa.int64()),
    }
    for j, c in enumerate(criteria):
        cols[c] = pa.array(sub.scores[:, j], pa.float64())
    cols["heldout"] = pa.array(held[keep], pa.bool_())
    cols["text"] = pa.array([t or "" for t in (sub.texts or [])], pa.string())
    return pa.table(cols)


@dataclass
class SweepPlan:
    sweep_id: str
    root: str
    groups: list[str]
    runs: list[dict[str, Any]]
    domains: list[str]
    domain_tokens: dict[str, float]

    @classmethod
    def load(cls, store_root: str, sweep_id: str) -> SweepPlan:
        paths = _Paths(store_root, sweep_id)
        data = read_json(paths.plan)
        return cls(sweep_id, paths.root, data["groups"], data["runs"], data["domains"], data["domain_tokens"])


def _check_config(config: SweepConfig, paths: _Paths) -> None:
    ident = config.identity()
    if exists(paths.config):
        stored = read_json(paths.config)
        if stored.get("hash") != _hash(ident):
            raise ValueError(
                f"sweep {config.sweep_id!r} already exists with different settings ({paths.config}); "
                "sweeps are immutable: use a new sweep id"
            )
        return
    write_json_atomic(paths.config, {"hash": _hash(ident), "config": ident})


def plan_sweep(config: SweepConfig) -> SweepPlan:
    """Write (once) the config, the corpus sample and the parameter draws; return the plan."""
    paths = _Paths(config.store, config.sweep_id)
    _check_config(config, paths)
    if exists(paths.plan):
        return SweepPlan.load(config.store, config.sweep_id)
    store = Store(config.store)
    cluster = config.cluster or ClusterConfig.from_env(n_workers=0)
    if not exists(paths.corpus):
        refs = list_shards(store, config.snapshots or None)
        if not refs:
            raise ValueError(
                f"no documents shards in {store.path('documents')} for snapshots {config.snapshots or 'all'}"
            )
        count = functools.partial(
            _count_shard, store=config.store, criteria=config.criteria, domain_column=config.domain_column
        )
        counts = run_shards(
            count, refs, names=[r.key for r in refs], cluster=cluster, description="sweep-count"
        )
        skipped = {r.key: c["skipped"] for r, c in zip(refs, counts, strict=True) if c["skipped"]}
        if skipped:
            log.warning("sweep %s: %d shard(s) skipped: %s", config.sweep_id, len(skipped), skipped)
        total_tokens = sum(c["tokens"] for c in counts)
        total_docs = sum(c["documents"] for c in counts)
        if total_docs == 0:
            raise ValueError("the corpus has no usable scored documents (all shards skipped or empty)")
        sample = functools.partial(
            _sample_shard,
            store=config.store,
            criteria=config.criteria,
            domain_column=config.domain_column,
            train_rate=min(1.0, config.sample_tokens / max(1, total_tokens)),
            heldout_rate=min(0.5, config.heldout_documents / max(1, total_docs)),
            seed=config.seed,
        )
        tables = [
            t
            for t in run_shards(
                sample, refs, names=[r.key for r in refs], cluster=cluster, description="sweep-sample"
            )
            if t is not None and len(t)
        ]
        if not tables:
            raise ValueError("the corpus sample is empty")
        write_parquet_atomic(paths.corpus, pa.concat_tables(tables))
    corpus = read_parquet(paths.corpus, columns=["domain", "n_tokens", "heldout"])
    train = ~np.asarray(corpus.column("heldout"), dtype=bool)
    doms = np.array(corpus.column("domain").to_pylist(), dtype=object)[train]
    toks = np.asarray(corpus.column("n_tokens"), dtype=np.float64)[train]
    domains = list(config.domains) or sorted(set(doms.tolist()))
    domain_tokens = {d: float(toks[doms == d].sum()) for d in domains}
    if sum(domain_tokens.values()) <= 0:
        raise ValueError("the corpus sample has no training tokens in the sweep's domains")

    rng = np.random.default_rng(config.seed)
    draws: QuaDMixDraws | RegMixDraws
    if config.mode == "quadmix":
        draws = sample_quadmix(rng, config.n_proxies, domains, config.criteria, config.ranges)
    else:
        draws = sample_regmix(rng, config.n_proxies, domains, domain_tokens, config.regmix)
    seeds = rng.integers(0, 2**31 - 1, size=config.n_proxies)
    runs: list[dict[str, Any]] = [
        {
            "run_id": f"p{i:04d}",
            "group": f"g{i // config.group_size:03d}",
            "seed": int(seeds[i]),
            "init_seed": config.seed,
            "spec": draws.spec(i).to_json(),
        }
        for i in range(config.n_proxies)
    ]
    groups = sorted({r["group"] for r in runs})
    write_json_atomic(
        paths.plan,
        {
            "groups": groups,
            "runs": runs,
            "domains": domains,
            "domain_tokens": domain_tokens,
            "created_at": time.time(),
        },
    )
    return SweepPlan(config.sweep_id, paths.root, groups, runs, domains, domain_tokens)


# --------------------------------------------------------------------------------------------------------------
# training a group of proxies
# --------------------------------------------------------------------------------------------------------------
@dataclass
class _Corpus:
    train_ids: list[str]
    domains: np.ndarray
    n_tokens: np.ndarray
    scores: np.ndarray
    normalised: np.ndarray
    stats: CorpusStats
    tokens: np.ndarray
    offsets: np.ndarray
    heldout_docs: list[np.ndarray]
    heldout_normalised: np.ndarray
    heldout_tokens: np.ndarray


def _load_corpus(config: SweepConfig, paths: _Paths, *, with_heldout: bool) -> _Corpus:
    tbl = read_parquet(paths.corpus)
    held = np.asarray(tbl.column("heldout"), dtype=bool)
    domains = np.array(tbl.column("domain").to_pylist(), dtype=object)
    n_tokens = np.asarray(tbl.column("n_tokens"), dtype=np.int64)
    scores = np.column_stack([np.asarray(tbl.column(c), dtype=np.float64) for c in config.criteria])
    texts = tbl.column("text").to_pylist()
    ids = tbl.column("id").to_pylist()
    tr = ~held
    stats = CorpusStats.from_arrays(domains[tr], n_tokens[tr], scores[tr], config.criteria, EXACT)
    tokens, offsets = encode_documents([t for t, k in zip(texts, tr, strict=True) if k])
    hidx = np.flatnonzero(held)
    return _Corpus(
        train_ids=[i for i, k in zip(ids, tr, strict=True) if k],
        domains=domains[tr],
        n_tokens=n_tokens[tr],
        scores=scores[tr],
        normalised=normalise_scores(domains[tr], scores[tr], stats),
        stats=stats,
        tokens=tokens,
        offsets=offsets,
        heldout_docs=[encode(texts[i]) for i in hidx] if with_heldout else [],
        heldout_normalised=normalise_scores(domains[held], scores[held], stats),
        heldout_tokens=n_tokens[held].astype(np.float64),
    )


def _mixture(
    corpus: _Corpus, spec: SamplingSpec, seed: int, criteria: tuple[str, ...]
) -> tuple[np.ndarray, dict[str, Any]]:
    """Sampling values of the sample's training documents, and the (document-level) mixture they make."""
    values = sampling_values(
        spec,
        domains=corpus.domains,
        n_tokens=corpus.n_tokens,
        scores=corpus.scores,
        criteria=criteria,
        stats=corpus.stats,
        normalised=corpus.normalised,
        max_size=EXACT,
    )
    reps = repetitions(corpus.train_ids, values, seed)
    byte_len = corpus.offsets[1:] - corpus.offsets[:-1]
    per_domain: dict[str, dict[str, float]] = {}
    for d in sorted(corpus.stats.domain_tokens):
        m = corpus.domains == d
        per_domain[d] = {
            "tokens": float((reps[m] * corpus.n_tokens[m]).sum()),
            "byte_tokens": float((reps[m] * byte_len[m]).sum()),
            "documents": int((reps[m] > 0).sum()),
        }
    total = sum(v["tokens"] for v in per_domain.values())
    for v in per_domain.values():
        v["proportion"] = v["tokens"] / total if total > 0 else 0.0
    return values, {"domains": per_domain, "tokens": total, "documents": int((reps > 0).sum())}


def _targets(config: SweepConfig) -> dict[str, np.ndarray]:
    return {t.name: encode(load_target_text(t)) for t in config.targets}


def train_group(
    store: str,
    sweep_id: str,
    group: str,
    *,
    device: str | None = None,
    faults: Mapping[str, Fault] | None = None,
) -> dict[str, Any]:
    """Train every run of ``group`` at once (idempotent: a finished group returns its recorded summary)."""
    paths = _Paths(store, sweep_id)
    if paths.markers.is_done(group):
        return paths.markers.info(group)
    config = load_config(store, sweep_id)
    plan = SweepPlan.load(store, sweep_id)
    runs = [r for r in plan.runs if r["group"] == group]
    if not runs:
        raise ValueError(f"sweep {sweep_id!r} has no group {group!r}")
    corpus = _load_corpus(config, paths, with_heldout=True)
    targets = _targets(config)
    streams, mixtures = [], []
    for r in runs:
        values, mix = _mixture(corpus, spec_from_json(r["spec"]), r["seed"], config.criteria)
        streams.append(
            make_stream(corpus.tokens, corpus.offsets, values, r["seed"], config.model, config.train)
        )
        mixtures.append(mix)
    fault_map = {i: f for i, r in enumerate(runs) if (f := (faults or {}).get(r["run_id"]))}
    started = time.time()
    try:
        outcome = train_proxies(
            model_config=config.model,
            train_config=config.train,
            streams=streams,
            seeds=[int(r.get("init_seed", r["seed"])) for r in runs],
            token_budget=config.token_budget,
            targets=targets,
            heldout_docs=corpus.heldout_docs,
            device=device or config.device,
            faults=fault_map,
        )
    except Exception as exc:
        for r, mix in zip(runs, mixtures, strict=True):
            write_json_atomic(
                paths.run(r["run_id"]),
                {
                    **_run_base(r, mix),
                    "status": "failed",
                    "error": f"{type(exc).__name__}: {exc}",
                    "at": started,
                },
            )
        raise
    target_names = [t.name for t in config.targets]
    for r, mix, res in zip(runs, mixtures, outcome.proxies, strict=True):
        record = {
            **_run_base(r, mix),
            "status": res.status,
            "losses": res.losses,
            "objective": objective_value(res.losses, config.objective, target_names) if res.losses else None,
            "final_train_loss": res.final_train_loss,
            "diverged_at_step": res.diverged_at_step,
            "steps": res.steps,
            "tokens_trained": res.tokens_trained,
            "mixture_epochs": res.mixture_epochs,
            "device": outcome.device,
        }
        if res.status == "empty":
            record["error"] = "the parameter set selects no documents"
        write_json_atomic(paths.run(r["run_id"]), record)
    info = {
        "runs": len(runs),
        "completed": sum(p.status == "completed" for p in outcome.proxies),
        "seconds": outcome.seconds,
        "train_seconds": outcome.train_seconds,
        "tokens_per_second": outcome.tokens_per_second,
        "device": outcome.device,
    }
    paths.markers.mark_done(group, info)
    return info


def _run_base(r: Mapping[str, Any], mix: Mapping[str, Any]) -> dict[str, Any]:
    return {"run_id": r["run_id"], "group": r["group"], "seed": r["seed"], "spec": r["spec"], "mixture": mix}


def _train_group_task(
    group: str, *, store: str, sweep_id: str, device: str, faults: Mapping[str, Fault]
) -> dict[str, Any]:
    return train_group(store, sweep_id, group, device=device, faults=faults)


# --------------------------------------------------------------------------------------------------------------
# fit + search
# --------------------------------------------------------------------------------------------------------------
def _draws_from_specs(
    config: SweepConfig, specs: Sequence[SamplingSpec], domains: Sequence[str]
) -> QuaDMixDraws | RegMixDraws:
    if config.mode == "quadmix":
        return QuaDMixDraws.from_specs([s for s in specs if isinstance(s, QuaDMixSpec)], domains)
    return RegMixDraws.from_specs([s for s in specs if isinstance(s, RegMixSpec)], domains)


def _featurizer(config: SweepConfig, paths: _Paths, domains: Sequence[str]) -> CompositionFeaturizer:
    tbl = read_parquet(paths.corpus, columns=["domain", "n_tokens", "heldout", *config.criteria])
    tr = ~np.asarray(tbl.column("heldout"), dtype=bool)
    doms = np.array(tbl.column("domain").to_pylist(), dtype=object)[tr]
    toks = np.asarray(tbl.column("n_tokens"), dtype=np.float64)[tr]
    scores = np.column_stack([np.asarray(tbl.column(c), dtype=np.float64)[tr] for c in config.criteria])
    stats = CorpusStats.from_arrays(doms, toks, scores, config.criteria, EXACT)
    return CompositionFeaturizer.build(
        domains, config.criteria, doms, toks, normalise_scores(doms, scores, stats), seed=config.seed
    )


def _features(
    draws: QuaDMixDraws | RegMixDraws, plan: SweepPlan, featurizer: CompositionFeaturizer
) -> tuple[np.ndarray, list[str]]:
    x = np.concatenate([draws.features(plan.domain_tokens), featurizer.features(draws)], axis=1)
    return x, draws.feature_names() + featurizer.feature_names()


def sweep_table(store: str, sweep_id: str) -> pa.Table:
    """One row per planned run (missing records count as ``missing``)."""
    paths = _Paths(store, sweep_id)
    config = load_config(store, sweep_id)
    plan = SweepPlan.load(store, sweep_id)
    names = [t.name for t in config.targets] + [HELDOUT]
    specs = [spec_from_json(r["spec"]) for r in plan.runs]
    draws = _draws_from_specs(config, specs, plan.domains)
    feats, fnames = _features(draws, plan, _featurizer(config, paths, plan.domains))
    rows: dict[str, list[Any]] = {
        "run_id": [],
        "group": [],
        "seed": [],
        "status": [],
        "error": [],
        "objective": [],
    }
    for n in names:
        rows[f"loss:{n}"] = []
    for d in plan.domains:
        rows[f"tokens:{d}"] = []
        rows[f"proportion:{d}"] = []
    rows["mixture_tokens"] = []
    for r in plan.runs:
        url = paths.run(r["run_id"])
        rec: dict[str, Any] = read_json(url) if exists(url) else {"status": "missing"}
        rows["run_id"].append(r["run_id"])
        rows["group"].append(r["group"])
        rows["seed"].append(r["seed"])
        rows["status"].append(rec.get("status"))
        rows["error"].append(rec.get("error"))
        obj = rec.get("objective")
        rows["objective"].append(float(obj) if obj is not None else None)
        for n in names:
            v = rec.get("losses", {}).get(n)
            rows[f"loss:{n}"].append(float(v) if v is not None else None)
        mix = rec.get("mixture", {}).get("domains", {})
        for d in plan.domains:
            rows[f"tokens:{d}"].append(float(mix.get(d, {}).get("tokens", 0.0)))
            rows[f"proportion:{d}"].append(float(mix.get(d, {}).get("proportion", 0.0)))
        rows["mixture_tokens"].append(float(rec.get("mixture", {}).get("tokens", 0.0)))
    cols: dict[str, Any] = {k: pa.array(v) for k, v in rows.items()}
    for j, f in enumerate(fnames):
        cols[f"param:{f}"] = pa.array(feats[:, j], pa.float64())
    return pa.table(cols)


def fit_sweep(store: str, sweep_id: str) -> dict[str, Any]:
    """Sweep table → regression (held-out Spearman) → search → ``chosen.json``."""
    paths = _Paths(store, sweep_id)
    config = load_config(store, sweep_id)
    plan = SweepPlan.load(store, sweep_id)
    table = sweep_table(store, sweep_id)
    write_parquet_atomic(paths.table, table)
    status = table.column("status").to_pylist()
    objective = np.array(
        [np.nan if v is None else v for v in table.column("objective").to_pylist()], dtype=float
    )
    ok = np.array([s == "completed" for s in status]) & np.isfinite(objective)
    counts = {s: status.count(s) for s in sorted(set(map(str, status)))}
    specs = [spec_from_json(r["spec"]) for r in plan.runs]
    draws = _draws_from_specs(config, specs, plan.domains)
    featurizer = _featurizer(config, paths, plan.domains)
    x_all, fnames = _features(draws, plan, featurizer)
    try:
        fit = fit_regression(x_all[ok], objective[ok], fnames, config.regression)
    except InsufficientRunsError as exc:
        raise InsufficientRunsError(f"sweep {sweep_id!r}: {exc}; run status counts: {counts}") from exc
    ids = [r for r, k in zip(table.column("run_id").to_pylist(), ok, strict=True) if k]
    write_bytes_atomic(
        paths.plot,
        predicted_vs_actual_svg(
            fit.oof_pred.tolist(),
            fit.actual.tolist(),
            f"sweep {sweep_id}: held-out Spearman {fit.spearman:.3f} (n={len(ids)})",
            ids,
        ).encode(),
    )
    # search: candidates from the same sampler, a different stream
    rng = np.random.default_rng(config.seed + 1_000_003)
    best_pred: list[tuple[float, int, int]] = []  # (pred, chunk, index) of the running top-k
    chunks: list[QuaDMixDraws | RegMixDraws] = []
    remaining = config.search_size
    chunk_size = 8192
    while remaining > 0:
        m = min(chunk_size, remaining)
        cand = (
            sample_quadmix(rng, m, plan.domains, config.criteria, config.ranges)
            if config.mode == "quadmix"
            else sample_regmix(rng, m, plan.domains, plan.domain_tokens, config.regmix)
        )
        pred = fit.predict(_features(cand, plan, featurizer)[0])
        top = np.argsort(pred)[: config.top_k]
        best_pred += [(float(pred[i]), len(chunks), int(i)) for i in top]
        best_pred = sorted(best_pred)[: config.top_k]
        chunks.append(cand)
        remaining -= m
    chosen_specs: list[SamplingSpec] = [chunks[c].spec(i) for _, c, i in best_pred]
    top_draws = _draws_from_specs(config, chosen_specs, plan.domains)
    chosen = top_draws.average(np.arange(len(chosen_specs)))
    chosen_pred = float(
        fit.predict(_features(_draws_from_specs(config, [chosen], plan.domains), plan, featurizer)[0])[0]
    )
    best_idx = int(np.nanargmin(np.where(ok, objective, np.nan)))
    fit_info = {
        **fit.summary(),
        "n_planned": len(plan.runs),
        "status_counts": counts,
        "objective": config.objective,
        "search_size": config.search_size,
        "top_k": config.top_k,
        "top_k_predicted": [p for p, _, _ in best_pred],
        "chosen_predicted_loss": chosen_pred,
        "best_observed": {"run_id": plan.runs[best_idx]["run_id"], "objective": float(objective[best_idx])},
        "oof": [
            {"run_id": r, "actual": float(a), "predicted": float(p)}
            for r, a, p in zip(ids, fit.actual, fit.oof_pred, strict=True)
        ],
    }
    write_json_atomic(paths.fit, fit_info)
    write_json_atomic(
        paths.chosen,
        {
            "sweep_id": sweep_id,
            "spec": chosen.to_json(),
            "predicted_loss": chosen_pred,
            "objective": config.objective,
            "spearman_heldout": fit.spearman,
            "best_observed_run": plan.runs[best_idx]["run_id"],
            "best_observed_spec": plan.runs[best_idx]["spec"],
        },
    )
    return fit_info


# --------------------------------------------------------------------------------------------------------------
# validation: the chosen mixture against the baselines, and the quality-illusion report
# --------------------------------------------------------------------------------------------------------------
def baseline_specs(config: SweepConfig, chosen: Mapping[str, Any]) -> dict[str, SamplingSpec]:
    return {
        "chosen": spec_from_json(chosen["spec"]),
        "uniform": UniformSpec(rate=1.0),
        "topk": TopKSpec(criterion=config.topk_criterion, keep_fraction=config.topk_keep),
        "best_observed": spec_from_json(chosen["best_observed_spec"]),
    }


def validate_sweep(store: str, sweep_id: str, *, device: str | None = None) -> dict[str, Any]:
    """Train ``validation_seeds`` proxies on each of the chosen mixture and the baselines (one batch), and
    write the quality-illusion report. Idempotent."""
    paths = _Paths(store, sweep_id)
    if not exists(paths.chosen):
        raise FileNotFoundError(f"sweep {sweep_id!r} has no chosen parameters yet (run the fit first)")
    chosen = read_json(paths.chosen)
    digest = _hash(chosen)
    if (
        paths.markers.is_done("validation")
        and exists(paths.report)
        and paths.markers.info("validation").get("chosen") == digest
    ):
        report: dict[str, Any] = read_json(paths.report)
        return report  # done, for these chosen parameters (a refit after a resume redoes it)
    config = load_config(store, sweep_id)
    specs = baseline_specs(config, chosen)
    corpus = _load_corpus(config, paths, with_heldout=True)
    targets = _targets(config)
    seeds = [config.seed * 7919 + 17 + k for k in range(config.validation_seeds)]
    streams, labels, mixtures = [], [], {}
    for name, spec in specs.items():
        for s in seeds:
            values, mix = _mixture(corpus, spec, s, config.criteria)
            streams.append(make_stream(corpus.tokens, corpus.offsets, values, s, config.model, config.train))
            labels.append((name, s))
            mixtures[name] = mix
    outcome = train_proxies(
        model_config=config.model,
        train_config=config.train,
        streams=streams,
        seeds=[s for _, s in labels],
        token_budget=config.token_budget,
        targets=targets,
        heldout_docs=corpus.heldout_docs,
        device=device or config.device,
        keep_doc_losses=True,
    )
    target_names = [t.name for t in config.targets]
    evals: dict[str, MixtureEvaluation] = {}
    runs_out = []
    for name in specs:
        res = [p for (n, _), p in zip(labels, outcome.proxies, strict=True) if n == name]
        good = [p for p in res if p.status == "completed"]
        runs_out += [
            {"mixture": name, "seed": s, "status": p.status, "losses": p.losses}
            for (n, s), p in zip(labels, outcome.proxies, strict=True)
            if n == name
        ]
        if not good:
            log.warning("validation: no completed proxy for mixture %s", name)
            continue
        tnames = sorted({k for p in good for k in p.losses})
        mean_losses = {k: float(np.mean([p.losses[k] for p in good])) for k in tnames}
        doc = (
            np.nanmean(np.array([p.heldout_doc_losses for p in good], dtype=float), axis=0)
            if (corpus.heldout_docs)
            else np.zeros(0)
        )
        evals[name] = MixtureEvaluation(
            targets=mean_losses,
            objective=objective_value(mean_losses, config.objective, target_names),
            doc_losses=doc,
            n_proxies=len(good),
        )
    quality, qname = quality_of(corpus.heldout_normalised, config.criteria, config.illusion_quality)
    report = illusion_report(
        evals,
        quality=quality,
        doc_weights=corpus.heldout_tokens,
        quality_name=qname,
        objective=config.objective,
    )
    report["mixture_composition"] = mixtures
    report["specs"] = {k: v.to_json() for k, v in specs.items()}
    report["sweep_id"] = sweep_id
    report["throughput"] = {
        "tokens_per_second": outcome.tokens_per_second,
        "device": outcome.device,
        "proxies": len(streams),
        "train_seconds": outcome.train_seconds,
    }
    write_json_atomic(paths.validation, {"runs": runs_out})
    rows = decile_rows(report)
    if rows:
        write_parquet_atomic(paths.report_deciles, pa.Table.from_pylist(rows))
    write_json_atomic(paths.report, report)
    paths.markers.mark_done("validation", {"mixtures": list(evals), "chosen": digest})
    return report


# --------------------------------------------------------------------------------------------------------------
# the whole stage
# --------------------------------------------------------------------------------------------------------------
def publish_latest(store: str, sweep_id: str) -> str:
    """Point ``sweeps/latest.json`` at a finished sweep; returns the pointer's URL."""
    paths = _Paths(store, sweep_id)
    if not exists(paths.chosen):
        raise FileNotFoundError(f"sweep {sweep_id!r} has no chosen parameters")
    write_json_atomic(paths.latest, {"sweep_id": sweep_id, "chosen": paths.chosen, "at": time.time()})
    return paths.latest


def resolve_sweep_id(store: str, sweep_id: str) -> str:
    """``latest`` → the id in ``sweeps/latest.json``."""
    if sweep_id != "latest":
        return sweep_id
    url = _Paths(store, "latest").latest
    if not exists(url):
        raise FileNotFoundError(f"no finished sweep yet ({url} missing)")
    return str(read_json(url)["sweep_id"])


def finished_groups(store: str, sweep_id: str) -> set[str]:
    return _Paths(store, sweep_id).markers.done()


def run_sweep(config: SweepConfig) -> SweepResult:
    """Plan, train every pending group (on Dask), fit, search, validate, report. Resumable."""
    paths = _Paths(config.store, config.sweep_id)
    plan = plan_sweep(config)
    done = finished_groups(config.store, config.sweep_id)
    pending = [g for g in plan.groups if g not in done]
    failed: dict[str, str] = {}
    if pending:
        task = functools.partial(
            _train_group_task,
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
