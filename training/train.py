"""`train`: labelled sessions -> splits -> LightGBM -> calibration -> holdout evaluation.

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
from training.baselines import fit_logistic, oracle_scores, rule_flagged, rule_score
from training.calibration import choose_calibrator
from training.config import TrainConfig
from training.data import labelled_order, table_digest
from training.design import design_parts, rows_frame
from training.evaluate import MODEL, UNCALIBRATED, Evaluation, Scorer, evaluate
from training.fit import booster_params, fit_booster, make_datasets, trimmed
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
    """Fit, calibrate and evaluate a `FrictionModel` on a feature table (one row per session).
    `features_sha256`: the sha256 of the file `table` was read from, which then identifies the
    data (else a digest of the table's rows is computed)."""
    config = config or TrainConfig()
    clock = _Clock()
    started = time.perf_counter()
    with clock.stage("prepare"):
        digest = features_sha256 or table_digest(table)
        order = labelled_order(table)
        names = config.features if config.features is not None else feature_columns(table)
        manifest = FeatureManifest.from_table(table, names, catalog)
    with clock.stage("split"):
        # Codes only say who is who: factorized in table order, then ordered (no string copies).
        user = pd.factorize(table["user_id"], use_na_sentinel=True)[0][order]
        label = table["label"].to_numpy(dtype=np.float64, na_value=np.nan)[order]
        at = split_positions(
            user,
            label,
            config.holdout_fraction,
            config.validation_fraction,
            config.min_per_class,
            config.validation_user_disjoint,
        )
        # Table positions of each part, ascending: sequential gathers (row order inside a part is
        # irrelevant to the fit and the metrics; the holdout frame follows the same order).
        train_at, valid_at, holdout_at = (np.sort(order[part]) for part in (at.train, at.valid, at.holdout))
        x_train, x_valid, x_holdout = design_parts(
            manifest, table, (train_at, valid_at, holdout_at), strict=config.features is None
        )
        full_label = table["label"].to_numpy(dtype=np.float64, na_value=np.nan)
        y_train, y_valid = full_label[train_at], full_label[valid_at]
        holdout = rows_frame(table, holdout_at, manifest, x_holdout)
        summary = at.summary | {
            "holdout_start": str(holdout["session_start"].min()),
            "holdout_end": str(holdout["session_start"].max()),
        }
    params = booster_params(config, y_train, manifest)
    tuning: dict[str, Any] = {}
    trials = config.tune.trials if tune_trials is None else tune_trials
    if trials > 0:
        with clock.stage("tuning"):
            d_train, d_valid = make_datasets(x_train, y_train, x_valid, y_valid, manifest, params)
            best, tuning = tune(d_train, d_valid, params, config, trials)
            params |= best
    with clock.stage(FIT_STAGE):
        d_train, d_valid = make_datasets(x_train, y_train, x_valid, y_valid, manifest, params)
        fitted = fit_booster(
            d_train, d_valid, params, config.lightgbm.num_boost_round, config.early_stopping_rounds
        )
        booster = trimmed(fitted)
        del d_train, d_valid, fitted
    with clock.stage("calibration"):
        calibrator, calibration_scores = choose_calibrator(
            np.asarray(booster.predict(x_valid, raw_score=True)), y_valid, config.calibration, config.seed
        )
    with clock.stage("evaluation"):
        raw_holdout = np.asarray(booster.predict(x_holdout, raw_score=True))
        scorers = {MODEL: Scorer(calibrator.apply(raw_holdout)), UNCALIBRATED: Scorer(sigmoid(raw_holdout))}
    with clock.stage("baselines"):
        logistic = fit_logistic(x_train, y_train, manifest, config.baseline_max_rows, config.seed)
        scorers["logreg"] = Scorer(logistic.predict_matrix(x_holdout))
        rule = rule_score(holdout)
        scorers["rule_baseline"] = Scorer(rule, probability=False)
        if truth is not None:
            scorers["oracle"] = Scorer(oracle_scores(table, truth, holdout_at))
    with clock.stage("evaluation"):
        flagged = rule_flagged(rule)
        extras = _extras(holdout, summary, flagged, scorers, calibrator.kind, calibration_scores, tuning)
        # The logistic baseline is a yardstick fitted on a seeded sample: say on how many sessions.
        extras["logreg_train_sessions"] = min(len(y_train), config.baseline_max_rows)
        evaluation = evaluate(
            holdout, scorers, config.segments, config.top_fractions, config.ece_bins, config.seed, extras
        )
    card = ModelCard(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        lightgbm_version=lgb.__version__,
        best_iteration=booster.current_iteration(),
        bands=config.bands,
        params=params,
        training={
            "config": config.model_dump(mode="json"),
            "config_sha256": config.digest(),
            "features_sha256": digest,
            "features_sha256_of": "file" if features_sha256 else "rows",
            "split": summary,
            "calibration": {"kind": calibrator.kind, "out_of_fold_log_loss": calibration_scores},
            "tuning": tuning,
        },
    )
    model = FrictionModel(booster, calibrator, manifest, card).with_metrics(evaluation.metrics())
    clock.seconds["total_s"] = time.perf_counter() - started
    return TrainResult(
        model=model,
        evaluation=evaluation,
        holdout=holdout,
        holdout_scores={name: s.scores for name, s in scorers.items()},
        importance=_importance(booster),
        split_summary=summary,
        table_digest=digest,
        timings=clock.seconds,
    )


def _extras(
    holdout: pd.DataFrame,
    summary: Mapping[str, Any],
    flagged: np.ndarray,
    scorers: Mapping[str, Scorer],
    calibration: str,
    calibration_scores: Mapping[str, float],
    tuning: Mapping[str, Any],
) -> dict[str, Any]:
    y = holdout["label"].to_numpy(dtype=np.float64)
    hits = float(y[flagged].sum())
    extras: dict[str, Any] = {
        "calibration": calibration,
        "rule_baseline_flagged_rate": float(flagged.mean()),
        "rule_baseline_flag_precision": hits / flagged.sum() if flagged.any() else float("nan"),
        "rule_baseline_flag_recall": hits / y.sum(),
        "split": dict(summary),
        "calibration_out_of_fold_log_loss": dict(calibration_scores),
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
