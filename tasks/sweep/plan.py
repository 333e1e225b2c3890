"""Plan a sweep: the corpus sample (training and held-out documents) and the parameter draws."""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from tasks.errors import NotReady
from tasks.mix.corpus import DomainColumn, ScoredShard, ShardRef, ShardSkipped, list_shards, load_shard
from tasks.mix.sampling import hash_uniform
from tasks.runner import ClusterConfig, run_shards
from tasks.storage import (
    Store,
    exists,
    read_json,
    read_parquet,
    write_json_atomic,
    write_parquet_atomic,
)
from tasks.sweep.config import SweepConfig, SweepPaths, json_digest
from tasks.sweep.params import (
    QuaDMixDraws,
    RegMixDraws,
    sample_quadmix,
    sample_regmix,
)

log = logging.getLogger(__name__)


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
        paths = SweepPaths(store_root, sweep_id)
        data = read_json(paths.plan)
        return cls(sweep_id, paths.root, data["groups"], data["runs"], data["domains"], data["domain_tokens"])


def _check_config(config: SweepConfig, paths: SweepPaths) -> None:
    ident = config.identity()
    if exists(paths.config):
        stored = read_json(paths.config)
        if stored.get("hash") != json_digest(ident):
            raise ValueError(
                f"sweep {config.sweep_id!r} already exists with different settings ({paths.config}); "
                "sweeps are immutable: use a new sweep id"
            )
        return
    write_json_atomic(paths.config, {"hash": json_digest(ident), "config": ident})


def plan_sweep(config: SweepConfig) -> SweepPlan:
    """Write (once) the config, the corpus sample and the parameter draws; return the plan."""
    paths = SweepPaths(config.store, config.sweep_id)
    _check_config(config, paths)
    if exists(paths.plan):
        return SweepPlan.load(config.store, config.sweep_id)
    store = Store(config.store)
    cluster = config.cluster or ClusterConfig.from_env(n_workers=0)
    if not exists(paths.corpus):
        refs = list_shards(store, config.snapshots or None)
        if not refs:
            raise NotReady(
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
