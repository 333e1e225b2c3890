"""The illusion experiment end to end on CPU: a planned sweep's corpus sample (real text, the scored-corpus
fixture) as the web pool, the real HQ reference set from ../shared/data/eval, a real fastText filter and tiny
proxies (3 seeds per arm, a few steps each)."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mix"))
from quarry_scored_corpus import build_scored_corpus

from tasks.illusion.experiment import IllusionSettings, run_illusion, settings_from_params
from tasks.illusion.reference import default_sources, load_reference
from tasks.runner import ClusterConfig
from tasks.sweep import ProxyModelConfig, SweepConfig, TrainConfig, plan_sweep
from tasks.sweep.targets import default_targets


def test_reference_split_is_deterministic_and_guards_against_the_pool(shared_data: Path) -> None:
    sources = default_sources(str(shared_data / "eval"), max_chars=60_000)[:2]
    first = load_reference(sources)
    again = load_reference(sources)
    assert first.parts == again.parts and all(first.parts[p] for p in ("classifier", "synthetic", "heldout"))
    assert not set(first.parts["heldout"]) & set(first.parts["classifier"])
    # a pool that contains some reference documents: they are dropped, never held out as "unseen" HQ text
    leaked = first.parts["heldout"][:3]
    guarded = load_reference(sources, pool_texts=["web page\n" + d for d in leaked])
    assert guarded.dropped_overlap >= 3 and not set(leaked) & set(guarded.parts["heldout"])


def test_experiment_end_to_end(tmp_path: Path, shared_data: Path) -> None:
    corpus = build_scored_corpus(tmp_path / "store", shared_data)
    targets = tuple(
        dataclasses.replace(t, max_bytes=8000) for t in default_targets(str(shared_data / "eval"))
    )
    config = SweepConfig(
        store=corpus.root,
        sweep_id="illusion-e2e",
        targets=targets,
        mode="regmix",
        n_proxies=4,
        token_budget=8192,
        search_size=100,
        top_k=4,
        model=ProxyModelConfig.preset("tiny"),
        train=TrainConfig(lr=3e-3, batch_size=8, eval_tokens=2048, threads=1),
        heldout_documents=40,
        cluster=ClusterConfig(n_workers=0),
    )
    plan_sweep(config)
    settings = IllusionSettings(
        keep=(1.0, 0.5, 0.25),
        permuted_shares=(0.0, 0.75),
        filter_share=0.75,
        reference_chars=120_000,
    )
    start = time.perf_counter()
    report = run_illusion(corpus.root, "illusion-e2e", settings)
    seconds = time.perf_counter() - start
    assert report["reference"]["dropped_overlapping_the_pool"] > 0  # the fixture pool reuses these books
    assert report["classifier"]["auc_heldout_hq_vs_web"] > 0.7  # the filter tells HQ from web text
    web = report["curves"]["web"]
    assert [a["x"] for a in web] == [1.0, 0.5, 0.25]
    assert [a["documents"] for a in web] == sorted((a["documents"] for a in web), reverse=True)
    for arm in (*web, *report["curves"]["quality"], *report["curves"]["synthetic_filter"]):
        assert arm["proxies"] == 3
        for m in ("target", "hq_heldout", "web_heldout", "wikitext2", "hellaswag", "mmlu"):
            stats = arm["metrics"][m]
            assert stats["seeds"] == 3 and 0 < stats["mean"] < 6, (arm["label"], m, stats)
    # the synthetic control: quality known by construction, and what the filter keeps of it
    quality = {a["x"]: a for a in report["curves"]["quality"]}
    assert quality[0.75]["intact_in_pool"] < quality[0.0]["intact_in_pool"] == quality[0.0]["documents"]
    for a in report["curves"]["synthetic_filter"]:
        assert 0 <= a["intact_share_kept"] <= a["intact_share_best"] <= 1
    kept25 = next(a for a in report["curves"]["synthetic_filter"] if a["x"] == 0.25)
    assert kept25["intact_share_kept"] > 0.25  # better than chance: the classifier prefers intact text
    for name in ("web", "synthetic_quality", "synthetic_filter"):
        c = report["conclusions"][name]
        assert c["verdict"] in ("illusion", "consistent", "hq_only", "no_target_gain") and c["sentence"]
    assert report["conclusion"].startswith(report["conclusions"]["web"]["sentence"])
    stored = json.loads((Path(corpus.root) / "sweeps" / "illusion-e2e" / "illusion.json").read_text())
    assert stored["conclusion"] == report["conclusion"]
    again = time.perf_counter()
    assert run_illusion(corpus.root, "illusion-e2e", settings) == stored  # idempotent: read back, not rerun
    assert time.perf_counter() - again < seconds / 2
    print(f"illusion e2e: {seconds:.1f} s; {report['conclusion']}")


def test_settings() -> None:
    assert settings_from_params({}) is None and settings_from_params({"illusion_seeds": 0}) is None
    s = settings_from_params({"illusion_seeds": 4, "illusion_keep": [1, 0.3], "illusion_token_budget": 8192})
    assert s is not None and s.seeds == 4 and s.keep == (1.0, 0.3) and s.token_budget == 8192
    with pytest.raises(ValueError, match="at least 3 seeds"):
        IllusionSettings(seeds=2)
    with pytest.raises(ValueError, match=r"include 1\.0"):
        IllusionSettings(keep=(0.5, 0.25))
