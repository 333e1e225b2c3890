"""Parameter samplers for the sweep, and the feature vectors the regression sees.

QuaDMix (per domain): merge weights ``α`` drawn uniformly and renormalised, ``λ = 10^{u}`` with ``u`` uniform
in ``log10_lambda``, and ``ω``, ``η``, ``ε`` uniform in their ranges (``../shared/DESIGN.md``). RegMix: domain
weights from a Dirichlet around the (temperature-smoothed) token distribution, with a concentration strength
drawn from a log-spaced grid, rejecting mixtures that would repeat a domain more than ``max_usage`` times, then
zeroing weights below ``minimum`` (RegMix's ``synthesize_mixture`` recipe).

Draws are held as arrays (``M`` draws at once) so that the 100k-candidate search is vectorised. The features
of a QuaDMix draw are its parameters plus, per domain, the expected kept share ``∫S`` and the resulting token
proportion (both closed-form from the parameters and the domain token totals); a RegMix draw's features are its
domain weights (as in RegMix).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tasks.mix.sampling import expected_mass, sigmoid_value
from tasks.mix.specs import DomainParams, QuaDMixSpec, RegMixSpec

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class QuaDMixRanges:
    log10_lambda: tuple[float, float] = (0.0, 3.0)
    omega: tuple[float, float] = (0.0, 1.0)
    eta: tuple[float, float] = (0.0, 3.0)
    eps: tuple[float, float] = (0.0, 0.05)

    def __post_init__(self) -> None:
        for name in ("log10_lambda", "omega", "eta", "eps"):
            lo, hi = getattr(self, name)
            if not lo <= hi:
                raise ValueError(f"range {name} must have low <= high, got {(lo, hi)}")
        if self.omega[0] < 0 or self.omega[1] > 1 or self.eta[0] < 0 or self.eps[0] < 0:
            raise ValueError("omega must lie in [0, 1]; eta and eps must be >= 0")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RegMixSettings:
    temperature: float = 0.5
    min_strength: float = 0.1
    max_strength: float = 5.0
    n_strengths: int = 15
    max_usage: float = 15.0  # a domain may not be repeated more than this many times
    minimum: float = 2e-4

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _uniform(rng: np.random.Generator, rng_range: tuple[float, float], shape: tuple[int, ...]) -> F64:
    lo, hi = rng_range
    return rng.uniform(lo, hi, size=shape) if hi > lo else np.full(shape, float(lo))


@dataclass
class QuaDMixDraws:
    domains: tuple[str, ...]
    criteria: tuple[str, ...]
    alpha: F64  # [M, D, N], rows sum to 1
    log10_lambda: F64  # [M, D]
    omega: F64
    eta: F64
    eps: F64

    def __len__(self) -> int:
        return int(self.alpha.shape[0])

    def spec(self, i: int) -> QuaDMixSpec:
        return QuaDMixSpec(
            criteria=self.criteria,
            domains={
                d: DomainParams(
                    alpha=tuple(float(a) for a in self.alpha[i, k]),
                    lam=float(10 ** self.log10_lambda[i, k]),
                    omega=float(self.omega[i, k]),
                    eta=float(self.eta[i, k]),
                    eps=float(self.eps[i, k]),
                )
                for k, d in enumerate(self.domains)
            },
        )

    @classmethod
    def from_specs(cls, specs: Sequence[QuaDMixSpec], domains: Sequence[str]) -> QuaDMixDraws:
        criteria = specs[0].criteria
        M, D, N = len(specs), len(domains), len(criteria)
        out = cls(
            tuple(domains),
            criteria,
            np.zeros((M, D, N)),
            np.zeros((M, D)),
            np.zeros((M, D)),
            np.zeros((M, D)),
            np.zeros((M, D)),
        )
        for i, s in enumerate(specs):
            for k, d in enumerate(domains):
                p = s.domains.get(d)
                if p is None:  # a domain the spec does not sample: nothing kept
                    out.alpha[i, k] = 1.0 / N
                    continue
                out.alpha[i, k] = p.alpha
                out.log10_lambda[i, k] = np.log10(max(p.lam, 1e-12))
                out.omega[i, k], out.eta[i, k], out.eps[i, k] = p.omega, p.eta, p.eps
        return out

    def mass(self) -> F64:
        return expected_mass(10**self.log10_lambda, self.omega, self.eta, self.eps)

    def feature_names(self) -> list[str]:
        names: list[str] = []
        for d in self.domains:
            names += [f"{d}:alpha:{c}" for c in self.criteria]
            names += [f"{d}:log10_lambda", f"{d}:omega", f"{d}:eta", f"{d}:eps", f"{d}:mass", f"{d}:share"]
        return names

    def features(self, domain_tokens: Mapping[str, float]) -> F64:
        mass = self.mass()  # [M, D]
        tokens = np.array([float(domain_tokens.get(d, 0.0)) for d in self.domains])
        vol = mass * tokens[None, :]
        total = vol.sum(axis=1, keepdims=True)
        share = np.divide(vol, total, out=np.zeros_like(vol), where=total > 0)
        parts = []
        for k in range(len(self.domains)):
            parts += [
                self.alpha[:, k, :],
                self.log10_lambda[:, k, None],
                self.omega[:, k, None],
                self.eta[:, k, None],
                self.eps[:, k, None],
                mass[:, k, None],
                share[:, k, None],
            ]
        return np.concatenate(parts, axis=1)

    def average(self, idx: npt.ArrayLike) -> QuaDMixSpec:
        """The mean of the selected draws (α renormalised, λ averaged on the log scale)."""
        ix = np.asarray(idx)
        mean = QuaDMixDraws(
            self.domains,
            self.criteria,
            self.alpha[ix].mean(axis=0, keepdims=True),
            self.log10_lambda[ix].mean(axis=0, keepdims=True),
            self.omega[ix].mean(axis=0, keepdims=True),
            self.eta[ix].mean(axis=0, keepdims=True),
            self.eps[ix].mean(axis=0, keepdims=True),
        )
        return mean.spec(0)


@dataclass
class RegMixDraws:
    domains: tuple[str, ...]
    weights: F64  # [M, D], rows sum to 1
    total_tokens: float | None = None

    def __len__(self) -> int:
        return int(self.weights.shape[0])

    def spec(self, i: int) -> RegMixSpec:
        return RegMixSpec(
            weights={d: float(self.weights[i, k]) for k, d in enumerate(self.domains)},
            total_tokens=self.total_tokens,
        )

    @classmethod
    def from_specs(cls, specs: Sequence[RegMixSpec], domains: Sequence[str]) -> RegMixDraws:
        w = np.array([[s.weights.get(d, 0.0) for d in domains] for s in specs], dtype=np.float64)
        return cls(tuple(domains), w, specs[0].total_tokens if specs else None)

    def feature_names(self) -> list[str]:
        return [f"{d}:weight" for d in self.domains]

    def features(self, domain_tokens: Mapping[str, float]) -> F64:
        return self.weights.copy()

    def average(self, idx: npt.ArrayLike) -> RegMixSpec:
        w = self.weights[np.asarray(idx)].mean(axis=0)
        return RegMixSpec(
            weights={d: float(w[k]) for k, d in enumerate(self.domains)}, total_tokens=self.total_tokens
        )


Draws = QuaDMixDraws | RegMixDraws


def sample_quadmix(
    rng: np.random.Generator,
    m: int,
    domains: Sequence[str],
    criteria: Sequence[str],
    ranges: QuaDMixRanges = QuaDMixRanges(),
) -> QuaDMixDraws:
    D, N = len(domains), len(criteria)
    if D < 1 or N < 1:
        raise ValueError("QuaDMix needs at least one domain and one criterion")
    alpha = rng.uniform(0.0, 1.0, size=(m, D, N)) + 1e-9
    alpha /= alpha.sum(axis=2, keepdims=True)
    return QuaDMixDraws(
        tuple(domains),
        tuple(criteria),
        alpha,
        _uniform(rng, ranges.log10_lambda, (m, D)),
        _uniform(rng, ranges.omega, (m, D)),
        _uniform(rng, ranges.eta, (m, D)),
        _uniform(rng, ranges.eps, (m, D)),
    )


def sample_regmix(
    rng: np.random.Generator,
    m: int,
    domains: Sequence[str],
    domain_tokens: Mapping[str, float],
    settings: RegMixSettings = RegMixSettings(),
    total_tokens: float | None = None,
) -> RegMixDraws:
    """Dirichlet draws around the token distribution (domains without tokens get weight 0)."""
    tokens = np.array([max(0.0, float(domain_tokens.get(d, 0.0))) for d in domains])
    if tokens.sum() <= 0:
        raise ValueError("RegMix needs at least one domain with tokens")
    prior = tokens / tokens.sum()
    active = prior > 0
    bound = np.minimum(prior * settings.max_usage, 1.0)
    smooth = np.where(active, prior**settings.temperature, 0.0)
    smooth /= smooth.sum()
    strengths = np.logspace(
        np.log10(settings.min_strength), np.log10(settings.max_strength), settings.n_strengths
    )
    out: list[F64] = []
    tries = 0
    while sum(len(o) for o in out) < m:
        tries += 1
        if tries > 200:
            raise ValueError("RegMix sampler could not satisfy the usage bound; raise max_usage")
        k = max(64, 2 * m)
        s = rng.choice(strengths, size=k)
        conc = np.maximum(smooth[active][None, :] * s[:, None], 1e-3)
        w = np.zeros((k, len(domains)))
        if active.sum() == 1:
            w[:, active] = 1.0
        else:
            w[:, active] = np.stack([rng.dirichlet(c) for c in conc])
        ok = np.isfinite(w).all(axis=1) & (w <= bound[None, :] + 1e-12).all(axis=1)
        w = w[ok]
        w = np.where(w < settings.minimum, 0.0, w)
        sums = w.sum(axis=1, keepdims=True)
        w = w[sums[:, 0] > 0] / sums[sums[:, 0] > 0]
        out.append(w)
    weights = np.concatenate(out)[:m]
    return RegMixDraws(tuple(domains), weights, total_tokens)


@dataclass
class CompositionFeaturizer:
    """Expected composition of the mixture a draw produces on the corpus sample: per criterion, the
    token-weighted mean percentile of the sampled tokens, and the mean number of copies per sampled token.

    With few proxy runs, the loss is much easier to learn from "how good / how repeated is what this function
    keeps" than from the raw parameters (RegMix's lesson: regress on the composition). Computed from at most
    ``max_docs`` documents per domain (a fixed random subset), vectorised over the draws."""

    domains: tuple[str, ...]
    criteria: tuple[str, ...]
    doc_tokens: dict[str, F64]  # per domain: token counts of the subset
    doc_quality: dict[str, F64]  # per domain: [n_d, N] percentile-normalised scores of the subset
    domain_tokens: dict[str, float]  # per domain: all tokens in the sample

    @classmethod
    def build(
        cls,
        domains: Sequence[str],
        criteria: Sequence[str],
        doc_domains: npt.NDArray[np.object_],
        n_tokens: npt.ArrayLike,
        normalised: F64,
        max_docs: int = 512,
        seed: int = 0,
    ) -> CompositionFeaturizer:
        rng = np.random.default_rng(seed)
        tokens = np.asarray(n_tokens, dtype=np.float64)
        doc_tokens: dict[str, F64] = {}
        doc_quality: dict[str, F64] = {}
        totals: dict[str, float] = {}
        for d in domains:
            idx = np.flatnonzero(doc_domains == d)
            totals[d] = float(tokens[idx].sum())
            if len(idx) > max_docs:
                idx = np.sort(rng.choice(idx, size=max_docs, replace=False))
            doc_tokens[d] = tokens[idx]
            doc_quality[d] = normalised[idx]
        return cls(tuple(domains), tuple(criteria), doc_tokens, doc_quality, totals)

    def feature_names(self) -> list[str]:
        return [f"mix:quality:{c}" for c in self.criteria] + ["mix:copies"]

    def features(self, draws: Draws) -> F64:
        M, N = len(draws), len(self.criteria)
        qsum = np.zeros((M, N))
        vol = np.zeros(M)  # Σ S·t (copies counted)
        uniq = np.zeros(M)  # Σ min(S, 1)·t
        for k, d in enumerate(self.domains):
            t = self.doc_tokens[d]
            q = self.doc_quality[d]
            if not len(t) or t.sum() <= 0:
                continue
            scale = self.domain_tokens[d] / t.sum()  # the subset stands for the whole domain
            if isinstance(draws, QuaDMixDraws):
                merged = draws.alpha[:, k, :] @ q.T  # [M, n_d]
                order = np.argsort(-merged, axis=1, kind="stable")
                ts = t[order]
                rank = (np.cumsum(ts, axis=1) - ts / 2) / t.sum()
                s_sorted = sigmoid_value(
                    rank,
                    10 ** draws.log10_lambda[:, k, None],
                    draws.omega[:, k, None],
                    draws.eta[:, k, None],
                    draws.eps[:, k, None],
                )
                s = np.empty_like(s_sorted)
                np.put_along_axis(s, order, s_sorted, axis=1)
            else:
                have = self.domain_tokens[d]
                total = (
                    draws.total_tokens if draws.total_tokens is not None else sum(self.domain_tokens.values())
                )
                rate = draws.weights[:, k] * total / have if have > 0 else np.zeros(M)
                s = np.repeat(rate[:, None], len(t), axis=1)
            w = s * t[None, :] * scale
            qsum += w @ q
            vol += w.sum(axis=1)
            uniq += (np.minimum(s, 1.0) * t[None, :] * scale).sum(axis=1)
        quality = np.divide(qsum, vol[:, None], out=np.zeros_like(qsum), where=vol[:, None] > 0)
        copies = np.divide(vol, uniq, out=np.zeros_like(vol), where=uniq > 0)
        return np.concatenate([quality, copies[:, None]], axis=1)
