"""The LightGBM fit: binary log loss, native categoricals, early stopping on validation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np

from models.manifest import FeatureManifest
from training.config import TrainConfig
from training.monotone import monotone_constraints

__all__ = [
    "booster_params",
    "fit_booster",
    "fit_rounds",
    "make_dataset",
    "make_datasets",
    "scaled_rounds",
    "trimmed",
]

# Parameters fixed when the binned Dataset is built (cannot change between tuning trials).
DATASET_PARAMS = ("max_bin", "cat_smooth")


def booster_params(
    config: TrainConfig,
    y_train: np.ndarray,
    manifest: FeatureManifest,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "objective": "binary",
        # Early stopping watches log loss only; a validation AUC every round cost ~10 % of the fit
        # at 1 M sessions for a number nothing read (the holdout AUC is evaluated once, after).
        "metric": ["binary_logloss"],
        "seed": config.seed,
        "deterministic": True,
        "force_col_wise": True,
        "feature_pre_filter": False,
        "verbosity": -1,
        **config.lightgbm.to_lightgbm(len(y_train)),
        **(overrides or {}),
    }
    if config.class_weight == "balanced":
        positives = float(np.sum(y_train))
        params["scale_pos_weight"] = (len(y_train) - positives) / max(positives, 1.0)
    constraints = monotone_constraints(manifest) if config.monotone_friction else []
    if any(constraints):
        params["monotone_constraints"] = constraints
    return params


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    manifest: FeatureManifest,
    params: dict[str, Any],
    reference: lgb.Dataset | None = None,
) -> lgb.Dataset:
    """A LightGBM Dataset of design-matrix rows; `reference`: bin as that Dataset does."""
    binning = {k: params[k] for k in DATASET_PARAMS if k in params} | {
        "feature_pre_filter": False,
        "verbosity": -1,
    }
    return lgb.Dataset(
        x,
        label=y,
        reference=reference,
        params=binning,
        feature_name=manifest.names,
        categorical_feature=manifest.categorical_indices,
    )


def make_datasets(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    manifest: FeatureManifest,
    params: dict[str, Any],
) -> tuple[lgb.Dataset, lgb.Dataset]:
    train = make_dataset(x_train, y_train, manifest, params)
    return train, make_dataset(x_valid, y_valid, manifest, params, reference=train)


def fit_rounds(train: lgb.Dataset, params: dict[str, Any], rounds: int) -> lgb.Booster:
    """Boost a fixed number of rounds (chosen beforehand by early stopping): no validation set."""
    return lgb.train(params, train, num_boost_round=max(1, rounds))


def scaled_rounds(best_iteration: int, fitted_on: int, sessions: int, ceiling: int) -> int:
    """Rounds for a fit on `sessions` rows, from the rounds early stopping chose on `fitted_on`:
    in proportion to the data, the usual rule for a refit without a validation set to stop it
    (more sessions support more rounds before the trees start fitting noise)."""
    return int(min(ceiling, max(1, round(best_iteration * sessions / max(fitted_on, 1)))))


def fit_booster(
    train: lgb.Dataset,
    valid: lgb.Dataset,
    params: dict[str, Any],
    num_boost_round: int,
    early_stopping_rounds: int,
    callbacks: Sequence[Callable[[Any], None]] = (),
) -> lgb.Booster:
    """Boost until validation log loss has not improved for `early_stopping_rounds` rounds."""
    return lgb.train(
        params,
        train,
        num_boost_round=num_boost_round,
        valid_sets=[valid],
        valid_names=["valid"],
        callbacks=[
            lgb.early_stopping(early_stopping_rounds, first_metric_only=True, verbose=False),
            *callbacks,
        ],
    )


def trimmed(booster: lgb.Booster) -> lgb.Booster:
    """The booster cut at its best iteration, rebuilt from its text form (as `load` will see it),
    so training-time and loaded predictions come from identical trees."""
    best = booster.best_iteration if booster.best_iteration > 0 else None
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
