"""`train`: labelled sessions -> splits -> LightGBM -> backtests -> calibration -> holdout
evaluation -> refit of the shipped model on every labelled session.

Two models come out of it. The *evaluated* model learns from the training period only; the
backtests and the holdout judge its recipe. The *shipped* model is the same recipe refit on
everything labelled (rounds scaled to the data, calibrator fitted on the out-of-fold scores of
the whole range), since a few thousand labelled sessions are too few to leave a fifth unused.
The card records both; metrics are the evaluated model's.

A pure function of the feature table and the config (plus the optional truth): it reads no
files, logs nothing and returns a `TrainResult`; `training.tracking` records it in MLflow.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.artifact import FrictionModel
from models.calibrator import sigmoid
from models.card import ModelCard
from models.manifest import FeatureManifest, feature_columns
from training.backtest import RULE, Backtest, run_backtests
from training.baselines import fit_logistic, oracle_scores, rule_flagged, rule_score, rule_signals
from training.calibration import choose_calibrator
from training.config import TrainConfig
from training.crossfit import cross_fitted_raw
from training.data import labelled_order, table_digest
from training.design import design_parts, rows_frame
from training.drift import drift_summary, weekly_table
from training.evaluate import MODEL, UNCALIBRATED, Evaluation, Scorer, evaluate
from training.fit import (
    booster_params,
    fit_booster,
    fit_rounds,
    make_dataset,
    make_datasets,
    scaled_rounds,
    trimmed,
)
from training.splits import split_positions
from training.tune import tune

__all__ = ["FIT_STAGE", "TrainResult", "train"]

# The timing key of LightGBM's own work (binning + boosting); everything else is overhead.
FIT_STAGE = "lightgbm_fit"


@dataclass(frozen=True)
class TrainResult:
    model: FrictionModel
    evaluation: Evaluation
    holdout: pd.DataFrame  # the holdout rows (meta + features): what the promotion gate re-scores
    holdout_scores: dict[str, np.ndarray]
    importance: pd.DataFrame  # feature, gain, split
    split_summary: dict[str, Any]
    table_digest: str
    timings: dict[str, float] = field(default_factory=dict)


class _Clock:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[f"{name}_s"] = self.seconds.get(f"{name}_s", 0.0) + time.perf_counter() - started


def train(
    table: pd.DataFrame,
    config: TrainConfig | None = None,
    *,
    truth: pd.DataFrame | None = None,
    catalog: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]] | None = None,
    tune_trials: int | None = None,
    features_sha256: str | None = None,
) -> TrainResult:
    """Evaluate the recipe (backtests, then a holdout), then ship a `FrictionModel` refit on every
    labelled session (one row per session in `table`).
    `features_sha256`: the sha256 of the file `table` was read from, which then identifies the
    data (else a digest of the table's rows is computed)."""
    config = config or TrainConfig()
    clock = _Clock()
    started = time.perf_counter()
    strict = config.features is None
    with clock.stage("prepare"):
        digest = features_sha256 or table_digest(table)
        order = labelled_order(table)
        names = config.features if config.features is not None else feature_columns(table)
        manifest = FeatureManifest.from_table(table, names, catalog)
    with clock.stage("split"):
        # Codes only say who is who: factorized in table order, then ordered (no string copies).
        user = pd.factorize(table["user_id"], use_na_sentinel=True)[0][order]
        full_label = table["label"].to_numpy(dtype=np.float64, na_value=np.nan)
        at = split_positions(
            user,
            full_label[order],
            config.holdout_fraction,
            config.validation_fraction,
            config.min_per_class,
            config.validation_user_disjoint,
            config.holdout_user_disjoint,
        )
        # Table positions of each part, ascending: sequential gathers (row order inside a part is
        # irrelevant to the fit and the metrics; the holdout frame follows the same order).
        train_at, valid_at, holdout_at = (np.sort(order[part]) for part in (at.train, at.valid, at.holdout))
        x_train, x_valid, x_holdout = design_parts(manifest, table, (train_at, valid_at, holdout_at), strict)
        y_train, y_valid, y_holdout = full_label[train_at], full_label[valid_at], full_label[holdout_at]
        holdout = rows_frame(table, holdout_at, manifest, x_holdout)
        period = order[at.period]  # the training period's table positions, in time order
        summary = at.summary | {
            "holdout_start": str(holdout["session_start"].min()),
            "holdout_end": str(holdout["session_start"].max()),
        }
    params = booster_params(config, y_train, manifest)
    tuning: dict[str, Any] = {}
    tuned: dict[str, Any] = {}
    trials = config.tune.trials if tune_trials is None else tune_trials
    if trials > 0:
        with clock.stage("tuning"):
            d_train, d_valid = make_datasets(x_train, y_train, x_valid, y_valid, manifest, params)
            tuned, tuning = tune(d_train, d_valid, params, config, trials)
            params |= tuned
    with clock.stage(FIT_STAGE):
        d_train, d_valid = make_datasets(x_train, y_train, x_valid, y_valid, manifest, params)
        fitted = fit_booster(
            d_train, d_valid, params, config.lightgbm.num_boost_round, config.early_stopping_rounds
        )
        booster = trimmed(fitted)
        del d_train, d_valid, fitted
    rule_uses = rule_signals([str(c) for c in table.columns])
    backtest = Backtest()
    if config.backtest_folds > 0:
        with clock.stage("backtests"):
            backtest = run_backtests(table, period, manifest, config, tuned, bool(rule_uses), strict)
    with clock.stage("calibration"):
        fitted_rounds = (booster.current_iteration(), len(train_at))
        calibration_raw = cross_fitted_raw(table, period, manifest, config, tuned, fitted_rounds, strict)
        calibration_y = full_label[period]
        calibrator, calibration_scores = choose_calibrator(
            calibration_raw, calibration_y, config.calibration, config.seed
        )
    with clock.stage("evaluation"):
        raw_holdout = np.asarray(booster.predict(x_holdout, raw_score=True))
        scorers = {MODEL: Scorer(calibrator.apply(raw_holdout)), UNCALIBRATED: Scorer(sigmoid(raw_holdout))}
    with clock.stage("baselines"):
        logistic = fit_logistic(x_train, y_train, manifest, config.baseline_max_rows, config.seed)
        scorers["logreg"] = Scorer(logistic.predict_matrix(x_holdout))
        if rule_uses:
            scorers[RULE] = Scorer(rule_score(holdout), probability=False)
        if truth is not None:
            scorers["oracle"] = Scorer(oracle_scores(table, truth, holdout_at))
    with clock.stage("evaluation"):
        extras = _extras(holdout, summary, scorers, rule_uses, calibrator.kind, calibration_scores, tuning)
        # The logistic baseline is a yardstick fitted on a seeded sample: say on how many sessions.
        extras["logreg_train_sessions"] = min(len(y_train), config.baseline_max_rows)
        extras["backtest_folds"] = backtest.info
        # The training range's risk out of fold (the cross-fit's), as the holdout's is.
        risk_period = calibrator.apply(calibration_raw)
        extras |= _drift(table, period, holdout_at, risk_period, scorers[MODEL].scores)
        evaluation = evaluate(
            holdout,
            scorers,
            config.segments,
            config.top_fractions,
            config.ece_bins,
            config.seed,
            extras,
            bootstrap_rounds=config.bootstrap_rounds,
            backtest=backtest.folds,
        )
    evaluated = {
        "train_sessions": len(train_at),
        "rounds": booster.current_iteration(),
        "calibration": calibrator.kind,
        "calibrated_on": f"{len(calibration_raw):,} cross-fitted sessions of the training period",
        "params": {k: params[k] for k in ("num_leaves", "min_child_samples")},
    }
    shipped_booster, shipped_calibrator, shipped_params = booster, calibrator, params
    shipped = dict(evaluated) | {"refit": False}
    if config.refit:
        with clock.stage("refit"):
            everyone = np.sort(order)
            y_all = full_label[everyone]
            shipped_params = booster_params(config, y_all, manifest, tuned)
            rounds = scaled_rounds(
                booster.current_iteration(), len(train_at), len(everyone), config.lightgbm.num_boost_round
            )
            x_all = design_parts(manifest, table, (everyone,), strict)[0]
            shipped_booster = trimmed(
                fit_rounds(make_dataset(x_all, y_all, manifest, shipped_params), shipped_params, rounds)
            )
            del x_all
            # Out-of-fold scores over the whole range: the cross-fit's and the holdout's.
            shipped_calibrator, _ = choose_calibrator(
                np.concatenate([calibration_raw, raw_holdout]),
                np.concatenate([calibration_y, y_holdout]),
                config.calibration,
                config.seed,
            )
        shipped = {
            "refit": True,
            "train_sessions": len(everyone),
            "rounds": shipped_booster.current_iteration(),
            "calibration": shipped_calibrator.kind,
            "calibrated_on": f"{len(calibration_raw):,} cross-fitted sessions of the training period "
            f"and the evaluated model's {len(raw_holdout):,} holdout sessions",
            "params": {k: shipped_params[k] for k in ("num_leaves", "min_child_samples")},
        }
    card = ModelCard(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        lightgbm_version=lgb.__version__,
        best_iteration=shipped_booster.current_iteration(),
        bands=config.bands,
        params=shipped_params,
        training={
            "config": config.model_dump(mode="json"),
            "config_sha256": config.digest(),
            "features_sha256": digest,
            "features_sha256_of": "file" if features_sha256 else "rows",
            "split": summary,
            "calibration": {"kind": shipped_calibrator.kind, "out_of_fold_log_loss": calibration_scores},
            "tuning": tuning,
            "evaluated_model": evaluated,
            "shipped_model": shipped,
        },
    )
    model = FrictionModel(shipped_booster, shipped_calibrator, manifest, card).with_metrics(
        evaluation.metrics()
    )
    clock.seconds["total_s"] = time.perf_counter() - started
    return TrainResult(
        model=model,
        evaluation=evaluation,
        holdout=holdout,
        holdout_scores={name: s.scores for name, s in scorers.items()},
        importance=_importance(shipped_booster),
        split_summary=summary,
        table_digest=digest,
        timings=clock.seconds,
    )


def _drift(
    table: pd.DataFrame,
    period: np.ndarray,
    holdout_at: np.ndarray,
    risk_period: np.ndarray,
    risk_holdout: np.ndarray,
) -> dict[str, Any]:
    label = table["label"].to_numpy(dtype=np.float64, na_value=np.nan)
    at = np.concatenate([period, holdout_at])
    part = np.array(["training"] * len(period) + ["holdout"] * len(holdout_at))
    weekly = weekly_table(
        table["session_start"].iloc[at].reset_index(drop=True),
        label[at],
        np.concatenate([risk_period, risk_holdout]),
        part,
    )
    return {
        "drift": drift_summary(label[period], label[holdout_at]),
        "weekly": weekly.to_dict("records"),
    }


def _extras(
    holdout: pd.DataFrame,
    summary: Mapping[str, Any],
    scorers: Mapping[str, Scorer],
    rule_uses: list[str],
    calibration: str,
    calibration_scores: Mapping[str, float],
    tuning: Mapping[str, Any],
) -> dict[str, Any]:
    y = holdout["label"].to_numpy(dtype=np.float64)
    extras: dict[str, Any] = {
        "calibration": calibration,
        "split": dict(summary),
        "calibration_out_of_fold_log_loss": dict(calibration_scores),
        "rule_baseline_uses": (
            ", ".join(rule_uses) if rule_uses else "skipped: the features have no error or rage-click counts"
        ),
    }
    if RULE in scorers:
        flagged = rule_flagged(scorers[RULE].scores)
        hits = float(y[flagged].sum())
        extras |= {
            "rule_baseline_flagged_rate": float(flagged.mean()),
            "rule_baseline_flag_precision": hits / flagged.sum() if flagged.any() else float("nan"),
            "rule_baseline_flag_recall": hits / y.sum(),
        }
    if "oracle" in scorers:
        extras["oracle_coverage"] = float(np.isfinite(scorers["oracle"].scores).mean())
    if tuning:
        extras["tuning"] = dict(tuning)
    return extras


def _importance(booster: lgb.Booster) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "feature": booster.feature_name(),
            "gain": booster.feature_importance("gain"),
            "split": booster.feature_importance("split"),
        }
    )
    return frame.sort_values("gain", ascending=False, ignore_index=True)
