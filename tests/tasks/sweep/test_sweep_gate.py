"""The release gate's decision (tasks/sweep/gate.py): Spearman threshold, chosen vs best baseline beyond the
seed-to-seed spread, at least three seeds, and the forced override; plus reading a sweep's files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tasks.storage import write_json_atomic
from tasks.sweep.config import SweepPaths
from tasks.sweep.gate import ArmStats, ValidationFailed, decide, gate_mixture, gate_sweep, raise_if_failed

CLEAR_WIN = {
    "chosen": [3.00, 3.01, 3.02],
    "uniform": [3.20, 3.21, 3.19],
    "topk": [3.10, 3.12, 3.11],
    "best_observed": [3.05, 3.06, 3.04],  # reported, but not a baseline the chosen mixture must beat
}
# chosen is 0.02 better than topk on average, but its seeds scatter by 0.05: no real win
WITHIN_SPREAD = {"chosen": [3.05, 3.15, 3.10], "uniform": [3.30, 3.31, 3.29], "topk": [3.10, 3.12, 3.14]}


def test_passes_with_good_spearman_and_a_clear_win() -> None:
    d = decide(0.8, CLEAR_WIN, min_spearman=0.5)
    assert d.verdict == "passed" and d.promote
    assert d.best_baseline == "topk"
    assert d.margin == pytest.approx(0.10) and d.spread == pytest.approx(0.01)
    block = d.to_json()
    assert block["spearman"] == 0.8 and block["threshold"] == 0.5
    assert set(block["arms"]) == set(CLEAR_WIN)
    assert block["arms"]["chosen"]["mean"] == pytest.approx(3.01)
    low, high = block["arms"]["chosen"]["interval95"]
    assert low < 3.01 < high


def test_fails_on_low_spearman_even_with_a_win() -> None:
    d = decide(0.3, CLEAR_WIN, min_spearman=0.5)
    assert d.verdict == "failed" and not d.promote
    assert "Spearman 0.300 < 0.500" in d.reason
    assert decide(float("nan"), CLEAR_WIN).verdict == "failed"  # no Spearman is no evidence
    assert decide(0.3, CLEAR_WIN, min_spearman=0.2).verdict == "passed"  # the threshold is a setting


def test_fails_when_the_chosen_mixture_is_within_the_seed_spread() -> None:
    d = decide(0.9, WITHIN_SPREAD)
    assert d.verdict == "failed"
    assert d.best_baseline == "topk"
    assert d.margin == pytest.approx(0.02) and d.spread == pytest.approx(0.05)
    assert "not above the seed-to-seed spread" in d.reason
    # worse than a baseline outright (the demo's case: chosen 3.4413 vs uniform 3.4212)
    worse = decide(
        0.9, {"chosen": [3.44, 3.45, 3.43], "uniform": [3.42, 3.43, 3.41], "topk": [3.5, 3.5, 3.5]}
    )
    assert worse.verdict == "failed" and worse.best_baseline == "uniform" and worse.margin is not None
    assert worse.margin < 0


def test_needs_three_seeds_and_completed_arms() -> None:
    two = {k: v[:2] for k, v in CLEAR_WIN.items()}
    assert "fewer than 3 completed seeds" in decide(0.9, two).reason
    failed_seed = {**CLEAR_WIN, "chosen": [3.00, float("nan"), 3.02]}  # a diverged proxy is not a seed
    assert decide(0.9, failed_seed).verdict == "failed"
    assert "chosen mixture" in decide(0.9, {"uniform": [3.0, 3.1, 3.2]}).reason
    assert "baseline" in decide(0.9, {"chosen": [3.0, 3.1, 3.2]}).reason


def test_force_promotes_but_keeps_the_reason() -> None:
    d = decide(0.1, WITHIN_SPREAD, force=True)
    assert d.verdict == "forced" and d.promote
    assert "force_latest" in d.reason and "Spearman" in d.reason
    assert decide(0.8, CLEAR_WIN, force=True).verdict == "passed"  # forcing a pass changes nothing


def test_arm_interval_is_the_student_t_interval_of_the_mean() -> None:
    arm = ArmStats("x", (1.0, 2.0, 3.0))
    assert (arm.mean, arm.std) == (2.0, 1.0)
    low, high = arm.interval()
    assert high - 2.0 == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert low == pytest.approx(4.0 - high)
    assert all(math.isnan(v) for v in ArmStats("y", (1.0,)).interval())


def test_raise_if_failed_carries_the_version() -> None:
    failed = decide(0.1, CLEAR_WIN).to_json()
    with pytest.raises(ValidationFailed) as info:
        raise_if_failed(failed, release="nightly", version="v2", latest="v1")
    assert info.value.version == "v2" and "latest stays v1" in str(info.value)
    raise_if_failed(
        decide(0.1, CLEAR_WIN, force=True).to_json(), release="nightly", version="v2", latest="v2"
    )
    raise_if_failed(decide(0.8, CLEAR_WIN).to_json(), release="nightly", version="v2", latest="v2")


def write_sweep_evidence(store: str, sweep_id: str, spearman: float, arms: dict[str, list[float]]) -> None:
    """The files the sweep stage leaves for the gate: ``fit.json`` and ``validation/runs.json``."""
    paths = SweepPaths(store, sweep_id)
    write_json_atomic(paths.fit, {"spearman_heldout": spearman, "objective": "mean"})
    runs = [
        {"mixture": name, "seed": 17 + i, "status": "completed", "losses": {"mean": v}, "objective": v}
        for name, values in arms.items()
        for i, v in enumerate(values)
    ]
    write_json_atomic(paths.validation, {"format": 2, "runs": runs})


def test_gate_reads_the_sweep_files(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    write_sweep_evidence(store, "good", 0.8, CLEAR_WIN)
    write_sweep_evidence(store, "noisy", 0.8, WITHIN_SPREAD)
    assert gate_sweep(store, "good").verdict == "passed"
    noisy = gate_sweep(store, "noisy")
    assert noisy.verdict == "failed" and noisy.sweep_id == "noisy" and noisy.objective == "mean"
    assert gate_sweep(store, "missing").verdict == "failed"  # a sweep with no fit validates nothing
    assert gate_mixture(store, "no-such-mixture").verdict == "failed"
    assert gate_mixture(store, "no-such-mixture", sweep_id="good").verdict == "passed"
