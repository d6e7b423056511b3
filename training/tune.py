"""Optional hyper-parameter search: Optuna TPE, median pruning on validation log loss,
bounded by a trial count and a wall-clock budget. Only train and validation are seen;
the holdout stays untouched until the final evaluation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import optuna

from training.config import TrainConfig
from training.fit import fit_booster

__all__ = ["pruning_callback", "tune"]


def pruning_callback(trial: optuna.Trial, every: int = 10) -> Callable[[Any], None]:
    """Report validation log loss to Optuna every `every` rounds; stop a trial it prunes."""

    def callback(env: Any) -> None:
        if env.iteration % every:
            return
        for data, metric, value, _ in env.evaluation_result_list:
            if data == "valid" and metric == "binary_logloss":
                trial.report(value, step=env.iteration)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at round {env.iteration}: log loss {value:.5f}")

    callback.order = 25  # type: ignore[attr-defined]  # after early stopping's bookkeeping
    return callback


def _suggest(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 8, 255, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 20, 1000, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
    }


def tune(
    train: lgb.Dataset, valid: lgb.Dataset, base_params: dict[str, Any], config: TrainConfig, trials: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Best parameter overrides, and a summary (trials run, pruned, best validation log loss)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=config.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=30),
    )

    def objective(trial: optuna.Trial) -> float:
        booster = fit_booster(
            train,
            valid,
            {**base_params, **_suggest(trial)},
            num_boost_round=config.tune.max_rounds,
            early_stopping_rounds=config.early_stopping_rounds,
            callbacks=[pruning_callback(trial)],
        )
        return float(booster.best_score["valid"]["binary_logloss"])

    study.optimize(objective, n_trials=trials, timeout=config.tune.timeout_s, gc_after_trial=False)
    states = [t.state for t in study.trials]
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    summary: dict[str, Any] = {
        "trials": len(study.trials),
        "pruned": sum(s == optuna.trial.TrialState.PRUNED for s in states),
        "best_valid_log_loss": study.best_value if completed else None,
    }
    return (dict(study.best_params) if completed else {}), summary
