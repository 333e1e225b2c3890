"""Sampling functions: sketches, QuaDMix's steps, the baselines, and the a.b repetition rule."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.mix.sampling import (
    CorpusStats,
    expected_mass,
    hash_uniform,
    repetitions,
    sampling_values,
    sigmoid_value,
)
from tasks.mix.sketch import QuantileSketch
from tasks.mix.specs import DomainParams, QuaDMixSpec, RegMixSpec, TopKSpec, UniformSpec, spec_from_json

CRITERIA = ("educational_value", "cleanliness")


def _corpus(n_per_domain: int = 400, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    domains = np.array(["A"] * n_per_domain + ["B"] * n_per_domain, dtype=object)
    scores = np.column_stack([rng.uniform(0, 5, 2 * n_per_domain), rng.normal(3, 1, 2 * n_per_domain)])
    scores[n_per_domain:, 0] += 10  # domain B scores much higher: ranks must still be per domain
    n_tokens = rng.integers(50, 2000, 2 * n_per_domain)
    ids = np.array([f"{i:032x}" for i in range(2 * n_per_domain)], dtype=object)
    return {"domains": domains, "scores": scores, "n_tokens": n_tokens, "ids": ids}


def test_sketch_is_exact_when_small_and_close_when_compressed() -> None:
    values = np.array([3.0, 1.0, 2.0, 2.0, 5.0])
    sk = QuantileSketch.from_values(values)
    # mid-rank: below + half of equal
    assert sk.fraction_below([1.0, 2.0, 5.0, 0.0, 9.0]).tolist() == [0.1, 0.4, 0.9, 0.0, 1.0]
    assert sk.fraction_above([5.0]).tolist() == pytest.approx([0.1])

    rng = np.random.default_rng(1)
    big = rng.normal(size=50_000)
    w = rng.uniform(1, 10, size=big.size)
    exact = QuantileSketch.from_values(big, w, max_size=1 << 30)
    parts = [QuantileSketch.from_values(big[i::4], w[i::4], max_size=256) for i in range(4)]
    merged = QuantileSketch.merge(parts, max_size=256)
    assert len(merged) <= 256
    probe = rng.normal(size=1000)
    assert np.max(np.abs(merged.fraction_below(probe) - exact.fraction_below(probe))) < 3 / 256
    assert merged.total == pytest.approx(w.sum())
    assert QuantileSketch.from_json(merged.to_json()).fraction_below([0.0]) == pytest.approx(
        merged.fraction_below([0.0])
    )
    assert QuantileSketch.empty().fraction_below([1.0]).tolist() == [0.5]


def test_sigmoid_sampling_value_and_its_integral() -> None:
    r = np.array([0.0, 0.25, 0.5, 0.75])
    lam, omega, eta, eps = 1000.0, 0.5, 2.0, 0.05
    s = sigmoid_value(r, np.full(4, lam), np.full(4, omega), np.full(4, eta), np.full(4, eps))
    assert s[0] == pytest.approx(2**eta + eps)  # the very best: 2^η copies (+ε)
    assert s[2] == pytest.approx(1 + eps)  # at the threshold: once
    assert s[3] == pytest.approx(eps)  # beyond: ε
    grid = np.linspace(0, 1, 200_001)
    for lam, omega, eta, eps in [(5.0, 0.3, 1.5, 0.01), (100.0, 0.8, 0.0, 0.0), (1.0, 1.0, 3.0, 0.05)]:
        dense = sigmoid_value(grid, *(np.full(grid.size, v) for v in (lam, omega, eta, eps)))
        assert expected_mass(lam, omega, eta, eps) == pytest.approx(np.trapezoid(dense, grid), rel=2e-3)
    # vectorised over parameter arrays
    assert expected_mass(np.ones((3, 2)), 0.5, 0.0, 0.0).shape == (3, 2)


def test_repetitions_follow_a_dot_b_and_are_deterministic() -> None:
    ids = [f"doc-{i}" for i in range(20_000)]
    values = np.full(len(ids), 2.3)
    reps = repetitions(ids, values, seed=7)
    assert set(np.unique(reps)) == {2, 3}
    assert reps.mean() == pytest.approx(2.3, abs=0.02)
    assert np.array_equal(reps, repetitions(ids, values, seed=7))
    assert not np.array_equal(reps, repetitions(ids, values, seed=8))
    # a pure function of (seed, id): any split of the documents gives the same counts
    half = repetitions(ids[::2], values[::2], seed=7)
    assert np.array_equal(half, reps[::2])
    assert repetitions(["x", "y", "z"], np.array([0.0, np.nan, -1.0]), seed=1).tolist() == [0, 0, 0]
    u = hash_uniform(ids, 3)
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.01


def test_quadmix_ranks_within_domain_and_keeps_omega_of_each_domains_tokens() -> None:
    c = _corpus()
    stats = CorpusStats.from_arrays(c["domains"], c["n_tokens"], c["scores"], CRITERIA, max_size=1 << 30)
    spec = QuaDMixSpec(
        criteria=CRITERIA,
        domains={
            "A": DomainParams(alpha=(1.0, 0.0), lam=1e6, omega=0.5, eta=0.0, eps=0.0),
            "B": DomainParams(alpha=(1.0, 0.0), lam=1e6, omega=0.2, eta=0.0, eps=0.0),
        },
    )
    v = sampling_values(
        spec,
        domains=c["domains"],
        n_tokens=c["n_tokens"],
        scores=c["scores"],
        criteria=CRITERIA,
        stats=stats,
    )
    assert set(np.round(v, 6)) <= {0.0, 1.0}
    for d, omega in (("A", 0.5), ("B", 0.2)):
        m = c["domains"] == d
        kept = (v[m] * c["n_tokens"][m]).sum() / c["n_tokens"][m].sum()
        assert kept == pytest.approx(omega, abs=0.01)  # token-weighted share of the domain
        # and it is the best-scored documents of the domain that are kept
        assert c["scores"][m][v[m] > 0, 0].min() >= c["scores"][m][v[m] == 0, 0].max()
    # merge weights matter: ranking by the other criterion keeps other documents
    spec2 = QuaDMixSpec(
        criteria=CRITERIA,
        domains={d: DomainParams(alpha=(0.0, 1.0), lam=1e6, omega=0.5, eta=0.0, eps=0.0) for d in "AB"},
    )
    v2 = sampling_values(
        spec2,
        domains=c["domains"],
        n_tokens=c["n_tokens"],
        scores=c["scores"],
        criteria=CRITERIA,
        stats=stats,
    )
    assert not np.array_equal(v2 > 0, v > 0)


def test_quadmix_unknown_domain_and_empty_selection_give_nothing() -> None:
    c = _corpus(50)
    stats = CorpusStats.from_arrays(c["domains"], c["n_tokens"], c["scores"], CRITERIA, max_size=1 << 30)
    only_a = QuaDMixSpec(
        criteria=CRITERIA,
        domains={
            "A": DomainParams(alpha=(0.5, 0.5), lam=10.0, omega=0.0, eta=1.0, eps=0.0),
            "Law": DomainParams(alpha=(0.5, 0.5), lam=10.0, omega=1.0, eta=1.0, eps=0.5),  # no documents
        },
    )
    v = sampling_values(
        only_a,
        domains=c["domains"],
        n_tokens=c["n_tokens"],
        scores=c["scores"],
        criteria=CRITERIA,
        stats=stats,
    )
    assert np.all(v == 0)  # A: omega=0, eps=0 selects nothing; B has no parameters
    with pytest.raises(ValueError, match="not among the score columns"):
        sampling_values(
            only_a,
            domains=c["domains"],
            n_tokens=c["n_tokens"],
            scores=c["scores"][:, :1],
            criteria=CRITERIA[:1],
            stats=stats,
        )


def test_baselines_regmix_topk_uniform() -> None:
    c = _corpus()
    stats = CorpusStats.from_arrays(c["domains"], c["n_tokens"], c["scores"], CRITERIA, max_size=1 << 30)
    kw = {
        "domains": c["domains"],
        "n_tokens": c["n_tokens"],
        "scores": c["scores"],
        "criteria": CRITERIA,
        "stats": stats,
    }
    reg = sampling_values(RegMixSpec(weights={"A": 3, "B": 1, "Empty": 1}, total_tokens=1e6), **kw)
    tok = c["n_tokens"]
    a = (reg * tok)[c["domains"] == "A"].sum()
    b = (reg * tok)[c["domains"] == "B"].sum()
    assert a == pytest.approx(0.6e6) and b == pytest.approx(0.2e6)  # "Empty" has no tokens: its share is lost
    top = sampling_values(TopKSpec(criterion="cleanliness", keep_fraction=0.25), **kw)
    assert (top * tok).sum() / tok.sum() == pytest.approx(0.25, abs=0.01)
    assert c["scores"][top > 0, 1].min() >= c["scores"][top == 0, 1].max()
    assert np.all(sampling_values(UniformSpec(rate=0.4), **kw) == 0.4)


def test_spec_json_round_trip_and_validation() -> None:
    spec = QuaDMixSpec(
        criteria=CRITERIA,
        domains={"A": DomainParams(alpha=(2.0, 2.0), lam=3.0, omega=0.4, eta=1.0, eps=0.01)},
    )
    assert spec.domains["A"].alpha == (0.5, 0.5)  # normalised
    for s in (spec, RegMixSpec(weights={"A": 1.0}), TopKSpec("cleanliness", 0.1), UniformSpec(0.5)):
        assert spec_from_json(s.to_json()) == s
    with pytest.raises(ValueError, match="omega"):
        DomainParams(alpha=(1.0,), lam=1.0, omega=1.5, eta=0.0, eps=0.0)
    with pytest.raises(ValueError, match="alpha"):
        DomainParams(alpha=(0.0, 0.0), lam=1.0, omega=0.5, eta=0.0, eps=0.0)
    with pytest.raises(ValueError, match="merge weights"):
        QuaDMixSpec(criteria=CRITERIA, domains={"A": DomainParams((1.0,), 1.0, 0.5, 0.0, 0.0)})
    with pytest.raises(ValueError, match="unknown sampling function"):
        spec_from_json({"kind": "magic"})
    with pytest.raises(ValueError):
        RegMixSpec(weights={"A": -1.0})
