"""Cached synthetic feature tables (known logistic truth) and small, fast training configs."""

from __future__ import annotations

import functools

import pandas as pd
import pytest

from tests.mlflow_servers import mlflow_postgres_server, mlflow_server, mlflow_sqlite_server
from training.config import LightGBMParams, TrainConfig
from training.synthetic import synthetic_feature_table
from training.train import TrainResult, train

__all__ = ["mlflow_postgres_server", "mlflow_server", "mlflow_sqlite_server"]  # re-exported fixtures


@functools.cache
def world(n_sessions: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(feature table, truth), built once per size and seed; tests must not modify them."""
    return synthetic_feature_table(n_sessions, seed=seed)


def fast_config(**changes: object) -> TrainConfig:
    """Small trees and few rounds: seconds per fit, same code paths as the defaults."""
    lightgbm = LightGBMParams(
        learning_rate=0.1, num_leaves=15, min_child_samples=20, num_boost_round=300, num_threads=1
    )
    return TrainConfig(lightgbm=lightgbm, early_stopping_rounds=20, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def small_world() -> tuple[pd.DataFrame, pd.DataFrame]:
    return world(10_000, 11)


@pytest.fixture(scope="session")
def trained(small_world: tuple[pd.DataFrame, pd.DataFrame]) -> TrainResult:
    table, truth = small_world
    return train(table, fast_config(), truth=truth)
