"""Adapters from the bake-off's :class:`~tasks.bakeoff.methods.Context` to the literature's selection methods in
``tasks.methods`` (each imported when its arm runs: a missing module makes the arm ``unavailable``).

* DSIR (Xie et al. 2023, "Data Selection for Language Models via Importance Resampling"): hashed n-gram
  importance weights of the pool toward the target sets' text, resampled without replacement.
* QuRating (Wettig et al. 2024): sampling with temperature over quality (the sweep's first criterion).
* DCLM-style classifier filtering (Li et al. 2024): fastText P(high-quality) against the pool, keep ratio =
  the budget fraction.
* FineWeb2 rebalancing (Penedo et al. 2025): re-upsampling by duplicate-cluster size (the dedup attribute
  ``cluster_size``).
* PreSelect (Shum et al. 2025): predictive-strength labels from proxies' per-document losses, a fastText
  classifier on them scores the pool.
* CLIMB (Diao et al. 2025): iterative search over RegMix domain weights.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from tasks.bakeoff.methods import Context, Selection, Unavailable, scale_to_budget
from tasks.methods.budget import fill_in_order
from tasks.storage import Store, exists, read_parquet


def _need(module: str, *names: str) -> list[Callable[..., Any]]:
    """The named functions of ``module``, or :class:`Unavailable` saying which is missing."""
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise Unavailable(f"{module} is not importable ({exc})") from exc
    missing = [n for n in names if not hasattr(mod, n)]
    if missing:
        raise Unavailable(f"{module} lacks {', '.join(missing)}")
    return [getattr(mod, n) for n in names]


def _target_list(ctx: Context) -> list[str]:
    texts = [t for t in ctx.target_texts.values() if t]
    if not texts:
        raise Unavailable("no target text (give target sets)")
    return texts


def dsir(ctx: Context) -> Selection:
    (select,) = _need("tasks.methods.dsir", "dsir_select")
    values = select(
        ctx.pool_texts,
        ctx.n_tokens,
        _target_list(ctx),
        ctx.budget_tokens,
        ctx.settings.seed,
        buckets=ctx.settings.dsir_buckets,
    )
    return Selection(np.asarray(values, dtype=np.float64), {"targets": list(ctx.target_texts)})


def qurating(ctx: Context) -> Selection:
    (select,) = _need("tasks.methods.qurating", "qurating_select")
    criterion = ctx.config.criteria[0]
    quality = np.asarray(ctx.corpus.scores[:, 0], dtype=np.float64)
    values = select(
        quality,
        ctx.n_tokens,
        ctx.budget_tokens,
        ctx.settings.seed,
        temperature=ctx.settings.qurating_temperature,
    )
    return Selection(
        np.asarray(values, dtype=np.float64),
        {"criterion": criterion, "temperature": ctx.settings.qurating_temperature},
    )


def dclm(ctx: Context) -> Selection:
    scores_fn, select = _need("tasks.methods.dclm", "dclm_scores", "dclm_select")
    if not ctx.hq_texts:
        raise Unavailable("no high-quality reference text")
    scores = np.asarray(scores_fn(ctx.pool_texts, list(ctx.hq_texts), ctx.settings.seed), dtype=np.float64)
    values = select(scores, ctx.n_tokens, ctx.settings.budget_fraction)
    return Selection(
        np.asarray(values, dtype=np.float64),
        {"keep_ratio": ctx.settings.budget_fraction, "hq_documents": len(ctx.hq_texts)},
    )


def cluster_sizes(ctx: Context) -> npt.NDArray[np.float64]:
    """``cluster_size`` of every pool document: a column of the corpus sample, else the dedup attribute shards
    of the documents' (snapshot, shard). :class:`Unavailable` when any document has none."""
    pool = ctx.pool
    if "cluster_size" in pool.column_names:
        sizes = np.asarray(pool.column("cluster_size").to_pylist(), dtype=np.float64)
    else:
        ids = pool.column("id").to_pylist()
        snaps = pool.column("snapshot").to_pylist() if "snapshot" in pool.column_names else []
        shards = pool.column("shard").to_pylist() if "shard" in pool.column_names else []
        if not snaps or not shards:
            raise Unavailable("the corpus sample has no cluster_size, snapshot or shard column")
        store = Store(ctx.store)
        found: dict[str, float] = {}
        for snapshot, shard in sorted({(str(a), str(b)) for a, b in zip(snaps, shards, strict=True)}):
            url = store.attribute_shard("dedup", snapshot, shard)
            if not exists(url):
                continue
            table = read_parquet(url)
            if "cluster_size" not in table.column_names:
                continue
            found.update(
                zip(table.column("id").to_pylist(), table.column("cluster_size").to_pylist(), strict=True)
            )
        sizes = np.array([found.get(i, math.nan) for i in ids], dtype=np.float64)
    missing = int(np.sum(~np.isfinite(sizes)))
    if missing:
        raise Unavailable(
            f"no dedup cluster_size for {missing} of {len(sizes)} sample documents "
            "(attributes/dedup/<snapshot>/<shard>.parquet column cluster_size; rerun dedup)"
        )
    return sizes


def rebalance(ctx: Context) -> Selection:
    (select,) = _need("tasks.methods.rebalance", "rebalance_select")
    sizes = cluster_sizes(ctx)
    values = select(sizes, ctx.n_tokens, ctx.budget_tokens, ctx.settings.seed)
    return Selection(
        np.asarray(values, dtype=np.float64),
        {"documents_in_clusters": int(np.sum(sizes > 1)), "largest_cluster": int(sizes.max())},
    )


def _probe_values(ctx: Context, k: int) -> list[npt.NDArray[np.float64]]:
    """``k`` varied RegMix mixtures of the sample (Dirichlet domain weights), as sampling values."""
    from tasks.mix.specs import RegMixSpec
    from tasks.sweep.train import sample_mixture

    domains = sorted(ctx.corpus.stats.domain_tokens)
    rng = np.random.default_rng(ctx.settings.seed + 7)
    out = []
    for j in range(k):
        w = rng.dirichlet(np.full(len(domains), 0.5)) + 1e-6
        spec = RegMixSpec(weights={d: float(v) for d, v in zip(domains, w, strict=True)})
        values, _ = sample_mixture(ctx.corpus, spec, ctx.settings.seed + j, ctx.config.criteria)
        out.append(values)
    return out


def preselect(ctx: Context) -> Selection:
    """PreSelect: ``preselect_proxies`` proxies trained on varied mixtures (Dirichlet RegMix weights) give their
    losses on ``preselect_documents`` pool documents and on the target sets; the documents whose losses rank the
    proxies as their target losses do are the positives, the least predictive ones the negatives; a fastText
    classifier trained on them scores the pool; the top-scored documents up to the budget are selected."""
    strength_fn, positives_fn, negatives_fn, scores_fn, losses_fn = _need(
        "tasks.methods.preselect",
        "predictive_strength",
        "preselect_labels",
        "preselect_negatives",
        "preselect_scores",
        "proxy_document_losses",
    )
    s, corpus, config = ctx.settings, ctx.corpus, ctx.config
    n = len(corpus.n_tokens)
    measured = np.sort(
        np.random.default_rng(s.seed + 11).choice(n, size=min(n, s.preselect_documents), replace=False)
    )
    probes = losses_fn(
        corpus.tokens,
        corpus.offsets,
        _probe_values(ctx, s.preselect_proxies),
        [corpus.tokens[corpus.offsets[i] : corpus.offsets[i + 1]] for i in measured],
        model_config=config.model,
        train_config=config.train,
        token_budget=ctx.proxy_budget,
        targets=ctx.encoded_targets,
        seed=s.seed,
        device=ctx.device,
    )
    done = [i for i, st in enumerate(probes.status) if st == "completed"]
    if len(done) < 2:
        raise Unavailable(f"only {len(done)} PreSelect probe proxies completed")
    names = list(ctx.target_texts)
    target_loss = np.array([float(np.mean([probes.target_losses[i][t] for t in names])) for i in done])
    strength = np.asarray(strength_fn(probes.doc_losses[done], target_loss, lower_is_better=True))
    positive = np.asarray(positives_fn(strength, seed=s.seed), dtype=bool)
    negative = np.asarray(negatives_fn(strength, seed=s.seed), dtype=bool)
    texts = ctx.pool_texts
    pos_texts = [texts[i] for i in measured[positive]]
    neg_texts = [texts[i] for i in measured[negative]]
    if not pos_texts or not neg_texts:
        raise Unavailable(
            f"PreSelect labels gave {len(pos_texts)} positive, {len(neg_texts)} negative documents"
        )
    scores = np.asarray(scores_fn(texts, pos_texts, neg_texts, s.seed), dtype=np.float64)
    order = np.argsort(-np.where(np.isfinite(scores), scores, -np.inf), kind="stable")
    return Selection(
        fill_in_order(order, ctx.n_tokens, ctx.budget_tokens, crossing="closer"),
        {
            "probe_proxies": len(done),
            "probe_target_losses": target_loss.tolist(),
            "measured_documents": len(measured),
            "mean_strength": float(np.nanmean(strength)),
            "positives": len(pos_texts),
            "negatives": len(neg_texts),
            "probe_seconds": probes.seconds,
        },
    )


def climb(ctx: Context) -> Selection:
    """CLIMB's best RegMix domain weights, as the sweep's RegMix sampling values scaled to the budget."""
    (search,) = _need("tasks.methods.climb", "climb_regmix")
    from tasks.mix.specs import RegMixSpec
    from tasks.sweep.train import sample_mixture

    s = ctx.settings
    result = search(
        ctx.corpus,
        ctx.config,
        ctx.encoded_targets,
        s.climb_rounds,
        s.climb_per_round,
        s.seed,
        ctx.device,
        candidates=min(ctx.config.search_size, 5_000),
        token_budget=ctx.proxy_budget,
    )
    domains = sorted(ctx.corpus.stats.domain_tokens)
    best = result.extra.get("best_mixture") or dict(zip(domains, result.best_weights.tolist(), strict=True))
    spec = RegMixSpec(weights={d: float(v) for d, v in best.items()})
    values, _ = sample_mixture(ctx.corpus, spec, s.seed, ctx.config.criteria)
    summary = result.to_json() if hasattr(result, "to_json") else {}
    return Selection(
        scale_to_budget(values, ctx.n_tokens, ctx.budget_tokens),
        {
            "best_mixture": spec.weights,
            "best_loss": summary.get("best_loss"),
            "gains_per_round": summary.get("gains"),
            "rounds": summary.get("rounds"),
            "evaluations": summary.get("evaluations"),
        },
    )
