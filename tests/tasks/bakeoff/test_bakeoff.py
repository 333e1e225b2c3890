"""The bake-off end to end on CPU: a planned sweep's corpus sample (real text, the scored-corpus fixture), the real
HQ reference set from ../shared/data/eval, tiny proxies (3 seeds per arm, a few steps each), through the CLI."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mix"))
from quarry_scored_corpus import build_scored_corpus

from tasks.bakeoff import BakeoffSettings, run_bakeoff, settings_from_params
from tasks.bakeoff.methods import Unavailable, chosen, scale_to_budget
from tasks.bakeoff.runner import FILES, bakeoff_url, prepare, split_targets
from tasks.cli import main
from tasks.report import ReportInputs, render_html
from tasks.report.bakeoff import bakeoff_panel
from tasks.runner import ClusterConfig
from tasks.storage import write_json_atomic
from tasks.sweep import ProxyModelConfig, SweepConfig, TrainConfig, plan_sweep
from tasks.sweep.config import SweepPaths
from tasks.sweep.targets import default_targets

SWEEP = "bakeoff-e2e"
METHODS = ("uniform", "topk", "chosen", "dsir", "qurating", "rebalance")
CLI_ARGS = ["--methods", ",".join(METHODS), "--token-budget", "4096", "--reference-chars", "60000"]
SETTINGS = BakeoffSettings(methods=METHODS, token_budget=4096, reference_chars=60_000)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> dict[str, Any]:
    """A planned sweep, no fit (so no chosen parameters), and one bake-off run through ``quarry bakeoff``."""
    root = tmp_path_factory.mktemp("bakeoff")
    corpus = build_scored_corpus(root / "store", shared_data)
    targets = tuple(
        dataclasses.replace(t, max_bytes=8000) for t in default_targets(str(shared_data / "eval"))
    )
    config = SweepConfig(
        store=corpus.root,
        sweep_id=SWEEP,
        targets=targets,
        mode="regmix",
        n_proxies=4,
        token_budget=8192,
        search_size=100,
        top_k=4,
        model=ProxyModelConfig.preset("tiny"),
        train=TrainConfig(lr=3e-3, batch_size=8, eval_tokens=1024, threads=1),
        heldout_documents=40,
        cluster=ClusterConfig(n_workers=0),
    )
    plan_sweep(config)
    start = time.perf_counter()
    code = main(["--store", corpus.root, "bakeoff", "--sweep", SWEEP, "--eval-dir", str(shared_data / "eval"),
                 *CLI_ARGS])  # fmt: skip
    seconds = time.perf_counter() - start
    assert code == 0
    report = json.loads(Path(bakeoff_url(corpus.root, SWEEP)).read_text())
    return {"store": corpus.root, "report": report, "seconds": seconds, "eval_dir": str(shared_data / "eval")}


def test_arms_at_matched_budget_with_the_same_seeds(sweep: dict[str, Any]) -> None:
    report = sweep["report"]
    arms = {a["method"]: a for a in report["arms"]}
    assert list(arms) == list(METHODS)
    assert len(report["seeds"]) == 3
    ok = [a for a in arms.values() if a["status"] == "ok"]
    assert {"uniform", "topk"} <= {a["method"] for a in ok}
    pool_tokens = report["pool"]["tokens"]
    assert report["budget_tokens"] == round(0.5 * pool_tokens)
    for a in ok:
        sel = a["selection"]
        assert abs(sel["budget_ratio"] - 1) < 0.03, (a["method"], sel)  # matched budget
        assert abs(sel["realised_budget_ratio"] - 1) < 0.1, (a["method"], sel)
        assert a["seeds"] == report["seeds"] and a["proxies"] == 3  # common random numbers
        for m in ("target", "hq_heldout", "web_heldout", *report["targets"]):
            stats = a["metrics"][m]
            assert stats["seeds"] == 3 and 0 < stats["mean"] < 6, (a["method"], m, stats)
            assert stats["interval95"][0] <= stats["mean"] <= stats["interval95"][1]
        assert 0 < sel["domain_entropy"] <= np.log2(report["pool"]["domains"]) + 1e-9
        assert sel["unique_documents"] <= report["pool"]["documents"] and sel["repetition"] >= 1
        assert a["cost"]["selection_cpu_seconds"] >= 0 and a["cost"]["proxy_train_seconds"] > 0
    # top-k keeps the best-scored half: fewer domains in balance than a random half, never more documents
    assert arms["topk"]["selection"]["unique_documents"] <= report["pool"]["documents"]
    # the sweep was not fitted: its chosen arm is reported unavailable with the reason, the others still ran
    assert arms["chosen"]["status"] == "unavailable" and "chosen parameters" in arms["chosen"]["reason"]
    # the fixture's dedup attributes carry no cluster_size (or tasks.methods.rebalance is missing)
    assert arms["rebalance"]["status"] == "unavailable"
    assert "rebalance" in arms["rebalance"]["reason"] or "cluster_size" in arms["rebalance"]["reason"]
    for a in arms.values():
        assert a["status"] in ("ok", "unavailable"), (a["method"], a.get("reason"))
    assert set(arms["topk"]["vs_uniform"]) == {"target", "hq_heldout", "web_heldout"}
    assert "vs_uniform" not in arms["uniform"]
    paired = arms["topk"]["vs_uniform_paired"]["target"]  # per seed: the same seeds in both arms
    assert paired["seeds"] == 3 and paired["mean"] == pytest.approx(
        arms["topk"]["metrics"]["target"]["mean"] - arms["uniform"]["metrics"]["target"]["mean"]
    )
    assert report["summary"].startswith("Lowest mean target loss: ")
    for name in FILES:
        assert Path(bakeoff_url(sweep["store"], SWEEP, name)).stat().st_size > 0
    md = Path(bakeoff_url(sweep["store"], SWEEP, "bakeoff.md")).read_text()
    assert "| uniform | ok |" in md and "| chosen | unavailable:" in md
    print(f"bake-off e2e: {sweep['seconds']:.1f} s; {report['summary']}")


def test_rerun_with_the_same_settings_returns_the_stored_result(sweep: dict[str, Any]) -> None:
    settings = dataclasses.replace(SETTINGS, eval_dir=sweep["eval_dir"])
    start = time.perf_counter()
    again = run_bakeoff(sweep["store"], SWEEP, settings)
    assert again == sweep["report"]
    assert time.perf_counter() - start < sweep["seconds"] / 3


def test_chosen_arm_is_the_chosen_mixture_scaled_to_the_budget(sweep: dict[str, Any]) -> None:
    settings = dataclasses.replace(SETTINGS, eval_dir=sweep["eval_dir"])
    ctx = prepare(sweep["store"], SWEEP, settings).ctx
    with pytest.raises(Unavailable, match="no chosen parameters"):
        chosen(ctx)
    domains = sorted(ctx.corpus.stats.domain_tokens)
    weights = {d: (4.0 if i == 0 else 1.0) for i, d in enumerate(domains)}
    write_json_atomic(
        SweepPaths(sweep["store"], SWEEP).chosen, {"spec": {"kind": "regmix", "weights": weights}}
    )
    selection = chosen(ctx)
    tokens = ctx.n_tokens.astype(float)
    assert float((selection.values * tokens).sum()) == pytest.approx(ctx.budget_tokens)
    first = ctx.corpus.domains == domains[0]
    share = float((selection.values * tokens)[first].sum()) / ctx.budget_tokens
    assert share == pytest.approx(4 / (3 + len(domains)), rel=1e-6)


def test_budget_helpers() -> None:
    tokens = np.array([100, 300, 50, 200, 350])
    assert float((scale_to_budget([1, 2, 0, 0, 1], tokens, 500) * tokens).sum()) == pytest.approx(500)
    with pytest.raises(Unavailable):
        scale_to_budget(np.zeros(5), tokens, 500)


def test_panel_renders_from_bakeoff_json(sweep: dict[str, Any]) -> None:
    report = sweep["report"]
    html = render_html(ReportInputs(mixture="m", bakeoff=report))
    assert "<h2>Selection-method bake-off</h2>" in html and 'data-panel="bakeoff"' in html
    panel = bakeoff_panel(report)
    assert panel.count("<svg") == 4  # three loss charts with intervals, diversity vs loss
    for a in report["arms"]:
        assert f"<th>{a['method']}</th>" in panel
    assert "unavailable: " in panel and "Not available" not in panel
    missing = render_html(ReportInputs(mixture="m"))
    assert "Not available: the selection-method bake-off was not run" in missing


def test_settings() -> None:
    assert settings_from_params({}) is None and settings_from_params({"bakeoff_methods": []}) is None
    s = settings_from_params({"bakeoff_methods": ["uniform", "dsir"], "bakeoff_seeds": 4}, "/x")
    assert s is not None and s.methods == ("uniform", "dsir") and s.seeds == 4 and s.eval_dir == "/x"
    with pytest.raises(ValueError, match="at least 3 seeds"):
        BakeoffSettings(seeds=2)
    with pytest.raises(ValueError, match="unknown bake-off methods"):
        BakeoffSettings(methods=("uniform", "magic"))
    with pytest.raises(ValueError, match="budget_fraction"):
        BakeoffSettings(budget_fraction=1.5)


def test_methods_fit_on_target_text_that_losses_are_not_measured_on(shared_data: Path) -> None:
    """DSIR, PreSelect and CLIMB read the target sets; measuring their losses on the same text would reward
    fitting the evaluation. The measured text lies beyond what methods and the sweep's fit saw."""
    specs = tuple(dataclasses.replace(t, max_bytes=5000) for t in default_targets(str(shared_data / "eval")))
    fit, held, info = split_targets(specs)
    for t in specs:
        assert 0 < len(fit[t.name]) <= t.max_bytes and len(held[t.name]) > 1000
        assert info[t.name]["eval_unseen_by_sweep"]
        assert fit[t.name][-200:] not in held[t.name]  # disjoint parts, not one text twice
    short = dataclasses.replace(specs[0], max_bytes=10_000_000)  # nothing beyond: halves, and said so
    fit, held, info = split_targets((short,))
    assert not info[short.name]["eval_unseen_by_sweep"]
    assert abs(len(fit[short.name]) - len(held[short.name])) <= 1
