"""Stratified, reproducible document samples (for the raters and for fitting clusters).

Strata are the language and, when an earlier scoring run left a ``domain`` in the ``scores`` attributes, the
domain. Within a stratum the documents with the smallest seeded hash of their id are taken (bottom-k sampling),
so the sample is reproducible, does not depend on shard order and is found in one streaming pass that keeps at
most ``size`` candidates per stratum in memory. The size is split evenly across strata (rare languages are not
drowned by the majority), and what a small stratum cannot use goes to the others.
Documents marked ``is_duplicate`` in the ``dedup`` attributes are left out.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import defaultdict
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from tasks.storage import Store, exists, list_files, read_parquet


@dataclass(frozen=True)
class ShardRef:
    snapshot: str
    shard: str
    url: str


def list_document_shards(store: Store, snapshots: tuple[str, ...] | None = None) -> list[ShardRef]:
    """Every documents shard of the given snapshots (all snapshots by default), in name order."""
    names = list(snapshots) if snapshots else store.snapshots()
    refs: list[ShardRef] = []
    for snapshot in names:
        for url in list_files(store.documents(snapshot), (".parquet",), recursive=False):
            base = url.rsplit("/", 1)[-1]
            if base.startswith("."):
                continue
            refs.append(ShardRef(snapshot, base[: -len(".parquet")], url))
    return refs


def seeded_priority(seed: int, doc_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}:{doc_id}".encode(), digest_size=8).digest(), "big")


def in_heldout(seed: int, doc_id: str, fraction: float) -> bool:
    """Deterministic train/held-out split by id (independent of the sampling priority)."""
    h = int.from_bytes(hashlib.blake2b(f"split:{seed}:{doc_id}".encode(), digest_size=8).digest(), "big")
    return h / 2**64 < fraction


def _allocate(available: dict[str, int], size: int) -> dict[str, int]:
    alloc = dict.fromkeys(available, 0)
    remaining = size
    active = sorted(s for s, n in available.items() if n > 0)
    while remaining > 0 and active:
        share = max(1, remaining // len(active))
        for stratum in list(active):
            take = min(share, available[stratum] - alloc[stratum], remaining)
            alloc[stratum] += take
            remaining -= take
            if alloc[stratum] >= available[stratum]:
                active.remove(stratum)
            if remaining == 0:
                break
    return alloc


def stratified_sample(
    store: Store,
    size: int,
    seed: int = 0,
    snapshots: tuple[str, ...] | None = None,
    by_domain: bool = True,
    exclude_duplicates: bool = True,
    scores_set: str = "scores",
) -> pa.Table:
    """Return the sample: ``id, snapshot, shard, url, language, domain, stratum, text`` (sorted by stratum, id)."""
    if size < 1:
        raise ValueError("sample size must be >= 1")
    shards = list_document_shards(store, snapshots)
    if not shards:
        raise FileNotFoundError(
            f"no documents under {store.path('documents')} (snapshots: {snapshots or 'all'})"
        )
    # Per stratum, a max-heap (negated priority) of the ``size`` smallest priorities seen so far.
    heaps: dict[str, list[tuple[int, str, int, str, str]]] = defaultdict(list)
    for index, ref in enumerate(shards):
        table = read_parquet(ref.url, columns=["id", "language"])
        ids = table.column("id").to_pylist()
        langs = [lang or "und" for lang in table.column("language").to_pylist()]
        keep = [True] * len(ids)
        dedup_url = store.attribute_shard("dedup", ref.snapshot, ref.shard)
        if exclude_duplicates and exists(dedup_url):
            dup = read_parquet(dedup_url, columns=["id", "is_duplicate"])
            dup_map = dict(
                zip(dup.column("id").to_pylist(), dup.column("is_duplicate").to_pylist(), strict=True)
            )
            keep = [not dup_map.get(i, False) for i in ids]
        domains: list[str] = ["-"] * len(ids)
        scores_url = store.attribute_shard(scores_set, ref.snapshot, ref.shard)
        if by_domain and exists(scores_url):
            sc = read_parquet(scores_url)
            if "domain" in sc.column_names:
                dom_map = dict(zip(sc.column("id").to_pylist(), sc.column("domain").to_pylist(), strict=True))
                domains = [dom_map.get(i) or "-" for i in ids]
        for doc_id, lang, dom, ok in zip(ids, langs, domains, keep, strict=True):
            if not ok:
                continue
            stratum = f"{lang}|{dom}"
            item = (-seeded_priority(seed, doc_id), doc_id, index, lang, dom)
            heap = heaps[stratum]
            if len(heap) < size:
                heapq.heappush(heap, item)
            elif item[0] > heap[0][0]:
                heapq.heapreplace(heap, item)
    alloc = _allocate({s: len(h) for s, h in heaps.items()}, size)
    chosen: dict[int, dict[str, tuple[str, str, str]]] = defaultdict(dict)
    for stratum, heap in heaps.items():
        for _neg, doc_id, index, lang, dom in sorted(heap, key=lambda it: -it[0])[: alloc[stratum]]:
            chosen[index][doc_id] = (lang, dom, stratum)
    rows: list[dict[str, object]] = []
    for index, wanted in sorted(chosen.items()):
        ref = shards[index]
        table = read_parquet(ref.url, columns=["id", "url", "text"])
        mask = pc.is_in(table.column("id"), value_set=pa.array(list(wanted)))
        for row in table.filter(mask).to_pylist():
            lang, dom, stratum = wanted[row["id"]]
            rows.append(
                {
                    "id": row["id"],
                    "snapshot": ref.snapshot,
                    "shard": ref.shard,
                    "url": row["url"],
                    "language": lang,
                    "domain": None if dom == "-" else dom,
                    "stratum": stratum,
                    "text": row["text"] if row["text"] is not None else "",
                }
            )
    rows.sort(key=lambda r: (str(r["stratum"]), str(r["id"])))
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("snapshot", pa.string()),
            ("shard", pa.string()),
            ("url", pa.string()),
            ("language", pa.string()),
            ("domain", pa.string()),
            ("stratum", pa.string()),
            ("text", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)
