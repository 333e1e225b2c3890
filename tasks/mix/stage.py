"""The mix stage: apply one sampling function to the whole scored corpus (Dask, shard by shard).

Three passes over the attribute columns (text is never read):

1. per shard: per-domain score sketches and token totals → merged into ``_work/stats.json``;
2. QuaDMix only, per shard: per-domain token-weighted sketch of the merged score → ``_work/ranks.json``;
3. per shard: sampling value → repetitions (hash of seed and id) → ``documents/<snapshot>/<shard>.parquet``
   and a completion marker carrying the shard's per-domain totals.

Each pass caches per-shard results, so a rerun redoes only what is missing; ``summary.json`` is written last.
The output format is documented in ``tasks/mix/__init__.py``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from tasks.mix.corpus import DomainColumn, ShardRef, ShardSkipped, list_shards, load_shard
from tasks.mix.reduce import DEFAULT_FAN_IN, merge_ranks, merge_stats, ranks_from_files, stats_from_files
from tasks.mix.sampling import (
    CorpusStats,
    merge_scores,
    normalise_scores,
    rank_sketches,
    repetitions,
    sampling_values,
)
from tasks.mix.sketch import DEFAULT_SKETCH_SIZE, QuantileSketch
from tasks.mix.specs import QuaDMixSpec, SamplingSpec, TopKSpec, spec_criteria, spec_from_json
from tasks.runner import ClusterConfig, run_shards
from tasks.storage import (
    CompletionMarkers,
    Store,
    exists,
    join,
    read_json,
    validate_name,
    write_json_atomic,
    write_parquet_atomic,
)

log = logging.getLogger(__name__)

OUTPUT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("snapshot", pa.string()),
        ("shard", pa.string()),
        ("domain", pa.string()),
        ("n_tokens", pa.int64()),
        ("repetitions", pa.int32()),
    ]
)


@dataclass(frozen=True)
class MixConfig:
    """One mixture. The sampling function is ``spec`` (a spec as JSON, see ``tasks.mix.sampling``) or the
    chosen parameters of sweep ``sweep_id`` (``"latest"``: the last finished sweep). ``topk_*`` define the
    classifier-filtering baseline whose realised proportions are reported beside the mixture's."""

    store: str
    name: str
    spec: Mapping[str, Any] | None = None
    sweep_id: str | None = None
    snapshots: tuple[str, ...] = ()
    seed: int = 0
    domain_column: DomainColumn = "domain"
    sketch_size: int = DEFAULT_SKETCH_SIZE
    topk_criterion: str | None = "educational_value"
    topk_keep: float = 0.3
    # per-shard sketches are merged in groups of at most this many (tasks/mix/reduce.py): bounds the driver's memory
    merge_fan_in: int = DEFAULT_FAN_IN
    cluster: ClusterConfig | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        validate_name(self.name, "mixture name")
        for s in self.snapshots:
            validate_name(s, "snapshot")
        if (self.spec is None) == (self.sweep_id is None):
            raise ValueError("give exactly one of spec (a sampling function) or sweep_id")
        if self.spec is not None:
            spec_from_json(self.spec)  # validate now
        if self.sketch_size < 16:
            raise ValueError("sketch_size must be >= 16")
        if not 0 < self.topk_keep <= 1:
            raise ValueError("topk_keep must be in (0, 1]")
        if self.merge_fan_in < 2:
            raise ValueError("merge_fan_in must be >= 2")


@dataclass
class MixResult:
    name: str
    root: str
    summary_url: str
    documents: int
    tokens: float
    proportions: dict[str, float]
    summary: dict[str, Any]


class _Paths:
    def __init__(self, store: str, name: str) -> None:
        self.store = Store(store)
        self.root = self.store.mixtures(name)
        self.config = join(self.root, "config.json")
        self.summary = join(self.root, "summary.json")
        self.stats = join(self.root, "_work", "stats.json")
        self.ranks = join(self.root, "_work", "ranks.json")
        self.markers = CompletionMarkers(self.store.markers("mix", name))

    def shard_out(self, ref: ShardRef) -> str:
        return join(self.root, "documents", ref.snapshot, f"{ref.shard}.parquet")

    def shard_stats(self, ref: ShardRef) -> str:
        return join(self.root, "_work", "stats", ref.snapshot, f"{ref.shard}.json")

    def shard_ranks(self, ref: ShardRef) -> str:
        return join(self.root, "_work", "ranks", ref.snapshot, f"{ref.shard}.json")


def _marker_name(ref: ShardRef) -> str:
    return f"{ref.snapshot}__{ref.shard}"


@functools.lru_cache(maxsize=4)
def _cached_json(url: str, stamp: str) -> Any:
    return read_json(url)


# ---- pass 1 ----------------------------------------------------------------------------------------------------
def _stats_pass(
    ref: ShardRef, *, store: str, name: str, criteria: tuple[str, ...], domain_column: DomainColumn, size: int
) -> dict[str, Any]:
    """Write the shard's stats (sketches) to its ``_work/stats`` file; return only its counts (the driver reads
    the sketches back one file at a time, :mod:`tasks.mix.reduce`)."""
    paths = _Paths(store, name)
    url = paths.shard_stats(ref)
    if exists(url):
        out: dict[str, Any] = read_json(url)
    else:
        try:
            shard = load_shard(Store(store), ref, criteria=criteria, domain_column=domain_column)
        except ShardSkipped as exc:
            out = {"skipped": str(exc)}
        else:
            stats = CorpusStats.from_arrays(shard.domains, shard.n_tokens, shard.scores, criteria, size)
            out = {
                "skipped": None,
                "stats": stats.to_json(),
                "dropped": shard.dropped,
                "documents": len(shard),
            }
        write_json_atomic(url, out)
    return {k: v for k, v in out.items() if k != "stats"}


# ---- pass 2 ----------------------------------------------------------------------------------------------------
def _ranks_pass(
    ref: ShardRef,
    *,
    store: str,
    name: str,
    spec_json: Mapping[str, Any],
    criteria: tuple[str, ...],
    domain_column: DomainColumn,
    size: int,
    stats_stamp: str,
) -> dict[str, Any]:
    """Write the shard's per-domain rank sketches to its ``_work/ranks`` file; return only whether it was skipped."""
    paths = _Paths(store, name)
    url = paths.shard_ranks(ref)
    if exists(url):
        cached: dict[str, Any] = read_json(url)
        return {"skipped": cached.get("skipped")}
    spec = spec_from_json(spec_json)
    assert isinstance(spec, QuaDMixSpec)
    stats = CorpusStats.from_json(_cached_json(paths.stats, stats_stamp))
    try:
        shard = load_shard(Store(store), ref, criteria=criteria, domain_column=domain_column)
    except ShardSkipped as exc:
        out: dict[str, Any] = {"skipped": str(exc)}
    else:
        merged = merge_scores(
            shard.domains, normalise_scores(shard.domains, shard.scores, stats), spec, criteria
        )
        ranks = rank_sketches(shard.domains, merged, shard.n_tokens, size)
        out = {"skipped": None, "ranks": {d: s.to_json() for d, s in ranks.items()}}
    write_json_atomic(url, out)
    return {"skipped": out["skipped"]}


# ---- pass 3 ----------------------------------------------------------------------------------------------------
def _apply_pass(
    ref: ShardRef,
    *,
    store: str,
    name: str,
    spec_json: Mapping[str, Any],
    criteria: tuple[str, ...],
    domain_column: DomainColumn,
    seed: int,
    topk: Mapping[str, Any] | None,
    stamp: str,
) -> dict[str, Any]:
    """Write the shard's mixture rows and its marker (with per-domain totals); return the counts without the
    per-domain totals, which the driver folds from the markers one at a time (S × d numbers otherwise)."""
    paths = _Paths(store, name)
    marker = _marker_name(ref)
    if paths.markers.is_done(marker):
        return _counts(paths.markers.info(marker))
    spec = spec_from_json(spec_json)
    stats = CorpusStats.from_json(_cached_json(paths.stats, stamp))
    ranks = None
    if isinstance(spec, QuaDMixSpec):
        ranks = {d: QuantileSketch.from_json(s) for d, s in _cached_json(paths.ranks, stamp).items()}
    try:
        shard = load_shard(Store(store), ref, criteria=criteria, domain_column=domain_column)
    except ShardSkipped as exc:
        info: dict[str, Any] = {"skipped": str(exc)}
        paths.markers.mark_done(marker, info)
        return info
    values = sampling_values(
        spec,
        domains=shard.domains,
        n_tokens=shard.n_tokens,
        scores=shard.scores,
        criteria=criteria,
        stats=stats,
        ranks=ranks,
        ids=shard.ids.tolist(),
        seed=seed,
    )
    reps = repetitions(shard.ids.tolist(), values, seed)
    sel = reps > 0
    table = pa.table(
        {
            "id": pa.array(shard.ids[sel].tolist(), pa.string()),
            "snapshot": pa.array([ref.snapshot] * int(sel.sum()), pa.string()),
            "shard": pa.array([ref.shard] * int(sel.sum()), pa.string()),
            "domain": pa.array(shard.domains[sel].tolist(), pa.string()),
            "n_tokens": pa.array(shard.n_tokens[sel], pa.int64()),
            "repetitions": pa.array(reps[sel].astype(np.int32), pa.int32()),
        },
        schema=OUTPUT_SCHEMA,
    )
    write_parquet_atomic(paths.shard_out(ref), table)
    topk_keep = None
    if topk is not None:
        tk = sampling_values(
            TopKSpec(criterion=str(topk["criterion"]), keep_fraction=float(topk["keep_fraction"])),
            domains=shard.domains,
            n_tokens=shard.n_tokens,
            scores=shard.scores,
            criteria=criteria,
            stats=stats,
        )
        topk_keep = tk > 0
    per_domain: dict[str, dict[str, float]] = {}
    for d in sorted(set(shard.domains.tolist())):
        m = shard.domains == d
        per_domain[d] = {
            "mixture_tokens": float((reps[m] * shard.n_tokens[m]).sum()),
            "mixture_documents": int((reps[m] > 0).sum()),
            "copies": int(reps[m].sum()),
            "topk_tokens": float(shard.n_tokens[m & topk_keep].sum()) if topk_keep is not None else 0.0,
        }
    info = {"skipped": None, "documents": int(sel.sum()), "copies": int(reps.sum()), "domains": per_domain}
    paths.markers.mark_done(marker, info)
    return _counts(info)


def _counts(info: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if k != "domains"}


# ---- the stage -------------------------------------------------------------------------------------------------
def _resolve_spec(config: MixConfig) -> tuple[SamplingSpec, dict[str, Any] | None, str | None]:
    if config.spec is not None:
        return spec_from_json(config.spec), None, None
    from tasks.sweep.stage import resolve_sweep_id

    assert config.sweep_id is not None
    sweep_id = resolve_sweep_id(config.store, config.sweep_id)
    root = Store(config.store).sweeps(sweep_id)
    chosen_url = join(root, "chosen.json")
    if not exists(chosen_url):
        raise FileNotFoundError(f"sweep {sweep_id!r} has no chosen parameters ({chosen_url})")
    chosen = read_json(chosen_url)
    report_url = join(root, "report.json")
    report = read_json(report_url) if exists(report_url) else None
    return spec_from_json(chosen["spec"]), report, sweep_id


def _identity(config: MixConfig, spec: SamplingSpec, sweep_id: str | None) -> dict[str, Any]:
    return {
        "spec": spec.to_json(),
        "sweep_id": sweep_id,
        "snapshots": list(config.snapshots),
        "seed": config.seed,
        "domain_column": config.domain_column,
        "sketch_size": config.sketch_size,
        "topk_criterion": config.topk_criterion,
        "topk_keep": config.topk_keep,
        # only when changed, so mixtures made before the option existed keep their identity
        **({"merge_fan_in": config.merge_fan_in} if config.merge_fan_in != DEFAULT_FAN_IN else {}),
    }


def run_mix(config: MixConfig) -> MixResult:
    """Build (or resume, or return the finished) mixture ``config.name``."""
    paths = _Paths(config.store, config.name)
    spec, report, sweep_id = _resolve_spec(config)
    ident = _identity(config, spec, sweep_id)
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
    if exists(paths.config):
        if read_json(paths.config).get("hash") != digest:
            raise ValueError(
                f"mixture {config.name!r} already exists with different settings ({paths.config}); "
                "mixtures are immutable: use a new name"
            )
        if exists(paths.summary):
            return _result(paths, read_json(paths.summary))
    else:
        write_json_atomic(paths.config, {"hash": digest, "config": ident})

    store = Store(config.store)
    refs = list_shards(store, config.snapshots or None)
    if not refs:
        raise ValueError(
            f"no documents shards in {store.path('documents')} for snapshots {config.snapshots or 'all'}"
        )
    names = [r.key for r in refs]
    needed = list(spec_criteria(spec))
    if config.topk_criterion and config.topk_criterion not in needed:
        needed.append(config.topk_criterion)
    criteria = tuple(needed)
    cluster = config.cluster or ClusterConfig.from_env()
    common: dict[str, Any] = {
        "store": config.store,
        "name": config.name,
        "criteria": criteria,
        "domain_column": config.domain_column,
    }

    # pass 1
    p1 = run_shards(
        functools.partial(_stats_pass, size=config.sketch_size, **common),
        refs,
        names=names,
        cluster=cluster,
        description="mix-stats",
    )
    skipped = {r.key: o["skipped"] for r, o in zip(refs, p1, strict=True) if o["skipped"]}
    dropped: dict[str, int] = {}
    for o in p1:
        for k, v in (o.get("dropped") or {}).items():
            dropped[k] = dropped.get(k, 0) + int(v)
    # The sketches are read back one shard file at a time and tree-merged: never all shards' at once.
    stats = merge_stats(
        stats_from_files(paths.shard_stats(r) for r in refs), config.sketch_size, config.merge_fan_in
    ) or CorpusStats(criteria=criteria)
    write_json_atomic(paths.stats, stats.to_json())
    stamp = f"{digest}-{time.time()}"

    # pass 2
    spec_json = spec.to_json()
    if isinstance(spec, QuaDMixSpec):
        p2 = run_shards(
            functools.partial(
                _ranks_pass, spec_json=spec_json, size=config.sketch_size, stats_stamp=stamp, **common
            ),
            refs,
            names=names,
            cluster=cluster,
            description="mix-ranks",
        )
        done = [r for r, o in zip(refs, p2, strict=True) if not o["skipped"]]
        ranks = merge_ranks(
            ranks_from_files(paths.shard_ranks(r) for r in done), config.sketch_size, config.merge_fan_in
        )
        write_json_atomic(paths.ranks, {d: ranks[d].to_json() for d in sorted(ranks)})

    # pass 3
    topk = (
        {"criterion": config.topk_criterion, "keep_fraction": config.topk_keep}
        if config.topk_criterion
        else None
    )
    p3 = run_shards(
        functools.partial(
            _apply_pass, spec_json=spec_json, seed=config.seed, topk=topk, stamp=stamp, **common
        ),
        refs,
        names=names,
        cluster=cluster,
        description="mix-apply",
    )
    assert len(p3) == len(refs)
    infos = (paths.markers.info(_marker_name(r)) for r in refs)  # read one at a time while summarising
    summary = _summarise(config, spec, sweep_id, report, stats, refs, skipped, dropped, infos)
    write_json_atomic(paths.summary, summary)
    return _result(paths, summary)


def _summarise(
    config: MixConfig,
    spec: SamplingSpec,
    sweep_id: str | None,
    report: Mapping[str, Any] | None,
    stats: CorpusStats,
    refs: Sequence[ShardRef],
    skipped: Mapping[str, str],
    dropped: Mapping[str, int],
    infos: Iterable[Mapping[str, Any]],
) -> dict[str, Any]:
    corpus_total = stats.total_tokens
    domains: dict[str, dict[str, Any]] = {}
    all_domains = sorted(set(stats.domain_tokens) | _spec_domains(spec))
    for d in all_domains:
        domains[d] = {
            "corpus_tokens": stats.domain_tokens.get(d, 0.0),
            "corpus_documents": stats.domain_documents.get(d, 0),
            "mixture_tokens": 0.0,
            "mixture_documents": 0,
            "copies": 0,
            "topk_tokens": 0.0,
        }
    documents = copies = 0
    for info in infos:
        documents += int(info.get("documents", 0))
        copies += int(info.get("copies", 0))
        for d, v in (info.get("domains") or {}).items():
            row = domains.setdefault(
                d,
                {
                    "corpus_tokens": 0.0,
                    "corpus_documents": 0,
                    "mixture_tokens": 0.0,
                    "mixture_documents": 0,
                    "copies": 0,
                    "topk_tokens": 0.0,
                },
            )
            for k in ("mixture_tokens", "mixture_documents", "copies", "topk_tokens"):
                row[k] += v[k]
    mix_total = sum(v["mixture_tokens"] for v in domains.values())
    topk_total = sum(v["topk_tokens"] for v in domains.values())
    for v in domains.values():
        v["proportion"] = v["mixture_tokens"] / mix_total if mix_total > 0 else 0.0
        v["corpus_proportion"] = v["corpus_tokens"] / corpus_total if corpus_total > 0 else 0.0
        v["epochs"] = v["mixture_tokens"] / v["corpus_tokens"] if v["corpus_tokens"] > 0 else 0.0
    spec_domains = _spec_domains(spec)
    baselines: dict[str, Any] = {
        "uniform": {"proportions": {d: v["corpus_proportion"] for d, v in domains.items()}},
    }
    if config.topk_criterion:
        baselines["topk"] = {
            "criterion": config.topk_criterion,
            "keep_fraction": config.topk_keep,
            "tokens": topk_total,
            "proportions": {
                d: (v["topk_tokens"] / topk_total if topk_total > 0 else 0.0) for d, v in domains.items()
            },
        }
    summary: dict[str, Any] = {
        "name": config.name,
        "format_version": 1,
        "spec": spec.to_json(),
        "seed": config.seed,
        "sweep_id": sweep_id,
        "snapshots": sorted({r.snapshot for r in refs}),
        "created_at": time.time(),
        "documents_path": "documents/<snapshot>/<shard>.parquet",
        "corpus": {
            "shards": len(refs),
            "shards_skipped": dict(skipped),
            "documents": int(sum(stats.domain_documents.values())),
            "tokens": corpus_total,
            "dropped": dict(dropped),
        },
        "mixture": {
            "documents": documents,
            "copies": copies,
            "tokens": mix_total,
        },
        "domains": domains,
        "unparameterised_domains": sorted(
            d for d in stats.domain_tokens if spec_domains and d not in spec_domains
        ),
        "baselines": baselines,
    }
    if report is not None:
        summary["proxy_comparison"] = {
            "objective": report.get("objective"),
            "quality": report.get("quality"),
            "mixtures": report.get("mixtures"),
        }
    return summary


def _spec_domains(spec: SamplingSpec) -> set[str]:
    if isinstance(spec, QuaDMixSpec):
        return set(spec.domains)
    weights = getattr(spec, "weights", None)
    return set(weights) if weights else set()


def _result(paths: _Paths, summary: Mapping[str, Any]) -> MixResult:
    return MixResult(
        name=str(summary["name"]),
        root=paths.root,
        summary_url=paths.summary,
        documents=int(summary["mixture"]["documents"]),
        tokens=float(summary["mixture"]["tokens"]),
        proportions={d: float(v["proportion"]) for d, v in summary["domains"].items()},
        summary=dict(summary),
    )
