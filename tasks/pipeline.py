"""The nightly mixture, end to end: ingest → (rate → distill) → score → clusters → (sweep) → mix → publish.

Each step is a plain function over a :class:`PipelineConfig` that returns a small JSON-able dict, so the
``nightly_mixture`` DAG maps them one task each and ``quarry run`` calls :func:`run_pipeline`, which runs the
same steps in order. Every step is idempotent: completed shards, ratings, models, sweeps and mixtures are
reused, and publishing the same content again writes nothing.

Bootstrapping: on an empty store there is no rater model and no sweep yet. With ``bootstrap=True`` (the
default) the pipeline rates a sample and distils models, and runs a small proxy sweep, when none exist; in
production the ``rater_distill`` and ``proxy_sweep`` DAGs produce them and the nightly run only reuses them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tasks.runner import ClusterConfig
from tasks.storage import Store, exists, join, validate_name

log = logging.getLogger(__name__)

SAMPLE_INPUT = "sample"  # the trafilatura pages wrapped into a CC-layout snapshot inside the store
SHARED_CRAWL = "shared-crawl"  # every real capture under <shared_data>/crawl


class PipelineConfig(BaseModel):
    """Settings of one nightly run; the defaults are the embedded ones (local store, LocalCluster)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    store: str = "quarry-data"
    shared_data: str = "../shared/data"
    inputs: tuple[str, ...] = (SAMPLE_INPUT, SHARED_CRAWL)
    workers: int = Field(2, ge=0)
    scheduler: str | None = None
    # rating and distillation
    rater_url: str = Field(
        default_factory=lambda: os.environ.get("QUARRY_RATER_URL", "http://127.0.0.1:8000/v1")
    )
    rate_sample_size: int = Field(16, ge=10)
    # the bootstrap rater reads the start and end of each page, up to this many tokens: a 2-core vLLM-on-CPU
    # server prefills ~100-200 tokens/s, so whole pages would make the demo's rating take most of an hour
    rate_max_doc_tokens: int = Field(128, ge=16)
    model_version: str | None = None  # None: the latest distilled version (bootstrapped if none)
    # sweep
    sweep_id: str | None = None  # None: the latest finished sweep (bootstrapped if none)
    n_proxies: int = Field(24, ge=10)
    proxy_token_budget: int = Field(65_536, ge=4096)
    search_size: int = Field(20_000, ge=100)
    proxy_model: str = "tiny"
    # domains: the rater's DataMan domain, CLIMB-style embedding clusters, or "auto" (clusters when the
    # scored corpus has fewer than two rater domains, as with a small rater model)
    domains: Literal["auto", "domain", "cluster"] = "auto"
    clusters: int = Field(8, ge=2)
    # mixture and publication
    mixture: str = "nightly"
    publish_to: str | None = None  # default: <store>/published
    bootstrap: bool = True
    dry_run: bool = False
    # release gate (tasks/sweep/gate.py): below this held-out Spearman, or without a win over the baselines
    # beyond the seed spread, the mixture is published as v<N> but ``latest`` stays (unless force_latest)
    min_spearman: float = Field(0.5, ge=-1.0, le=1.0)
    force_latest: bool = False
    # the data-quality-illusion experiment (tasks/illusion) on the sweep in use: proxies per arm (>= 3); 0: off
    illusion_seeds: int = Field(0, ge=0)
    # the selection-method bake-off (tasks/bakeoff) on the sweep in use: its arms; (): off
    bakeoff_methods: tuple[str, ...] = ()

    @field_validator("mixture")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_name(value, "mixture name")

    @property
    def target(self) -> str:
        return self.publish_to or join(self.store, "published")

    def cluster(self) -> ClusterConfig:
        return (
            ClusterConfig(address=self.scheduler) if self.scheduler else ClusterConfig.from_env(self.workers)
        )


# --- steps ----------------------------------------------------------------------------------------------


def step_ingest(config: PipelineConfig) -> dict[str, Any]:
    """Ingest every input (skipping completed shards) and return the snapshots and their counts."""
    from tasks.ingest import IngestConfig, run_ingest
    from tasks.ingest.discover import newest_snapshot
    from tasks.ingest.sample_snapshot import DEFAULT_SNAPSHOT, make_sample_snapshot

    snapshots: dict[str, dict[str, Any]] = {}
    for item in config.inputs:
        snapshot: str | None = None
        if item == SAMPLE_INPUT:
            root = join(config.store, "_inputs", "sample")
            source = join(root, "crawl-data", DEFAULT_SNAPSHOT)
            if not exists(join(root, "evaldata.json")):
                make_sample_snapshot(Path(config.shared_data), root)
        elif item == SHARED_CRAWL:
            source, snapshot = str(Path(config.shared_data) / "crawl"), SHARED_CRAWL
        else:
            source = newest_snapshot(item)
        result = run_ingest(
            IngestConfig(
                input=source,
                store=config.store,
                snapshot=snapshot,
                workers=config.workers,
                scheduler=config.scheduler,
            )
        )
        snapshots[result.snapshot] = result.summary()
    return {"snapshots": sorted(snapshots), "summary": snapshots}


def step_models(config: PipelineConfig) -> dict[str, Any]:
    """The rater-model version to score with: the given one, the latest, or (bootstrap) a new one."""
    from tasks.distill import DistillConfig, run_distill
    from tasks.distill.predict import resolve_version

    store = Store(config.store)
    wanted = config.model_version
    try:
        version = resolve_version(store, wanted)
        return {"model_version": version, "bootstrapped": False}
    except (FileNotFoundError, ValueError):
        if wanted is not None or not config.bootstrap:
            raise
    from tasks.rate import RateConfig, run_rate

    rated = run_rate(
        RateConfig(
            store=config.store,
            server_url=config.rater_url,
            sample_size=config.rate_sample_size,
            max_doc_tokens=config.rate_max_doc_tokens,
        )
    )
    if not rated.complete:
        raise RuntimeError(
            f"rating incomplete: {rated.failed} failed, budget exhausted={rated.budget_exhausted}"
        )
    distilled = run_distill(
        DistillConfig(
            store=config.store,
            min_train_rows=10,
            # the domain model's agreement with human register labels goes into the model card
            human_labels=str(Path(config.shared_data) / "labels" / "turku-register"),
        )
    )
    return {"model_version": distilled.version, "bootstrapped": True, "rated": rated.rated}


def step_score(config: PipelineConfig, model_version: str) -> dict[str, Any]:
    from tasks.score import ScoreConfig, run_score

    result = run_score(
        ScoreConfig(
            store=config.store,
            model_version=model_version,
            n_workers=config.workers,
            scheduler=config.scheduler,
        )
    )
    return {
        "model_version": model_version,
        **{k: v for k, v in dataclasses.asdict(result).items() if _jsonable(v)},
    }


def step_cluster(config: PipelineConfig) -> dict[str, Any]:
    """Embed a sample with MiniLM, k-means it and give every document a cluster id (``attributes/clusters``)."""
    from tasks.cluster import ClusterRunConfig, run_cluster

    result = run_cluster(
        ClusterRunConfig(
            store=config.store,
            k=config.clusters,
            sample_size=max(config.clusters, 1000),
            n_workers=config.workers,
            scheduler=config.scheduler,
        )
    )
    return {"cluster_version": result.version, "sizes": result.sizes, "documents": result.documents}


def domain_column(config: PipelineConfig) -> Literal["domain", "cluster"]:
    """The attribute that defines mixture domains for this run."""
    if config.domains != "auto":
        return config.domains
    import pyarrow.compute as pc

    from tasks.storage import list_files, read_parquet

    seen: set[str] = set()
    for url in list_files(Store(config.store).path("attributes", "scores"), (".parquet",)):
        values = pc.unique(read_parquet(url, columns=["domain"]).column("domain")).to_pylist()
        seen.update(str(v) for v in values if v)
        if len(seen) >= 2:
            return "domain"
    return "cluster"


def step_sweep(config: PipelineConfig) -> dict[str, Any]:
    """The sweep whose chosen parameters drive the mixture: given, latest, or (bootstrap) a small new one; then,
    with ``illusion_seeds``, the data-quality-illusion experiment on it, with ``bakeoff_methods`` the
    selection-method bake-off (both idempotent)."""
    out = _sweep_in_use(config)
    if config.illusion_seeds:
        from tasks.illusion.experiment import IllusionSettings, run_illusion

        settings = IllusionSettings(
            seeds=config.illusion_seeds, eval_dir=str(Path(config.shared_data) / "eval")
        )
        out["illusion"] = run_illusion(config.store, out["sweep_id"], settings)["conclusion"]
    if config.bakeoff_methods:
        from tasks.bakeoff import BakeoffSettings, run_bakeoff

        bakeoff = BakeoffSettings(
            methods=config.bakeoff_methods, eval_dir=str(Path(config.shared_data) / "eval")
        )
        out["bakeoff"] = run_bakeoff(config.store, out["sweep_id"], bakeoff)["summary"]
    return out


def _sweep_in_use(config: PipelineConfig) -> dict[str, Any]:
    from tasks.sweep import (
        ProxyModelConfig,
        SweepConfig,
        TrainConfig,
        default_targets,
        resolve_sweep_id,
        run_sweep,
    )

    column = domain_column(config)
    if config.sweep_id is not None:
        return {"sweep_id": resolve_sweep_id(config.store, config.sweep_id), "bootstrapped": False}
    try:
        return {"sweep_id": resolve_sweep_id(config.store, "latest"), "bootstrapped": False}
    except (FileNotFoundError, ValueError):
        if not config.bootstrap:
            raise
    targets = tuple(
        dataclasses.replace(t, max_bytes=40_000)
        for t in default_targets(str(Path(config.shared_data) / "eval"))
    )
    from tasks.distill.signal import sweep_criteria

    # the mixture leans only on criteria whose distilled model carries signal (spread, held-out agreement);
    # with none left, RegMix: domain weights only (the baselines and the report still use every criterion)
    chosen = sweep_criteria(config.store, config.model_version)
    leaned, no_signal = chosen.leaned, list(chosen.dropped)
    suffix = "-" + hashlib.sha256(json.dumps(leaned).encode()).hexdigest()[:6] if no_signal else ""
    sweep = SweepConfig(
        store=config.store,
        sweep_id=f"bootstrap-{column}{suffix}",
        mode=chosen.mode,
        criteria=chosen.criteria,
        topk_criterion=chosen.topk_criterion,
        targets=targets,
        n_proxies=config.n_proxies,
        token_budget=config.proxy_token_budget,
        search_size=config.search_size,
        top_k=min(20, config.search_size),
        model=ProxyModelConfig.preset(config.proxy_model),
        train=TrainConfig(lr=3e-3, batch_size=16, eval_tokens=8192),
        heldout_documents=40,
        domain_column=column,
        validation_seeds=3,  # the release gate needs at least 3 seeds per arm
        cluster=ClusterConfig(n_workers=0),
    )
    result = run_sweep(sweep)
    return {
        "sweep_id": sweep.sweep_id,
        "bootstrapped": True,
        "spearman": result.spearman,
        "domains": column,
        "criteria": list(leaned),
        "no_signal": no_signal,
    }


def mixture_name(
    config: PipelineConfig, model_version: str, sweep_id: str, snapshots: list[str], column: str
) -> str:
    """Mixtures are immutable, so each distinct input gets its own stored mixture; the published release
    keeps the plain name and numbers its versions."""
    key = [model_version, sweep_id, sorted(snapshots), column, Store(config.store).corpus_version(snapshots)]
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:10]
    return f"{config.mixture}-{digest}"


def step_mix(
    config: PipelineConfig, model_version: str, sweep_id: str, snapshots: list[str]
) -> dict[str, Any]:
    from tasks.mix import MixConfig, run_mix

    column = domain_column(config)  # scans the scores attributes once
    name = mixture_name(config, model_version, sweep_id, snapshots, column)
    result = run_mix(
        MixConfig(
            store=config.store,
            name=name,
            sweep_id=sweep_id,
            snapshots=tuple(snapshots),
            domain_column=column,
            cluster=config.cluster(),
        )
    )
    return {
        "mixture": name,
        "documents": result.documents,
        "tokens": result.tokens,
        "proportions": result.proportions,
    }


def step_publish(config: PipelineConfig, mixture: str, sweep_id: str | None) -> dict[str, Any]:
    """Publish ``mixture`` as the next version of the release; ``latest`` moves only when the release gate
    passes (or ``force_latest``). The returned ``validation`` block says which, and why."""
    from tasks.publish import PublishConfig, publish_mixture
    from tasks.sweep.gate import gate_mixture

    gate = gate_mixture(
        config.store, mixture, sweep_id=sweep_id, min_spearman=config.min_spearman, force=config.force_latest
    )
    log.info("%s: %s", config.mixture, gate.sentence())
    result = publish_mixture(
        PublishConfig(
            store=config.store,
            name=mixture,
            published_name=config.mixture,
            target=config.target,
            dry_run=config.dry_run,
            sweep_id=sweep_id,
            promote=gate.promote,
            validation=gate.to_json(),
        )
    )
    return {
        "release": config.mixture,
        "version": result.version,
        "url": result.url,
        "report": join(result.url, "report.html"),
        "already_published": result.already_published,
        "latest": result.latest_version,
        "validation": gate.to_json(),
    }


def run_pipeline(config: PipelineConfig) -> dict[str, Any]:
    """All steps in order; returns what each produced."""
    ingested = step_ingest(config)
    models = step_models(config)
    scored = step_score(config, models["model_version"])
    clustered = step_cluster(config)
    sweep = step_sweep(config)
    mixed = step_mix(config, models["model_version"], sweep["sweep_id"], ingested["snapshots"])
    published = step_publish(config, mixed["mixture"], sweep["sweep_id"])
    return {
        "ingest": ingested,
        "models": models,
        "score": scored,
        "clusters": clustered,
        "sweep": sweep,
        "mix": mixed,
        "publish": published,
    }


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True
