"""A small trained `FrictionModel` and the rows it scores, built once per session."""

from __future__ import annotations

import pandas as pd
import pytest

from models.artifact import FrictionModel
from training.config import LightGBMParams, TrainConfig
from training.synthetic import synthetic_feature_table
from training.train import train


@pytest.fixture(scope="session")
def scored_rows() -> pd.DataFrame:
    table, _ = synthetic_feature_table(4_000, seed=21)
    return table


@pytest.fixture(scope="session")
def model(scored_rows: pd.DataFrame) -> FrictionModel:
    lightgbm = LightGBMParams(learning_rate=0.1, num_leaves=15, min_child_samples=20, num_threads=1)
    return train(scored_rows, TrainConfig(lightgbm=lightgbm, early_stopping_rounds=20)).model
