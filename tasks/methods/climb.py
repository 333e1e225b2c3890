"""CLIMB's iterative mixture search: sweep, fit a predictor, narrow the search to what it predicts best, sweep
again, for ``k`` rounds: an alternative to the sweep's one-shot 100k-candidate search (:mod:`tasks.sweep.fit`).

Paper: Diao et al. 2025, "CLIMB: CLustering-based Iterative Data Mixture Bootstrapping for Language Model
Pre-training" (arXiv 2504.13161), section 2.2. The paper poses mixture search as a bi-level problem,

    min_{α ∈ A} ℓ(α, ω*)   s.t.   ω* = argmin_ω L(α, ω),

(``α`` the mixture weights over the clusters, ``ω`` the proxy model's weights, ``ℓ`` the target performance),
approximated with a predictor ``f_θ(α) ≈ ℓ(α, ω*)``, and solves it by coordinate descent over iterations ``k``:
"configuration sampling" (in iteration ``k + 1`` rank every configuration of the search space with the current
predictor ``f_θ^k`` and sample the new configurations to train proxies on from the top-ranked ones, so that
"the predictor prunes mixtures that are likely to perform poorly, so only the most promising mixtures proceed to
full proxy training in subsequent iterations"), and "predictor fitting" (fit ``f_θ^{k+1}`` on every
configuration evaluated so far, ``S^{k+1} = S^k ∪ S̃^{k+1}``). The predictor is a LightGBM regressor.

Here: round 1 evaluates ``per_round`` mixtures drawn by ``sampler`` (a Dirichlet on the simplex by default; the
RegMix sampler in :func:`climb_regmix`); the predictor is the sweep's LightGBM regression
(:func:`tasks.sweep.regression.fit_regression`, K-fold held-out Spearman as its fit quality); every later round
draws ``candidates`` fresh mixtures, ranks them by the predictor fitted on all evaluations so far, and evaluates
``per_round`` of them sampled at random from the top ``top_fraction`` (the narrowed search space; when
``top_fraction × candidates <= per_round`` that is simply the ``per_round`` best predicted). Differences to the
paper, named: the paper searches over cluster weights from embedding clusters, here over whatever dimensions
``evaluate`` gives meaning to (Quarry's domains in :func:`climb_regmix`); the per-round budget is constant
(``per_round``) where the paper may split its budget unevenly across iterations.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from tasks.sweep.regression import RegressionConfig, fit_regression

if TYPE_CHECKING:
    from tasks.sweep.config import SweepConfig
    from tasks.sweep.tokenizer import TokenArray
    from tasks.sweep.train import SampleCorpus

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
Evaluate = Callable[[FloatArray], FloatArray]
Sampler = Callable[[np.random.Generator, int], FloatArray]


@dataclass(frozen=True)
class ClimbRound:
    round: int  # 1-based
    evaluated: int  # mixtures evaluated in this round (non-finite losses included)
    failed: int  # of those, evaluations that returned a non-finite loss
    best_observed_loss: float  # lowest loss observed in this round
    mean_observed_loss: float  # mean of this round's finite losses
    best_so_far: float  # lowest loss observed up to and including this round
    # the predictor refitted after this round (on every evaluation so far): its lowest prediction over the next
    # round's ``candidates`` (its estimate of the best reachable loss), and its held-out Spearman
    best_predicted_loss: float | None  # None: too few finite losses to fit
    fit_spearman: float | None
    gain: float  # best_so_far of the previous round minus this round's (0 in round 1)

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class ClimbResult:
    best_weights: FloatArray  # (d,) the evaluated mixture with the lowest observed loss
    best_loss: float
    rounds: list[ClimbRound]
    weights: FloatArray  # (n, d) every evaluated mixture, in order
    losses: FloatArray  # (n,)
    round_of: npt.NDArray[np.int64]  # (n,) the round (1-based) each mixture was evaluated in
    predicted_best_weights: FloatArray | None = None  # the final predictor's best among fresh candidates
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gains(self) -> list[float]:
        return [r.gain for r in self.rounds]

    def to_json(self) -> dict[str, Any]:
        return {
            "best_weights": self.best_weights.tolist(),
            "best_loss": self.best_loss,
            "predicted_best_weights": None
            if self.predicted_best_weights is None
            else self.predicted_best_weights.tolist(),
            "evaluations": len(self.losses),
            "rounds": [r.to_json() for r in self.rounds],
            "gains": self.gains,
            **self.extra,
        }


def dirichlet_sampler(dims: int, concentration: npt.ArrayLike | None = None) -> Sampler:
    """Mixtures from a Dirichlet on the simplex (all ones by default: uniform over the simplex)."""
    alpha = np.ones(dims) if concentration is None else np.asarray(concentration, dtype=np.float64)
    if alpha.shape != (dims,) or not np.all(alpha > 0):
        raise ValueError(f"the Dirichlet concentration must be {dims} positive numbers")

    def sample(rng: np.random.Generator, n: int) -> FloatArray:
        out: FloatArray = rng.dirichlet(alpha, size=n)
        return out

    return sample


def regression_for(per_round: int) -> RegressionConfig:
    """The sweep's regression settings, scaled down so that one round's evaluations can be fitted (K-fold with
    ``per_round // 2`` folds, 2 to 5)."""
    folds = min(5, max(2, per_round // 2))
    return RegressionConfig(folds=folds, min_runs=max(4, folds, min(10, per_round)))


def _fit(
    x: FloatArray, y: FloatArray, regression: RegressionConfig
) -> tuple[Callable[[FloatArray], FloatArray] | None, float | None]:
    ok = np.isfinite(y)
    if ok.sum() < regression.min_runs:
        return None, None
    names = [f"w{j}" for j in range(x.shape[1])]
    fit = fit_regression(x[ok], y[ok], names, regression)
    return fit.predict, fit.spearman


def climb_search(
    evaluate: Evaluate,
    dims: int,
    rounds: int,
    per_round: int,
    seed: int,
    candidates: int = 100_000,
    top_fraction: float = 0.0005,
    *,
    sampler: Sampler | None = None,
    regression: RegressionConfig | None = None,
) -> ClimbResult:
    """Run CLIMB's search for ``rounds`` rounds of ``per_round`` evaluations each (see the module docstring).

    ``evaluate`` maps ``(n, dims)`` mixture weights to ``(n,)`` losses (lower is better; a non-finite loss counts
    as a failed evaluation and is left out of the fit). ``regression`` defaults to the sweep's settings with
    ``min_runs`` and ``folds`` lowered to what one round can give (:func:`regression_for`)."""
    if dims < 1 or rounds < 1 or per_round < 1 or candidates < per_round:
        raise ValueError("dims, rounds and per_round must be >= 1 and candidates >= per_round")
    if not 0 < top_fraction <= 1:
        raise ValueError("top_fraction must be in (0, 1]")
    sample = sampler or dirichlet_sampler(dims)
    regression = regression or regression_for(per_round)
    rng = np.random.default_rng(seed)
    xs: list[FloatArray] = []
    ys: list[FloatArray] = []
    tags: list[npt.NDArray[np.int64]] = []
    history: list[ClimbRound] = []
    best_so_far = math.inf
    pool: FloatArray | None = None
    pool_pred: FloatArray | None = None
    for k in range(1, rounds + 1):
        if pool is None or pool_pred is None:
            chosen = sample(rng, per_round)
        else:
            top = np.argsort(pool_pred, kind="stable")[: max(per_round, math.ceil(top_fraction * candidates))]
            chosen = pool[np.sort(rng.choice(top, size=per_round, replace=False))]
        if chosen.shape != (per_round, dims):
            raise ValueError(f"the sampler returned shape {chosen.shape}, expected {(per_round, dims)}")
        losses = np.asarray(evaluate(chosen), dtype=np.float64).reshape(-1)
        if losses.shape != (per_round,):
            raise ValueError(f"evaluate returned {losses.shape[0]} losses for {per_round} mixtures")
        xs.append(chosen)
        ys.append(losses)
        tags.append(np.full(per_round, k, dtype=np.int64))
        finite = losses[np.isfinite(losses)]
        round_best = float(finite.min()) if len(finite) else math.inf
        previous = best_so_far
        best_so_far = min(best_so_far, round_best)
        predict, spearman = _fit(np.concatenate(xs), np.concatenate(ys), regression)
        best_pred: float | None = None
        if predict is not None:  # the next round's candidates, ranked by the predictor refitted on all so far
            pool = sample(rng, candidates)
            pool_pred = predict(pool)
            best_pred = float(pool_pred.min())
        history.append(
            ClimbRound(
                round=k,
                evaluated=per_round,
                failed=int(per_round - len(finite)),
                best_observed_loss=round_best,
                mean_observed_loss=float(finite.mean()) if len(finite) else math.nan,
                best_so_far=best_so_far,
                best_predicted_loss=best_pred,
                fit_spearman=spearman,
                gain=0.0 if k == 1 or not math.isfinite(previous) else previous - best_so_far,
            )
        )
        log.info(
            "CLIMB round %d: best observed %.4f (so far %.4f), best predicted %s, predictor Spearman %s",
            k,
            round_best,
            best_so_far,
            "-" if best_pred is None else f"{best_pred:.4f}",
            "-" if spearman is None else f"{spearman:.3f}",
        )
    weights = np.concatenate(xs)
    losses_all = np.concatenate(ys)
    if not np.isfinite(losses_all).any():
        raise ValueError("every CLIMB evaluation failed (no finite loss)")
    best = int(np.nanargmin(np.where(np.isfinite(losses_all), losses_all, np.nan)))
    return ClimbResult(
        best_weights=weights[best],
        best_loss=float(losses_all[best]),
        rounds=history,
        weights=weights,
        losses=losses_all,
        round_of=np.concatenate(tags),
        predicted_best_weights=None if pool is None or pool_pred is None else pool[int(np.argmin(pool_pred))],
    )


# ---------------------------------------------------------------------------------------------------------------
# the bake-off arm: CLIMB over RegMix domain weights, each evaluation a proxy trained on the sweep's sample
# ---------------------------------------------------------------------------------------------------------------
def climb_regmix(
    corpus: SampleCorpus,
    config: SweepConfig,
    targets: Mapping[str, TokenArray],
    rounds: int,
    per_round: int,
    seed: int,
    device: str = "auto",
    *,
    candidates: int | None = None,
    top_fraction: float = 0.0005,
    token_budget: int | None = None,
) -> ClimbResult:
    """CLIMB over RegMix domain weights of the sweep's sample corpus: each evaluation trains one proxy per mixture
    (all of a round at once, :func:`tasks.sweep.trainer.train_proxies`) on the RegMix sampling values of the
    mixture and returns its objective (``config.objective`` over ``targets``). Candidates come from the sweep's
    RegMix sampler (:func:`tasks.sweep.params.sample_regmix`). The proxies are ``config.model``; keep them tiny
    (``token_budget`` overrides ``config.token_budget``): this is the bake-off's most expensive arm."""
    from tasks.mix.specs import RegMixSpec
    from tasks.sweep.config import objective_value
    from tasks.sweep.params import sample_regmix
    from tasks.sweep.train import sample_mixture
    from tasks.sweep.trainer import make_stream, train_proxies

    domains = sorted(corpus.stats.domain_tokens)
    domain_tokens = {d: float(corpus.stats.domain_tokens[d]) for d in domains}
    names = list(targets)
    budget = token_budget or config.token_budget
    calls = [0]

    def sampler(rng: np.random.Generator, n: int) -> FloatArray:
        return sample_regmix(rng, n, domains, domain_tokens, config.regmix).weights

    def evaluate(weights: FloatArray) -> FloatArray:
        calls[0] += 1
        streams, seeds = [], []
        for i, w in enumerate(weights):
            run_seed = seed * 1_000_003 + calls[0] * 1_009 + i
            spec = RegMixSpec(weights={d: float(v) for d, v in zip(domains, w, strict=True)})
            values, _ = sample_mixture(corpus, spec, run_seed, config.criteria)
            streams.append(
                make_stream(corpus.tokens, corpus.offsets, values, run_seed, config.model, config.train)
            )
            seeds.append(seed)  # the same initialisation for every proxy: only the mixture differs
        outcome = train_proxies(
            model_config=config.model,
            train_config=config.train,
            streams=streams,
            seeds=seeds,
            token_budget=budget,
            targets=targets,
            device=device,
        )
        return np.array(
            [
                objective_value(p.losses, config.objective, names) if p.status == "completed" else math.nan
                for p in outcome.proxies
            ]
        )

    result = climb_search(
        evaluate,
        len(domains),
        rounds,
        per_round,
        seed,
        candidates=candidates or config.search_size,
        top_fraction=top_fraction,
        sampler=sampler,
        regression=regression_for(per_round),
    )
    result.extra["domains"] = domains
    result.extra["best_mixture"] = {d: float(v) for d, v in zip(domains, result.best_weights, strict=True)}
    return result
