"""Read a scored corpus shard by shard: ``documents/`` joined with ``attributes/scores``, ``attributes/dedup``
and (optionally) ``attributes/clusters``, as laid out in ``docs/CONTRACT.md``. A criterion that is not a column
of ``scores`` is read from ``attributes/selection`` (DSIR / DCLM scores, :mod:`tasks.methods.corpus_scores`).

Attribute shards are meant to hold the same rows in the same order as their documents shard; when they do not
(a re-scored shard written in another order), rows are joined by ``id``. Documents without a score row, with a
non-finite score, or marked as duplicates are dropped and counted, never fatal. A shard whose ``scores`` (or
``dedup``; or ``clusters`` when clusters are the domains) attribute file is missing is skipped with a reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.mix.sampling import FloatArray, IntArray, ObjArray
from tasks.storage import Store, exists, list_files, read_parquet

DomainColumn = Literal["domain", "cluster"]
UNKNOWN_DOMAIN = "unknown"
SELECTION_SET = "selection"  # tasks/methods/corpus_scores.py: dsir, dclm columns


@dataclass(frozen=True, order=True)
class ShardRef:
    snapshot: str
    shard: str

    @property
    def key(self) -> str:
        return f"{self.snapshot}/{self.shard}"


class ShardSkipped(Exception):
    """A shard that cannot be used (missing attributes); the caller counts it and goes on."""


@dataclass
class ScoredShard:
    """The usable documents of one shard, as parallel arrays."""

    ref: ShardRef
    ids: ObjArray
    domains: ObjArray
    n_tokens: IntArray
    scores: FloatArray  # n × len(criteria)
    criteria: tuple[str, ...]
    texts: list[str] | None = None
    dropped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, mask: np.ndarray) -> ScoredShard:
        idx = np.flatnonzero(mask)
        return ScoredShard(
            ref=self.ref,
            ids=self.ids[idx],
            domains=self.domains[idx],
            n_tokens=self.n_tokens[idx],
            scores=self.scores[idx],
            criteria=self.criteria,
            texts=None if self.texts is None else [self.texts[i] for i in idx],
            dropped=dict(self.dropped),
        )


def list_shards(store: Store, snapshots: Sequence[str] | None = None) -> list[ShardRef]:
    """Every documents shard of the given snapshots (all snapshots when ``None``), sorted."""
    snaps = list(snapshots) if snapshots else store.snapshots()
    refs: list[ShardRef] = []
    for snap in snaps:
        for url in list_files(store.documents(snap), (".parquet",), recursive=False):
            name = url.rsplit("/", 1)[-1][: -len(".parquet")]
            if name.startswith("."):
                continue
            refs.append(ShardRef(snap, name))
    return sorted(refs)


def _align(
    docs_ids: pa.Array, attrs: pa.Table, what: str, dropped: dict[str, int]
) -> tuple[pa.Table, np.ndarray]:
    """Rows of ``attrs`` in the order of ``docs_ids``; returns (aligned table, mask of documents that had a row)."""
    a_ids = attrs.column("id").combine_chunks()
    if len(a_ids) == len(docs_ids) and a_ids.equals(docs_ids):
        return attrs, np.ones(len(docs_ids), dtype=bool)
    # Not row-aligned: join by id (first row of each id wins).
    index = pc.index_in(docs_ids, value_set=a_ids)
    found = np.asarray(index.is_valid())
    missing = int((~found).sum())
    if missing:
        dropped[f"missing_{what}"] = dropped.get(f"missing_{what}", 0) + missing
    take = pa.array(np.where(found, np.asarray(index.fill_null(0)), 0), type=pa.int64())
    return attrs.take(take), found


def load_shard(
    store: Store,
    ref: ShardRef,
    *,
    criteria: Sequence[str],
    domain_column: DomainColumn = "domain",
    with_text: bool = False,
    drop_duplicates: bool = True,
) -> ScoredShard:
    """Documents of one shard that can be mixed, with their domain and quality scores."""
    doc_url = store.document_shard(ref.snapshot, ref.shard)
    scores_url = store.attribute_shard("scores", ref.snapshot, ref.shard)
    dedup_url = store.attribute_shard("dedup", ref.snapshot, ref.shard)
    clusters_url = store.attribute_shard("clusters", ref.snapshot, ref.shard)
    if not exists(scores_url):
        raise ShardSkipped("no scores attributes")
    if drop_duplicates and not exists(dedup_url):
        raise ShardSkipped("no dedup attributes")
    if domain_column == "cluster" and not exists(clusters_url):
        raise ShardSkipped("no clusters attributes")

    doc_cols = ["id", "n_tokens"] + (["text"] if with_text else [])
    docs = read_parquet(doc_url, columns=doc_cols)
    ids = docs.column("id").combine_chunks()
    n = len(ids)
    dropped: dict[str, int] = {}
    keep = np.ones(n, dtype=bool)

    scores_tbl = read_parquet(scores_url)
    from_selection = [c for c in criteria if c not in scores_tbl.column_names]
    selection_tbl: pa.Table | None = None
    if from_selection:
        selection_url = store.attribute_shard(SELECTION_SET, ref.snapshot, ref.shard)
        if exists(selection_url):
            selection_tbl = read_parquet(selection_url)
        missing_cols = [
            c for c in from_selection if selection_tbl is None or c not in selection_tbl.column_names
        ]
        if missing_cols:
            raise ShardSkipped(f"scores and selection attributes lack columns {missing_cols}")
    scores_tbl, found = _align(ids, scores_tbl, "scores", dropped)
    keep &= found
    if selection_tbl is not None:
        selection_tbl, found_s = _align(
            ids, selection_tbl.select(["id", *from_selection]), SELECTION_SET, dropped
        )
        keep &= found_s
    columns = {
        c: (selection_tbl if selection_tbl is not None and c in from_selection else scores_tbl).column(c)
        for c in criteria
    }
    scores = (
        np.column_stack(
            [np.asarray(columns[c].cast(pa.float64()).fill_null(np.nan), dtype=np.float64) for c in criteria]
        )
        if criteria
        else np.zeros((n, 0))
    )
    bad = ~np.isfinite(scores).all(axis=1) & keep
    if bad.any():
        dropped["invalid_scores"] = int(bad.sum())
    keep &= ~bad

    if domain_column == "cluster":
        cl_tbl, found_c = _align(
            ids, read_parquet(clusters_url, columns=["id", "cluster"]), "clusters", dropped
        )
        keep &= found_c
        cl = cl_tbl.column("cluster").to_pylist()
        domains = np.array([UNKNOWN_DOMAIN if c is None else f"cluster-{int(c)}" for c in cl], dtype=object)
    else:
        has = "domain" in scores_tbl.column_names
        dom = scores_tbl.column("domain").to_pylist() if has else [None] * n
        domains = np.array([UNKNOWN_DOMAIN if d is None or d == "" else str(d) for d in dom], dtype=object)

    if drop_duplicates:
        dd_tbl, found_d = _align(
            ids, read_parquet(dedup_url, columns=["id", "is_duplicate"]), "dedup", dropped
        )
        is_dup = np.asarray(dd_tbl.column("is_duplicate").fill_null(False), dtype=bool) & found_d
        dup = is_dup & keep
        if dup.any():
            dropped["duplicates"] = int(dup.sum())
        keep &= ~is_dup  # a document without a dedup row is kept (dedup marks only duplicates)

    n_tokens = np.asarray(docs.column("n_tokens").cast(pa.int64()).fill_null(0), dtype=np.int64)
    empty = (n_tokens <= 0) & keep
    if empty.any():
        dropped["empty"] = int(empty.sum())
    keep &= n_tokens > 0

    shard = ScoredShard(
        ref=ref,
        ids=np.array(ids.to_pylist(), dtype=object),
        domains=domains,
        n_tokens=n_tokens,
        scores=scores,
        criteria=tuple(criteria),
        texts=docs.column("text").to_pylist() if with_text else None,
        dropped=dropped,
    )
    return shard.take(keep)
