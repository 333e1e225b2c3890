"""The release gate: does a sweep's chosen mixture deserve to become ``latest``?

Two checks, both on evidence the fit never saw:

1. **The regression predicts.** The sweep's held-out (out-of-fold) Spearman between predicted and measured
   proxy loss is at least ``min_spearman`` (default :data:`DEFAULT_MIN_SPEARMAN`). Below it the search
   optimised noise, whatever the chosen mixture's predicted loss says.
2. **The chosen mixture wins, beyond noise.** Fresh proxies (seeds no sweep run used; see
   :func:`tasks.sweep.validate.validate_sweep`) trained on the chosen mixture and on each baseline (uniform
   random sampling, top-k by one criterion), at least :data:`MIN_SEEDS` seeds per arm, are scored on the
   sweep's objective (target loss). The chosen mixture's mean must be below the best baseline's mean by more
   than the seed-to-seed spread, taken as the larger of the two arms' sample standard deviations.

Each arm reports its mean, standard deviation and a 95 % Student-t interval of the mean over its seeds.
A failed gate can be overridden (``force``): the verdict is then ``forced`` and the reason keeps what failed.
Plain Python, no Airflow: callers that must fail loudly raise :class:`ValidationFailed`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from scipy import stats as _stats

from tasks.storage import Store, exists, read_json

DEFAULT_MIN_SPEARMAN = 0.5
MIN_SEEDS = 3
BASELINES = ("uniform", "topk")
CHOSEN = "chosen"

Verdict = Literal["passed", "failed", "forced"]


class ValidationFailed(RuntimeError):
    """A mixture was published as a numbered version but did not pass the gate, so ``latest`` stayed."""

    def __init__(self, reason: str, *, release: str, version: str | None, latest: str | None) -> None:
        self.reason = reason
        self.release = release
        self.version = version
        self.latest = latest
        where = f"{release} {version}" if version else release
        super().__init__(
            f"{where} failed validation and did not become latest (latest stays {latest or 'unset'}): "
            f"{reason}. Inspect the version's report; rerun with force_latest to promote it anyway."
        )


@dataclass(frozen=True)
class ArmStats:
    """The objective loss of one mixture over its validation seeds."""

    name: str
    losses: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.losses)

    @property
    def mean(self) -> float:
        return math.fsum(self.losses) / self.n if self.n else math.nan

    @property
    def std(self) -> float:
        if self.n < 2:
            return math.nan
        m = self.mean
        return math.sqrt(math.fsum((x - m) ** 2 for x in self.losses) / (self.n - 1))

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """Student-t interval of the mean (NaN bounds with fewer than two seeds)."""
        if self.n < 2:
            return (math.nan, math.nan)
        half = float(_stats.t.ppf(0.5 + level / 2, self.n - 1)) * self.std / math.sqrt(self.n)
        return (self.mean - half, self.mean + half)

    def to_json(self) -> dict[str, Any]:
        low, high = self.interval()
        return {
            "seeds": self.n,
            "losses": [_num(v) for v in self.losses],
            "mean": _num(self.mean),
            "std": _num(self.std),
            "interval95": [_num(low), _num(high)],
        }


@dataclass(frozen=True)
class GateDecision:
    verdict: Verdict
    reason: str
    spearman: float | None
    threshold: float
    arms: Mapping[str, ArmStats] = field(default_factory=dict)
    best_baseline: str | None = None
    margin: float | None = None  # best baseline mean − chosen mean (positive: chosen is better)
    spread: float | None = None  # the larger seed std of the chosen arm and the best baseline
    sweep_id: str | None = None
    objective: str | None = None

    @property
    def promote(self) -> bool:
        """Whether ``latest`` may move to this mixture."""
        return self.verdict in ("passed", "forced")

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "sweep_id": self.sweep_id,
            "objective": self.objective,
            "spearman": _num(self.spearman),
            "threshold": self.threshold,
            "min_seeds": MIN_SEEDS,
            "best_baseline": self.best_baseline,
            "margin": _num(self.margin),
            "spread": _num(self.spread),
            "arms": {name: arm.to_json() for name, arm in self.arms.items()},
        }

    def sentence(self) -> str:
        """One line for logs and CLI summaries."""
        return f"validation {self.verdict}: {self.reason}"


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def decide(
    spearman: float | None,
    arms: Mapping[str, Sequence[float]],
    *,
    min_spearman: float = DEFAULT_MIN_SPEARMAN,
    force: bool = False,
    baselines: Sequence[str] = BASELINES,
    min_seeds: int = MIN_SEEDS,
    sweep_id: str | None = None,
    objective: str | None = None,
) -> GateDecision:
    """The gate's verdict from the sweep's held-out Spearman and the per-seed objective losses of each arm
    (``chosen`` and the baselines; non-finite losses, i.e. failed proxies, are left out)."""
    stats = {
        name: ArmStats(name, tuple(float(v) for v in values if math.isfinite(float(v))))
        for name, values in arms.items()
    }
    failures: list[str] = []
    rho = None if spearman is None or not math.isfinite(spearman) else float(spearman)
    if rho is None:
        failures.append("the sweep has no held-out Spearman")
    elif rho < min_spearman:
        failures.append(
            f"held-out Spearman {rho:.3f} < {min_spearman:.3f}: the regression does not rank proxy runs"
        )
    chosen = stats.get(CHOSEN)
    present = [stats[b] for b in baselines if b in stats and stats[b].n]
    short = [a.name for a in (chosen, *present) if a is not None and a.n < min_seeds]
    best = min(present, key=lambda a: a.mean) if present else None
    margin = spread = None
    if chosen is None or chosen.n == 0:
        failures.append("no completed validation proxy on the chosen mixture")
    elif best is None:
        failures.append(f"no completed validation proxy on any baseline ({', '.join(baselines)})")
    else:
        margin = best.mean - chosen.mean
        spread = max(chosen.std, best.std) if min(chosen.n, best.n) >= 2 else math.nan
        if short:
            failures.append(f"fewer than {min_seeds} completed seeds for {', '.join(short)}")
        elif not margin > spread:  # also fails when the spread is NaN
            failures.append(
                f"chosen {chosen.mean:.4f} vs best baseline {best.name} {best.mean:.4f}: margin "
                f"{margin:+.4f} is not above the seed-to-seed spread {spread:.4f}"
            )
    if not failures:
        assert chosen is not None and best is not None and margin is not None and spread is not None
        reason = (
            f"held-out Spearman {rho:.3f} >= {min_spearman:.3f}; chosen {chosen.mean:.4f} beats best baseline "
            f"{best.name} {best.mean:.4f} by {margin:.4f} > seed spread {spread:.4f} ({chosen.n} seeds each)"
        )
        verdict: Verdict = "passed"
    else:
        reason = "; ".join(failures)
        verdict = "forced" if force else "failed"
        if force:
            reason = f"promoted by force_latest despite: {reason}"
    return GateDecision(
        verdict=verdict,
        reason=reason,
        spearman=rho,
        threshold=min_spearman,
        arms=stats,
        best_baseline=best.name if best else None,
        margin=margin,
        spread=spread,
        sweep_id=sweep_id,
        objective=objective,
    )


def gate_sweep(
    store: str, sweep_id: str, *, min_spearman: float = DEFAULT_MIN_SPEARMAN, force: bool = False
) -> GateDecision:
    """The gate for a validated sweep: ``fit.json`` (Spearman) and ``validation/runs.json`` (per-seed losses)."""
    from tasks.sweep.config import SweepPaths

    paths = SweepPaths(store, sweep_id)
    if not exists(paths.fit):
        return decide(None, {}, min_spearman=min_spearman, force=force, sweep_id=sweep_id)
    fit = read_json(paths.fit)
    rho = fit.get("spearman_heldout")
    arms: dict[str, list[float]] = {}
    recorded = read_json(paths.validation) if exists(paths.validation) else {}
    if recorded:
        for run in recorded.get("runs", []):
            value = run.get("objective")
            if value is None and run.get("losses") and exists(paths.config):  # recorded before format 2
                from tasks.sweep.config import load_config, objective_value

                config = load_config(store, sweep_id)
                value = objective_value(run["losses"], config.objective, [t.name for t in config.targets])
            arms.setdefault(str(run["mixture"]), [])
            if run.get("status") == "completed" and isinstance(value, int | float):
                arms[str(run["mixture"])].append(float(value))
    decision = decide(
        float(rho) if isinstance(rho, int | float) else None,
        arms,
        min_spearman=min_spearman,
        force=force,
        sweep_id=sweep_id,
        objective=fit.get("objective"),
    )
    if decision.verdict != "passed" and recorded.get("format") != 2:
        hint = "the sweep's validation predates the gate: rerun it (quarry sweep --id <id> resumes and redoes it)"
        decision = dataclasses.replace(decision, reason=f"{decision.reason}; {hint}")
    return decision


def gate_mixture(
    store: str,
    mixture: str,
    *,
    sweep_id: str | None = None,
    min_spearman: float = DEFAULT_MIN_SPEARMAN,
    force: bool = False,
) -> GateDecision:
    """The gate for a stored mixture: its sweep is ``sweep_id`` or the one its ``summary.json`` names.
    A mixture with no sweep behind it has nothing that validates it: it fails (unless forced)."""
    if sweep_id is None:
        url = f"{Store(store).mixtures(mixture)}/summary.json"
        summary = read_json(url) if exists(url) else {}
        given = summary.get("lineage")
        lineage: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        found = summary.get("sweep_id") or lineage.get("sweep_id")
        sweep_id = str(found) if found else None
    if sweep_id is None:
        return GateDecision(
            verdict="forced" if force else "failed",
            reason="the mixture names no sweep, so nothing validates it",
            spearman=None,
            threshold=min_spearman,
        )
    return gate_sweep(store, sweep_id, min_spearman=min_spearman, force=force)


def raise_if_failed(
    validation: Mapping[str, Any] | None, *, release: str, version: str | None, latest: str | None
) -> None:
    """Raise :class:`ValidationFailed` when a published summary's ``validation`` block failed."""
    if validation and validation.get("verdict") == "failed":
        raise ValidationFailed(str(validation.get("reason")), release=release, version=version, latest=latest)
