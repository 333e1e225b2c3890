"""DCLM's classifier on the whole corpus (:mod:`tasks.methods.corpus_scores`, ``--method dclm``): a bounded,
seeded sample of the corpus (chosen from the ids alone), two fastText HQ-vs-web classifiers cross-fitted on the
sample's halves (the high-quality reference's ``classifier`` part against each half's complement, as
:func:`tasks.methods.dclm.dclm_scores` cross-fits), saved under ``models/selection/<version>/``, then P(hq) per
shard: a sample document by the classifier that did not train on it, every other document by their mean."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tasks.methods.corpus_scores import (
    ScoreTask,
    SelectionScoresConfig,
    SelectionScoresResult,
    _digest,
    _read_texts,
    _score_pass,
    _Shard,
)
from tasks.storage import (
    CompletionMarkers,
    Store,
    exists,
    read_bytes,
    read_parquet,
    write_bytes_atomic,
    write_json_atomic,
)

FOLDS = 2  # cross-fitting folds of the classifier's corpus sample
_MODELS: dict[tuple[str, ...], list[Any]] = {}  # per worker process: model urls → loaded classifiers


def corpus_sample_ids(
    store: Store, shards: list[_Shard], size: int, seed: int
) -> dict[_Shard, dict[str, int]]:
    """The ``size`` documents with the smallest hash-uniform of ``(seed, id)``, per shard, each with its
    cross-fitting fold (0 or 1, alternating in hash order; reads ids only, holds at most ~3 × ``size`` ids)."""
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


def load_models(model_urls: tuple[str, ...]) -> list[Any]:
    """The saved classifiers (cached per process)."""
    import fasttext

    from tasks.illusion.classifier import QualityClassifier

    if model_urls not in _MODELS:
        models = []
        with tempfile.TemporaryDirectory(prefix="quarry-selection-") as tmp:
            for k, url in enumerate(model_urls):
                path = os.path.join(tmp, f"model-{k}.bin")
                with open(path, "wb") as fh:
                    fh.write(read_bytes(url))
                models.append(QualityClassifier(fasttext.load_model(path), 0, 0, 0.0))
        _MODELS.clear()
        _MODELS[model_urls] = models
    return _MODELS[model_urls]


def dclm_scorer(
    model_urls: tuple[str, ...], sample_folds: dict[str, int]
) -> Callable[[list[str], list[str]], np.ndarray]:
    models = load_models(model_urls)

    def score(ids: list[str], texts: list[str]) -> np.ndarray:
        per_model = np.stack([m.score(texts) for m in models])  # FOLDS × n
        out: np.ndarray = per_model.mean(axis=0)
        for j, doc_id in enumerate(ids):
            k = sample_folds.get(doc_id)
            if k is not None:  # a sample document: only the classifier that did not train on it
                out[j] = per_model[k, j]
        return out

    return score


def fit_dclm(
    config: SelectionScoresConfig, store: Store, shards: list[_Shard]
) -> tuple[str, tuple[str, ...], dict[_Shard, dict[str, int]], dict[str, Any]]:
    """Train and save the ``FOLDS`` cross-fitted classifiers (unless this version was trained): returns the
    version, the models' urls, the sample's folds per shard, and the fit's record."""
    from tasks.illusion.classifier import train_classifier
    from tasks.illusion.reference import default_sources, load_reference

    if not config.eval_dir:
        raise ValueError("DCLM needs the high-quality reference: give --eval-dir (../shared/data/eval)")
    sample = corpus_sample_ids(store, shards, config.sample_size, config.seed)
    settings = {
        "seed": config.seed,
        "sample_size": config.sample_size,
        "folds": FOLDS,
        "reference_chars": config.reference_chars,
        "eval_dir": os.path.abspath(config.eval_dir) if "://" not in config.eval_dir else config.eval_dir,
        "epoch": config.epoch,
        "dim": config.dim,
    }
    version = "dclm-" + _digest([sorted(i for ids in sample.values() for i in ids), settings])
    model_urls = tuple(store.path("models", "selection", version, f"model-{k}.bin") for k in range(FOLDS))
    fit_markers = CompletionMarkers(store.markers("selection-dclm-fit", version))
    if fit_markers.is_done("model") and all(exists(u) for u in model_urls) and not config.force:
        return version, model_urls, sample, fit_markers.info("model")
    web: list[str] = []
    web_fold: list[int] = []
    for ref, folds in sorted(sample.items()):
        shard_ids, texts = _read_texts(store, ref)
        for i, t in zip(shard_ids.to_pylist(), texts, strict=True):
            if i in folds:
                web.append(t)
                web_fold.append(folds[i])
    sources = default_sources(config.eval_dir, config.reference_chars)
    hq = load_reference(sources, pool_texts=web).parts["classifier"]
    rates = []
    with tempfile.TemporaryDirectory(prefix="quarry-selection-") as tmp:
        for k in range(FOLDS):
            train_web = [t for t, f in zip(web, web_fold, strict=True) if f != k]
            clf = train_classifier(hq, train_web, seed=config.seed + k, epoch=config.epoch, dim=config.dim)
            local = os.path.join(tmp, f"model-{k}.bin")
            clf.model.save_model(local)
            with open(local, "rb") as fh:
                write_bytes_atomic(model_urls[k], fh.read())
            rates.append(clf.learning_rate)
    info = {
        "settings": settings,
        "train_hq": len(hq),
        "train_web": len(web),
        "reference_sources": [s.name for s in sources],
        "learning_rates": rates,
    }
    fit_markers.mark_done("model", info)
    _MODELS.pop(model_urls, None)
    return version, model_urls, sample, info


def run_dclm(config: SelectionScoresConfig, store: Store, shards: list[_Shard]) -> SelectionScoresResult:
    version, model_urls, sample, info = fit_dclm(config, store, shards)
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
    tasks = [
        ScoreTask(
            store.root,
            "dclm",
            ref,
            version,
            config.force,
            model_urls=model_urls,
            sample_folds=sample.get(ref, {}),
        )
        for ref in shards
    ]
    _score_pass(config, tasks, result)
    write_json_atomic(store.path("models", "selection", "dclm.json"), card)
    return result
