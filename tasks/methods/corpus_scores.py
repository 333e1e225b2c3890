"""Selection scores of the whole corpus, shard by shard: DSIR's log importance weight and the DCLM classifier's
P(hq) of every document, written as the attribute set ``attributes/selection/<snapshot>/<shard>.parquet``
(columns ``id`` and ``dsir`` and/or ``dclm``) so that the mix stage can sample by them
(``quarry mix --baseline gumbel --criterion dsir --temperature 1`` is DSIR's importance resampling,
``quarry mix --baseline topk --criterion dclm --keep 0.1`` DCLM's keep ratio).

No step holds more than one shard's documents (docs/SCALE.md):

* DSIR (:mod:`tasks.methods.dsir`): the target bag-of-n-grams model is fitted on the target texts; the raw model
  is the sum of per-shard hashed n-gram count vectors (``buckets`` floats per shard, saved with a marker, so a
  rerun reads them back), and a second pass per shard writes ``log w = counts · (log γ_target − log γ_raw)``.
  The result equals :func:`tasks.methods.dsir.dsir_log_weights` over the whole corpus at once.
* DCLM (:mod:`tasks.methods.dclm`, here :mod:`tasks.methods.corpus_dclm`): a fastText classifier of the high-quality reference
  (:func:`tasks.illusion.reference.default_sources`, the ``classifier`` part) against a bounded, seeded sample of
  the corpus (bottom-``sample_size`` of a hash of ``(seed, id)``, chosen from the ids alone) is trained and
  saved; a pass per shard writes P(hq). Cross-fitted as in the bake-off (:func:`tasks.methods.dclm.dclm_scores`):
  the sample is cut into two halves, one classifier is trained against each, a sample document is scored by the
  classifier that did not see it and every other document by the mean of the two.

Each method has per-shard completion markers (``_markers/selection-<method>/<snapshot>``) recording the version
of what was computed and the documents shard's version; shards run through :func:`tasks.runner.run_shards` (in
this process by default, or on Dask with ``workers`` / ``scheduler``); a rerun skips finished shards, a killed run resumes,
and a change (new shards, other targets, other settings) redoes what it touches. Writing one method's column
keeps the other method's column of the same file. A card per method (``models/selection/<method>.json``)
records the settings, the targets and the bucket count.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.methods.dsir import DEFAULT_BUCKETS, REFERENCE_EPS, bucket_totals, hashed_ngram_counts
from tasks.runner import ClusterConfig, run_shards
from tasks.storage import (
    CompletionMarkers,
    Store,
    exists,
    join,
    list_files,
    read_bytes,
    read_json,
    read_parquet,
    write_bytes_atomic,
    write_json_atomic,
    write_parquet_atomic,
)
from tasks.sweep.targets import TargetSpec, load_target_text

Method = Literal["dsir", "dclm"]
METHODS: tuple[Method, ...] = ("dsir", "dclm")
ATTRIBUTE_SET = "selection"
DEFAULT_SAMPLE = 4000
BATCH = 1000  # documents whose n-grams / classifier inputs are in memory at once (the shard's text is)


@dataclass(frozen=True)
class SelectionScoresConfig:
    store: str
    method: Method
    snapshots: tuple[str, ...] = ()
    targets: tuple[TargetSpec, ...] = ()  # dsir
    eval_dir: str = ""  # dclm: the high-quality reference's directory (../shared/data/eval)
    buckets: int = DEFAULT_BUCKETS
    seed: int = 0
    sample_size: int = DEFAULT_SAMPLE  # dclm: corpus documents the classifier is trained against
    reference_chars: int = 600_000  # dclm: characters read from each reference source
    epoch: int = 20
    dim: int = 32
    force: bool = False
    workers: int | None = None  # LocalCluster workers; None (and no scheduler): in this process
    scheduler: str | None = None  # address of an existing Dask scheduler

    def cluster(self) -> ClusterConfig:
        if self.scheduler or self.workers:
            return ClusterConfig(address=self.scheduler, n_workers=self.workers)
        return ClusterConfig(n_workers=0)


@dataclass
class SelectionScoresResult:
    method: Method
    version: str
    shards_written: list[str] = field(default_factory=list)
    shards_skipped: list[str] = field(default_factory=list)
    documents: int = 0
    card: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, order=True)
class _Shard:
    snapshot: str
    shard: str

    @property
    def key(self) -> str:
        return f"{self.snapshot}/{self.shard}"


def _shards(store: Store, snapshots: Sequence[str]) -> list[_Shard]:
    out = []
    for snap in snapshots or store.snapshots():
        for url in list_files(store.documents(snap), (".parquet",), recursive=False):
            name = url.rsplit("/", 1)[-1][: -len(".parquet")]
            if not name.startswith("."):
                out.append(_Shard(snap, name))
    return sorted(out)


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _save_npy(url: str, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, arr)
    write_bytes_atomic(url, buf.getvalue())


def _load_npy(url: str) -> np.ndarray:
    return np.asarray(np.load(io.BytesIO(read_bytes(url))))


def write_selection_column(store: Store, ref: _Shard, ids: pa.Array, column: str, values: np.ndarray) -> None:
    """Write ``column`` of the shard's selection attributes, keeping the file's other columns (joined by id;
    a document without a row there gets null)."""
    url = store.attribute_shard(ATTRIBUTE_SET, ref.snapshot, ref.shard)
    cols: dict[str, pa.Array] = {"id": ids}
    if exists(url):
        old = read_parquet(url)
        others = [c for c in old.column_names if c not in ("id", column)]
        if others:
            old_ids = old.column("id").combine_chunks()
            if len(old_ids) == len(ids) and old_ids.equals(ids):
                cols.update({c: old.column(c).combine_chunks() for c in others})
            else:
                idx = pc.index_in(ids, value_set=old_ids)
                cols.update({c: old.column(c).combine_chunks().take(idx) for c in others})
    cols[column] = pa.array(values, pa.float64())
    ordered = (
        ["id"] + [m for m in METHODS if m in cols] + sorted(c for c in cols if c not in ("id", *METHODS))
    )
    write_parquet_atomic(url, pa.table({c: cols[c] for c in ordered}))


def _read_texts(store: Store, ref: _Shard) -> tuple[pa.Array, list[str]]:
    t = read_parquet(store.document_shard(ref.snapshot, ref.shard), columns=["id", "text"])
    return t.column("id").combine_chunks(), [s or "" for s in t.column("text").to_pylist()]


@dataclass(frozen=True)
class ScoreTask:
    """One shard's scoring (picklable: it runs on a Dask worker)."""

    store: str
    method: Method
    ref: _Shard
    version: str
    force: bool
    log_diff: np.ndarray | None = None  # dsir: log γ_target − log γ_raw
    buckets: int = DEFAULT_BUCKETS
    model_urls: tuple[str, ...] = ()  # dclm: the cross-fitted classifiers
    sample_folds: dict[str, int] = field(default_factory=dict)  # dclm: this shard's sample documents' folds


def _scorer(task: ScoreTask) -> Callable[[list[str], list[str]], np.ndarray]:
    if task.method == "dsir":
        log_diff = task.log_diff
        assert log_diff is not None

        def dsir(ids: list[str], texts: list[str]) -> np.ndarray:
            return np.asarray(hashed_ngram_counts(texts, task.buckets) @ log_diff, dtype=np.float64).ravel()

        return dsir
    from tasks.methods.corpus_dclm import dclm_scorer

    return dclm_scorer(task.model_urls, task.sample_folds)


def score_shard(task: ScoreTask) -> dict[str, Any]:
    """Skip the shard when its marker has this version and documents version, else score it and write."""
    store = Store(task.store)
    ref = task.ref
    markers = CompletionMarkers(store.markers(f"selection-{task.method}", ref.snapshot))
    docs_version = store.documents_version(ref.snapshot, ref.shard)
    if (
        not task.force
        and markers.is_done(ref.shard)
        and markers.info(ref.shard).get("version") == task.version
        and markers.info(ref.shard).get("documents_version", "") == docs_version
        and exists(store.attribute_shard(ATTRIBUTE_SET, ref.snapshot, ref.shard))
    ):
        return {"shard": ref.key, "skipped": True, "documents": 0}
    start = time.perf_counter()
    score = _scorer(task)
    ids, texts = _read_texts(store, ref)
    id_list = [str(i) for i in ids.to_pylist()]
    values = np.concatenate(
        [np.zeros(0)]
        + [
            np.asarray(score(id_list[a : a + BATCH], texts[a : a + BATCH]), dtype=np.float64)
            for a in range(0, len(texts), BATCH)
        ]
    )
    write_selection_column(store, ref, ids, task.method, values)
    info = {
        "version": task.version,
        "documents_version": docs_version,
        "documents": len(texts),
        "seconds": time.perf_counter() - start,
    }
    markers.mark_done(ref.shard, info)
    return {"shard": ref.key, "skipped": False, **info}


def _score_pass(config: SelectionScoresConfig, tasks: list[ScoreTask], result: SelectionScoresResult) -> None:
    done = run_shards(
        score_shard,
        tasks,
        names=[t.ref.key for t in tasks],
        cluster=config.cluster(),
        description=f"selection-{config.method}",
    )
    for r in done:
        (result.shards_skipped if r["skipped"] else result.shards_written).append(str(r["shard"]))
        result.documents += int(r["documents"])


# ------------------------------------------------------------------------------------------------------------
# DSIR
# ------------------------------------------------------------------------------------------------------------
def shard_raw_counts(item: tuple[str, int, _Shard]) -> np.ndarray:
    """The shard's pooled hashed n-gram counts (``buckets`` floats), computed once per documents version."""
    store_root, buckets, ref = item
    store = Store(store_root)
    markers = CompletionMarkers(store.markers(f"selection-dsir-raw-b{buckets}", ref.snapshot))
    url = store.path("models", "selection", f"dsir-raw-b{buckets}", ref.snapshot, f"{ref.shard}.npy")
    docs_version = store.documents_version(ref.snapshot, ref.shard)
    if (
        markers.is_done(ref.shard)
        and markers.info(ref.shard).get("documents_version", "") == docs_version
        and exists(url)
    ):
        return _load_npy(url)
    _, texts = _read_texts(store, ref)
    totals = np.zeros(buckets, dtype=np.float64)
    for a in range(0, len(texts), BATCH):  # n-grams of BATCH documents at a time, not of the whole shard
        totals += bucket_totals(hashed_ngram_counts(texts[a : a + BATCH], buckets))
    _save_npy(url, totals)
    markers.mark_done(ref.shard, {"documents_version": docs_version, "documents": len(texts)})
    return totals


def raw_model(config: SelectionScoresConfig, store: Store, shards: list[_Shard]) -> np.ndarray:
    """``log(γ_raw + eps)`` of the corpus: the per-shard count vectors summed (bounded: one vector at a time)."""
    per_shard = run_shards(
        shard_raw_counts,
        [(store.root, config.buckets, ref) for ref in shards],
        names=[ref.key for ref in shards],
        cluster=config.cluster(),
        description="selection-dsir-raw",
    )
    total = np.zeros(config.buckets, dtype=np.float64)
    for counts in per_shard:  # one vector of ``buckets`` floats per shard
        total += counts
    if total.sum() <= 0:
        raise ValueError("the corpus has no n-grams")
    out: np.ndarray = np.log(total / total.sum() + REFERENCE_EPS)
    return out


def target_model(targets: Sequence[TargetSpec], buckets: int) -> np.ndarray:
    """``log(γ_target + eps)`` over the target texts (pooled: every target's text counts by its n-grams)."""
    totals = np.zeros(buckets, dtype=np.float64)
    for spec in targets:
        totals += bucket_totals(hashed_ngram_counts([load_target_text(spec)], buckets))
    if totals.sum() <= 0:
        raise ValueError("the target texts have no n-grams")
    out: np.ndarray = np.log(totals / totals.sum() + REFERENCE_EPS)
    return out


def _run_dsir(config: SelectionScoresConfig, store: Store, shards: list[_Shard]) -> SelectionScoresResult:
    if not config.targets:
        raise ValueError("DSIR needs target texts: give --target NAME=PATH (or --eval-dir for the defaults)")
    log_target = target_model(config.targets, config.buckets)
    log_raw = raw_model(config, store, shards)
    log_diff = log_target - log_raw
    version = "dsir-" + _digest([log_diff.round(12).tolist(), config.buckets])
    card = {
        "method": "dsir",
        "version": version,
        "buckets": config.buckets,
        "targets": [t.to_json() for t in config.targets],
        "target_names": [t.name for t in config.targets],
        "raw_model": f"hashed n-gram counts of {len(shards)} documents shards",
        "snapshots": sorted({r.snapshot for r in shards}),
        "shards": len(shards),
        "usage": "quarry mix --baseline gumbel --criterion dsir --temperature 1 --keep <share of tokens>",
        "created_at": time.time(),
    }
    result = SelectionScoresResult("dsir", version, card=card)
    tasks = [
        ScoreTask(store.root, "dsir", ref, version, config.force, log_diff=log_diff, buckets=config.buckets)
        for ref in shards
    ]
    _score_pass(config, tasks, result)
    write_json_atomic(store.path("models", "selection", "dsir.json"), card)
    return result


def run_selection_scores(config: SelectionScoresConfig) -> SelectionScoresResult:
    """Score every document of the snapshots by ``config.method`` into ``attributes/selection``."""
    if config.method not in METHODS:
        raise ValueError(f"unknown selection method {config.method!r}; one of {', '.join(METHODS)}")
    if config.buckets < 1 or config.sample_size < 2:
        raise ValueError("buckets must be >= 1 and sample_size >= 2")
    store = Store(config.store)
    shards = _shards(store, config.snapshots)
    if not shards:
        raise ValueError("no documents shards to score")
    if config.method == "dsir":
        return _run_dsir(config, store, shards)
    from tasks.methods.corpus_dclm import run_dclm

    return run_dclm(config, store, shards)


def selection_card(store: Store, method: Method) -> dict[str, Any] | None:
    """The card of the last run of ``method`` (None when it never ran)."""
    url = join(store.path("models", "selection"), f"{method}.json")
    return dict(read_json(url)) if exists(url) else None
