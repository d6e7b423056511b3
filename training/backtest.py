"""Rolling-origin backtests over the training period: how the recipe does month after month.

The training period (time-ordered) is cut into `folds + 1` blocks; fold k learns from blocks
before k only (its latest `validation_fraction` stops boosting) and is tested on block k, with
the same baselines as the holdout. The model's figures there are the booster's own probabilities
(calibrating each fold would need a cross-fit of its own). A fold whose past or test block
lacks a class is skipped and listed with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.calibrator import sigmoid
from models.manifest import FeatureManifest
from training.baselines import fit_logistic, rule_score
from training.config import TrainConfig
from training.design import design_parts
from training.evaluate import MODEL, Scorer
from training.fit import booster_params, fit_booster, make_datasets
from training.metrics import binary_metrics
from training.splits import backtest_blocks

__all__ = ["Backtest", "run_backtests"]

RULE = "rule_baseline"


@dataclass(frozen=True)
class Backtest:
    # Per fold that ran: scorer -> metrics on its test block.
    folds: list[dict[str, dict[str, float]]] = field(default_factory=list)
    # Per fold (run or skipped): its time range, sizes, rounds, or why it was skipped.
    info: list[dict[str, Any]] = field(default_factory=list)
    # Table positions of every tested session, and the fold model's raw score for each.
    positions: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    raw: np.ndarray = field(default_factory=lambda: np.empty(0))


def _both_classes(y: np.ndarray, least: int) -> bool:
    positives = int(y.sum())
    return min(positives, len(y) - positives) >= least


def run_backtests(
    table: pd.DataFrame,
    period: np.ndarray,
    manifest: FeatureManifest,
    config: TrainConfig,
    overrides: dict[str, Any],
    rule: bool,
    strict: bool,
) -> Backtest:
    """Backtest the recipe on `period`: table positions of the training period in time order.
    `overrides`: tuned booster parameters; `rule`: whether the rule baseline can be computed."""
    label = table["label"].to_numpy(dtype=np.float64, na_value=np.nan)
    starts = table["session_start"]
    folds: list[dict[str, dict[str, float]]] = []
    info: list[dict[str, Any]] = []
    tested: list[np.ndarray] = []
    raws: list[np.ndarray] = []
    for k, (past, test) in enumerate(backtest_blocks(len(period), config.backtest_folds), start=1):
        n_valid = max(1, int(np.ceil(len(past) * config.validation_fraction)))
        inner_train, inner_valid, test_at = period[past[:-n_valid]], period[past[-n_valid:]], period[test]
        record: dict[str, Any] = {
            "fold": k,
            "train_sessions": len(inner_train),
            "test_sessions": len(test_at),
            "test_start": str(starts.iloc[test_at[0]]) if len(test_at) else None,
            "test_end": str(starts.iloc[test_at[-1]]) if len(test_at) else None,
        }
        parts = {"train": inner_train, "validation": inner_valid, "test": test_at}
        lacking = [name for name, at in parts.items() if not _both_classes(label[at], 1)]
        if lacking or len(inner_train) < 2 * config.min_per_class:
            record["skipped"] = f"no {' / '.join(lacking) or 'train'} sessions of both classes"
            info.append(record)
            continue
        x_train, x_valid, x_test = design_parts(manifest, table, tuple(parts.values()), strict=strict)
        y_train, y_valid, y_test = label[inner_train], label[inner_valid], label[test_at]
        params = booster_params(config, y_train, manifest, overrides)
        d_train, d_valid = make_datasets(x_train, y_train, x_valid, y_valid, manifest, params)
        booster = fit_booster(
            d_train, d_valid, params, config.lightgbm.num_boost_round, config.early_stopping_rounds
        )
        raw = np.asarray(booster.predict(x_test, raw_score=True, num_iteration=booster.best_iteration))
        del d_train, d_valid
        # The booster's own probability: the recipe's calibrator needs a cross-fit per fold.
        scorers = {MODEL: Scorer(sigmoid(raw))}
        logistic = fit_logistic(x_train, y_train, manifest, config.baseline_max_rows, config.seed)
        scorers["logreg"] = Scorer(logistic.predict_matrix(x_test))
        if rule:
            scorers[RULE] = Scorer(rule_score(table.iloc[test_at]), probability=False)
        folds.append(
            {
                name: binary_metrics(
                    y_test, s.scores, s.probability, config.top_fractions, config.ece_bins, config.seed
                )
                for name, s in scorers.items()
            }
        )
        record["rounds"] = booster.best_iteration
        info.append(record)
        tested.append(test_at)
        raws.append(raw)
    if not tested:
        return Backtest(folds, info)
    return Backtest(folds, info, np.concatenate(tested), np.concatenate(raws))
