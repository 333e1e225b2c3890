"""The illusion experiment's measurement and conclusion, on constructed per-seed losses (no training)."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.illusion.classifier import auc
from tasks.illusion.measure import (
    HQ,
    TARGET,
    WEB,
    Arm,
    effect,
    filtering_conclusion,
    overall,
    quality_conclusion,
)
from tasks.illusion.pools import keep_top, permute_tokens, synthetic_pool

NOISE = (-0.004, 0.0, 0.004)  # per-seed offsets: sample std 0.004


def _arm(keep: float, target: float, hq: float, web: float = 3.0, noise: tuple[float, ...] = NOISE) -> Arm:
    return Arm(
        f"keep {keep:.0%}",
        keep,
        {TARGET: [target + e for e in noise], HQ: [hq + e for e in noise], WEB: [web + e for e in noise]},
    )


def test_filtering_that_helps_targets_but_not_hq_text_is_called_an_illusion() -> None:
    arms = [_arm(1.0, 3.00, 2.50), _arm(0.5, 2.97, 2.499), _arm(0.25, 2.95, 2.503), _arm(0.1, 2.96, 2.52)]
    c = filtering_conclusion(arms)
    assert c.verdict == "illusion" and c.chosen == "keep 25%" and c.reference == "keep 100%"
    assert c.effects[TARGET].direction == "improves" and c.effects[TARGET].delta == pytest.approx(-0.05)
    assert c.effects[HQ].direction == "within seed noise"
    assert "lowers the target loss by 0.0500" in c.sentence and "does not improve" in c.sentence


def test_filtering_that_also_helps_hq_text_is_not_an_illusion() -> None:
    arms = [_arm(1.0, 3.00, 2.50), _arm(0.5, 2.97, 2.46), _arm(0.25, 2.95, 2.44)]
    c = filtering_conclusion(arms)
    assert c.verdict == "consistent" and c.effects[HQ].direction == "improves"
    assert c.effects[HQ].delta == pytest.approx(-0.06)


def test_differences_within_seed_noise_are_stated_as_such() -> None:
    wide = (-0.05, 0.0, 0.05)
    arms = [_arm(1.0, 3.00, 2.50, noise=wide), _arm(0.5, 2.98, 2.49, noise=wide)]
    c = filtering_conclusion(arms)
    assert c.verdict == "no_target_gain" and c.effects[TARGET].direction == "within seed noise"
    assert "does not improve the target loss beyond seed noise" in c.sentence
    worse = filtering_conclusion([_arm(1.0, 3.00, 2.50), _arm(0.5, 3.10, 2.60)])
    assert worse.verdict == "no_target_gain" and worse.effects[TARGET].direction == "worsens"
    one_seed = filtering_conclusion([_arm(1.0, 3.0, 2.5, noise=(0.0,)), _arm(0.5, 2.0, 2.5, noise=(0.0,))])
    assert one_seed.verdict == "undetermined"


def test_the_spread_is_the_larger_seed_std_of_the_two_arms() -> None:
    base, tight = _arm(1.0, 3.0, 2.5, noise=(-0.1, 0.0, 0.1)), _arm(0.5, 2.95, 2.5)
    e = effect(tight, base, TARGET)
    assert e.spread == pytest.approx(0.1) and e.direction == "within seed noise"


def test_known_quality_curve_and_how_the_control_compares() -> None:
    shares = [_arm(s, 3.0 + 0.2 * s, 2.5 + 0.3 * s) for s in (0.75, 0.5, 0.25, 0.0)]
    q = quality_conclusion(shares)
    assert q.verdict == "consistent" and q.reference == "keep 75%" and q.chosen == "keep 0%"
    assert q.effects[HQ].delta == pytest.approx(-0.225) and "both improve together" in q.sentence
    web = filtering_conclusion([_arm(1.0, 3.00, 2.50), _arm(0.5, 2.95, 2.50)])
    assert "behaves differently (consistent vs illusion)" in overall(web, q)
    same = filtering_conclusion([_arm(1.0, 3.00, 2.50), _arm(0.5, 2.95, 2.45)])
    assert "behaves the same way" in overall(same, q)


def test_keep_top_and_synthetic_pools() -> None:
    values = keep_top([0.1, 0.9, 0.5, 0.7], 0.5)
    assert values.tolist() == [0.0, 1.0, 0.0, 1.0]
    assert keep_top([0.3, 0.2, 0.1], 0.1).tolist() == [1.0, 0.0, 0.0]  # at least one document
    docs = [f"document {i} says that the cat sat on the mat\nand then it left" for i in range(20)]
    texts, intact = synthetic_pool(docs, 0.5)
    assert int((~intact).sum()) == 10 and all(texts[i] == docs[i] for i in np.flatnonzero(intact))
    for i in np.flatnonzero(~intact):  # same words, same lines, another order
        assert sorted(texts[i].split()) == sorted(docs[i].split()) and texts[i].count("\n") == 1
    _, more = synthetic_pool(docs, 0.75)
    assert not (more & ~intact).any()  # a larger share permutes a superset
    assert permute_tokens("a b c d e f g h", 1) != "a b c d e f g h"


def test_auc() -> None:
    assert auc([0.9, 0.8], [0.1, 0.2]) == 1.0 and auc([0.1], [0.9]) == 0.0
    assert auc([0.5], [0.5]) == 0.5 and auc([], [0.1]) is None
