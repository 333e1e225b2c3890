"""LightGBM regression from sampling-function features to proxy loss, and the search for the best parameters.

Settings follow RegMix (gbdt, regression objective, learning rate 0.01, up to 1000 rounds, early stopping on a
validation split, seed 42). Two adaptations for sweeps smaller than RegMix's 512 runs, both configurable:
``min_data_in_leaf`` defaults to a value that lets trees split with a few dozen runs (LightGBM's default of 20
would allow one split at most), and the held-out quality of the fit is measured by K-fold cross-validation
(every run predicted by a model that never saw it), which gives a Spearman over all completed runs instead of a
small fixed validation slice. The final model is trained on every completed run with the median number of
rounds the folds chose.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import pearsonr, spearmanr

log = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]


class InsufficientRunsError(ValueError):
    """Too few completed proxy runs to fit (and validate) a regression."""


@dataclass(frozen=True)
class RegressionConfig:
    learning_rate: float = 0.01
    num_boost_round: int = 1000
    early_stopping_rounds: int = 3  # RegMix's patience
    folds: int = 5
    inner_validation: float = 0.2  # share of each fold's training runs used for early stopping
    cv_below: int = 200  # fewer training runs than this: early stopping on an inner K-fold mean instead
    min_data_in_leaf: int | None = None  # None: max(2, min(20, n_train // 8))
    num_leaves: int = 31
    seed: int = 42
    min_runs: int = 10

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ValueError("folds must be >= 2")
        if self.min_runs < max(4, self.folds):
            raise ValueError(f"min_runs must be >= max(4, folds={self.folds})")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RegressionFit:
    booster: Any  # lightgbm.Booster
    feature_names: list[str]
    oof_pred: F64  # out-of-fold prediction of every run
    actual: F64
    spearman: float
    pearson: float
    mae: float
    rounds: int
    fold_rounds: list[int]

    def predict(self, x: F64) -> F64:
        out: F64 = np.asarray(self.booster.predict(x, num_iteration=self.rounds), dtype=np.float64)
        return out

    def summary(self) -> dict[str, Any]:
        importance = self.booster.feature_importance(importance_type="gain")
        top = sorted(zip(self.feature_names, importance.tolist(), strict=True), key=lambda t: -t[1])[:15]
        return {
            "n_runs": len(self.actual),
            "spearman_heldout": self.spearman,
            "pearson_heldout": self.pearson,
            "mae_heldout": self.mae,
            "rounds": self.rounds,
            "fold_rounds": self.fold_rounds,
            "top_features": [{"feature": f, "gain": g} for f, g in top],
        }


def _params(cfg: RegressionConfig, n_train: int) -> dict[str, Any]:
    leaf = cfg.min_data_in_leaf if cfg.min_data_in_leaf is not None else max(2, min(20, n_train // 8))
    return {
        "objective": "regression",
        "boosting_type": "gbdt",
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "min_data_in_leaf": leaf,
        "min_data_in_bin": 1,
        "seed": cfg.seed,
        "deterministic": True,
        "num_threads": 1,
        "verbosity": -1,
        "metric": "l2",
    }


def _train(cfg: RegressionConfig, x: F64, y: F64, rng: np.random.Generator) -> tuple[Any, int]:
    """Fit with early stopping. From ``cv_below`` runs down, the number of rounds is chosen by early stopping on
    the mean of an inner K-fold (a single small validation split stops at random); above, on one split."""
    import lightgbm as lgb

    n = len(y)
    params = _params(cfg, n)
    if n < cfg.cv_below:
        nfold = max(2, min(cfg.folds, n // 4))
        dtrain = lgb.Dataset(x, y, params={"min_data_in_bin": 1, "verbosity": -1})
        cv = lgb.cv(
            {**params, "min_data_in_leaf": _params(cfg, n - n // nfold)["min_data_in_leaf"]},
            dtrain,
            num_boost_round=cfg.num_boost_round,
            nfold=nfold,
            stratified=False,
            shuffle=True,
            seed=int(rng.integers(0, 2**31 - 1)),
            callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
        )
        history = cv[next(k for k in cv if k.endswith("-mean"))]  # one entry per round kept
        assert isinstance(history, list)
        rounds = max(1, len(history))
        return lgb.train(params, dtrain, num_boost_round=rounds), rounds
    order = rng.permutation(n)
    n_val = max(1, round(cfg.inner_validation * n))
    val, tr = order[:n_val], order[n_val:]
    params = _params(cfg, len(tr))
    dtrain = lgb.Dataset(x[tr], y[tr], params={"min_data_in_bin": 1, "verbosity": -1})
    dval = lgb.Dataset(x[val], y[val], reference=dtrain)
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=cfg.num_boost_round,
        valid_sets=[dval],
        callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
    )
    return booster, max(1, int(booster.best_iteration or cfg.num_boost_round))


def fit_regression(x: F64, y: F64, feature_names: list[str], cfg: RegressionConfig) -> RegressionFit:
    """Cross-validated fit; raises :class:`InsufficientRunsError` below ``cfg.min_runs`` runs."""
    import lightgbm as lgb

    n = len(y)
    if n < cfg.min_runs:
        raise InsufficientRunsError(
            f"only {n} completed proxy runs; the regression needs at least {cfg.min_runs} "
            "(run more proxies, or resume the sweep so that failed groups are retried)"
        )
    rng = np.random.default_rng(cfg.seed)
    folds = min(cfg.folds, n)
    assign = rng.permutation(n) % folds
    oof = np.zeros(n)
    fold_rounds: list[int] = []
    for k in range(folds):
        test = assign == k
        booster, rounds = _train(cfg, x[~test], y[~test], rng)
        oof[test] = booster.predict(x[test], num_iteration=rounds)
        fold_rounds.append(rounds)
    rounds = int(np.median(fold_rounds))
    final = lgb.train(
        _params(cfg, n),
        lgb.Dataset(x, y, params={"min_data_in_bin": 1, "verbosity": -1}),
        num_boost_round=rounds,
    )
    if np.std(oof) > 0 and np.std(y) > 0:
        rho = float(spearmanr(oof, y).statistic)
        r = float(pearsonr(oof, y).statistic)
    else:
        rho, r = 0.0, 0.0
    return RegressionFit(
        booster=final,
        feature_names=feature_names,
        oof_pred=oof,
        actual=y,
        spearman=rho,
        pearson=r,
        mae=float(np.mean(np.abs(oof - y))),
        rounds=rounds,
        fold_rounds=fold_rounds,
    )
