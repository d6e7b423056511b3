"""The quality bars of honest learning, on the simulator's default world with the defaults:
near the oracle with many sessions, and the friction still found with a few thousand."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from features.config import load_config
from features.featurize import Featurizer
from models.explain import explain
from pipelines.simulator import World, simulate, write_world
from training.metrics import binary_metrics
from training.monotone import is_friction_count
from training.train import TrainResult, train

pytestmark = pytest.mark.slow


def _trained(world: World) -> tuple[TrainResult, Featurizer]:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(write_world(world, Path(tmp))["config"])
    featurizer = Featurizer(config)
    table = featurizer(world.events).frame
    catalog = featurizer.catalog(list(world.events.columns)).to_records()
    return train(table, None, catalog=catalog), featurizer


def test_with_40000_sessions_the_model_nears_the_oracle_and_beats_the_logistic_baseline() -> None:
    world = simulate(40_000, seed=0)
    result, _ = _trained(world)
    holdout = result.holdout
    y = holdout["label"].to_numpy(dtype=np.float64)
    # The oracle: the world's true probability of each holdout session, looked up by id.
    truth = world.truth.set_index("session_id")["p_true"]
    oracle = truth.loc[holdout["session_id"].astype(str)].to_numpy()
    table = result.evaluation.table
    model_auc = table.loc["model", "roc_auc"]
    assert model_auc >= table.loc["logreg", "roc_auc"]
    assert binary_metrics(y, oracle, top_fractions=())["roc_auc"] - model_auc <= 0.01
    assert table.loc["model", "ece"] <= 0.02


def test_with_3000_sessions_the_most_dissatisfied_get_high_risk_for_friction() -> None:
    risks: list[np.ndarray] = []
    friction_first: list[bool] = []
    for seed in range(5):
        world = simulate(3_000, seed=seed)
        result, featurizer = _trained(world)
        table = featurizer(world.events).frame
        p_true = world.truth.set_index("session_id").loc[table["session_id"].astype(str), "p_true"]
        worst = table[(p_true > 0.8).to_numpy()]
        model = result.model
        explained = explain(model, worst, top=1)
        risks.append(explained.risk.to_numpy())
        for drivers in explained.drivers:
            first = drivers[0].feature if drivers else None
            friction_first.append(
                first is not None and is_friction_count(first, model.manifest.catalog.get(first))
            )
    risk = np.concatenate(risks)
    assert len(risk) >= 50
    assert risk.mean() >= 0.7, [r.mean() for r in risks]
    assert np.mean(friction_first) >= 0.8
