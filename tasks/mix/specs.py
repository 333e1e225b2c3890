"""Sampling-function specifications (what :func:`tasks.mix.sampling.sampling_values` applies) and their JSON
form, as stored in a mixture's ``config.json``/``summary.json`` and a sweep's ``chosen.json``. The functions
themselves are described in :mod:`tasks.mix.sampling`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np


# --------------------------------------------------------------------------------------------------------------
# specifications
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DomainParams:
    """QuaDMix parameters of one domain: merge weights ``alpha`` (one per criterion, sums to 1), ``lam``
    (sigmoid steepness λ), ``omega`` (kept share ω of the domain's tokens), ``eta`` (η: up to 2^η copies of the
    best documents), ``eps`` (ε: sampling rate of the rest)."""

    alpha: tuple[float, ...]
    lam: float
    omega: float
    eta: float
    eps: float

    def __post_init__(self) -> None:
        a = np.asarray(self.alpha, dtype=np.float64)
        if not len(a) or np.any(a < 0) or not np.isfinite(a).all() or a.sum() <= 0:
            raise ValueError(f"alpha must be non-negative with a positive sum, got {self.alpha}")
        object.__setattr__(self, "alpha", tuple(float(x) for x in a / a.sum()))
        for name, lo in (("lam", 0.0), ("omega", 0.0), ("eta", 0.0), ("eps", 0.0)):
            value = float(getattr(self, name))
            if not np.isfinite(value) or value < lo:
                raise ValueError(f"{name} must be a finite number >= {lo}, got {value}")
            object.__setattr__(self, name, value)
        if self.omega > 1.0:
            raise ValueError(f"omega is a share of tokens and must be <= 1, got {self.omega}")

    def to_json(self) -> dict[str, Any]:
        return {
            "alpha": list(self.alpha),
            "lam": self.lam,
            "omega": self.omega,
            "eta": self.eta,
            "eps": self.eps,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DomainParams:
        return cls(
            alpha=tuple(float(x) for x in data["alpha"]),
            lam=float(data["lam"]),
            omega=float(data["omega"]),
            eta=float(data["eta"]),
            eps=float(data["eps"]),
        )


@dataclass(frozen=True)
class QuaDMixSpec:
    criteria: tuple[str, ...]
    domains: Mapping[str, DomainParams]
    kind: Literal["quadmix"] = "quadmix"

    def __post_init__(self) -> None:
        if not self.criteria:
            raise ValueError("QuaDMix needs at least one quality criterion")
        for domain, params in self.domains.items():
            if len(params.alpha) != len(self.criteria):
                raise ValueError(
                    f"domain {domain!r}: {len(params.alpha)} merge weights for {len(self.criteria)} criteria"
                )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "criteria": list(self.criteria),
            "domains": {d: p.to_json() for d, p in sorted(self.domains.items())},
        }


@dataclass(frozen=True)
class RegMixSpec:
    """Domain weights (normalised to sum 1) and the token total they share out (``None``: the corpus's)."""

    weights: Mapping[str, float]
    total_tokens: float | None = None
    kind: Literal["regmix"] = "regmix"

    def __post_init__(self) -> None:
        w = {d: float(v) for d, v in self.weights.items()}
        if any(v < 0 or not np.isfinite(v) for v in w.values()) or sum(w.values()) <= 0:
            raise ValueError("RegMix weights must be non-negative with a positive sum")
        s = sum(w.values())
        object.__setattr__(self, "weights", {d: v / s for d, v in w.items()})
        if self.total_tokens is not None and not self.total_tokens >= 0:
            raise ValueError("total_tokens must be >= 0")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "weights": dict(sorted(self.weights.items())),
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True)
class TopKSpec:
    """Keep (once) the documents whose ``criterion`` is in the top ``keep_fraction`` of all tokens."""

    criterion: str
    keep_fraction: float
    kind: Literal["topk"] = "topk"

    def __post_init__(self) -> None:
        if not 0.0 <= self.keep_fraction <= 1.0:
            raise ValueError(f"keep_fraction must be in [0, 1], got {self.keep_fraction}")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "criterion": self.criterion, "keep_fraction": self.keep_fraction}


@dataclass(frozen=True)
class GumbelSpec:
    """Keep documents by sampling without replacement with ``p ∝ exp(s / τ)`` over one ``criterion`` until
    ``keep_fraction`` of the tokens (QuRating's sampling with temperature; ``τ = 0`` is the top-k)."""

    criterion: str
    temperature: float
    keep_fraction: float
    normalize: bool = True
    kind: Literal["gumbel"] = "gumbel"

    def __post_init__(self) -> None:
        if not 0.0 <= self.keep_fraction <= 1.0:
            raise ValueError(f"keep_fraction must be in [0, 1], got {self.keep_fraction}")
        if not self.temperature >= 0 or not np.isfinite(self.temperature):
            raise ValueError(f"temperature must be a finite number >= 0, got {self.temperature}")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "criterion": self.criterion,
            "temperature": self.temperature,
            "keep_fraction": self.keep_fraction,
            "normalize": self.normalize,
        }


@dataclass(frozen=True)
class UniformSpec:
    """Every document gets the sampling value ``rate`` (1.0: the corpus once; 0.1: a 10% random sample)."""

    rate: float = 1.0
    kind: Literal["uniform"] = "uniform"

    def __post_init__(self) -> None:
        if not self.rate >= 0:
            raise ValueError(f"rate must be >= 0, got {self.rate}")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "rate": self.rate}


SamplingSpec = QuaDMixSpec | RegMixSpec | TopKSpec | GumbelSpec | UniformSpec


def spec_from_json(data: Mapping[str, Any]) -> SamplingSpec:
    kind = data.get("kind")
    if kind == "quadmix":
        return QuaDMixSpec(
            criteria=tuple(data["criteria"]),
            domains={d: DomainParams.from_json(p) for d, p in data["domains"].items()},
        )
    if kind == "regmix":
        total = data.get("total_tokens")
        return RegMixSpec(weights=dict(data["weights"]), total_tokens=None if total is None else float(total))
    if kind == "topk":
        return TopKSpec(criterion=str(data["criterion"]), keep_fraction=float(data["keep_fraction"]))
    if kind == "gumbel":
        return GumbelSpec(
            criterion=str(data["criterion"]),
            temperature=float(data["temperature"]),
            keep_fraction=float(data["keep_fraction"]),
            normalize=bool(data.get("normalize", True)),
        )
    if kind == "uniform":
        return UniformSpec(rate=float(data.get("rate", 1.0)))
    raise ValueError(f"unknown sampling function kind {kind!r} (quadmix, regmix, topk, gumbel, uniform)")


def spec_criteria(spec: SamplingSpec) -> tuple[str, ...]:
    """Score columns the function reads."""
    if isinstance(spec, QuaDMixSpec):
        return spec.criteria
    if isinstance(spec, TopKSpec | GumbelSpec):
        return (spec.criterion,)
    return ()
