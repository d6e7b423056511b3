"""Training on the journey simulator's world, through the real featurizer: quality against
the truth, and behaviour on the featurizer's own columns. (The 200 k-session targets of
ROC-AUC within 0.01 of the oracle and ECE <= 0.02 are measured by `make bench`.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.config import load_config
from features.featurize import featurize
from pipelines.simulator import simulate, write_world
from training.config import LightGBMParams, TrainConfig
from training.train import TrainResult, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world_result(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, TrainResult]:
    world = simulate(60_000, seed=1)
    config = load_config(write_world(world, tmp_path_factory.mktemp("world"))["config"])
    table = featurize(world.events, config).frame
    return table, train(table, TrainConfig(lightgbm=LightGBMParams(num_threads=1)), truth=world.truth)


def test_quality_against_the_truth_and_the_rule(world_result: tuple[pd.DataFrame, TrainResult]) -> None:
    _, result = world_result
    table = result.evaluation.table
    assert result.model.metrics["oracle_coverage"] == 1.0
    assert table.loc["model", "roc_auc"] > table.loc["oracle", "roc_auc"] - 0.025
    assert table.loc["model", "roc_auc"] > table.loc["rule_baseline", "roc_auc"] + 0.07
    assert table.loc["model", "ece"] < 0.03
    segments = pd.DataFrame(result.model.metrics["segments"])
    assert {"platform", "customer_type"} <= set(segments["segment"])


def test_payment_errors_and_checkout_loops_raise_risk_on_average(
    world_result: tuple[pd.DataFrame, TrainResult],
) -> None:
    _, result = world_result
    holdout, model = result.holdout, result.model
    before = model.predict_proba(holdout).mean()
    errors = holdout.assign(payment__errors=holdout["payment__errors"] + 1)
    assert model.predict_proba(errors).mean() > before
    # A checkout loop: back from shipping to the cart (a funnel regression left at shipping).
    loop = holdout.assign(
        shipping__funnel_regressions=holdout["shipping__funnel_regressions"] + 1,
        cart__revisits=holdout["cart__revisits"] + 1,
        cart__visits=holdout["cart__visits"] + 1,
    )
    assert model.predict_proba(loop).mean() > before


def test_session_ids_do_not_move_the_risk(world_result: tuple[pd.DataFrame, TrainResult]) -> None:
    _, result = world_result
    renamed = result.holdout.assign(session_id="x" + result.holdout["session_id"].astype("str"))
    np.testing.assert_array_equal(
        result.model.predict_proba(renamed), result.model.predict_proba(result.holdout)
    )
