"""The mix stage's three per-shard passes (one Dask task per shard each; run by :func:`tasks.mix.stage.run_mix`).

1. :func:`stats_pass`: per-domain score sketches and token totals → ``_work/stats/<snapshot>/<shard>.json``;
2. :func:`ranks_pass` (QuaDMix only): per-domain token-weighted sketch of the merged score →
   ``_work/ranks/<snapshot>/<shard>.json``;
3. :func:`apply_pass`: sampling value → repetitions (hash of seed and id) → ``documents/<snapshot>/<shard>.parquet``
   and a completion marker carrying the shard's per-domain totals.

Each pass caches its per-shard result, so a rerun redoes only what is missing, and returns only counts: the
driver reads sketches and per-domain totals back one file at a time.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from tasks.mix.corpus import DomainColumn, ShardRef, ShardSkipped, load_shard
from tasks.mix.layout import OUTPUT_SCHEMA, MixPaths, marker_name
from tasks.mix.sampling import (
    CorpusStats,
    merge_scores,
    normalise_scores,
    rank_sketches,
    repetitions,
    sampling_values,
)
from tasks.mix.sketch import QuantileSketch
from tasks.mix.specs import QuaDMixSpec, TopKSpec, spec_from_json
from tasks.storage import Store, exists, read_json, write_json_atomic, write_parquet_atomic


@functools.lru_cache(maxsize=4)
def _cached_json(url: str, stamp: str) -> Any:
    return read_json(url)


# ---- pass 1 ----------------------------------------------------------------------------------------------------
def stats_pass(
    ref: ShardRef, *, store: str, name: str, criteria: tuple[str, ...], domain_column: DomainColumn, size: int
) -> dict[str, Any]:
    """Write the shard's stats (sketches) to its ``_work/stats`` file; return only its counts (the driver reads
    the sketches back one file at a time, :mod:`tasks.mix.reduce`)."""
    paths = MixPaths(store, name)
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
def ranks_pass(
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
    paths = MixPaths(store, name)
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
def apply_pass(
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
    paths = MixPaths(store, name)
    marker = marker_name(ref)
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
