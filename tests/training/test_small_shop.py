"""Honest learning on a small, drifting clickstream: the simulator's small-shop profile (3,000
sessions, event names only, returning customers, a rising base rate, a three-week payment
incident inside the training range), trained with the `friction.toml` it ships."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.config import load_config
from features.featurize import Featurizer
from models.artifact import FrictionModel
from models.report.build import Report, build_report
from models.report.html import render_html
from pipelines.cli import app
from pipelines.simulator import PROFILES, simulate, write_world
from training.config import train_config_from
from training.flow import train_and_track
from training.train import TrainResult

SEED = 11
INCIDENT = PROFILES["small-shop"].incident


@dataclass(frozen=True)
class Shop:
    table: pd.DataFrame
    result: TrainResult
    model: FrictionModel
    folder: Path


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    folder = tmp_path_factory.mktemp("small-shop")
    world = simulate(profile="small-shop", seed=SEED)
    config = load_config(write_world(world, folder)["config"])
    featurizer = Featurizer(config)
    table = featurizer(world.events).frame
    outcome = train_and_track(
        table,
        train_config_from(config.train),
        out=folder / "model",
        track=False,
        truth=world.truth,
        catalog=featurizer.catalog(list(world.events.columns)).to_records(),
        featurizer_config=config,
    )
    return Shop(table, outcome.result, FrictionModel.load(folder / "model"), folder)


def _in_incident(table: pd.DataFrame) -> np.ndarray:
    start = table["session_start"]
    inside: np.ndarray = ((start >= INCIDENT.start) & (start < INCIDENT.end)).to_numpy()
    return inside


def test_training_succeeds_without_rage_clicks_and_says_what_the_rule_used(shop: Shop) -> None:
    assert not [c for c in shop.table.columns if c.endswith("__rage_clicks")]
    metrics = shop.model.metrics
    assert metrics["rule_baseline_uses"] == "errors"
    assert "rule_baseline" in metrics["table"]
    # Nothing labelled is thrown away: returning customers keep their past in training.
    split = metrics["split"]
    assert split["dropped_sessions"] == 0
    assert split["holdout_returning_share"] > 0.3
    shipped = shop.model.card.training["shipped_model"]
    assert shipped["refit"] is True
    assert shipped["train_sessions"] == split["labelled_sessions"] == len(shop.table)


def test_the_model_is_at_least_as_good_as_the_logistic_baseline(shop: Shop) -> None:
    metrics = shop.model.metrics
    low, high = metrics["intervals"]["logreg"]["roc_auc"]
    assert metrics["roc_auc"] >= low, (metrics["roc_auc"], low, high)
    backtest = metrics["backtest"]
    assert backtest["model"]["roc_auc"]["mean"] >= backtest["logreg"]["roc_auc"]["mean"] - 0.02


def test_calibration_is_as_good_as_the_holdout_can_tell(shop: Shop) -> None:
    table = shop.result.evaluation.table
    # 600 holdout sessions: even the true probabilities have an ECE of a few points there.
    assert table.loc["model", "ece"] <= max(0.03, table.loc["oracle", "ece"] + 0.01)
    assert abs(table.loc["model", "mean_risk"] - table.loc["model", "positive_rate"]) < 0.04


def test_sessions_hit_by_the_incident_are_at_high_risk(shop: Shop) -> None:
    hit = _in_incident(shop.table) & (shop.table[f"{INCIDENT.touchpoint}__errors"] > 0).to_numpy()
    assert hit.sum() > 50
    risk = shop.model.predict_proba(shop.table)
    assert risk[hit].mean() > 0.5
    assert risk[hit].mean() > 3 * risk[~hit].mean()


def test_batch_scoring_explains_raw_events_without_the_missing_signals(shop: Shop) -> None:
    out = shop.folder / "scores.parquet"
    args = ["score", "--model", str(shop.folder / "model"), "--events", str(shop.folder / "events.parquet")]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--explain"])
    assert result.exit_code == 0, result.output
    scores = pd.read_parquet(out).set_index("session_id").loc[shop.table["session_id"]]
    np.testing.assert_allclose(scores["risk"].to_numpy(), shop.model.predict_proba(shop.table))


@pytest.fixture(scope="module")
def report(shop: Shop) -> Report:
    return build_report(shop.model, shop.table)


def test_the_incident_days_are_flagged_at_its_touchpoint(report: Report) -> None:
    incidents = report.tables["incidents"]
    at = incidents[incidents["touchpoint"] == INCIDENT.touchpoint]
    inside = (at["day"] >= INCIDENT.start) & (at["day"] < INCIDENT.end)
    assert inside.all(), at
    days = (INCIDENT.end - INCIDENT.start).days
    assert len(at) >= days / 2, at


def test_over_the_incident_days_the_incident_touchpoint_is_the_top_moment(shop: Shop) -> None:
    during = shop.table[_in_incident(shop.table)]
    assert build_report(shop.model, during).top_moments(1) == [INCIDENT.touchpoint]


def test_the_report_shows_intervals_backtests_and_weekly_drift(report: Report) -> None:
    quality = report.tables["quality"].set_index("scorer")
    low, high = quality.loc["model", ["roc_auc_ci_low", "roc_auc_ci_high"]]
    assert low <= quality.loc["model", "roc_auc"] <= high
    assert quality.loc["logreg", "roc_auc_backtest_mean"] > 0.5
    drift = report.tables["drift"]
    assert set(drift["part"]) == {"training", "holdout"}
    headline = dict(
        zip(report.tables["headline"]["measure"], report.tables["headline"]["value"], strict=True)
    )
    assert drift["sessions"].sum() == headline["labelled_sessions"]
    assert "uncertain" in report.notes["uncertainty_note"]
    page = render_html(report)
    assert "backtests" in page
    assert "Drift: label rate and risk per week" in page
