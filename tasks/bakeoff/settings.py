"""What a bake-off runs (:class:`BakeoffSettings`), and the same from DAG Params or a pipeline config.

A bake-off adds measurements to a sweep and changes none of its results, so its settings are not part of the
sweep's identity; ``bakeoff.json`` records them and their digest (a rerun with the same settings returns it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from tasks.sweep.gate import MIN_SEEDS

BASELINES = ("uniform", "topk", "chosen")
LITERATURE = ("dsir", "qurating", "dclm", "rebalance", "preselect", "climb")
KNOWN_METHODS = (*BASELINES, *LITERATURE)
DEFAULT_METHODS = ("uniform", "topk", "chosen", "dsir", "qurating", "dclm", "rebalance")  # no extra proxies


@dataclass(frozen=True)
class BakeoffSettings:
    """Arms (``methods``), proxies per arm (``seeds``, the same seeds in every arm) and the matched budget: every
    arm selects ``budget_fraction`` of the sample pool's tokens (``n_tokens``)."""

    methods: tuple[str, ...] = DEFAULT_METHODS
    seeds: int = MIN_SEEDS
    budget_fraction: float = 0.5
    token_budget: int = 0  # training tokens (bytes) per proxy; 0: the sweep's
    targets: tuple[str, ...] = ()  # NAME=[FORMAT:]PATH target sets; (): the sweep's
    target_max_bytes: int = 200_000  # text read per overriding target set
    eval_dir: str = ""  # the high-quality reference sources; "": beside the sweep's default targets
    reference_chars: int = 300_000  # per reference source
    heldout_fraction: float = 0.3  # of the reference set: measured, never used by a method
    dsir_buckets: int = 10_000
    qurating_temperature: float = 2.0
    preselect_proxies: int = 4  # proxies on varied mixtures whose per-document losses PreSelect reads
    preselect_documents: int = 400  # pool documents those losses are measured on
    climb_rounds: int = 2
    climb_per_round: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.seeds < MIN_SEEDS:
            raise ValueError(f"the bake-off needs at least {MIN_SEEDS} seeds per arm")
        if not self.methods:
            raise ValueError("the bake-off needs at least one method")
        unknown = [m for m in self.methods if m not in KNOWN_METHODS]
        if unknown:
            raise ValueError(f"unknown bake-off methods {unknown}: choose from {list(KNOWN_METHODS)}")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError(f"duplicate bake-off methods in {list(self.methods)}")
        if not 0 < self.budget_fraction <= 1:
            raise ValueError("budget_fraction must be in (0, 1]")
        if self.token_budget < 0 or self.dsir_buckets < 1 or self.preselect_proxies < 2:
            raise ValueError("token_budget >= 0, dsir_buckets >= 1 and preselect_proxies >= 2")
        if self.climb_rounds < 1 or self.climb_per_round < 2 or self.preselect_documents < 10:
            raise ValueError("climb_rounds >= 1, climb_per_round >= 2 and preselect_documents >= 10")
        if not 0 < self.heldout_fraction < 1:
            raise ValueError("heldout_fraction must be in (0, 1)")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["methods"] = list(self.methods)
        out["targets"] = list(self.targets)
        return out


def parse_methods(value: Any) -> tuple[str, ...]:
    """A list, or a comma-separated string, of method names ("" / [] → none)."""
    if value in (None, "", [], ()):
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(m).strip() for m in items if str(m).strip())


def settings_from_params(params: Mapping[str, Any], eval_dir: str | None = None) -> BakeoffSettings | None:
    """``bakeoff_methods`` (empty or absent: off), ``bakeoff_seeds``, ``bakeoff_budget_fraction``,
    ``bakeoff_token_budget``, ``bakeoff_targets`` from DAG Params."""
    methods = parse_methods(params.get("bakeoff_methods"))
    if not methods:
        return None
    kwargs: dict[str, Any] = {"methods": methods, "eval_dir": eval_dir or ""}
    if params.get("bakeoff_seeds"):
        kwargs["seeds"] = int(params["bakeoff_seeds"])
    if params.get("bakeoff_budget_fraction"):
        kwargs["budget_fraction"] = float(params["bakeoff_budget_fraction"])
    if params.get("bakeoff_token_budget"):
        kwargs["token_budget"] = int(params["bakeoff_token_budget"])
    if params.get("bakeoff_targets"):
        kwargs["targets"] = tuple(str(t) for t in params["bakeoff_targets"])
    return BakeoffSettings(**kwargs)
