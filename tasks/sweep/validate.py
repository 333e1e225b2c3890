"""Validation proxies: fresh seeds on the chosen mixture and on the baselines; per arm its target losses, its
loss on the sweep's held-out documents and its difference to uniform sampling (``report.json``). The
data-quality-illusion experiment is :mod:`tasks.illusion` (a high-quality reference set, not these arms).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tasks.mix.specs import SamplingSpec, TopKSpec, UniformSpec, spec_from_json
from tasks.storage import (
    exists,
    read_json,
    write_json_atomic,
)
from tasks.sweep.config import SweepConfig, SweepPaths, json_digest, load_config, objective_value
from tasks.sweep.gate import MIN_SEEDS, ArmStats
from tasks.sweep.plan import SweepPlan
from tasks.sweep.targets import HELDOUT
from tasks.sweep.train import encode_targets, load_sample, sample_mixture
from tasks.sweep.trainer import make_stream, train_proxies

log = logging.getLogger(__name__)


@dataclass
class MixtureEvaluation:
    """Proxy results for one mixture, averaged over its validation seeds."""

    targets: dict[str, float]
    objective: float
    n_proxies: int


def comparison(
    mixtures: Mapping[str, MixtureEvaluation], *, objective: str, n_heldout: int, reference: str = "uniform"
) -> dict[str, Any]:
    """Per mixture: objective, target-set losses, held-out loss, and each one's difference to ``reference``."""
    out: dict[str, Any] = {
        "objective": objective,
        "reference": reference,
        "n_heldout_documents": n_heldout,
        "mixtures": {
            name: {
                "n_proxies": ev.n_proxies,
                "objective_loss": ev.objective,
                "target_losses": dict(ev.targets),
                "heldout_loss": ev.targets.get(HELDOUT, float("nan")),
            }
            for name, ev in mixtures.items()
        },
    }
    ref = out["mixtures"].get(reference)
    if ref is not None:
        for m in out["mixtures"].values():
            m["vs_reference"] = {
                "objective": m["objective_loss"] - ref["objective_loss"],
                "heldout": m["heldout_loss"] - ref["heldout_loss"],
                "targets": {
                    t: v - ref["target_losses"].get(t, float("nan")) for t, v in m["target_losses"].items()
                },
            }
    return out


def baseline_specs(config: SweepConfig, chosen: Mapping[str, Any]) -> dict[str, SamplingSpec]:
    return {
        "chosen": spec_from_json(chosen["spec"]),
        "uniform": UniformSpec(rate=1.0),
        "topk": TopKSpec(criterion=config.topk_criterion, keep_fraction=config.topk_keep),
        "best_observed": spec_from_json(chosen["best_observed_spec"]),
    }


FORMAT = 2  # validation records per-seed objectives (the gate reads them); older validations are redone


def validation_seeds(config: SweepConfig, plan_seeds: Iterable[int], n: int) -> list[int]:
    """``n`` fresh seeds: none is a sweep run's data seed nor the sweep's model-initialisation seed, so the
    validation proxies are runs the fit never saw."""
    used = {int(s) for s in plan_seeds} | {config.seed}
    seeds: list[int] = []
    candidate = config.seed * 7919 + 17
    while len(seeds) < n:
        if candidate not in used:
            seeds.append(candidate)
        candidate += 1
    return seeds


def validate_sweep(store: str, sweep_id: str, *, device: str | None = None) -> dict[str, Any]:
    """Train ``max(validation_seeds, MIN_SEEDS)`` fresh-seed proxies on each of the chosen mixture and the
    baselines (one batch), record every seed's objective (``validation/runs.json``, read by
    :mod:`tasks.sweep.gate`) and write the comparison (``report.json``) with each arm's mean and 95 % interval.
    Idempotent."""
    paths = SweepPaths(store, sweep_id)
    if not exists(paths.chosen):
        raise FileNotFoundError(f"sweep {sweep_id!r} has no chosen parameters yet (run the fit first)")
    chosen = read_json(paths.chosen)
    digest = json_digest(chosen)
    if (
        paths.markers.is_done("validation")
        and exists(paths.report)
        and paths.markers.info("validation").get("chosen") == digest
        and paths.markers.info("validation").get("format") == FORMAT
    ):
        report: dict[str, Any] = read_json(paths.report)
        return report  # done, for these chosen parameters (a refit after a resume redoes it)
    config = load_config(store, sweep_id)
    specs = baseline_specs(config, chosen)
    corpus = load_sample(config, paths, with_heldout=True)
    targets = encode_targets(config)
    plan = SweepPlan.load(store, sweep_id)
    seeds = validation_seeds(config, (r["seed"] for r in plan.runs), max(config.validation_seeds, MIN_SEEDS))
    streams, labels, mixtures = [], [], {}
    for name, spec in specs.items():
        for s in seeds:
            values, mix = sample_mixture(corpus, spec, s, config.criteria)
            streams.append(make_stream(corpus.tokens, corpus.offsets, values, s, config.model, config.train))
            labels.append((name, s))
            mixtures[name] = mix
    outcome = train_proxies(
        model_config=config.model,
        train_config=config.train,
        streams=streams,
        seeds=[s for _, s in labels],
        token_budget=config.token_budget,
        targets=targets,
        heldout_docs=corpus.heldout_docs,
        device=device or config.device,
    )
    target_names = [t.name for t in config.targets]
    evals: dict[str, MixtureEvaluation] = {}
    runs_out: list[dict[str, Any]] = []
    for name in specs:
        res = [p for (n, _), p in zip(labels, outcome.proxies, strict=True) if n == name]
        good = [p for p in res if p.status == "completed"]
        runs_out += [
            {
                "mixture": name,
                "seed": s,
                "status": p.status,
                "losses": p.losses,
                "objective": (
                    objective_value(p.losses, config.objective, target_names)
                    if p.status == "completed"
                    else None
                ),
            }
            for (n, s), p in zip(labels, outcome.proxies, strict=True)
            if n == name
        ]
        if not good:
            log.warning("validation: no completed proxy for mixture %s", name)
            continue
        tnames = sorted({k for p in good for k in p.losses})
        mean_losses = {k: float(np.mean([p.losses[k] for p in good])) for k in tnames}
        evals[name] = MixtureEvaluation(
            targets=mean_losses,
            objective=objective_value(mean_losses, config.objective, target_names),
            n_proxies=len(good),
        )
    report = comparison(evals, objective=config.objective, n_heldout=len(corpus.heldout_docs))
    report["mixture_composition"] = mixtures
    report["specs"] = {k: v.to_json() for k, v in specs.items()}
    report["sweep_id"] = sweep_id
    report["seeds"] = seeds
    for name, m in report["mixtures"].items():  # mean and interval of the objective over the arm's seeds
        arm = ArmStats(
            name,
            tuple(
                float(r["objective"]) for r in runs_out if r["mixture"] == name and r["objective"] is not None
            ),
        )
        m["objective_over_seeds"] = arm.to_json()
    report["throughput"] = {
        "tokens_per_second": outcome.tokens_per_second,
        "device": outcome.device,
        "proxies": len(streams),
        "train_seconds": outcome.train_seconds,
    }
    write_json_atomic(paths.validation, {"format": FORMAT, "seeds": seeds, "runs": runs_out})
    write_json_atomic(paths.report, report)
    paths.markers.mark_done("validation", {"mixtures": list(evals), "chosen": digest, "format": FORMAT})
    return report
