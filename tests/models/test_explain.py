"""Explanations: additivity, agreement with shap, driver sentences from the catalog, behaviour,
and the Done-when check that touchpoint rankings recover the simulator's truth."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from features.config import load_config
from features.errors import ConfigError
from features.featurize import Featurizer
from models.artifact import BASE_VALUE, FrictionModel
from models.errors import FeatureMismatchError
from models.explain import (
    by_family,
    by_touchpoint,
    describe,
    driver_table,
    explain,
    risk_points,
    scope_names,
    scope_of,
    sentence,
    top_drivers,
)
from pipelines.simulator import TOUCHPOINTS, simulate, write_world
from tests.worlds import SmallWorld, TrainedWorld
from training.config import LightGBMParams, TrainConfig
from training.monotone import friction_counts
from training.train import train

ADDS_UP = 1e-9  # float64 sums of ~200 terms of order 1


def _shap() -> Any:
    with warnings.catch_warnings():
        # shap 0.51 calls a matplotlib colormap method that matplotlib marks as pending deprecation.
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap
    return shap


def _features(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["label", "label_known"])


# -- additivity -------------------------------------------------------------------------------


def test_contributions_and_their_sums_add_up_to_the_raw_score(
    world_model: TrainedWorld, world: SmallWorld
) -> None:
    model, table = world_model.model, world.table
    contributions = model.contributions(table)
    raw = model.predict_raw(table)
    base = contributions[BASE_VALUE].to_numpy()
    np.testing.assert_allclose(contributions.sum(axis=1).to_numpy(), raw, rtol=0, atol=ADDS_UP)
    for grouped in (by_touchpoint(model, contributions), by_family(model, contributions)):
        np.testing.assert_allclose(grouped.sum(axis=1).to_numpy() + base, raw, rtol=0, atol=ADDS_UP)
    assert np.unique(base).size == 1  # the expected value is the same for every session


def test_additivity_holds_on_a_model_without_a_catalog(
    model: FrictionModel, scored_rows: pd.DataFrame
) -> None:
    contributions = model.contributions(scored_rows)
    touchpoints = by_touchpoint(model, contributions)
    assert list(touchpoints.columns) == ["browse", "cart", "checkout", "payment", "session", "context"]
    np.testing.assert_allclose(
        touchpoints.sum(axis=1) + contributions[BASE_VALUE],
        model.predict_raw(scored_rows),
        rtol=0,
        atol=ADDS_UP,
    )


# -- agreement with shap ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def numeric_model(scored_rows: pd.DataFrame) -> FrictionModel:
    """No categorical features: shap's own TreeSHAP cannot read LightGBM's categorical splits."""
    numeric = [c for c in scored_rows.columns if "__" in c]
    lightgbm = LightGBMParams(learning_rate=0.1, num_leaves=31, min_child_samples=20, num_threads=1)
    return train(
        scored_rows, TrainConfig(features=numeric, lightgbm=lightgbm, early_stopping_rounds=20)
    ).model


def test_shaps_own_treeshap_gives_the_same_contributions(
    numeric_model: FrictionModel, scored_rows: pd.DataFrame
) -> None:
    rows = scored_rows[[*numeric_model.manifest.names, "session_id"]].head(500)
    ours = numeric_model.contributions(rows)
    explainer = _shap().TreeExplainer(numeric_model.booster)
    assert explainer.model.trees is not None
    # Skip shap's shortcut to LightGBM's pred_contrib: run shap's own C implementation of TreeSHAP.
    explainer.model.model_type = "internal"
    theirs = explainer(numeric_model.manifest.matrix(rows)).values
    np.testing.assert_allclose(theirs, ours[numeric_model.manifest.names].to_numpy(), rtol=0, atol=1e-9)
    assert explainer.expected_value == pytest.approx(ours[BASE_VALUE].iloc[0], abs=1e-9)


def test_shap_on_the_world_model_agrees_with_pred_contrib(
    world_model: TrainedWorld, world: SmallWorld
) -> None:
    model, rows = world_model.model, world.table.head(300)
    theirs = _shap().TreeExplainer(model.booster)(model.manifest.matrix(rows)).values
    np.testing.assert_allclose(theirs, model.contributions(rows)[model.manifest.names].to_numpy(), atol=1e-9)


# -- scopes -----------------------------------------------------------------------------------


def test_scopes_come_from_the_catalog(world_model: TrainedWorld) -> None:
    model = world_model.model
    scopes = scope_of(model)
    assert scopes["payment__errors"] == "payment"
    assert scopes["session__duration_s"] == "session"
    assert scopes["funnel__deepest_stage"] == "funnel"
    assert scopes["context__platform"] == "context"
    names = scope_names(model)
    assert names[-3:] == ["session", "funnel", "context"]
    assert set(names[:-3]) <= set(TOUCHPOINTS)
    assert "payment" in names


# -- sentences --------------------------------------------------------------------------------


def test_sentences_read_each_kind_of_unit(world_model: TrainedWorld) -> None:
    catalog = world_model.model.manifest.catalog

    def said(name: str, value: float | str | None) -> str:
        return describe(catalog[name], name, value)

    assert said("payment__errors", 2.0) == "2 error events at payment"
    assert said("cart__dwell_s", 42.5) == "time spent at cart: 42.5 s"
    assert said("cart__dwell_s", 630.0) == "time spent at cart: 10.5 min"
    assert said("payment__exit", 1.0) == "the session's last journey event is at payment"
    assert said("payment__exit", 0.0) == "the session's last journey event is at payment: no"
    assert said("context__platform", "android") == "platform is android"
    assert said("context__platform", None) == "platform is unknown"
    assert said("session__days_since_last", None) == "days since the user's previous session ended: missing"
    assert said("session__days_since_last", 3.5) == "days since the user's previous session ended: 3.5 days"
    assert said("funnel__deepest_stage", 5.0) == "deepest funnel stage reached: stage 5"
    assert said("session__hour", 14.0) == "hour of day the session started, UTC: 14"
    # Every phrase starts from the catalog's own meaning.
    for name in ("payment__errors", "cart__dwell_s", "session__days_since_last"):
        meaning = catalog[name]["meaning"].split(" (")[0]
        assert meaning in said(name, 1.0)


def test_sentence_reports_log_odds_and_points() -> None:
    entry = {"meaning": "error events at payment", "unit": "count", "family": "errors"}
    text = sentence(entry, "payment__errors", 2.0, 0.9, 14.2)
    assert text == "2 error events at payment: +0.90 log-odds (about +14 points of risk)"
    assert sentence(entry, "payment__errors", 0.0, -0.04, -0.31).endswith(
        "-0.04 log-odds (about -0.3 points of risk)"
    )


# -- drivers ----------------------------------------------------------------------------------


def test_top_drivers_are_the_strongest_positive_contributions(
    world_model: TrainedWorld, world: SmallWorld
) -> None:
    model, rows = world_model.model, world.table.head(200)
    contributions = model.contributions(rows)
    raw = model.predict_raw(rows)
    drivers = top_drivers(model, rows, contributions, k=3)
    assert len(drivers) == len(rows)
    catalog = model.manifest.catalog
    for row, found in enumerate(drivers):
        values = contributions.iloc[row][model.manifest.names]
        expected = values[values > 0].sort_values(ascending=False).head(3)
        assert [d.feature for d in found] == list(expected.index)
        for driver in found:
            assert driver.contribution == pytest.approx(expected[driver.feature])
            assert driver.touchpoint == catalog[driver.feature]["touchpoint"]
            assert driver.family == catalog[driver.feature]["family"]
            points = risk_points(model, raw[row], np.float64(driver.contribution))
            assert driver.risk_points == pytest.approx(float(points))
            cell = rows.iloc[row][driver.feature]
            assert driver.value == (
                None if pd.isna(cell) else (str(cell) if isinstance(cell, str) else float(cell))
            )
            assert driver.sentence.startswith(describe(catalog[driver.feature], driver.feature, driver.value))
            assert driver.risk_points >= 0  # a calibrator is monotone: a positive push never lowers risk


def test_drivers_either_way_rank_by_size(world_model: TrainedWorld, world: SmallWorld) -> None:
    model, rows = world_model.model, world.table.head(50)
    contributions = model.contributions(rows)
    table = driver_table(model, rows, contributions, k=4, positive_only=False)
    magnitudes = table[[f"driver_{i}_contribution" for i in range(1, 5)]].abs().to_numpy()
    assert (np.diff(magnitudes, axis=1) <= 0).all()
    largest = contributions[model.manifest.names].abs().max(axis=1).to_numpy()
    np.testing.assert_allclose(magnitudes[:, 0], largest)
    assert table.index.equals(rows.index)


def test_explain_is_aligned_with_its_input(world_model: TrainedWorld, world: SmallWorld) -> None:
    model = world_model.model
    rows = _features(world.table.iloc[10:60]).set_axis(pd.RangeIndex(1000, 1050))
    result = explain(model, rows, top=2)
    for part in (
        result.raw,
        result.risk,
        result.band,
        result.contributions,
        result.touchpoints,
        result.families,
    ):
        assert part.index.equals(rows.index)
    np.testing.assert_array_equal(result.risk.to_numpy(), model.predict_proba(rows))
    np.testing.assert_array_equal(result.band.to_numpy(dtype=object), model.band(model.predict_proba(rows)))
    assert len(result.drivers) == len(rows)
    assert all(len(found) <= 2 for found in result.drivers)


def test_bad_requests_name_the_problem(world_model: TrainedWorld, world: SmallWorld) -> None:
    model, rows = world_model.model, world.table.head(5)
    with pytest.raises(ConfigError, match="integer >= 1, got 0"):
        explain(model, rows, top=0)
    contributions = model.contributions(rows).drop(columns=["payment__errors"])
    with pytest.raises(FeatureMismatchError, match="payment__errors"):
        by_touchpoint(model, contributions)


# -- behaviour --------------------------------------------------------------------------------


def test_more_payment_errors_never_lower_payments_contribution_or_the_risk(
    world_model: TrainedWorld, world: SmallWorld
) -> None:
    model = world_model.model
    risks, payment = [], []
    for errors in range(4):
        rows = world.table.assign(payment__errors=float(errors))
        risks.append(model.predict_proba(rows))
        payment.append(by_touchpoint(model, model.contributions(rows))["payment"].to_numpy())
    assert (np.diff(np.array(risks), axis=0) >= 0).all()
    assert (np.diff(np.array(payment), axis=0) >= 0).all()
    assert risks[1].mean() > risks[0].mean() + 0.02  # and the model did learn that errors hurt


# -- Done when: the ranking of touchpoints recovers the truth -----------------------------------


@pytest.fixture(scope="session")
def default_world(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[pd.DataFrame, pd.DataFrame, FrictionModel]:
    """`friction simulate`'s default world (20,000 sessions, seed 0), default training config."""
    simulated = simulate(20_000, seed=0)
    config = load_config(write_world(simulated, Path(tmp_path_factory.mktemp("default-world")))["config"])
    featurizer = Featurizer(config)
    table = featurizer(simulated.events).frame
    catalog = featurizer.catalog(list(simulated.events.columns)).to_records()
    settings = TrainConfig(lightgbm=LightGBMParams(num_threads=2))  # fixed threads: the same trees every run
    return table, simulated.truth, train(table, settings, catalog=catalog).model


@pytest.mark.slow
def test_touchpoint_ranking_agrees_with_the_truth(
    default_world: tuple[pd.DataFrame, pd.DataFrame, FrictionModel],
) -> None:
    table, truth, model = default_world
    # The truth's touchpoint contributions are friction only (errors, loops, stalls...): compare
    # them with the learned contributions of the friction counts, summed per touchpoint. Visits
    # and dwell (exposure) also carry risk in the model, e.g. reaching confirmation means the
    # checkout was not abandoned, which the truth books at the exit touchpoint instead.
    contributions = model.contributions(table)
    friction, scopes = set(friction_counts(model.manifest)), scope_of(model)
    learned = pd.Series(
        {
            tp: contributions[[f for f in contributions.columns if f in friction and scopes.get(f) == tp]]
            .sum(axis=1)
            .abs()
            .mean()
            for tp in TOUCHPOINTS
        }
    )
    truth = truth.set_index("session_id").loc[table["session_id"]]
    true = pd.Series({tp: truth[f"contrib_{tp}"].abs().mean() for tp in TOUCHPOINTS})
    rho = spearmanr(learned.to_numpy(), true.to_numpy()).statistic
    assert rho >= 0.9, pd.DataFrame({"learned": learned, "true": true}).round(3).to_string()
    # The three touchpoints that hurt most are found, in any order.
    assert set(learned.nlargest(3).index) == set(true.nlargest(3).index)


# -- one scoring path for tables and the featurizer's arrays ------------------------------------


def test_featurizer_arrays_and_the_feature_table_score_and_explain_alike(
    world_model: TrainedWorld, world: SmallWorld
) -> None:
    """The API scores `FeatureSet`s, batch scoring feature tables: the same design matrix, raw
    scores and drivers, whatever the batch (one session at a time or a few rows of a call),
    including a context value the model never saw and a missing one."""
    model = world_model.model
    events = world.world.events
    chosen = events["session_id"].drop_duplicates().head(40)
    events = events[events["session_id"].isin(chosen)].copy()
    [(context, raw_column), *_] = world.config.events.context_columns().items()
    first, second = chosen.iloc[0], chosen.iloc[1]
    events[raw_column] = events[raw_column].astype(object)
    events.loc[events["session_id"] == first, raw_column] = "never-seen-platform"
    events.loc[events["session_id"] == second, raw_column] = None
    features = model.featurizer()(events)
    table = features.frame
    matrix = model.design(features)
    assert np.array_equal(matrix, model.design(table, strict=False), equal_nan=True)
    coded = model.manifest.names.index(f"context__{context}")
    assert list(features.context[f"context__{context}"][:2]) == ["never-seen-platform", None]
    assert np.isnan(matrix[:2, coded]).all()  # unseen and missing: no category
    assert not np.isnan(matrix[2:, coded]).any()
    raw = model.raw_of(matrix)
    assert np.array_equal(raw, model.predict_raw(table, strict=False))
    alone = np.concatenate([model.raw_of(matrix[i : i + 1]) for i in range(len(matrix))])
    assert np.array_equal(alone, raw)
    rows = np.array([0, 1, 5, 7])
    explained = model.contributions_of(matrix[rows])
    from_arrays = top_drivers(model, features, explained, k=4, raw=raw[rows], rows=rows)
    subset = table.iloc[rows]
    contributions = model.contributions(subset, strict=False)
    from_table = top_drivers(model, subset, contributions, k=4, raw=raw[rows])
    assert from_arrays == from_table
    assert [len(found) for found in from_arrays] == [4, 4, 4, 4]
