"""Reading a mixture from the store (the mix stage's output) and materialising its documents.

The format is the mix stage's (documented in :mod:`tasks.mix`), under ``Store.mixtures(name)``::

    documents/<snapshot>/<shard>.parquet   one row per selected document: id, snapshot, shard, domain,
                                           n_tokens, repetitions (int, >= 1; "a.b" draws already resolved)
    summary.json                           written last (its presence means the mixture is complete):
                                           name, spec (the sampling function, with "kind"), seed, sweep_id,
                                           snapshots, domains.<d>.{proportion, corpus_tokens,
                                           corpus_proportion, ...}, proxy_comparison (optional)

Only ``id``, ``snapshot``, ``shard`` and ``repetitions`` are required; ``domain`` is taken from the ``scores``
attribute set when the rows lack it. Publication joins the rows back to ``documents/<snapshot>/<shard>.parquet``
for the text, and reads the ``model_version`` of the ``scores`` attributes for the lineage.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tasks.storage import Store, exists, list_files, read_json, read_parquet, validate_name

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("id", "snapshot", "shard", "repetitions")
UNKNOWN_DOMAIN = "unknown"
SUMMARY = "summary.json"
ROWS_DIR = "documents"

OUTPUT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("url", pa.string()),
        ("snapshot", pa.string()),
        ("domain", pa.string()),
        ("n_tokens", pa.int64()),
        ("repetitions", pa.int32()),
    ]
)


@dataclass(frozen=True)
class MixtureInput:
    """The mixture as the mix stage left it: selected rows plus its summary."""

    name: str
    rows: pa.Table  # id, snapshot, shard, repetitions (int64) [, domain]
    summary: dict[str, Any]
    files: tuple[str, ...]
    zero_repetition_rows: int


@dataclass(frozen=True)
class SourceShardTask:
    store_root: str
    snapshot: str
    shard: str
    rows: pa.Table  # id, repetitions [, domain]


@dataclass(frozen=True)
class SourceShardResult:
    table: pa.Table  # OUTPUT_SCHEMA
    missing: int
    model_versions: tuple[str, ...] = field(default_factory=tuple)


def load_mixture(store: Store, name: str) -> MixtureInput:
    """Read a complete mixture's rows and summary; raise a clear error when it is missing or malformed."""
    summary, files = mixture_files(store, name)
    rows = pa.concat_tables([read_mixture_rows(url) for url in files], promote_options="default")
    positive = pc.greater(rows["repetitions"], 0)
    zero = len(rows) - int(pc.sum(positive).as_py() or 0)
    rows = rows.filter(positive)
    if len(rows) == 0:
        raise ValueError(f"mixture {name!r} selects no document (every row has repetitions == 0)")
    return MixtureInput(name=name, rows=rows, summary=summary, files=files, zero_repetition_rows=zero)


def mixture_files(store: Store, name: str) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A complete mixture's summary and its row files (one per source shard), without reading any row; raise a
    clear error when it is missing or malformed."""
    root = store.mixtures(validate_name(name, "mixture name"))
    summary_url = f"{root}/{SUMMARY}"
    if not exists(summary_url):
        raise FileNotFoundError(
            f"no complete mixture at {root}: {SUMMARY} is missing (run the mix stage, or let it finish)"
        )
    loaded = read_json(summary_url)
    if not isinstance(loaded, dict):
        raise ValueError(f"{summary_url} is not a JSON object")
    summary: dict[str, Any] = loaded
    rows_root = f"{root}/{ROWS_DIR}"
    files = tuple(
        f
        for f in list_files(rows_root, (".parquet",))
        if not any(p.startswith((".", "_")) for p in f[len(rows_root) :].split("/"))
    )
    if not files:
        raise FileNotFoundError(f"mixture {name!r} has no rows under {rows_root}/<snapshot>/<shard>.parquet")
    return summary, files


def read_mixture_rows(url: str) -> pa.Table:
    """One mixture row file, checked and normalised: id, snapshot, shard, repetitions (int64, zeros kept)
    [, domain]."""
    table = read_parquet(url)
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"{url}: mixture rows lack column(s) {missing} (need {list(REQUIRED_COLUMNS)})")
    columns = [*REQUIRED_COLUMNS, *(["domain"] if "domain" in table.column_names else [])]
    return _normalise(table.select(columns), url)


def _normalise(table: pa.Table, url: str) -> pa.Table:
    reps = table["repetitions"]
    if pa.types.is_floating(reps.type):
        filled = pc.fill_null(reps, 0.0)
        if not pc.all(pc.equal(filled, pc.floor(filled))).as_py():
            raise ValueError(
                f"{url}: repetitions must be whole numbers; the mix stage resolves 'a.b' into a or a+1"
            )
        reps = filled
    elif not pa.types.is_integer(reps.type):
        raise ValueError(f"{url}: repetitions has type {reps.type}, expected an integer")
    reps = pc.fill_null(pc.cast(reps, pa.int64()), 0)
    if pc.any(pc.less(reps, 0)).as_py():
        raise ValueError(f"{url}: negative repetitions")
    columns = {
        "id": pc.cast(table["id"], pa.string()),
        "snapshot": pc.cast(table["snapshot"], pa.string()),
        "shard": pc.cast(table["shard"], pa.string()),
        "repetitions": reps,
    }
    if "domain" in table.column_names:
        columns["domain"] = pc.cast(table["domain"], pa.string())
    if pc.any(pc.is_null(columns["id"])).as_py():
        raise ValueError(f"{url}: null document id")
    return pa.table(columns)


def source_shard_tasks(store: Store, mixture: MixtureInput) -> list[SourceShardTask]:
    """One task per (snapshot, shard) the mixture draws from, with that shard's rows (ids summed)."""
    rows = mixture.rows.sort_by([("snapshot", "ascending"), ("shard", "ascending"), ("id", "ascending")])
    # Runs of equal (snapshot, shard) in the sorted rows. (Arrow's group_by does not promise to return groups
    # in row order, so the boundaries are taken from the sorted columns themselves.)
    keys = list(zip(rows["snapshot"].to_pylist(), rows["shard"].to_pylist(), strict=True))
    runs: list[tuple[str, str, int]] = []
    for key in keys:
        if runs and (runs[-1][0], runs[-1][1]) == key:
            runs[-1] = (key[0], key[1], runs[-1][2] + 1)
        else:
            runs.append((key[0], key[1], 1))
    has_domain = "domain" in rows.column_names
    tasks = []
    offset = 0
    for snapshot, shard, count in runs:
        part = rows.slice(offset, count)
        offset += count
        validate_name(str(snapshot), "snapshot")
        validate_name(str(shard), "shard")
        tasks.append(SourceShardTask(store.root, str(snapshot), str(shard), _group_ids(part, has_domain)))
    return tasks


def _group_ids(part: pa.Table, has_domain: bool) -> pa.Table:
    """One source shard's rows (sorted by id) with each id once: repetitions summed [, domain (max)]."""
    aggregations: list[tuple[str, str]] = [("repetitions", "sum")]
    if has_domain:
        aggregations.append(("domain", "max"))
    grouped = part.group_by(["id"], use_threads=False).aggregate(aggregations)
    renamed = {"repetitions_sum": "repetitions", "domain_max": "domain"}
    return grouped.rename_columns([renamed.get(c, c) for c in grouped.column_names])


@dataclass(frozen=True)
class MixturePlan:
    """A mixture read one row file at a time, keeping only which files hold each source shard's rows (the
    bounded replacement of :func:`load_mixture` for publication: no row is kept in the driver)."""

    name: str
    summary: dict[str, Any]
    files: tuple[str, ...]
    zero_repetition_rows: int
    shards: tuple[tuple[str, str, tuple[str, ...]], ...]  # (snapshot, shard, row files), sorted
    has_domain: bool  # some row file has a domain column (then rows without one get a null domain)


@dataclass(frozen=True)
class ShardRowsTask:
    """A source shard whose rows a worker reads itself from the mixture's row files."""

    store_root: str
    snapshot: str
    shard: str
    files: tuple[str, ...]
    has_domain: bool


def plan_mixture(store: Store, name: str) -> MixturePlan:
    """Check every row file (as :func:`load_mixture` does, one file at a time) and note which files hold each
    (snapshot, shard)'s rows with repetitions > 0; raise the same clear errors."""
    summary, files = mixture_files(store, name)
    zero = positive = 0
    has_domain = False
    where: dict[tuple[str, str], list[str]] = {}
    for url in files:
        rows = read_mixture_rows(url)
        has_domain = has_domain or "domain" in rows.column_names
        kept = rows.filter(pc.greater(rows["repetitions"], 0))
        zero += len(rows) - len(kept)
        positive += len(kept)
        if pc.any(pc.or_(pc.is_null(kept["snapshot"]), pc.is_null(kept["shard"]))).as_py():
            raise ValueError(f"{url}: null snapshot or shard in the mixture rows")
        keys = pa.table({"snapshot": kept["snapshot"], "shard": kept["shard"]})
        grouped = keys.group_by(["snapshot", "shard"], use_threads=False).aggregate([])
        for key in zip(grouped["snapshot"].to_pylist(), grouped["shard"].to_pylist(), strict=True):
            where.setdefault((str(key[0]), str(key[1])), []).append(url)
    if positive == 0:
        raise ValueError(f"mixture {name!r} selects no document (every row has repetitions == 0)")
    for snapshot, shard in where:
        validate_name(snapshot, "snapshot")
        validate_name(shard, "shard")
    shards = tuple((snap, shard, tuple(urls)) for (snap, shard), urls in sorted(where.items()))
    return MixturePlan(name, summary, files, zero, shards, has_domain)


def shard_rows_tasks(store: Store, plan: MixturePlan) -> list[ShardRowsTask]:
    return [
        ShardRowsTask(store.root, snap, shard, urls, plan.has_domain) for snap, shard, urls in plan.shards
    ]


def read_shard_rows(task: ShardRowsTask) -> SourceShardTask:
    """One source shard's rows from its row files, grouped by id as :func:`source_shard_tasks` groups them."""
    tables = []
    for url in task.files:
        rows = read_mixture_rows(url)
        mine = pc.and_(
            pc.and_(pc.equal(rows["snapshot"], task.snapshot), pc.equal(rows["shard"], task.shard)),
            pc.greater(rows["repetitions"], 0),
        )
        rows = rows.filter(mine)
        if task.has_domain and "domain" not in rows.column_names:
            rows = rows.append_column("domain", pa.nulls(len(rows), pa.string()))
        tables.append(rows)
    part = pa.concat_tables(tables, promote_options="default").sort_by([("id", "ascending")])
    return SourceShardTask(task.store_root, task.snapshot, task.shard, _group_ids(part, task.has_domain))


def materialise_source_shard(task: SourceShardTask) -> SourceShardResult:
    """Join one source shard's selected ids to their text and domain (runs on a Dask worker or in-process)."""
    store = Store(task.store_root)
    doc_url = store.document_shard(task.snapshot, task.shard)
    wanted = task.rows
    if not exists(doc_url):
        log.warning("mixture references missing documents shard %s (%d rows)", doc_url, len(wanted))
        return SourceShardResult(table=OUTPUT_SCHEMA.empty_table(), missing=len(wanted))
    docs = read_parquet(doc_url, columns=["id", "url", "text", "n_tokens"])
    positions = pc.index_in(wanted["id"], value_set=docs["id"])
    found = pc.is_valid(positions)
    missing = len(wanted) - int(pc.sum(found).as_py() or 0)
    wanted = wanted.filter(found)
    positions = positions.filter(found)
    picked = docs.take(positions)

    domain, model_versions = _from_scores(store, task, picked["id"])
    if "domain" in wanted.column_names:  # the domain the mix stage mixed it under wins
        domain = pc.fill_null(pc.cast(wanted["domain"], pa.string()), UNKNOWN_DOMAIN)
    table = pa.table(
        {
            "id": picked["id"],
            "text": picked["text"],
            "url": picked["url"],
            "snapshot": pa.array([task.snapshot] * len(picked), pa.string()),
            "domain": domain,
            "n_tokens": pc.cast(picked["n_tokens"], pa.int64()),
            "repetitions": pc.cast(wanted["repetitions"], pa.int32()),
        },
        schema=OUTPUT_SCHEMA,
    )
    return SourceShardResult(table=table, missing=missing, model_versions=model_versions)


def _from_scores(store: Store, task: SourceShardTask, ids: Any) -> tuple[Any, tuple[str, ...]]:
    """The ``scores`` domain of each id (``unknown`` without one) and the shard's scoring model versions."""
    url = store.attribute_shard("scores", task.snapshot, task.shard)
    unknown = pa.array([UNKNOWN_DOMAIN] * len(ids), pa.string())
    if not exists(url):
        return unknown, ()
    scores = read_parquet(url)
    versions: tuple[str, ...] = ()
    if "model_version" in scores.column_names:
        versions = tuple(sorted({str(v) for v in pc.unique(scores["model_version"]).to_pylist() if v}))
    if "domain" not in scores.column_names:
        return unknown, versions
    positions = pc.index_in(ids, value_set=scores["id"])
    domain = pc.fill_null(pc.cast(scores["domain"].take(positions), pa.string()), UNKNOWN_DOMAIN)
    return domain, versions


def summary_domains_before(summary: Mapping[str, Any]) -> dict[str, tuple[int | None, float | None]]:
    """(tokens, proportion) per domain in the scored corpus before mixing, from the mix summary
    (``corpus_tokens`` / ``corpus_proportion``), where it gives them."""
    out: dict[str, tuple[int | None, float | None]] = {}
    domains = summary.get("domains")
    if not isinstance(domains, Mapping):
        return out
    for domain, stats in domains.items():
        if not isinstance(stats, Mapping):
            continue
        tokens = stats.get("corpus_tokens", stats.get("tokens_before"))
        proportion = stats.get("corpus_proportion", stats.get("proportion_before"))
        out[str(domain)] = (
            int(tokens) if isinstance(tokens, int | float) else None,
            float(proportion) if isinstance(proportion, int | float) else None,
        )
    return out
