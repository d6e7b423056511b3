"""The LightGBM fit: binary log loss, native categoricals, early stopping on validation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np

from models.manifest import FeatureManifest
from training.config import TrainConfig
from training.monotone import monotone_constraints

__all__ = ["booster_params", "fit_booster", "make_datasets", "trimmed"]

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
        **config.lightgbm.to_lightgbm(),
        **(overrides or {}),
    }
    if config.class_weight == "balanced":
        positives = float(np.sum(y_train))
        params["scale_pos_weight"] = (len(y_train) - positives) / max(positives, 1.0)
    constraints = monotone_constraints(manifest) if config.monotone_friction else []
    if any(constraints):
        params["monotone_constraints"] = constraints
    return params


def make_datasets(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    manifest: FeatureManifest,
    params: dict[str, Any],
) -> tuple[lgb.Dataset, lgb.Dataset]:
    binning = {k: params[k] for k in DATASET_PARAMS if k in params} | {
        "feature_pre_filter": False,
        "verbosity": -1,
    }
    names, categorical = manifest.names, manifest.categorical_indices
    train = lgb.Dataset(
        x_train, label=y_train, params=binning, feature_name=names, categorical_feature=categorical
    )
    valid = lgb.Dataset(
        x_valid,
        label=y_valid,
        reference=train,
        params=binning,
        feature_name=names,
        categorical_feature=categorical,
    )
    return train, valid


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
