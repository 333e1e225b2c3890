"""Parameter samplers, composition features, the regression, and the target-set readers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tasks.mix.sampling import QUALITY_CRITERIA, CorpusStats, normalise_scores, sampling_values
from tasks.sweep.params import (
    CompositionFeaturizer,
    QuaDMixDraws,
    QuaDMixRanges,
    RegMixSettings,
    sample_quadmix,
    sample_regmix,
)
from tasks.sweep.regression import InsufficientRunsError, RegressionConfig, fit_regression
from tasks.sweep.targets import TargetSpec, load_target_text

DOMAINS = ["A", "B", "C"]


def test_quadmix_sampler_respects_its_ranges() -> None:
    ranges = QuaDMixRanges(log10_lambda=(0.0, 3.0), omega=(0.1, 0.9), eta=(0.0, 2.0), eps=(0.0, 0.02))
    d = sample_quadmix(np.random.default_rng(0), 500, DOMAINS, QUALITY_CRITERIA, ranges)
    assert d.alpha.shape == (500, 3, 5)
    assert np.allclose(d.alpha.sum(axis=2), 1.0)
    lam = np.array([[p.lam for p in d.spec(i).domains.values()] for i in range(len(d))])
    assert (
        lam.min() >= 1.0 and lam.max() <= 1000.0 and np.median(np.log10(lam)) == pytest.approx(1.5, abs=0.2)
    )
    assert d.omega.min() >= 0.1 and d.omega.max() <= 0.9 and d.eps.max() <= 0.02
    # specs round-trip into draws (the regression re-reads them from plan.json)
    back = QuaDMixDraws.from_specs([d.spec(i) for i in range(5)], DOMAINS)
    assert np.allclose(back.features({"A": 1, "B": 2, "C": 3}), d.features({"A": 1, "B": 2, "C": 3})[:5])
    avg = d.average([0, 1])
    assert avg.domains["A"].omega == pytest.approx(d.omega[:2, 0].mean())
    assert avg.domains["B"].lam == pytest.approx(10 ** d.log10_lambda[:2, 1].mean())


def test_regmix_sampler_is_dirichlet_around_token_distribution() -> None:
    tokens = {"A": 700.0, "B": 250.0, "C": 50.0, "Empty": 0.0}
    s = RegMixSettings(max_usage=4.0)
    d = sample_regmix(np.random.default_rng(1), 2000, list(tokens), tokens, s)
    assert np.allclose(d.weights.sum(axis=1), 1.0)
    assert np.all(d.weights[:, 3] == 0)  # no tokens, no weight
    prior = np.array([0.7, 0.25, 0.05])
    assert np.all(d.weights[:, :3] <= prior * 4.0 + 1e-3)  # the usage bound
    assert d.weights[:, 0].mean() > d.weights[:, 2].mean()
    with pytest.raises(ValueError):
        sample_regmix(np.random.default_rng(1), 5, ["X"], {"X": 0.0})


def test_composition_features_match_the_realised_mixture() -> None:
    rng = np.random.default_rng(2)
    n = 600
    domains = np.array(rng.choice(DOMAINS, n), dtype=object)
    scores = rng.normal(size=(n, len(QUALITY_CRITERIA)))
    tokens = rng.integers(10, 500, n)
    stats = CorpusStats.from_arrays(domains, tokens, scores, QUALITY_CRITERIA, 1 << 30)
    norm = normalise_scores(domains, scores, stats)
    feat = CompositionFeaturizer.build(DOMAINS, QUALITY_CRITERIA, domains, tokens, norm, max_docs=10_000)
    draws = sample_quadmix(rng, 6, DOMAINS, QUALITY_CRITERIA)
    f = feat.features(draws)
    for i in range(6):
        v = sampling_values(
            draws.spec(i),
            domains=domains,
            n_tokens=tokens,
            scores=scores,
            criteria=QUALITY_CRITERIA,
            stats=stats,
            normalised=norm,
        )
        w = v * tokens
        assert f[i, :5] == pytest.approx((w[:, None] * norm).sum(0) / w.sum(), abs=0.02)
        assert f[i, 5] == pytest.approx(w.sum() / (np.minimum(v, 1) * tokens).sum(), rel=0.02)


def test_regression_ranks_held_out_runs_and_needs_enough_runs() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(60, 6))
    y = 3.0 + (x[:, 0] - 0.3) ** 2 + 0.5 * x[:, 1] + rng.normal(0, 0.01, 60)  # smooth, like a mixture law
    fit = fit_regression(x, y, [f"f{i}" for i in range(6)], RegressionConfig())
    assert fit.spearman > 0.8
    assert len(fit.oof_pred) == 60 and fit.rounds >= 1
    assert fit.summary()["top_features"][0]["feature"] in ("f0", "f1")
    with pytest.raises(InsufficientRunsError, match="only 9 completed proxy runs"):
        fit_regression(x[:9], y[:9], [f"f{i}" for i in range(6)], RegressionConfig(min_runs=10))


def test_target_specs_parse_and_read_every_format(shared_data: Path, tmp_path: Path) -> None:
    ev = shared_data / "eval"
    t = TargetSpec.parse(f"hs=hellaswag:{ev}/hellaswag/hellaswag_val_full.txt.bz2", max_bytes=3000)
    assert t.format == "hellaswag"
    hs = load_target_text(t)
    first = hs.splitlines()[0]
    assert (
        first.startswith("Roof shingle removal: A man is sitting on a roof. he")
        and "starts pulling up roofing" in first
    )
    assert TargetSpec.parse("x=s3://bucket/eval/wiki.txt").path == "s3://bucket/eval/wiki.txt"
    assert TargetSpec.parse("x=text:s3://bucket/a.txt").format == "text"
    mmlu = load_target_text(TargetSpec("mmlu", str(ev / "mmlu" / "test"), max_bytes=40_000))
    assert mmlu.count("Answer: ") > 30 and "\nA. " in mmlu
    # interleaved subjects: the prefix is not all abstract algebra
    assert "Answer: " in mmlu[:5000] and len({q.split("\n")[0][:20] for q in mmlu.split("\n\n")[:60]}) > 40
    gsm = load_target_text(TargetSpec("gsm", str(ev / "gsm8k" / "test.jsonl"), max_bytes=5000))
    assert "Janet" in gsm and "####" in gsm
    wiki = load_target_text(TargetSpec("w", str(ev / "wikitext-2" / "wiki.test.txt"), max_bytes=1000))
    assert len(wiki) == 1000
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(ValueError, match="no text"):
        load_target_text(TargetSpec("e", str(tmp_path / "empty.txt")))
    with pytest.raises(FileNotFoundError):
        load_target_text(TargetSpec("m", str(tmp_path / "missing.txt")))
    with pytest.raises(ValueError, match="reserved"):
        TargetSpec("heldout", "x")
    with pytest.raises(ValueError, match="NAME="):
        TargetSpec.parse("no-equals-sign")
    bad = tmp_path / "t.jsonl"
    bad.write_text(json.dumps({"question": "q?", "answer": "a"}) + "\n{truncated")
    assert load_target_text(TargetSpec("j", str(bad))) == "q?\na\n\n"


def test_dag_params_become_a_validated_config(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.sweep.glue import config_from_params, sweep_id_for_run

    assert (
        sweep_id_for_run("scheduled__2026-01-05T00:00:00+00:00")
        == "sweep-scheduled__2026-01-05T00-00-00-00-00"
    )
    monkeypatch.setenv("QUARRY_EVAL_DIR", str(shared_data / "eval"))
    cfg = config_from_params(
        {
            "n_proxies": 8,
            "model": "tiny",
            "model_overrides": {"seq_len": 32},
            "train_overrides": {"lr": 0.002},
        },
        run_id="manual__x",
        default_store="/tmp/store",
    )
    assert cfg.store == "/tmp/store" and cfg.sweep_id == "sweep-manual__x" and cfg.n_proxies == 8
    assert [t.name for t in cfg.targets] == [
        "wikitext2",
        "hellaswag",
        "mmlu",
    ]  # the defaults under the eval dir
    assert cfg.model.seq_len == 32 and cfg.train.lr == 0.002
    with pytest.raises(ValueError, match="unknown train settings"):
        config_from_params({"train_overrides": {"learning_rate": 1}}, run_id="r", default_store="/s")
    with pytest.raises(ValueError, match="objective"):
        config_from_params({"objective": "nope"}, run_id="r", default_store="/s")
    monkeypatch.delenv("QUARRY_EVAL_DIR")
    with pytest.raises(ValueError, match="QUARRY_EVAL_DIR"):
        config_from_params({}, run_id="r", default_store="/s")


def test_dag_sweep_leaves_out_criteria_without_signal(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy_sweep run leans only on criteria whose distilled model carries signal, like the nightly bootstrap;
    with none left, QuaDMix becomes RegMix. Without a model card every criterion is used."""
    from tasks.mix.sampling import QUALITY_CRITERIA
    from tasks.sweep.glue import config_from_params

    monkeypatch.setenv("QUARRY_EVAL_DIR", str(shared_data / "eval"))
    store = tmp_path / "store"
    assert config_from_params({}, run_id="r", default_store=str(store)).criteria == QUALITY_CRITERIA

    def card(flat: set[str]) -> None:
        models = {c: {"signal": {"carries_signal": c not in flat}} for c in QUALITY_CRITERIA}
        (store / "models" / "v1").mkdir(parents=True, exist_ok=True)
        (store / "models" / "v1" / "model_card.json").write_text(json.dumps({"models": models}))
        (store / "models" / "_latest.json").write_text(json.dumps({"version": "v1"}))

    card({"educational_value", "readability"})
    cfg = config_from_params({}, run_id="r", default_store=str(store))
    assert set(cfg.criteria) == set(QUALITY_CRITERIA) - {"educational_value", "readability"}
    assert cfg.mode == "quadmix" and cfg.topk_criterion == cfg.criteria[0]
    card(set(QUALITY_CRITERIA))
    assert config_from_params({}, run_id="r", default_store=str(store)).mode == "regmix"
