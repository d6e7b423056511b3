"""The faithfulness bar of counterfactual impact, on a 40,000-session simulated world whose
truth is known: removing a touchpoint's friction truly spares
sum over sessions of sigmoid(logit) - sigmoid(logit - friction_<touchpoint>) dissatisfied
sessions (the truth's friction kinds, which the catalog marks friction; abandonment is
exposure on both sides). The estimate must be within 20 % of it for the top 3 touchpoints and
rank all touchpoints alike (Spearman >= 0.9): over the whole period and over the outage's days."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from features.config import load_config
from features.featurize import Featurizer
from models.artifact import FrictionModel
from models.impact import Scope, counterfactual, friction_map, impact
from pipelines.simulator import INCIDENT, simulate, write_world
from pipelines.simulator.truth import sigmoid
from training.config import TrainConfig
from training.train import train

# One 40,000-session fit with the default learner (no backtests nor bootstrap: they do not
# change the model), which a loaded machine can take minutes over.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1_500)]


@pytest.fixture(scope="module")
def trained() -> tuple[FrictionModel, pd.DataFrame, pd.DataFrame]:
    world = simulate(40_000, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(write_world(world, Path(tmp))["config"])
    featurizer = Featurizer(config)
    table = featurizer(world.events).frame
    config = TrainConfig(backtest_folds=0, bootstrap_rounds=0)
    model = train(table, config, catalog=featurizer.catalog(list(world.events.columns)).to_records()).model
    truth = world.truth.set_index("session_id").loc[table["session_id"].astype(str)].reset_index()
    return model, table, truth


def _compare(model: FrictionModel, table: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    touchpoints = [t for t in friction_map(model).touchpoints if truth[f"friction_{t}"].any()]
    estimate = impact(counterfactual(model, table, [Scope(t) for t in touchpoints]), draws=0)
    logit = truth["logit"].to_numpy()
    true = {
        t: float((sigmoid(logit) - sigmoid(logit - truth[f"friction_{t}"].to_numpy())).sum())
        for t in touchpoints
    }
    both = pd.DataFrame({"estimate": estimate.set_index("scope")["avoided"], "true": pd.Series(true)})
    return both.sort_values("true", ascending=False)


def _check(both: pd.DataFrame) -> None:
    shown = both.round(1).to_string()
    assert spearmanr(both["estimate"], both["true"]).statistic >= 0.9, shown
    top = both.head(3)
    np.testing.assert_array_less(np.abs(top["estimate"] / top["true"] - 1.0), 0.2, err_msg=shown)


def test_impact_by_touchpoint_agrees_with_the_truth(
    trained: tuple[FrictionModel, pd.DataFrame, pd.DataFrame],
) -> None:
    _check(_compare(*trained))


def test_impact_on_the_outage_days_agrees_with_the_truth(
    trained: tuple[FrictionModel, pd.DataFrame, pd.DataFrame],
) -> None:
    model, table, truth = trained
    start = table["session_start"]
    during = ((start >= INCIDENT.start) & (start < INCIDENT.end)).to_numpy()
    assert during.sum() > 1_000
    both = _compare(model, table[during].reset_index(drop=True), truth[during].reset_index(drop=True))
    _check(both)
    # The outage shows: fixing payment spares more per session on its days than on the others.
    other = _compare(model, table[~during].reset_index(drop=True), truth[~during].reset_index(drop=True))
    per_session = both.loc[INCIDENT.touchpoint, "estimate"] / during.sum()
    assert per_session > 1.5 * other.loc[INCIDENT.touchpoint, "estimate"] / (~during).sum()
