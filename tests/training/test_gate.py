"""The challenger gate, without MLflow: a worse model is refused, a better one accepted."""

from __future__ import annotations

import optuna
import pandas as pd
import pytest

from tests.training.conftest import fast_config
from training.config import GateConfig
from training.fit import booster_params, fit_booster, make_datasets
from training.gate import gate, holdout_score
from training.train import TrainResult, train
from training.tune import pruning_callback


@pytest.fixture(scope="module")
def weak(small_world: tuple[pd.DataFrame, pd.DataFrame]) -> TrainResult:
    table, _ = small_world
    return train(table, fast_config(features=["browse__dwell_s", "acquisition_channel", "platform"]))


def test_the_first_version_becomes_champion(trained: TrainResult) -> None:
    decision = gate(trained.model, None, trained.holdout, GateConfig())
    assert decision.promote
    assert "first version" in decision.reason


def test_a_better_challenger_is_accepted(trained: TrainResult, weak: TrainResult) -> None:
    decision = gate(trained.model, weak.model, trained.holdout, GateConfig(margin=0.01))
    assert decision.promote
    assert decision.challenger is not None
    assert decision.champion is not None
    assert decision.challenger > decision.champion + 0.01
    assert decision.reason.endswith("promoted")


def test_a_worse_challenger_is_refused_and_says_why(trained: TrainResult, weak: TrainResult) -> None:
    decision = gate(weak.model, trained.model, trained.holdout, GateConfig())
    assert not decision.promote
    assert decision.reason.startswith("challenger roc_auc")
    assert "the champion stays" in decision.reason


def test_an_equal_challenger_needs_the_margin(trained: TrainResult) -> None:
    assert not gate(trained.model, trained.model, trained.holdout, GateConfig(margin=0.001)).promote
    assert gate(trained.model, trained.model, trained.holdout, GateConfig(margin=0.0)).promote


def test_lower_is_better_metrics_compare_the_right_way(trained: TrainResult, weak: TrainResult) -> None:
    for metric in ("log_loss", "brier"):
        config = GateConfig(metric=metric, margin=0.0)
        assert gate(trained.model, weak.model, trained.holdout, config).promote
        assert not gate(weak.model, trained.model, trained.holdout, config).promote
    assert holdout_score(weak.model, trained.holdout, "log_loss") > holdout_score(
        trained.model, trained.holdout, "log_loss"
    )


def test_a_champion_that_cannot_read_the_holdout_is_not_comparable(trained: TrainResult) -> None:
    holdout = trained.holdout.rename(columns={"payment__errors": "payment__failures"})
    challenger_holdout = holdout.assign(payment__errors=0.0)
    challenger = train(
        challenger_holdout.assign(label_known=True), fast_config(features=["browse__dwell_s", "platform"])
    )
    decision = gate(challenger.model, trained.model, holdout, GateConfig())
    assert not decision.promote
    assert "cannot score the challenger's holdout" in decision.reason


def test_the_pruning_callback_stops_a_trial_optuna_prunes(trained: TrainResult) -> None:
    table = trained.holdout
    manifest = trained.model.manifest
    x = manifest.matrix(table)
    y = table["label"].to_numpy()
    config = fast_config()
    params = booster_params(config, y, manifest)
    d_train, d_valid = make_datasets(x, y, x, y, manifest, params)
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0))  # log loss > 0: prune
    trial = study.ask()
    with pytest.raises(optuna.TrialPruned, match="pruned at round 0"):
        fit_booster(d_train, d_valid, params, 50, 10, callbacks=[pruning_callback(trial)])
