"""Rater signal (tasks/distill/signal.py): a model whose predictions barely move, or do not rank held-out
ratings, is called out and the mixture stops leaning on its criterion."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.distill.signal import (
    criterion_signal,
    mixture_criteria,
    signal_criteria,
    signal_markdown,
    sweep_criteria,
)
from tasks.mix.sampling import QUALITY_CRITERIA
from tasks.storage import Store, write_json_atomic


def _ratings(n: int = 200) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 5, n)


def test_a_model_that_tracks_the_ratings_carries_signal() -> None:
    truth = _ratings()
    pred = 0.6 * truth + 1.0 + np.random.default_rng(1).normal(0, 0.3, truth.size)
    s = criterion_signal(pred, (0.0, 5.0), truth)
    assert s["carries_signal"] and s["spearman"] > 0.8 and s["spread_fraction"] > 0.4


def test_a_flat_model_carries_no_signal_even_if_it_ranks() -> None:
    # the demo's educational_value model: predictions 1.64-1.70 on a 0-5 scale, ranking preserved
    truth = _ratings()
    pred = 1.64 + 0.06 * (truth - truth.min()) / np.ptp(truth)
    s = criterion_signal(pred, (0.0, 5.0), truth)
    assert s["spearman"] > 0.99
    assert not s["carries_signal"] and "of the range 0–5 (< 5%)" in s["reason"]


def test_a_spread_model_that_does_not_rank_carries_no_signal() -> None:
    truth = _ratings()
    pred = np.random.default_rng(2).uniform(0, 5, truth.size)  # wide, but unrelated to the ratings
    s = criterion_signal(pred, (0.0, 5.0), truth)
    assert s["spread_fraction"] > 0.5 and not s["carries_signal"] and "Spearman" in s["reason"]
    constant = criterion_signal(np.full(50, 2.0), (0.0, 5.0), truth[:50])
    assert not constant["carries_signal"] and "undefined" in constant["reason"]
    # no held-out ratings: only the spread is judged
    assert criterion_signal(pred, (0.0, 5.0))["carries_signal"]


def _card() -> dict[str, object]:
    truth = _ratings()
    good = criterion_signal(0.6 * truth + 1.0, (0.0, 5.0), truth)
    flat = criterion_signal(1.64 + 0.06 * truth / 5, (0.0, 5.0), truth)
    return {
        "version": "m1",
        "models": {
            "educational_value": {"kind": "score", "signal": flat},
            "reasoning": {"kind": "score", "signal": good},
            "readability": {"kind": "score"},  # distilled before signal was measured: kept
        },
    }


def test_the_mixture_leans_only_on_criteria_with_signal(tmp_path: Path) -> None:
    card = _card()
    criteria = ("educational_value", "reasoning", "readability", "cleanliness")
    assert signal_criteria(card, criteria) == ("reasoning", "readability")
    store = Store(str(tmp_path / "store"))
    write_json_atomic(f"{store.models('m1')}/model_card.json", card)
    assert mixture_criteria(store.root, "m1", criteria) == ("reasoning", "readability")
    assert mixture_criteria(str(tmp_path / "empty"), None, criteria) == criteria  # no card: nothing known
    md = "\n".join(signal_markdown(card))
    assert "| educational_value | 1.64–1.7 |" in md and "NO: predictions span" in md
    assert "| reasoning |" in md and "| yes |" in md


def test_sweeps_lean_on_signal_criteria_and_fall_back_to_regmix(tmp_path: Path, shared_data: Path) -> None:
    """The one rule the nightly bootstrap (tasks/pipeline.py) and the proxy_sweep DAG (tasks/sweep/glue.py)
    share: criteria without signal leave the sweep; with none left, QuaDMix becomes RegMix."""
    from tasks.sweep.glue import config_from_params

    eval_dir = str(shared_data / "eval")

    store = Store(str(tmp_path / "store"))
    write_json_atomic(f"{store.models('m1')}/model_card.json", _card())
    chosen = sweep_criteria(store.root, "m1")
    assert "educational_value" in chosen.dropped  # its model is flat
    assert "reasoning" in chosen.leaned and "educational_value" not in chosen.criteria
    assert chosen.mode == "quadmix" and chosen.topk_criterion == chosen.leaned[0]
    cfg = config_from_params(
        {"store": store.root, "model_version": "m1"},
        run_id="r",
        default_store="/s",
        default_eval_dir=eval_dir,
    )
    assert cfg.criteria == chosen.criteria and cfg.topk_criterion == chosen.topk_criterion

    truth = _ratings()
    flat = criterion_signal(1.64 + 0.06 * truth / 5, (0.0, 5.0), truth)
    none_left = {"version": "m2", "models": {c: {"kind": "score", "signal": flat} for c in QUALITY_CRITERIA}}
    write_json_atomic(f"{store.models('m2')}/model_card.json", none_left)
    fallback = sweep_criteria(store.root, "m2")
    assert (
        fallback.leaned == () and fallback.mode == "regmix" and fallback.criteria == tuple(QUALITY_CRITERIA)
    )
    cfg = config_from_params(
        {"store": store.root, "model_version": "m2"},
        run_id="r",
        default_store="/s",
        default_eval_dir=eval_dir,
    )
    assert cfg.mode == "regmix"
    # no model card: nothing is known, nothing is dropped
    assert sweep_criteria(str(tmp_path / "empty"), None).dropped == ()
