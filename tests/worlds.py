"""A small simulated world and a model trained on it that carries its featurizer config:
shared fixtures for the tests that score raw events (batch scoring, reports, the API).

Import the fixtures into a conftest: `from tests.worlds import world, world_model  # noqa: F401`.
Built once per test session; tests must not modify them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from features.config import FrictionConfig, load_config
from features.featurize import Featurizer
from models.artifact import FrictionModel
from pipelines.simulator import World, simulate, write_world
from training.config import LightGBMParams, TrainConfig
from training.flow import train_and_track

__all__ = ["SmallWorld", "TrainedWorld", "train_world_model", "world", "world_model"]

WORLD_SESSIONS = 6_000
WORLD_SEED = 5


@dataclass(frozen=True)
class SmallWorld:
    world: World  # events, surveys, truth as simulated
    config: FrictionConfig  # the world's friction.toml, loaded
    paths: dict[str, Path]  # events, surveys, truth, config as written
    table: pd.DataFrame  # the feature table of all its sessions


@dataclass(frozen=True)
class TrainedWorld:
    model: FrictionModel  # carries `config` (featurizer_config)
    path: Path  # the saved model directory


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> SmallWorld:
    simulated = simulate(WORLD_SESSIONS, seed=WORLD_SEED)
    paths = write_world(simulated, tmp_path_factory.mktemp("world"))
    config = load_config(paths["config"])
    table = Featurizer(config)(simulated.events).frame
    return SmallWorld(simulated, config, paths, table)


def train_world_model(world: SmallWorld, out: Path, config: TrainConfig) -> TrainedWorld:
    """A model of `world` carrying its featurizer config, saved to `out` (not tracked)."""
    outcome = train_and_track(
        world.table,
        config,
        out=out,
        track=False,
        truth=world.world.truth,
        catalog=Featurizer(world.config).catalog(list(world.world.events.columns)).to_records(),
        featurizer_config=world.config,
    )
    assert outcome.model_dir is not None
    return TrainedWorld(outcome.result.model, outcome.model_dir)


@pytest.fixture(scope="session")
def world_model(world: SmallWorld, tmp_path_factory: pytest.TempPathFactory) -> TrainedWorld:
    lightgbm = LightGBMParams(learning_rate=0.1, num_leaves=15, min_child_samples=20, num_threads=1)
    config = TrainConfig(lightgbm=lightgbm, early_stopping_rounds=20)
    return train_world_model(world, tmp_path_factory.mktemp("world-model") / "model", config)
