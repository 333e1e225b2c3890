"""The selection-method bake-off on a sweep's corpus sample (issue 15): every method at a matched token budget,
the same proxies for each, the same seeds in every arm.

1. The sample pool (:func:`tasks.sweep.train.load_sample`: the sweep's training documents, texts re-read from
   its corpus parquet) and the budget: ``budget_fraction`` × the pool's tokens (``n_tokens``).
2. Each method (:mod:`tasks.bakeoff.methods`, :mod:`tasks.bakeoff.adapters`) gives per-document sampling values
   at that budget; its selection step's CPU and wall seconds are recorded. A method whose module or inputs are
   missing is recorded ``unavailable`` with the reason, one that raises ``failed``: the others still run.
3. Every usable arm: ``seeds`` proxies (the sweep's model and optimiser, the same seeds in every arm: common
   random numbers), all in one :func:`tasks.sweep.trainer.train_proxies` batch, each trained for the same
   ``token_budget`` tokens. Arms that select exactly the same values share their proxies.
4. Measured (:mod:`tasks.bakeoff.measures`): each target set's loss and their mean (on target text beyond what
   the methods that read targets and the sweep's fit saw: :func:`split_targets`), held-out high-quality
   reference text (the reference set's held-out part, :mod:`tasks.illusion.reference`), held-out web documents
   (the sweep's held-out sample), diversity and cost; each arm against ``uniform`` beyond the seed spread.

Outputs beside the sweep: ``bakeoff.json`` (idempotent per settings, the sweep's chosen parameters and which
method modules are importable), ``bakeoff.md`` (the table), ``bakeoff.html`` (the report's panel) and
``bakeoff-losses.svg`` / ``bakeoff-diversity.svg``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tasks.bakeoff.measures import (
    HQ,
    TARGET,
    WEB,
    NgramCloseness,
    loss_stats,
    paired_differences,
    pool_facts,
    selection_facts,
)
from tasks.bakeoff.methods import MODULES, Context, Unavailable, check_values, registry
from tasks.bakeoff.settings import BakeoffSettings
from tasks.illusion.measure import Arm, effect
from tasks.illusion.reference import ReferenceSet, default_sources, load_reference
from tasks.storage import exists, join, read_json, read_parquet, write_bytes_atomic, write_json_atomic
from tasks.sweep.config import SweepConfig, SweepPaths, json_digest, load_config
from tasks.sweep.targets import TargetSpec, load_target_text
from tasks.sweep.tokenizer import encode, encode_documents
from tasks.sweep.train import load_sample
from tasks.sweep.trainer import make_stream, train_proxies

log = logging.getLogger(__name__)
FORMAT = 2  # 2: target losses on text the methods did not fit (split_targets); older results are redone
FILES = ("bakeoff.json", "bakeoff.md", "bakeoff.html", "bakeoff-losses.svg", "bakeoff-diversity.svg")


def bakeoff_url(store: str, sweep_id: str, name: str = "bakeoff.json") -> str:
    return join(SweepPaths(store, sweep_id).root, name)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def settings_digest(store: str, sweep_id: str, settings: BakeoffSettings) -> str:
    """What makes a stored bake-off current: its settings, the sweep's chosen parameters, and which of its
    methods' modules are importable (an arm that was unavailable runs once its module lands)."""
    paths = SweepPaths(store, sweep_id)
    chosen = read_json(paths.chosen) if exists(paths.chosen) else None
    available = {m: all(_importable(x) for x in MODULES.get(m, ())) for m in settings.methods}
    return json_digest(
        {"settings": settings.to_json(), "chosen": json_digest(chosen), "available": available}
    )


def _eval_dir(settings: BakeoffSettings, config: SweepConfig) -> str:
    if settings.eval_dir:
        return settings.eval_dir
    for t in config.targets:  # the sweep's default targets live at <eval_dir>/<set>/<file>
        candidate = os.path.dirname(os.path.dirname(t.path))
        if os.path.isdir(os.path.join(candidate, "wikitext-2")):
            return candidate
    return os.path.join("..", "shared", "data", "eval")


def _targets(settings: BakeoffSettings, config: SweepConfig) -> tuple[TargetSpec, ...]:
    if settings.targets:
        return tuple(TargetSpec.parse(t, max_bytes=settings.target_max_bytes) for t in settings.targets)
    return config.targets


@dataclass
class Prepared:
    ctx: Context
    reference: ReferenceSet
    eval_dir: str
    web_heldout: list[str]
    eval_targets: dict[str, str]  # target name → the text its loss is measured on (no method saw it)
    target_split: dict[str, dict[str, Any]]


def split_targets(
    specs: tuple[TargetSpec, ...],
) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, Any]]]:
    """Per target set: the text methods may fit on, and the text losses are measured on, disjoint. Methods fit on
    what the sweep saw (its first ``max_bytes``, from which the chosen mixture was fitted too); losses are measured
    on the next ``max_bytes``, which neither saw. A target without enough text beyond is cut in halves, and the
    record says that its measured half was seen by the sweep."""
    fit: dict[str, str] = {}
    held: dict[str, str] = {}
    info: dict[str, dict[str, Any]] = {}
    for t in specs:
        longer = load_target_text(replace(t, max_bytes=2 * t.max_bytes))
        seen, unseen = longer[: t.max_bytes], longer[t.max_bytes :]
        beyond = len(unseen) >= max(1000, t.max_bytes // 10)
        if not beyond:
            cut = len(seen) // 2
            seen, unseen = seen[:cut], seen[cut:]
        fit[t.name], held[t.name] = seen, unseen
        info[t.name] = {"fit_chars": len(seen), "eval_chars": len(unseen), "eval_unseen_by_sweep": beyond}
    return fit, held, info


def prepare(store: str, sweep_id: str, settings: BakeoffSettings, device: str | None = None) -> Prepared:
    """The arms' shared inputs: the sample pool and its texts, the target sets, the reference set, the budget."""
    paths = SweepPaths(store, sweep_id)
    config = load_config(store, sweep_id)
    corpus = load_sample(config, paths, with_heldout=False)
    table = read_parquet(paths.corpus)
    held = np.asarray(table.column("heldout"), dtype=bool)
    pool = table.filter(~held)
    if pool.column("id").to_pylist() != corpus.train_ids:
        raise ValueError(f"sweep {sweep_id!r}: the corpus sample changed while it was read")
    texts = [t or "" for t in table.column("text").to_pylist()]
    web_heldout = [t for t, h in zip(texts, held, strict=True) if h]
    if not len(pool) or not web_heldout:
        raise ValueError(f"sweep {sweep_id!r}: the corpus sample needs training and held-out documents")
    specs = _targets(settings, config)
    target_texts, eval_texts, split = split_targets(specs)
    eval_dir = _eval_dir(settings, config)
    ref = load_reference(
        default_sources(eval_dir, settings.reference_chars),
        pool_texts=texts,
        heldout_fraction=settings.heldout_fraction,
        synthetic_fraction=0.0,
    )
    ctx = Context(
        store=store,
        sweep_id=sweep_id,
        config=replace(config, targets=specs),
        paths=paths,
        corpus=corpus,
        pool=pool,
        settings=settings,
        budget_tokens=round(settings.budget_fraction * float(corpus.n_tokens.sum())),
        target_texts=target_texts,
        hq_texts=ref.parts["classifier"],
        encoded_targets={name: encode(text) for name, text in target_texts.items()},
        device=device or config.device,
        proxy_budget=settings.token_budget or config.token_budget,
    )
    return Prepared(ctx, ref, eval_dir, web_heldout, eval_texts, split)


def run_bakeoff(
    store: str, sweep_id: str, settings: BakeoffSettings, *, device: str | None = None
) -> dict[str, Any]:
    """Run (or return the recorded) bake-off on a planned sweep's corpus sample."""
    out_url = bakeoff_url(store, sweep_id)
    digest = settings_digest(store, sweep_id, settings)
    if exists(out_url):
        done: dict[str, Any] = read_json(out_url)
        if done.get("format") == FORMAT and done.get("settings_digest") == digest:
            log.info("bake-off %s: already done for these settings", sweep_id)
            return done
    started = time.time()
    prep = prepare(store, sweep_id, settings, device)
    ctx, ref, eval_dir, web_heldout = prep.ctx, prep.reference, prep.eval_dir, prep.web_heldout
    config, corpus, budget, proxy_budget, dev = (
        ctx.config,
        ctx.corpus,
        ctx.budget_tokens,
        ctx.proxy_budget,
        ctx.device,
    )
    target_texts = prep.eval_targets  # measured on text no method (nor the sweep's fit) saw
    seeds = [settings.seed * 7919 + 211 + j for j in range(settings.seeds)]
    closeness = NgramCloseness(list(target_texts.values()), ctx.pool_texts, settings.dsir_buckets)
    methods = registry()
    arms: list[dict[str, Any]] = []
    values_of: dict[str, np.ndarray] = {}
    for name in settings.methods:
        log.info("bake-off %s: arm %s: selecting at %d tokens (%.0f%% of the pool)", sweep_id, name, budget,
                 100 * settings.budget_fraction)  # fmt: skip
        cpu0, wall0 = time.process_time(), time.perf_counter()
        arm: dict[str, Any] = {"method": name}
        try:
            selection = methods[name](ctx)
            values = check_values(selection.values, len(corpus.n_tokens))
        except Unavailable as exc:
            arm.update(status="unavailable", reason=str(exc))
            log.warning("bake-off %s: arm %s unavailable: %s", sweep_id, name, exc)
        except Exception as exc:  # another method's bug must not sink the bake-off: recorded, shown
            arm.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
            log.exception("bake-off %s: arm %s failed", sweep_id, name)
        else:
            facts = selection_facts(corpus, values, budget, seeds[0])
            facts["ngram_kl"] = closeness.kl(values)
            arm.update(status="ok", facts=selection.facts, selection=facts)
            values_of[name] = values
            log.info("bake-off %s: arm %s: %.0f tokens selected (%.3f × budget), %d unique documents",
                     sweep_id, name, facts["selected_tokens"], facts["budget_ratio"],
                     facts["unique_documents"])  # fmt: skip
        arm["cost"] = {
            "selection_cpu_seconds": time.process_time() - cpu0,
            "selection_wall_seconds": time.perf_counter() - wall0,
        }
        arms.append(arm)

    eval_targets = {name: encode(text) for name, text in target_texts.items()}
    eval_targets[HQ] = encode_documents(ref.parts["heldout"])[0]
    eval_targets[WEB] = encode_documents(web_heldout)[0]
    streams, labels, source = [], [], {}
    trained: dict[bytes, str] = {}
    for name, values in values_of.items():
        source[name] = trained.setdefault(values.tobytes(), name)
        if source[name] != name:
            continue
        for s in seeds:
            streams.append(make_stream(corpus.tokens, corpus.offsets, values, s, config.model, config.train))
            labels.append((name, s))
    outcome = None
    proxy_cpu = 0.0
    if streams:
        log.info("bake-off %s: training %d proxies (%d arms × %d seeds) for %d tokens each", sweep_id,
                 len(streams), len(streams) // len(seeds), len(seeds), proxy_budget)  # fmt: skip
        cpu0 = time.process_time()
        outcome = train_proxies(
            model_config=config.model,
            train_config=config.train,
            streams=streams,
            seeds=[s for _, s in labels],
            token_budget=proxy_budget,
            targets=eval_targets,
            device=dev,
        )
        proxy_cpu = time.process_time() - cpu0
    names = list(target_texts)
    by_name: dict[str, Arm] = {}
    per_seed: dict[str, dict[int, dict[str, float]]] = {}
    for arm in arms:
        if arm["status"] != "ok" or outcome is None:
            continue
        src = source[arm["method"]]
        completed = {
            s: p
            for (n, s), p in zip(labels, outcome.proxies, strict=True)
            if n == src and p.status == "completed"
        }
        done_proxies = list(completed.values())
        losses: dict[str, list[float]] = {m: [p.losses[m] for p in done_proxies] for m in (*names, HQ, WEB)}
        losses[TARGET] = [float(np.mean([p.losses[t] for t in names])) for p in done_proxies]
        per_seed[arm["method"]] = {
            s: {**{m: p.losses[m] for m in (HQ, WEB)}, TARGET: float(np.mean([p.losses[t] for t in names]))}
            for s, p in completed.items()
        }
        arm["proxies"] = len(done_proxies)
        arm["seeds"] = [s for (n, s), p in zip(labels, outcome.proxies, strict=True) if n == src]
        arm["shares_proxies_with"] = src if src != arm["method"] else None
        arm["metrics"] = loss_stats(losses)
        share = len(seeds) / len(streams)
        arm["cost"].update(
            proxy_train_seconds=outcome.train_seconds * share,
            proxy_cpu_seconds=proxy_cpu * share,
            proxy_device=outcome.device,
        )
        by_name[arm["method"]] = Arm(arm["method"], 0.0, losses)
    base = by_name.get("uniform")
    if base is not None:
        for arm in arms:
            if arm["method"] in by_name and arm["method"] != "uniform":
                arm["vs_uniform"] = {
                    m: effect(by_name[arm["method"]], base, m).to_json() for m in (TARGET, HQ, WEB)
                }
                arm["vs_uniform_paired"] = paired_differences(per_seed[arm["method"]], per_seed["uniform"])
    ranked = sorted(by_name, key=lambda m: by_name[m].stats(TARGET).mean)
    report: dict[str, Any] = {
        "format": FORMAT,
        "settings_digest": digest,
        "sweep_id": sweep_id,
        "settings": settings.to_json(),
        "targets": names,
        "target_split": prep.target_split,
        "pool": pool_facts(corpus),
        "budget_tokens": budget,
        "budget_unit": "n_tokens (the sample's platform tokens)",
        "proxy_token_budget": proxy_budget,
        "seeds": seeds,
        "model": config.model.to_json(),
        "reference": {"eval_dir": eval_dir, **ref.to_json()},
        "web_heldout_documents": len(web_heldout),
        "arms": arms,
        "ranking_by_target": ranked,
        "summary": _summary(arms, ranked),
        "throughput": {
            "proxies": len(streams),
            "train_seconds": outcome.train_seconds if outcome else 0.0,
            "tokens_per_second": outcome.tokens_per_second if outcome else 0.0,
            "device": outcome.device if outcome else dev,
            "seconds": time.time() - started,
        },
    }
    write_outputs(store, sweep_id, report)
    log.info("bake-off %s: %s", sweep_id, report["summary"])
    return report


def _summary(arms: list[dict[str, Any]], ranked: list[str]) -> str:
    off = [f"{a['method']} ({a['status']})" for a in arms if a["status"] != "ok"]
    if not ranked:
        return "No arm trained: " + ", ".join(off)
    best = next(a for a in arms if a["method"] == ranked[0])
    paired = (best.get("vs_uniform_paired") or {}).get(TARGET) or {}
    low, high = (paired.get("interval95") or [None, None])[:2]
    against = ""
    if isinstance(paired.get("mean"), float) and isinstance(low, float) and isinstance(high, float):
        verdict = "better" if high < 0 else "worse" if low > 0 else "not distinguishable"
        against = (
            f"; against uniform on the same seeds {paired['mean']:+.4f} (95 % interval {low:+.4f} to "
            f"{high:+.4f}: {verdict})"
        )
    text = f"Lowest mean target loss: {ranked[0]}{against}. Order: {', '.join(ranked)}."
    return text + (f" Not run: {', '.join(off)}." if off else "")


def write_outputs(store: str, sweep_id: str, report: dict[str, Any]) -> None:
    """``bakeoff.json`` last: the figures first, so a stored result always has its files."""
    from tasks.bakeoff.plots import diversity_chart, interval_chart, markdown_table
    from tasks.report.bakeoff import bakeoff_panel

    ok = [a for a in report["arms"] if a.get("status") == "ok"]
    charts = [interval_chart(ok, m, title) for m, title in LOSS_CHARTS]
    write_bytes_atomic(bakeoff_url(store, sweep_id, "bakeoff-losses.svg"), _svg_doc(charts).encode())
    write_bytes_atomic(bakeoff_url(store, sweep_id, "bakeoff-diversity.svg"), diversity_chart(ok).encode())
    md = f"# Selection-method bake-off: sweep {sweep_id}\n\n{report['summary']}\n\n{markdown_table(report)}"
    write_bytes_atomic(bakeoff_url(store, sweep_id, "bakeoff.md"), md.encode())
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Quarry bake-off</title></head><body>'
        f"<h1>Selection-method bake-off: sweep {sweep_id}</h1>{bakeoff_panel(report)}</body></html>\n"
    )
    write_bytes_atomic(bakeoff_url(store, sweep_id, "bakeoff.html"), page.encode())
    write_json_atomic(bakeoff_url(store, sweep_id), report)


LOSS_CHARTS = (("target", "Target sets (mean)"), (HQ, "Held-out HQ text"), (WEB, "Held-out web"))


def _svg_doc(charts: list[str], width: int = 430) -> str:
    """Charts side by side in one SVG file."""
    placed = "".join(c.replace("<svg ", f'<svg x="{i * width}" ', 1) for i, c in enumerate(charts))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width * len(charts)}" height="300">{placed}</svg>'
    )
