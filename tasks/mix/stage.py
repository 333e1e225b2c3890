"""The mix stage: apply one sampling function to the whole scored corpus (Dask, shard by shard).

Three passes over the attribute columns (text is never read; the per-shard work is in :mod:`tasks.mix.passes`):

1. per shard: per-domain score sketches and token totals → merged into ``_work/stats.json``;
2. QuaDMix only, per shard: per-domain token-weighted sketch of the merged score → ``_work/ranks.json``;
3. per shard: sampling value → repetitions (hash of seed and id) → ``documents/<snapshot>/<shard>.parquet``
   and a completion marker carrying the shard's per-domain totals.

Each pass caches per-shard results, so a rerun redoes only what is missing; ``summary.json``
(:mod:`tasks.mix.summary`) is written last. The output format is documented in ``tasks/mix/__init__.py``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tasks.mix.corpus import DomainColumn, list_shards
from tasks.mix.layout import OUTPUT_SCHEMA, MixPaths, marker_name
from tasks.mix.passes import apply_pass, ranks_pass, stats_pass
from tasks.mix.reduce import DEFAULT_FAN_IN, merge_ranks, merge_stats, ranks_from_files, stats_from_files
from tasks.mix.sampling import CorpusStats
from tasks.mix.sketch import DEFAULT_SKETCH_SIZE
from tasks.mix.specs import QuaDMixSpec, SamplingSpec, spec_criteria, spec_from_json
from tasks.mix.summary import summarise
from tasks.runner import ClusterConfig, run_shards
from tasks.storage import Store, exists, join, read_json, validate_name, write_json_atomic

__all__ = ["OUTPUT_SCHEMA", "MixConfig", "MixResult", "run_mix"]

log = logging.getLogger(__name__)


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
    paths = MixPaths(config.store, config.name)
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
        functools.partial(stats_pass, size=config.sketch_size, **common),
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
                ranks_pass, spec_json=spec_json, size=config.sketch_size, stats_stamp=stamp, **common
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
            apply_pass, spec_json=spec_json, seed=config.seed, topk=topk, stamp=stamp, **common
        ),
        refs,
        names=names,
        cluster=cluster,
        description="mix-apply",
    )
    assert len(p3) == len(refs)
    infos = (paths.markers.info(marker_name(r)) for r in refs)  # read one at a time while summarising
    summary = summarise(config, spec, sweep_id, report, stats, refs, skipped, dropped, infos)
    write_json_atomic(paths.summary, summary)
    return _result(paths, summary)


def _result(paths: MixPaths, summary: Mapping[str, Any]) -> MixResult:
    return MixResult(
        name=str(summary["name"]),
        root=paths.root,
        summary_url=paths.summary,
        documents=int(summary["mixture"]["documents"]),
        tokens=float(summary["mixture"]["tokens"]),
        proportions={d: float(v["proportion"]) for d, v in summary["domains"].items()},
        summary=dict(summary),
    )
