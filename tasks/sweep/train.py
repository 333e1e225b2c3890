"""Train a group of proxies on the corpus sample: one batched run per group, one record per run."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tasks.mix.sampling import CorpusStats, normalise_scores, repetitions, sampling_values
from tasks.mix.specs import SamplingSpec, spec_from_json
from tasks.storage import (
    read_parquet,
    write_json_atomic,
)
from tasks.sweep.config import EXACT, SweepConfig, SweepPaths, load_config, objective_value
from tasks.sweep.plan import SweepPlan
from tasks.sweep.targets import load_target_text
from tasks.sweep.tokenizer import encode, encode_documents
from tasks.sweep.trainer import Fault, make_stream, train_proxies

log = logging.getLogger(__name__)


@dataclass
class SampleCorpus:
    train_ids: list[str]
    domains: np.ndarray
    n_tokens: np.ndarray
    scores: np.ndarray
    normalised: np.ndarray
    stats: CorpusStats
    tokens: np.ndarray
    offsets: np.ndarray
    heldout_docs: list[np.ndarray]
    heldout_normalised: np.ndarray
    heldout_tokens: np.ndarray


def load_sample(config: SweepConfig, paths: SweepPaths, *, with_heldout: bool) -> SampleCorpus:
    tbl = read_parquet(paths.corpus)
    held = np.asarray(tbl.column("heldout"), dtype=bool)
    domains = np.array(tbl.column("domain").to_pylist(), dtype=object)
    n_tokens = np.asarray(tbl.column("n_tokens"), dtype=np.int64)
    scores = np.column_stack([np.asarray(tbl.column(c), dtype=np.float64) for c in config.criteria])
    texts = tbl.column("text").to_pylist()
    ids = tbl.column("id").to_pylist()
    tr = ~held
    stats = CorpusStats.from_arrays(domains[tr], n_tokens[tr], scores[tr], config.criteria, EXACT)
    tokens, offsets = encode_documents([t for t, k in zip(texts, tr, strict=True) if k])
    hidx = np.flatnonzero(held)
    return SampleCorpus(
        train_ids=[i for i, k in zip(ids, tr, strict=True) if k],
        domains=domains[tr],
        n_tokens=n_tokens[tr],
        scores=scores[tr],
        normalised=normalise_scores(domains[tr], scores[tr], stats),
        stats=stats,
        tokens=tokens,
        offsets=offsets,
        heldout_docs=[encode(texts[i]) for i in hidx] if with_heldout else [],
        heldout_normalised=normalise_scores(domains[held], scores[held], stats),
        heldout_tokens=n_tokens[held].astype(np.float64),
    )


def sample_mixture(
    corpus: SampleCorpus, spec: SamplingSpec, seed: int, criteria: tuple[str, ...]
) -> tuple[np.ndarray, dict[str, Any]]:
    """Sampling values of the sample's training documents, and the (document-level) mixture they make."""
    values = sampling_values(
        spec,
        domains=corpus.domains,
        n_tokens=corpus.n_tokens,
        scores=corpus.scores,
        criteria=criteria,
        stats=corpus.stats,
        normalised=corpus.normalised,
        max_size=EXACT,
        ids=corpus.train_ids,
        seed=seed,
    )
    reps = repetitions(corpus.train_ids, values, seed)
    byte_len = corpus.offsets[1:] - corpus.offsets[:-1]
    per_domain: dict[str, dict[str, float]] = {}
    for d in sorted(corpus.stats.domain_tokens):
        m = corpus.domains == d
        per_domain[d] = {
            "tokens": float((reps[m] * corpus.n_tokens[m]).sum()),
            "byte_tokens": float((reps[m] * byte_len[m]).sum()),
            "documents": int((reps[m] > 0).sum()),
        }
    total = sum(v["tokens"] for v in per_domain.values())
    for v in per_domain.values():
        v["proportion"] = v["tokens"] / total if total > 0 else 0.0
    return values, {"domains": per_domain, "tokens": total, "documents": int((reps > 0).sum())}


def encode_targets(config: SweepConfig) -> dict[str, np.ndarray]:
    return {t.name: encode(load_target_text(t)) for t in config.targets}


def train_group(
    store: str,
    sweep_id: str,
    group: str,
    *,
    device: str | None = None,
    faults: Mapping[str, Fault] | None = None,
) -> dict[str, Any]:
    """Train every run of ``group`` at once (idempotent: a finished group returns its recorded summary)."""
    paths = SweepPaths(store, sweep_id)
    if paths.markers.is_done(group):
        return paths.markers.info(group)
    config = load_config(store, sweep_id)
    plan = SweepPlan.load(store, sweep_id)
    runs = [r for r in plan.runs if r["group"] == group]
    if not runs:
        raise ValueError(f"sweep {sweep_id!r} has no group {group!r}")
    corpus = load_sample(config, paths, with_heldout=True)
    targets = encode_targets(config)
    streams, mixtures = [], []
    for r in runs:
        values, mix = sample_mixture(corpus, spec_from_json(r["spec"]), r["seed"], config.criteria)
        streams.append(
            make_stream(corpus.tokens, corpus.offsets, values, r["seed"], config.model, config.train)
        )
        mixtures.append(mix)
    fault_map = {i: f for i, r in enumerate(runs) if (f := (faults or {}).get(r["run_id"]))}
    started = time.time()
    try:
        outcome = train_proxies(
            model_config=config.model,
            train_config=config.train,
            streams=streams,
            seeds=[int(r.get("init_seed", r["seed"])) for r in runs],
            token_budget=config.token_budget,
            targets=targets,
            heldout_docs=corpus.heldout_docs,
            device=device or config.device,
            faults=fault_map,
        )
    except Exception as exc:
        for r, mix in zip(runs, mixtures, strict=True):
            write_json_atomic(
                paths.run(r["run_id"]),
                {
                    **_run_base(r, mix),
                    "status": "failed",
                    "error": f"{type(exc).__name__}: {exc}",
                    "at": started,
                },
            )
        raise
    target_names = [t.name for t in config.targets]
    for r, mix, res in zip(runs, mixtures, outcome.proxies, strict=True):
        record = {
            **_run_base(r, mix),
            "status": res.status,
            "losses": res.losses,
            "objective": objective_value(res.losses, config.objective, target_names) if res.losses else None,
            "final_train_loss": res.final_train_loss,
            "diverged_at_step": res.diverged_at_step,
            "steps": res.steps,
            "tokens_trained": res.tokens_trained,
            "mixture_epochs": res.mixture_epochs,
            "device": outcome.device,
        }
        if res.status == "empty":
            record["error"] = "the parameter set selects no documents"
        write_json_atomic(paths.run(r["run_id"]), record)
    info = {
        "runs": len(runs),
        "completed": sum(p.status == "completed" for p in outcome.proxies),
        "seconds": outcome.seconds,
        "train_seconds": outcome.train_seconds,
        "tokens_per_second": outcome.tokens_per_second,
        "device": outcome.device,
    }
    paths.markers.mark_done(group, info)
    return info


def _run_base(r: Mapping[str, Any], mix: Mapping[str, Any]) -> dict[str, Any]:
    return {"run_id": r["run_id"], "group": r["group"], "seed": r["seed"], "spec": r["spec"], "mixture": mix}


def train_group_task(
    group: str, *, store: str, sweep_id: str, device: str, faults: Mapping[str, Fault]
) -> dict[str, Any]:
    return train_group(store, sweep_id, group, device=device, faults=faults)
