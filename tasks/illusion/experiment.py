"""The data-quality-illusion experiment on a sweep's corpus sample (the scored web pool), as the paper frames it.

1. A high-quality (HQ) reference set (:mod:`tasks.illusion.reference`) is split into a classifier-training part,
   a synthetic-control part and a held-out part.
2. A fastText classifier learns HQ (classifier part) vs web (the pool's training documents, at most as many as
   HQ ones) (:mod:`tasks.illusion.classifier`), cross-fitted: two folds of the pool, each scored by the model
   trained on the other; its AUC on held-out HQ vs held-out web documents is recorded.
3. Keep-ratio sweep: the pool's documents ranked by P(hq), the top ``keep`` of them kept (1.0 = unfiltered).
4. Synthetic control: the synthetic-part HQ documents with a rising share of token-permuted documents
   (:func:`tasks.illusion.pools.synthetic_pool`), each trained unfiltered (quality known by construction), and
   the same classifier + keep-ratio sweep on the pool with ``filter_share`` permuted text (how much of what it
   keeps is intact text, next to the best possible).
5. Every arm: ``seeds`` proxies (the sweep's model and optimiser), all at the same token budget, trained in one
   batch; the same seeds in every arm (common random numbers: arms differ by their data). Measured: each target
   set, their mean (``target``), the held-out HQ set and held-out web documents (the sweep's held-out sample).
6. The conclusions are computed from the curves (:mod:`tasks.illusion.measure`).

Output: ``sweeps/<id>/illusion.json`` (idempotent per settings).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tasks.illusion.classifier import auc, train_classifier
from tasks.illusion.measure import HQ, TARGET, WEB, Arm, curves_report, recovery
from tasks.illusion.pools import Pool, keep_top, synthetic_pool
from tasks.illusion.reference import ReferenceSource, default_sources, load_reference
from tasks.storage import exists, read_json, read_parquet, write_json_atomic
from tasks.sweep.config import SweepConfig, SweepPaths, json_digest, load_config
from tasks.sweep.gate import MIN_SEEDS
from tasks.sweep.tokenizer import encode_documents
from tasks.sweep.train import encode_targets
from tasks.sweep.trainer import make_stream, train_proxies

log = logging.getLogger(__name__)
FORMAT = 1


@dataclass(frozen=True)
class IllusionSettings:
    """What the experiment runs (not part of a sweep's identity: it adds measurements, changes no result)."""

    seeds: int = MIN_SEEDS
    keep: tuple[float, ...] = (1.0, 0.5, 0.25, 0.1)
    permuted_shares: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)
    filter_share: float | None = 0.75  # the synthetic pool the keep-ratio sweep also runs on; None: skipped
    token_budget: int = 0  # byte tokens per proxy; 0: the sweep's
    eval_dir: str = ""  # where the default reference sources are; "": beside the sweep's default targets
    sources: tuple[ReferenceSource, ...] = ()  # (): default_sources(eval_dir)
    reference_chars: int = 600_000  # per source
    heldout_fraction: float = 0.3
    synthetic_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.seeds < MIN_SEEDS:
            raise ValueError(f"the illusion experiment needs at least {MIN_SEEDS} seeds per arm")
        if 1.0 not in self.keep or any(not 0 < k <= 1 for k in self.keep):
            raise ValueError("keep ratios must lie in (0, 1] and include 1.0 (the unfiltered pool)")
        if any(not 0 <= s < 1 for s in self.permuted_shares) or len(self.permuted_shares) == 1:
            raise ValueError("permuted_shares: none, or at least two shares in [0, 1)")
        if self.filter_share is not None and self.filter_share not in self.permuted_shares:
            raise ValueError("filter_share must be one of permuted_shares (or None)")
        if self.token_budget < 0:
            raise ValueError("token_budget must be >= 0")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["sources"] = [s.to_json() for s in self.sources]
        return out


def _sources(settings: IllusionSettings, config: SweepConfig) -> tuple[ReferenceSource, ...]:
    if settings.sources:
        return settings.sources
    eval_dir = settings.eval_dir
    if not eval_dir:  # the sweep's default targets live at <eval_dir>/<set>/<file>
        for t in config.targets:
            candidate = os.path.dirname(os.path.dirname(t.path))
            if os.path.isdir(os.path.join(candidate, "wikitext-2")):
                eval_dir = candidate
                break
    if not eval_dir:
        raise ValueError("no reference set: give IllusionSettings.eval_dir or sources")
    return default_sources(eval_dir, settings.reference_chars)


@dataclass
class _Plan:
    arms: list[tuple[str, str, float, Pool, np.ndarray]] = field(default_factory=list)  # group, label, x, ...

    def add(self, group: str, label: str, x: float, pool: Pool, values: np.ndarray) -> None:
        self.arms.append((group, label, x, pool, values))


def run_illusion(
    store: str, sweep_id: str, settings: IllusionSettings, *, device: str | None = None
) -> dict[str, Any]:
    """Run (or return the recorded) experiment on a planned sweep's corpus sample."""
    paths = SweepPaths(store, sweep_id)
    out_url = paths.illusion
    digest = json_digest(settings.to_json())
    if exists(out_url):
        done: dict[str, Any] = read_json(out_url)
        if done.get("format") == FORMAT and done.get("settings_digest") == digest:
            return done
    started = time.time()
    config = load_config(store, sweep_id)
    table = read_parquet(paths.corpus, columns=["text", "heldout"])
    texts = [t or "" for t in table.column("text").to_pylist()]
    held = np.asarray(table.column("heldout"), dtype=bool)
    pool_texts = [t for t, h in zip(texts, held, strict=True) if not h]
    web_heldout = [t for t, h in zip(texts, held, strict=True) if h]
    if not pool_texts or not web_heldout:
        raise ValueError(f"sweep {sweep_id!r}: the corpus sample needs training and held-out documents")
    ref = load_reference(
        _sources(settings, config),
        pool_texts=texts,
        heldout_fraction=settings.heldout_fraction,
        synthetic_fraction=settings.synthetic_fraction if settings.permuted_shares else 0.0,
    )
    # Cross-fitting: the pool is split in two folds; the classifier trained on one fold's web documents scores the
    # other fold, so no pool document is scored by a model that saw it as a negative (that would push it down).
    fold = np.random.default_rng(settings.seed).permutation(len(pool_texts)) % 2
    cap = len(ref.parts["classifier"])  # web negatives per fold: at most as many as HQ positives
    clfs = [
        train_classifier(
            ref.parts["classifier"],
            [t for t, f in zip(pool_texts, fold, strict=True) if f == k][:cap],
            seed=settings.seed,
        )
        for k in (0, 1)
    ]
    clf = clfs[0]  # scores everything outside the pool (held-out sets, the synthetic control)
    budget = settings.token_budget or config.token_budget

    plan = _Plan()
    web = Pool.of("web", pool_texts)
    web_scores = np.empty(len(pool_texts))
    for part in (0, 1):
        web_scores[fold == part] = clfs[1 - part].score(
            [t for t, f in zip(pool_texts, fold, strict=True) if f == part]
        )
    for k in sorted(settings.keep, reverse=True):
        plan.add("web", f"keep {k:.0%}", k, web, keep_top(web_scores, k))
    synth_scores: dict[str, Any] = {}
    for s in sorted(settings.permuted_shares, reverse=True):
        docs, intact = synthetic_pool(ref.parts["synthetic"], s)
        pool = Pool.of(f"synthetic {s:.0%}", docs, intact)
        plan.add("quality", f"{s:.0%} permuted", s, pool, np.ones(len(docs)))
        if settings.filter_share is not None and math.isclose(s, settings.filter_share):
            scores = clf.score(docs)
            synth_scores = {"auc_intact_vs_permuted": auc(scores[intact], scores[~intact])}
            for k in sorted(settings.keep, reverse=True):
                plan.add("synthetic_filter", f"{s:.0%} permuted, keep {k:.0%}", k, pool, keep_top(scores, k))

    targets = encode_targets(config)
    targets[HQ] = encode_documents(ref.parts["heldout"])[0]
    targets[WEB] = encode_documents(web_heldout)[0]
    seeds = [settings.seed * 7919 + 101 + j for j in range(settings.seeds)]
    streams, labels = [], []
    trained: dict[
        tuple[str, bytes], int
    ] = {}  # an arm that selects exactly what another does shares its proxies
    source = []
    for i, (_, _, _, pool, values) in enumerate(plan.arms):
        key = (pool.name, values.tobytes())
        source.append(trained.setdefault(key, i))
        if source[-1] != i:
            continue
        for s in seeds:
            streams.append(make_stream(pool.tokens, pool.offsets, values, s, config.model, config.train))
            labels.append((i, s))
    outcome = train_proxies(
        model_config=config.model,
        train_config=config.train,
        streams=streams,
        seeds=[s for _, s in labels],
        token_budget=budget,
        targets=targets,
        device=device or config.device,
    )
    target_names = [t.name for t in config.targets]
    groups: dict[str, list[Arm]] = {"web": [], "quality": [], "synthetic_filter": []}
    for i, (group, label, x, pool, values) in enumerate(plan.arms):
        done_proxies = [
            p
            for (j, _), p in zip(labels, outcome.proxies, strict=True)
            if j == source[i] and p.status == "completed"
        ]
        losses: dict[str, list[float]] = {
            m: [p.losses[m] for p in done_proxies] for m in (*target_names, HQ, WEB)
        }
        losses[TARGET] = [float(np.mean([p.losses[t] for t in target_names])) for p in done_proxies]
        facts: dict[str, Any] = {"proxies": len(done_proxies), **pool.facts(values, budget)}
        if pool.intact is not None and group == "synthetic_filter":
            facts.update(
                recovery(int(facts["intact_kept"]), int(facts["documents"]), float(pool.intact.mean()), x)
            )
        groups[group].append(Arm(label, x, losses, facts))
    hq_scores, webh_scores = clf.score(ref.parts["heldout"]), clf.score(web_heldout)
    report: dict[str, Any] = {
        "format": FORMAT,
        "settings_digest": digest,
        "sweep_id": sweep_id,
        "settings": settings.to_json(),
        "objective": "mean of " + ", ".join(target_names),
        "targets": target_names,
        "token_budget": budget,
        "seeds": seeds,
        "reference": ref.to_json(),
        "classifier": {
            "kind": "fastText hq vs web (DCLM-style), text normalised as the distilled raters'",
            "train_hq": clf.train_hq,
            "train_web": [c.train_web for c in clfs],
            "cross_fitted": "two folds of the pool: each fold is scored by the classifier trained on the other",
            "learning_rate": clf.learning_rate,
            "auc_heldout_hq_vs_web": auc(hq_scores, webh_scores),
            **synth_scores,
        },
        "web_pool": {"documents": len(pool_texts), "heldout_documents": len(web_heldout)},
        **curves_report(groups["web"], groups["quality"], groups["synthetic_filter"]),
        "throughput": {
            "proxies": len(streams),
            "train_seconds": outcome.train_seconds,
            "device": outcome.device,
            "seconds": time.time() - started,
        },
    }
    write_json_atomic(out_url, report)
    log.info("illusion experiment %s: %s", sweep_id, report["conclusion"])
    return report


def settings_from_params(params: Mapping[str, Any], eval_dir: str | None = None) -> IllusionSettings | None:
    """``illusion_seeds`` (0 or absent: off), ``illusion_keep``, ``illusion_token_budget`` from DAG Params."""
    seeds = int(params.get("illusion_seeds") or 0)
    if seeds <= 0:
        return None
    kwargs: dict[str, Any] = {"seeds": seeds, "eval_dir": eval_dir or ""}
    if params.get("illusion_keep"):
        kwargs["keep"] = tuple(float(k) for k in params["illusion_keep"])
    if params.get("illusion_token_budget"):
        kwargs["token_budget"] = int(params["illusion_token_budget"])
    return IllusionSettings(**kwargs)
