"""Training configuration: a typed, frozen object (the `[train]` section of `friction.toml`).

Class imbalance: the booster minimises plain log loss (`class_weight = "none"`), because
reweighting distorts probabilities that calibration would then have to undo, and ranking
quality barely moves; imbalance is handled by proper scoring plus calibration, and shown
by PR-AUC and precision/recall in the top 5 % and 10 %. `"balanced"` (scale_pos_weight =
negatives / positives) stays available; calibration maps its scores back to probabilities.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import Field, model_validator

from features.section import Section
from models.card import RiskBands

__all__ = ["GateConfig", "LightGBMParams", "TrainConfig", "TuneConfig"]

Scalar = int | float | str | bool


class LightGBMParams(Section):
    learning_rate: float = Field(default=0.05, gt=0.0, le=1.0)
    # Small, regularised trees: friction risk is mostly additive over touchpoints, and on the
    # simulator 7 leaves beat 31 (holdout ROC-AUC 0.735 vs 0.728 at 200 k sessions).
    num_leaves: int = Field(default=7, ge=2, le=131072)
    min_child_samples: int = Field(default=200, ge=1)
    feature_fraction: float = Field(default=0.5, gt=0.0, le=1.0)
    bagging_fraction: float = Field(default=0.8, gt=0.0, le=1.0)
    bagging_freq: int = Field(default=1, ge=0)
    lambda_l2: float = Field(default=10.0, ge=0.0)
    max_bin: int = Field(default=255, ge=2)
    cat_smooth: float = Field(default=10.0, ge=0.0)
    num_boost_round: int = Field(default=2000, ge=1)
    # 0: LightGBM's default (all cores).
    num_threads: int = Field(default=0, ge=0)
    # Any other LightGBM parameter, passed through as is.
    extra: dict[str, Scalar] = Field(default_factory=dict)

    def to_lightgbm(self) -> dict[str, Any]:
        params = self.model_dump(exclude={"num_boost_round", "extra"})
        return {**params, **self.extra}


class TuneConfig(Section):
    """Optuna search (TPE + median pruning on validation log loss) when trials > 0."""

    trials: int = Field(default=0, ge=0)
    timeout_s: float = Field(default=900.0, gt=0.0)
    # Rounds per trial are capped to keep a trial cheap; the final fit uses num_boost_round.
    max_rounds: int = Field(default=1000, ge=10)


class GateConfig(Section):
    """A challenger replaces the champion only if `metric` on the newest holdout improves by `margin`."""

    metric: Literal["roc_auc", "pr_auc", "log_loss", "brier"] = "roc_auc"
    margin: float = Field(default=0.002, ge=0.0)


class TrainConfig(Section):
    seed: int = 0
    # Latest share of labelled sessions held out (by session start), user-disjoint from training.
    holdout_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    # Latest share of the remaining (training-period) sessions used for early stopping and calibration.
    validation_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    # Also keep validation users out of train. Off by default: validation only stops boosting
    # and fits the calibrator, and user-disjointness costs training rows (the holdout stays disjoint).
    validation_user_disjoint: bool = False
    early_stopping_rounds: int = Field(default=50, ge=1)
    class_weight: Literal["none", "balanced"] = "none"
    calibration: Literal["auto", "isotonic", "platt"] = "auto"
    lightgbm: LightGBMParams = Field(default_factory=LightGBMParams)
    tune: TuneConfig = Field(default_factory=TuneConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    bands: RiskBands = Field(default_factory=RiskBands)
    # Explicit feature list; default: every non-meta column of the feature table.
    features: list[str] | None = None
    segments: list[str] = Field(default_factory=lambda: ["platform", "customer_type"])
    top_fractions: list[float] = Field(default_factory=lambda: [0.05, 0.10])
    ece_bins: int = Field(default=15, ge=2)
    # The logistic-regression baseline trains on at most this many sessions (it is a yardstick).
    baseline_max_rows: int = Field(default=50_000, ge=100)
    # Each of train, validation and holdout needs this many sessions of each class.
    min_per_class: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _fractions(self) -> TrainConfig:
        bad = [f for f in self.top_fractions if not 0.0 < f <= 1.0]
        if bad:
            raise ValueError(f"`top_fractions` must lie in (0, 1]; got {bad}")
        return self

    def digest(self) -> str:
        """sha256 of the canonical JSON form: the same settings give the same hash."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()
