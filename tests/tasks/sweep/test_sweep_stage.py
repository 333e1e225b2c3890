"""The sweep stage end to end on CPU, on real text (a scored-corpus fixture built from ../shared/data/eval).

The main sweep (tens of QuaDMix proxies) asserts what the optimiser is for: the LightGBM regression ranks
held-out proxy runs well (Spearman), and proxies trained on the chosen mixture beat uniform random sampling on
the target sets. The others cover faults (a diverging proxy, a dying group), resuming, too few runs, parameter
sets that select nothing, immutability and the CLI.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mix"))
from quarry_scored_corpus import CorpusInfo, build_scored_corpus

from tasks.cli import main as quarry
from tasks.mix import MixConfig, run_mix
from tasks.runner import ClusterConfig
from tasks.sweep import (
    InsufficientRunsError,
    ProxyModelConfig,
    QuaDMixRanges,
    RegressionConfig,
    SweepConfig,
    SweepResult,
    TrainConfig,
    fit_sweep,
    plan_sweep,
    run_sweep,
    train_group,
)
from tasks.sweep.gate import gate_sweep
from tasks.sweep.targets import TargetSpec, default_targets


def _targets(shared_data: Path, max_bytes: int) -> tuple[TargetSpec, ...]:
    return tuple(
        dataclasses.replace(t, max_bytes=max_bytes) for t in default_targets(str(shared_data / "eval"))
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> CorpusInfo:
    return build_scored_corpus(tmp_path_factory.mktemp("sweepstore"), shared_data)


@pytest.fixture(scope="module")
def main_sweep(corpus: CorpusInfo, shared_data: Path) -> tuple[SweepConfig, SweepResult, float]:
    """40 QuaDMix proxies (RegMix's architecture, tiny width) × 131k byte tokens each, batched on one core."""
    config = SweepConfig(
        store=corpus.root,
        sweep_id="ci-quadmix",
        targets=_targets(shared_data, 20_000),
        mode="quadmix",
        n_proxies=40,
        token_budget=131_072,
        search_size=20_000,
        top_k=20,
        model=ProxyModelConfig.preset("tiny"),
        train=TrainConfig(lr=3e-3, batch_size=16, eval_tokens=8192, threads=1),
        heldout_documents=60,
        validation_seeds=3,
        cluster=ClusterConfig(n_workers=0),
    )
    start = time.process_time()
    result = run_sweep(config)
    return config, result, time.process_time() - start


def test_sweep_regression_ranks_held_out_runs(main_sweep: tuple[SweepConfig, SweepResult, float]) -> None:
    _, result, cpu = main_sweep
    root = Path(result.root)
    fit = json.loads((root / "fit.json").read_text())
    assert fit["n_runs"] == 40 and fit["status_counts"] == {"completed": 40}
    # every run predicted by a model that never saw it (5-fold)
    assert fit["spearman_heldout"] >= 0.6, fit["spearman_heldout"]
    assert result.spearman == fit["spearman_heldout"]
    table = pq.read_table(root / "table.parquet").to_pandas()
    assert len(table) == 40 and set(table.status) == {"completed"}
    for col in (
        "loss:wikitext2",
        "loss:hellaswag",
        "loss:mmlu",
        "loss:heldout",
        "objective",
        "mixture_tokens",
    ):
        assert table[col].notna().all(), col
    assert {c for c in table.columns if c.startswith("proportion:")} == {
        f"proportion:{d}" for d in ("Education", "Literature", "Miscellaneous", "Religion", "Technology")
    }
    assert any(c.startswith("param:") and ":alpha:" in c for c in table.columns)
    svg = (root / "fit.svg").read_text()
    assert svg.lstrip().startswith(("<svg", "<?xml")) and svg.count("<circle") == 40
    print(f"CI sweep: {cpu:.0f} s CPU, held-out Spearman {fit['spearman_heldout']:.3f}")
    assert cpu < 360  # about 50 s on an idle core; a guard against accidental blow-ups, not a benchmark


def test_chosen_mixture_beats_uniform_sampling(main_sweep: tuple[SweepConfig, SweepResult, float]) -> None:
    config, result, _ = main_sweep
    root = Path(result.root)
    report = json.loads((root / "report.json").read_text())
    mixes = report["mixtures"]
    assert set(mixes) == {"chosen", "uniform", "topk", "best_observed"}
    chosen, uniform = mixes["chosen"], mixes["uniform"]
    assert chosen["n_proxies"] == uniform["n_proxies"] == 3
    assert chosen["objective_loss"] < uniform["objective_loss"] - 0.02
    assert chosen["vs_reference"]["objective"] < 0
    # every arm's target and held-out losses, and their differences to uniform sampling
    assert 40 <= report["n_heldout_documents"] <= 80
    for m in mixes.values():
        assert set(m["target_losses"]) == {"wikitext2", "hellaswag", "mmlu", "heldout"}
        assert m["heldout_loss"] == m["target_losses"]["heldout"] > 0
        assert m["vs_reference"]["heldout"] == pytest.approx(m["heldout_loss"] - uniform["heldout_loss"])
    chosen_json = json.loads((root / "chosen.json").read_text())
    assert chosen_json["spec"]["kind"] == "quadmix" and len(chosen_json["spec"]["domains"]) == 5
    latest = json.loads((Path(config.store) / "sweeps" / "latest.json").read_text())
    assert latest["sweep_id"] == "ci-quadmix"


def test_validation_uses_fresh_seeds_and_feeds_the_gate(
    main_sweep: tuple[SweepConfig, SweepResult, float],
) -> None:
    config, result, _ = main_sweep
    root = Path(result.root)
    plan_seeds = {r["seed"] for r in json.loads((root / "plan.json").read_text())["runs"]}
    validation = json.loads((root / "validation" / "runs.json").read_text())
    seeds = validation["seeds"]
    assert len(seeds) == 3 and not set(seeds) & (plan_seeds | {config.seed})  # runs the fit never saw
    for arm in ("chosen", "uniform", "topk", "best_observed"):
        runs = [r for r in validation["runs"] if r["mixture"] == arm]
        assert sorted(r["seed"] for r in runs) == sorted(seeds)
        assert all(r["status"] == "completed" and r["objective"] > 0 for r in runs)
    report = json.loads((root / "report.json").read_text())
    gate = gate_sweep(config.store, config.sweep_id)
    for arm, stats in gate.arms.items():
        over_seeds = report["mixtures"][arm]["objective_over_seeds"]
        assert over_seeds["seeds"] == stats.n == 3
        assert over_seeds["mean"] == pytest.approx(report["mixtures"][arm]["objective_loss"])
        assert over_seeds["interval95"][0] < over_seeds["mean"] < over_seeds["interval95"][1]
    assert gate.spearman == pytest.approx(result.spearman) and gate.best_baseline in ("uniform", "topk")
    print(f"CI sweep gate: {gate.sentence()}")
    assert gate.verdict == (
        "passed" if gate.margin is not None and gate.margin > (gate.spread or 0) else "failed"
    )


def test_mix_stage_applies_the_chosen_parameters(main_sweep: tuple[SweepConfig, SweepResult, float]) -> None:
    config, _, _ = main_sweep
    mix = run_mix(
        MixConfig(
            store=config.store, name="from-sweep", sweep_id="latest", cluster=ClusterConfig(n_workers=0)
        )
    )
    assert mix.summary["sweep_id"] == "ci-quadmix"
    assert mix.documents > 0 and sum(mix.proportions.values()) == pytest.approx(1.0)
    cmp = mix.summary["proxy_comparison"]["mixtures"]
    assert cmp["chosen"]["objective_loss"] < cmp["uniform"]["objective_loss"]


def _small(corpus: CorpusInfo, shared_data: Path, sweep_id: str, **kw: object) -> SweepConfig:
    base: dict[str, object] = {
        "store": corpus.root,
        "sweep_id": sweep_id,
        "targets": _targets(shared_data, 6000)[:1],
        "mode": "regmix",
        "n_proxies": 12,
        "group_size": 4,
        "token_budget": 8192,
        "search_size": 2000,
        "top_k": 10,
        "model": ProxyModelConfig.preset("tiny"),
        "train": TrainConfig(lr=3e-3, batch_size=8, eval_tokens=2048, threads=1),
        "heldout_documents": 20,
        "validation_seeds": 1,
        "regression": RegressionConfig(min_runs=5),
        "cluster": ClusterConfig(n_workers=0),
    }
    base.update(kw)
    return SweepConfig(**base)  # type: ignore[arg-type]


def test_faults_are_recorded_and_the_sweep_resumes(corpus: CorpusInfo, shared_data: Path) -> None:
    faulty = _small(corpus, shared_data, "faults", faults={"p0001": "nan", "p0005": "die"})
    first = run_sweep(faulty)
    assert first.failed_groups and list(first.failed_groups) == ["g001"]
    root = Path(first.root)
    runs = {p.stem: json.loads(p.read_text()) for p in (root / "runs").glob("*.json")}
    assert runs["p0001"]["status"] == "diverged"
    assert {runs[f"p{i:04d}"]["status"] for i in range(4, 8)} == {"failed"}
    assert "died" in runs["p0005"]["error"]
    fit = json.loads((root / "fit.json").read_text())
    assert fit["n_runs"] == 7  # 12 - 1 diverged - 4 in the dead group: failures never reach the regression
    assert fit["status_counts"] == {"completed": 7, "diverged": 1, "failed": 4}
    markers = root.parent.parent / "_markers" / "sweep" / "faults"
    done_before = {p.name: p.stat().st_mtime_ns for p in markers.glob("g*.done")}
    assert set(done_before) == {"g000.done", "g002.done"}

    resumed = run_sweep(dataclasses.replace(faulty, faults={}))  # the crash is gone; same sweep id
    assert not resumed.failed_groups
    done_after = {p.name: p.stat().st_mtime_ns for p in markers.glob("g*.done")}
    assert {k: done_after[k] for k in done_before} == done_before  # finished groups were not retrained
    assert "g001.done" in done_after
    fit = json.loads((root / "fit.json").read_text())
    assert fit["status_counts"] == {"completed": 11, "diverged": 1}  # a divergence is final
    assert resumed.n_completed == 11


def test_too_few_runs_and_empty_parameter_sets(corpus: CorpusInfo, shared_data: Path) -> None:
    # every draw keeps nothing (ω = ε = 0): each run is recorded as empty, nothing crashes, the fit refuses
    nothing = _small(
        corpus,
        shared_data,
        "nothing",
        mode="quadmix",
        n_proxies=5,
        group_size=5,
        ranges=QuaDMixRanges(omega=(0.0, 0.0), eps=(0.0, 0.0)),
    )
    plan = plan_sweep(nothing)
    info = train_group(nothing.store, nothing.sweep_id, plan.groups[0])
    assert info["completed"] == 0
    rec = json.loads((Path(plan.root) / "runs" / "p0000.json").read_text())
    assert (
        rec["status"] == "empty" and rec["mixture"]["tokens"] == 0 and "selects no documents" in rec["error"]
    )
    with pytest.raises(InsufficientRunsError, match=r"only 0 completed proxy runs.*'empty': 5"):
        fit_sweep(nothing.store, nothing.sweep_id)
    # a sweep id is immutable
    with pytest.raises(ValueError, match="immutable"):
        plan_sweep(dataclasses.replace(nothing, n_proxies=6))


def test_cli_sweep_then_mix(corpus: CorpusInfo, shared_data: Path, tmp_path: Path) -> None:
    wiki = shared_data / "eval" / "wikitext-2" / "wiki.test.txt"
    args = [
        "--store",
        corpus.root,
        "sweep",
        "--id",
        "cli",
        "--mode",
        "regmix",
        "--proxies",
        "10",
        "--token-budget",
        "4096",
        "--target",
        f"wiki=text:{wiki}",
        "--target-max-bytes",
        "5000",
        "--search-size",
        "500",
        "--top-k",
        "5",
        "--model",
        "tiny",
        "--batch-size",
        "4",
        "--eval-tokens",
        "1024",
        "--heldout-documents",
        "10",
        "--validation-seeds",
        "1",
    ]
    assert quarry(args) == 0
    summary = json.loads((Path(corpus.root) / "sweeps" / "cli" / "sweep.json").read_text())
    assert summary["n_completed"] == 10 and set(summary["objective_losses"]) >= {"chosen", "uniform"}
    assert (
        quarry(["--store", corpus.root, "mix", "--name", "cli-mix", "--sweep", "cli", "--workers", "0"]) == 0
    )
    mix = json.loads((Path(corpus.root) / "mixtures" / "cli-mix" / "summary.json").read_text())
    assert mix["spec"]["kind"] == "regmix" and mix["mixture"]["tokens"] > 0
    # no targets, no eval dir: a clear error, exit code 2
    assert quarry(["--store", corpus.root, "sweep", "--id", "x", "--eval-dir", ""]) == 2
