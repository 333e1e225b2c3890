"""Fit and search: the sweep table → LightGBM regression (held-out Spearman) → search → ``chosen.json``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from tasks.mix.sampling import CorpusStats, normalise_scores
from tasks.mix.specs import QuaDMixSpec, RegMixSpec, SamplingSpec, spec_from_json
from tasks.storage import (
    exists,
    read_json,
    read_parquet,
    write_bytes_atomic,
    write_json_atomic,
    write_parquet_atomic,
)
from tasks.sweep.config import EXACT, SweepConfig, SweepPaths, load_config
from tasks.sweep.params import (
    CompositionFeaturizer,
    QuaDMixDraws,
    RegMixDraws,
    sample_quadmix,
    sample_regmix,
)
from tasks.sweep.plan import SweepPlan
from tasks.sweep.plot import predicted_vs_actual_svg
from tasks.sweep.regression import InsufficientRunsError, fit_regression
from tasks.sweep.targets import HELDOUT

log = logging.getLogger(__name__)


def _draws_from_specs(
    config: SweepConfig, specs: Sequence[SamplingSpec], domains: Sequence[str]
) -> QuaDMixDraws | RegMixDraws:
    if config.mode == "quadmix":
        return QuaDMixDraws.from_specs([s for s in specs if isinstance(s, QuaDMixSpec)], domains)
    return RegMixDraws.from_specs([s for s in specs if isinstance(s, RegMixSpec)], domains)


def _featurizer(config: SweepConfig, paths: SweepPaths, domains: Sequence[str]) -> CompositionFeaturizer:
    tbl = read_parquet(paths.corpus, columns=["domain", "n_tokens", "heldout", *config.criteria])
    tr = ~np.asarray(tbl.column("heldout"), dtype=bool)
    doms = np.array(tbl.column("domain").to_pylist(), dtype=object)[tr]
    toks = np.asarray(tbl.column("n_tokens"), dtype=np.float64)[tr]
    scores = np.column_stack([np.asarray(tbl.column(c), dtype=np.float64)[tr] for c in config.criteria])
    stats = CorpusStats.from_arrays(doms, toks, scores, config.criteria, EXACT)
    return CompositionFeaturizer.build(
        domains, config.criteria, doms, toks, normalise_scores(doms, scores, stats), seed=config.seed
    )


def _features(
    draws: QuaDMixDraws | RegMixDraws, plan: SweepPlan, featurizer: CompositionFeaturizer
) -> tuple[np.ndarray, list[str]]:
    x = np.concatenate([draws.features(plan.domain_tokens), featurizer.features(draws)], axis=1)
    return x, draws.feature_names() + featurizer.feature_names()


def sweep_table(store: str, sweep_id: str) -> pa.Table:
    """One row per planned run (missing records count as ``missing``)."""
    paths = SweepPaths(store, sweep_id)
    config = load_config(store, sweep_id)
    plan = SweepPlan.load(store, sweep_id)
    names = [t.name for t in config.targets] + [HELDOUT]
    specs = [spec_from_json(r["spec"]) for r in plan.runs]
    draws = _draws_from_specs(config, specs, plan.domains)
    feats, fnames = _features(draws, plan, _featurizer(config, paths, plan.domains))
    rows: dict[str, list[Any]] = {
        "run_id": [],
        "group": [],
        "seed": [],
        "status": [],
        "error": [],
        "objective": [],
    }
    for n in names:
        rows[f"loss:{n}"] = []
    for d in plan.domains:
        rows[f"tokens:{d}"] = []
        rows[f"proportion:{d}"] = []
    rows["mixture_tokens"] = []
    for r in plan.runs:
        url = paths.run(r["run_id"])
        rec: dict[str, Any] = read_json(url) if exists(url) else {"status": "missing"}
        rows["run_id"].append(r["run_id"])
        rows["group"].append(r["group"])
        rows["seed"].append(r["seed"])
        rows["status"].append(rec.get("status"))
        rows["error"].append(rec.get("error"))
        obj = rec.get("objective")
        rows["objective"].append(float(obj) if obj is not None else None)
        for n in names:
            v = rec.get("losses", {}).get(n)
            rows[f"loss:{n}"].append(float(v) if v is not None else None)
        mix = rec.get("mixture", {}).get("domains", {})
        for d in plan.domains:
            rows[f"tokens:{d}"].append(float(mix.get(d, {}).get("tokens", 0.0)))
            rows[f"proportion:{d}"].append(float(mix.get(d, {}).get("proportion", 0.0)))
        rows["mixture_tokens"].append(float(rec.get("mixture", {}).get("tokens", 0.0)))
    cols: dict[str, Any] = {k: pa.array(v) for k, v in rows.items()}
    for j, f in enumerate(fnames):
        cols[f"param:{f}"] = pa.array(feats[:, j], pa.float64())
    return pa.table(cols)


def fit_sweep(store: str, sweep_id: str) -> dict[str, Any]:
    """Sweep table → regression (held-out Spearman) → search → ``chosen.json``."""
    paths = SweepPaths(store, sweep_id)
    config = load_config(store, sweep_id)
    plan = SweepPlan.load(store, sweep_id)
    table = sweep_table(store, sweep_id)
    write_parquet_atomic(paths.table, table)
    status = table.column("status").to_pylist()
    objective = np.array(
        [np.nan if v is None else v for v in table.column("objective").to_pylist()], dtype=float
    )
    ok = np.array([s == "completed" for s in status]) & np.isfinite(objective)
    counts = {s: status.count(s) for s in sorted(set(map(str, status)))}
    specs = [spec_from_json(r["spec"]) for r in plan.runs]
    draws = _draws_from_specs(config, specs, plan.domains)
    featurizer = _featurizer(config, paths, plan.domains)
    x_all, fnames = _features(draws, plan, featurizer)
    try:
        fit = fit_regression(x_all[ok], objective[ok], fnames, config.regression)
    except InsufficientRunsError as exc:
        raise InsufficientRunsError(f"sweep {sweep_id!r}: {exc}; run status counts: {counts}") from exc
    ids = [r for r, k in zip(table.column("run_id").to_pylist(), ok, strict=True) if k]
    write_bytes_atomic(
        paths.plot,
        predicted_vs_actual_svg(
            fit.oof_pred.tolist(),
            fit.actual.tolist(),
            f"sweep {sweep_id}: held-out Spearman {fit.spearman:.3f} (n={len(ids)})",
            ids,
        ).encode(),
    )
    # search: candidates from the same sampler, a different stream
    rng = np.random.default_rng(config.seed + 1_000_003)
    best_pred: list[tuple[float, int, int]] = []  # (pred, chunk, index) of the running top-k
    chunks: list[QuaDMixDraws | RegMixDraws] = []
    remaining = config.search_size
    chunk_size = 8192
    while remaining > 0:
        m = min(chunk_size, remaining)
        cand = (
            sample_quadmix(rng, m, plan.domains, config.criteria, config.ranges)
            if config.mode == "quadmix"
            else sample_regmix(rng, m, plan.domains, plan.domain_tokens, config.regmix)
        )
        pred = fit.predict(_features(cand, plan, featurizer)[0])
        top = np.argsort(pred)[: config.top_k]
        best_pred += [(float(pred[i]), len(chunks), int(i)) for i in top]
        best_pred = sorted(best_pred)[: config.top_k]
        chunks.append(cand)
        remaining -= m
    chosen_specs: list[SamplingSpec] = [chunks[c].spec(i) for _, c, i in best_pred]
    top_draws = _draws_from_specs(config, chosen_specs, plan.domains)
    chosen = top_draws.average(np.arange(len(chosen_specs)))
    chosen_pred = float(
        fit.predict(_features(_draws_from_specs(config, [chosen], plan.domains), plan, featurizer)[0])[0]
    )
    best_idx = int(np.nanargmin(np.where(ok, objective, np.nan)))
    fit_info = {
        **fit.summary(),
        "n_planned": len(plan.runs),
        "status_counts": counts,
        "objective": config.objective,
        "search_size": config.search_size,
        "top_k": config.top_k,
        "top_k_predicted": [p for p, _, _ in best_pred],
        "chosen_predicted_loss": chosen_pred,
        "best_observed": {"run_id": plan.runs[best_idx]["run_id"], "objective": float(objective[best_idx])},
        "oof": [
            {"run_id": r, "actual": float(a), "predicted": float(p)}
            for r, a, p in zip(ids, fit.actual, fit.oof_pred, strict=True)
        ],
    }
    write_json_atomic(paths.fit, fit_info)
    write_json_atomic(
        paths.chosen,
        {
            "sweep_id": sweep_id,
            "spec": chosen.to_json(),
            "predicted_loss": chosen_pred,
            "objective": config.objective,
            "spearman_heldout": fit.spearman,
            "best_observed_run": plan.runs[best_idx]["run_id"],
            "best_observed_spec": plan.runs[best_idx]["spec"],
        },
    )
    return fit_info
