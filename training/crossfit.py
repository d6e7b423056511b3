"""Cross-fitted raw scores: every session scored by a model that did not learn from it.

The calibrator is fitted on these. Sessions are cut into `folds` consecutive time blocks and
each block is scored by the recipe refit on the other blocks, before and after it, with the
evaluated model's rounds scaled to the fold's size. So the scores span the whole range and
each comes from a model that knew every regime but its own block's: a calibrator fitted on
a latest window alone, or on rolling-origin scores that meet an incident unprepared, learns
that window's base rate instead of the model's scale.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from models.manifest import FeatureManifest
from training.config import TrainConfig
from training.design import design_parts
from training.fit import booster_params, fit_rounds, make_dataset, scaled_rounds

__all__ = ["CROSS_FIT_FOLDS", "cross_fitted_raw"]

CROSS_FIT_FOLDS = 3


def cross_fitted_raw(
    table: pd.DataFrame,
    positions: np.ndarray,
    manifest: FeatureManifest,
    config: TrainConfig,
    overrides: dict[str, Any],
    rounds: tuple[int, int],
    strict: bool,
    folds: int = CROSS_FIT_FOLDS,
) -> np.ndarray:
    """Raw score of each of `positions` (table positions in time order) from the fold model
    that left its block out. `rounds`: (rounds chosen by early stopping, sessions fitted on)."""
    label = table["label"].to_numpy(dtype=np.float64, na_value=np.nan)[positions]
    x = design_parts(manifest, table, (positions,), strict)[0]
    edges = np.linspace(0, len(positions), folds + 1).round().astype(np.int64)
    raw = np.empty(len(positions))
    for k in range(folds):
        block = np.arange(edges[k], edges[k + 1])
        rest = np.concatenate([np.arange(0, edges[k]), np.arange(edges[k + 1], len(positions))])
        params = booster_params(config, label[rest], manifest, overrides)
        n_rounds = scaled_rounds(*rounds, len(rest), config.lightgbm.num_boost_round)
        booster = fit_rounds(make_dataset(x[rest], label[rest], manifest, params), params, n_rounds)
        raw[block] = booster.predict(x[block], raw_score=True)
    return raw
