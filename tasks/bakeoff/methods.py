"""The bake-off's arms: each method turns the sweep's sample pool into per-document sampling values at a matched
token budget. The baselines live here (uniform, top-k, the sweep's chosen mixture); the literature's methods are
adapters over ``tasks.methods`` (:mod:`tasks.bakeoff.adapters`), imported when the arm runs, so that an arm
whose module is missing is reported ``unavailable`` instead of failing the bake-off.

Sampling values follow :mod:`tasks.mix.sampling`: ``a.b`` = ``a`` copies plus one more with probability ``b``
(per chunk of the proxy's stream). Budgets are counted in the sample's ``n_tokens`` (the mixture's tokens).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from tasks.bakeoff.settings import BakeoffSettings
from tasks.methods.budget import fill_in_order
from tasks.mix.specs import spec_from_json
from tasks.storage import exists, read_json
from tasks.sweep.config import SweepConfig, SweepPaths
from tasks.sweep.train import SampleCorpus, sample_mixture

Values = npt.NDArray[np.float64]


class Unavailable(Exception):
    """The arm cannot run here (its module is missing, or the sweep lacks what it needs); the reason is shown."""


@dataclass
class Context:
    """Everything an arm may read: the sweep, its sample pool (training documents only) and the reference text."""

    store: str
    sweep_id: str
    config: SweepConfig
    paths: SweepPaths
    corpus: SampleCorpus
    pool: pa.Table  # the sample's training documents: id, text, snapshot, shard (+ cluster_size when present)
    settings: BakeoffSettings
    budget_tokens: int
    target_texts: Mapping[str, str]  # target set name → its text
    hq_texts: Sequence[str]  # the reference set's classifier part (never the measured held-out part)
    encoded_targets: Mapping[str, npt.NDArray[Any]]  # what proxies trained inside a method are evaluated on
    device: str
    proxy_budget: int
    _texts: list[str] | None = field(default=None, repr=False)

    @property
    def pool_texts(self) -> list[str]:
        if self._texts is None:
            self._texts = [t or "" for t in self.pool.column("text").to_pylist()]
        return self._texts

    @property
    def n_tokens(self) -> npt.NDArray[np.int64]:
        return self.corpus.n_tokens

    def chosen(self) -> Mapping[str, Any] | None:
        return read_json(self.paths.chosen) if exists(self.paths.chosen) else None


@dataclass
class Selection:
    values: Values
    facts: dict[str, Any] = field(default_factory=dict)  # method-specific figures (KL, gains per round, ...)


Method = Callable[[Context], Selection]


def scale_to_budget(values: npt.ArrayLike, n_tokens: npt.ArrayLike, budget: float) -> Values:
    """The same mixture (relative sampling values) at ``budget`` expected tokens."""
    v = np.asarray(values, dtype=np.float64)
    v = np.where(np.isfinite(v) & (v > 0), v, 0.0)
    total = float((v * np.asarray(n_tokens, dtype=np.float64)).sum())
    if total <= 0:
        raise Unavailable("the mixture selects no documents of the sample")
    out: Values = v * (budget / total)
    return out


def uniform(ctx: Context) -> Selection:
    """Random documents (a seeded permutation) up to the budget: sampling without replacement."""
    order = np.random.default_rng(ctx.settings.seed).permutation(len(ctx.n_tokens))
    return Selection(fill_in_order(order, ctx.n_tokens, ctx.budget_tokens, crossing="closer"))


def topk(ctx: Context) -> Selection:
    """The sweep's top-k criterion: the best-scored documents up to the budget (the budget replaces the sweep's
    ``topk_keep``)."""
    criterion = ctx.config.topk_criterion
    col = ctx.corpus.scores[:, list(ctx.config.criteria).index(criterion)]
    col = np.where(np.isfinite(col), col, -np.inf)
    order = np.argsort(-col, kind="stable")
    return Selection(
        fill_in_order(order, ctx.n_tokens, ctx.budget_tokens, crossing="closer"), {"criterion": criterion}
    )


def chosen(ctx: Context) -> Selection:
    """The sweep's chosen QuaDMix/RegMix sampling function, its values scaled to the budget (same proportions
    between documents, hence the same domain and quality mixture)."""
    doc = ctx.chosen()
    if not doc or "spec" not in doc:
        raise Unavailable(f"sweep {ctx.sweep_id!r} has no chosen parameters (chosen.json; run the fit first)")
    spec = spec_from_json(doc["spec"])
    values, mix = sample_mixture(ctx.corpus, spec, ctx.settings.seed, ctx.config.criteria)
    return Selection(
        scale_to_budget(values, ctx.n_tokens, ctx.budget_tokens),
        {"kind": spec.kind, "unscaled_tokens": float(mix["tokens"])},
    )


def registry() -> dict[str, Method]:
    from tasks.bakeoff import adapters

    return {
        "uniform": uniform,
        "topk": topk,
        "chosen": chosen,
        "dsir": adapters.dsir,
        "qurating": adapters.qurating,
        "dclm": adapters.dclm,
        "rebalance": adapters.rebalance,
        "preselect": adapters.preselect,
        "climb": adapters.climb,
    }


MODULES = {  # the module each literature arm needs (its availability is part of a bake-off's digest)
    "dsir": ("tasks.methods.dsir",),
    "qurating": ("tasks.methods.qurating",),
    "dclm": ("tasks.methods.dclm",),
    "rebalance": ("tasks.methods.rebalance",),
    "preselect": ("tasks.methods.preselect",),
    "climb": ("tasks.methods.climb",),
}


def check_values(values: npt.ArrayLike, n_docs: int) -> Values:
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(v) != n_docs:
        raise ValueError(f"{len(v)} sampling values for {n_docs} documents")
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError("sampling values must be finite and non-negative")
    if not math.isfinite(float(v.sum())) or float(v.sum()) <= 0:
        raise ValueError("the selection is empty")
    return v
