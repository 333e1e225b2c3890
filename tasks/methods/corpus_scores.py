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
* DCLM (:mod:`tasks.methods.dclm`): a fastText classifier of the high-quality reference
  (:func:`tasks.illusion.reference.default_sources`, the ``classifier`` part) against a bounded, seeded sample of
  the corpus (bottom-``sample_size`` of a hash of ``(seed, id)``, chosen from the ids alone) is trained and
  saved; a pass per shard writes P(hq). Cross-fitted as in the bake-off (:func:`tasks.methods.dclm.dclm_scores`):
  the sample is cut into two halves, one classifier is trained against each, a sample document is scored by the
  classifier that did not see it and every other document by the mean of the two.

Each method has per-shard completion markers (``_markers/selection-<method>/<snapshot>``) recording the version
of what was computed and the documents shard's version; a rerun skips finished shards, a killed run resumes,
and a change (new shards, other targets, other settings) redoes what it touches. Writing one method's column
keeps the other method's column of the same file. A card per method (``models/selection/<method>.json``)
records the settings, the targets and the bucket count.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.methods.dsir import DEFAULT_BUCKETS, REFERENCE_EPS, bucket_totals, hashed_ngram_counts
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
FOLDS = 2  # dclm: cross-fitting folds of the classifier's corpus sample


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


def _score_pass(
    config: SelectionScoresConfig,
    store: Store,
    shards: list[_Shard],
    version: str,
    score: Callable[[list[str], list[str]], np.ndarray],
    result: SelectionScoresResult,
) -> None:
    """Per shard: skip when its marker has this version and documents version, else score and write."""
    for ref in shards:
        markers = CompletionMarkers(store.markers(f"selection-{config.method}", ref.snapshot))
        docs_version = store.documents_version(ref.snapshot, ref.shard)
        if (
            not config.force
            and markers.is_done(ref.shard)
            and markers.info(ref.shard).get("version") == version
            and markers.info(ref.shard).get("documents_version", "") == docs_version
            and exists(store.attribute_shard(ATTRIBUTE_SET, ref.snapshot, ref.shard))
        ):
            result.shards_skipped.append(ref.key)
            continue
        start = time.perf_counter()
        ids, texts = _read_texts(store, ref)
        id_list = [str(i) for i in ids.to_pylist()]
        values = np.concatenate(
            [np.zeros(0)]
            + [
                np.asarray(score(id_list[a : a + BATCH], texts[a : a + BATCH]), dtype=np.float64)
                for a in range(0, len(texts), BATCH)
            ]
        )
        write_selection_column(store, ref, ids, config.method, values)
        markers.mark_done(
            ref.shard,
            {
                "version": version,
                "documents_version": docs_version,
                "documents": len(texts),
                "seconds": time.perf_counter() - start,
            },
        )
        result.shards_written.append(ref.key)
        result.documents += len(texts)


# ------------------------------------------------------------------------------------------------------------
# DSIR
# ------------------------------------------------------------------------------------------------------------
def shard_raw_counts(config: SelectionScoresConfig, store: Store, ref: _Shard) -> np.ndarray:
    """The shard's pooled hashed n-gram counts (``buckets`` floats), computed once per documents version."""
    markers = CompletionMarkers(store.markers(f"selection-dsir-raw-b{config.buckets}", ref.snapshot))
    url = store.path("models", "selection", f"dsir-raw-b{config.buckets}", ref.snapshot, f"{ref.shard}.npy")
    docs_version = store.documents_version(ref.snapshot, ref.shard)
    if (
        markers.is_done(ref.shard)
        and markers.info(ref.shard).get("documents_version", "") == docs_version
        and exists(url)
    ):
        return _load_npy(url)
    _, texts = _read_texts(store, ref)
    totals = np.zeros(config.buckets, dtype=np.float64)
    for a in range(0, len(texts), BATCH):  # n-grams of BATCH documents at a time, not of the whole shard
        totals += bucket_totals(hashed_ngram_counts(texts[a : a + BATCH], config.buckets))
    _save_npy(url, totals)
    markers.mark_done(ref.shard, {"documents_version": docs_version, "documents": len(texts)})
    return totals


def raw_model(config: SelectionScoresConfig, store: Store, shards: list[_Shard]) -> np.ndarray:
    """``log(γ_raw + eps)`` of the corpus: the per-shard count vectors summed (bounded: one vector at a time)."""
    total = np.zeros(config.buckets, dtype=np.float64)
    for ref in shards:
        total += shard_raw_counts(config, store, ref)
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

    def score(ids: list[str], texts: list[str]) -> np.ndarray:
        return np.asarray(hashed_ngram_counts(texts, config.buckets) @ log_diff, dtype=np.float64).ravel()

    _score_pass(config, store, shards, version, score, result)
    write_json_atomic(store.path("models", "selection", "dsir.json"), card)
    return result


# ------------------------------------------------------------------------------------------------------------
# DCLM
# ------------------------------------------------------------------------------------------------------------
def corpus_sample_ids(
    store: Store, shards: list[_Shard], size: int, seed: int
) -> dict[_Shard, dict[str, int]]:
    """The ``size`` documents with the smallest hash-uniform of ``(seed, id)``, per shard, each with its
    cross-fitting fold (0 or 1, alternating in hash order; reads ids only)."""
    from tasks.mix.sampling import hash_uniform

    best: list[tuple[float, _Shard, str]] = []
    for ref in shards:
        ids = read_parquet(store.document_shard(ref.snapshot, ref.shard), columns=["id"]).column("id")
        id_list = [str(x) for x in ids.to_pylist()]
        u = hash_uniform(id_list, seed, "selection-dclm")
        best.extend((float(v), ref, i) for v, i in zip(u, id_list, strict=True))
        if len(best) > 2 * size:
            best.sort(key=lambda t: t[0])
            del best[size:]
    best.sort(key=lambda t: t[0])
    out: dict[_Shard, dict[str, int]] = {}
    for rank, (_, ref, doc_id) in enumerate(best[:size]):
        out.setdefault(ref, {})[doc_id] = rank % FOLDS
    return out


def _fit_dclm(
    config: SelectionScoresConfig, store: Store, shards: list[_Shard]
) -> tuple[str, list[Any], dict[str, int], dict[str, Any]]:
    """The ``FOLDS`` cross-fitted classifiers (trained, or read back when this version was trained), the
    sample's fold per document id, and the fit's record."""
    import fasttext

    from tasks.illusion.classifier import QualityClassifier, train_classifier
    from tasks.illusion.reference import default_sources, load_reference

    if not config.eval_dir:
        raise ValueError("DCLM needs the high-quality reference: give --eval-dir (../shared/data/eval)")
    sample = corpus_sample_ids(store, shards, config.sample_size, config.seed)
    fold_of = {i: f for ids in sample.values() for i, f in ids.items()}
    settings = {
        "seed": config.seed,
        "sample_size": config.sample_size,
        "folds": FOLDS,
        "reference_chars": config.reference_chars,
        "eval_dir": os.path.abspath(config.eval_dir) if "://" not in config.eval_dir else config.eval_dir,
        "epoch": config.epoch,
        "dim": config.dim,
    }
    version = "dclm-" + _digest([sorted(fold_of), settings])
    model_urls = [store.path("models", "selection", version, f"model-{k}.bin") for k in range(FOLDS)]
    fit_markers = CompletionMarkers(store.markers("selection-dclm-fit", version))
    with tempfile.TemporaryDirectory(prefix="quarry-selection-") as tmp:
        local = [os.path.join(tmp, f"model-{k}.bin") for k in range(FOLDS)]
        if fit_markers.is_done("model") and all(exists(u) for u in model_urls) and not config.force:
            models = []
            for url, path in zip(model_urls, local, strict=True):
                with open(path, "wb") as fh:
                    fh.write(read_bytes(url))
                models.append(QualityClassifier(fasttext.load_model(path), 0, 0, 0.0))
            return version, models, fold_of, fit_markers.info("model")
        web: list[str] = []
        web_fold: list[int] = []
        for ref, ids in sorted(sample.items()):
            shard_ids, texts = _read_texts(store, ref)
            for i, t in zip(shard_ids.to_pylist(), texts, strict=True):
                if i in ids:
                    web.append(t)
                    web_fold.append(ids[i])
        sources = default_sources(config.eval_dir, config.reference_chars)
        hq = load_reference(sources, pool_texts=web).parts["classifier"]
        models = []
        for k in range(FOLDS):
            train_web = [t for t, f in zip(web, web_fold, strict=True) if f != k]
            clf = train_classifier(hq, train_web, seed=config.seed + k, epoch=config.epoch, dim=config.dim)
            clf.model.save_model(local[k])
            with open(local[k], "rb") as fh:
                write_bytes_atomic(model_urls[k], fh.read())
            models.append(clf)
    info = {
        "settings": settings,
        "train_hq": len(hq),
        "train_web": len(web),
        "reference_sources": [s.name for s in sources],
        "learning_rates": [m.learning_rate for m in models],
    }
    fit_markers.mark_done("model", info)
    return version, models, fold_of, info


def _run_dclm(config: SelectionScoresConfig, store: Store, shards: list[_Shard]) -> SelectionScoresResult:
    version, models, fold_of, info = _fit_dclm(config, store, shards)
    card = {
        "method": "dclm",
        "version": version,
        **info,
        "snapshots": sorted({r.snapshot for r in shards}),
        "shards": len(shards),
        "usage": "quarry mix --baseline topk --criterion dclm --keep 0.1",
        "created_at": time.time(),
    }
    result = SelectionScoresResult("dclm", version, card=card)

    def score(ids: list[str], texts: list[str]) -> np.ndarray:
        per_model = np.stack([m.score(texts) for m in models])  # FOLDS × n
        out: np.ndarray = per_model.mean(axis=0)
        for j, doc_id in enumerate(ids):
            k = fold_of.get(doc_id)
            if k is not None:  # a sample document: only the classifier that did not train on it
                out[j] = per_model[k, j]
        return out

    _score_pass(config, store, shards, version, score, result)
    write_json_atomic(store.path("models", "selection", "dclm.json"), card)
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
    return _run_dclm(config, store, shards)


def selection_card(store: Store, method: Method) -> dict[str, Any] | None:
    """The card of the last run of ``method`` (None when it never ran)."""
    url = join(store.path("models", "selection"), f"{method}.json")
    return dict(read_json(url)) if exists(url) else None
