"""Counterfactual impact: the friction a scope removes, the risk without it, the sessions it
would spare with their interval, and agreement with the simulator's known truth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from features.errors import ConfigError
from models.artifact import FrictionModel
from models.errors import FeatureMismatchError
from models.impact import Scope, counterfactual, friction_map, impact, parse_scope, risk_without_drivers
from models.manifest import FeatureManifest
from pipelines.simulator.truth import sigmoid
from tests.worlds import SmallWorld, TrainedWorld


@pytest.fixture(scope="module")
def model(world_model: TrainedWorld) -> FrictionModel:
    return world_model.model


def _by_hand(model: FrictionModel, table: pd.DataFrame, scope: Scope) -> np.ndarray:
    """The counterfactual table built column by column, scored whole: what `counterfactual`
    must equal without re-scoring the sessions that had no friction there."""
    found = friction_map(model)
    out = table.copy()
    removed: dict[str, np.ndarray] = {}
    for column in found.columns(scope):
        values = out[column].to_numpy(dtype=np.float64, na_value=np.nan)
        family = found.family[column]
        removed[family] = removed.get(family, 0.0) + np.where(values > 0, values, 0.0)
        out[column] = np.where(values > 0, 0.0, values)
    for total, family in found.totals.items():
        if total not in found.columns(scope) and family in removed:
            out[total] = np.maximum(out[total].to_numpy(dtype=np.float64) - removed[family], 0.0)
    return model.predict_proba(out, strict=False)


def test_a_scope_removes_only_its_friction(model: FrictionModel) -> None:
    found = friction_map(model)
    payment = found.columns(Scope("payment"))
    assert "payment__errors" in payment
    assert "payment__rage_clicks" in payment
    assert not {"payment__visits", "payment__dwell_s", "payment__exit", "payment__revisits"} & set(payment)
    assert all(found.touchpoint[c] == "payment" for c in payment)
    errors = found.columns(Scope(family="errors"))
    assert {found.family[c] for c in errors} == {"errors"}
    assert len(errors) > 3
    assert found.columns(Scope("payment", "errors")) == ["payment__errors"]
    # A family takes the session-wide total that sums it; a touchpoint leaves the total to be lowered.
    assert "session__stalls" in found.columns(Scope(family="stalls"))
    assert "session__stalls" not in found.columns(Scope("payment"))


@pytest.mark.parametrize("scope", [Scope("payment"), Scope(family="stalls"), Scope("product", "stalls")])
def test_risk_without_equals_scoring_the_counterfactual_table(
    model: FrictionModel, world: SmallWorld, scope: Scope
) -> None:
    table = world.table
    cf = counterfactual(model, table, [Scope("search"), scope])
    np.testing.assert_allclose(cf.risk_without(1), _by_hand(model, table, scope), rtol=0, atol=1e-12)
    np.testing.assert_allclose(cf.risk, model.predict_proba(table), rtol=0, atol=0)
    assert len(cf.rows[1]) > 0
    assert (cf.avoided(1) >= -1e-12).all()  # monotone in friction: removing it never raises risk


def test_removing_friction_lowers_the_risk_of_sessions_that_had_it(
    model: FrictionModel, world: SmallWorld
) -> None:
    cf = counterfactual(model, world.table, [Scope("payment", "errors")])
    had = world.table["payment__errors"].to_numpy() > 0
    np.testing.assert_array_equal(np.sort(cf.rows[0]), np.flatnonzero(had))
    assert (cf.avoided(0)[~had] == 0).all()
    assert cf.avoided(0)[had].mean() > 0.05


def test_models_saved_before_the_marking_remove_the_same_friction(model: FrictionModel) -> None:
    old = {
        name: {k: v for k, v in e.items() if k not in {"role", "total_of"}}
        for name, e in model.manifest.catalog.items()
    }
    manifest = FeatureManifest(features=model.manifest.features, catalog=old)
    before = dataclasses.replace(model, manifest=manifest)
    assert friction_map(before) == friction_map(model)
    assert friction_map(model).features  # the current model has friction to remove


def test_impact_adds_up_and_its_interval_surrounds_it(model: FrictionModel, world: SmallWorld) -> None:
    table = world.table
    scopes = [Scope(t) for t in friction_map(model).touchpoints]
    cf = counterfactual(model, table, scopes)
    groups = pd.DataFrame(
        {"day": table["session_start"].dt.floor("D"), "platform": table["context__platform"]}
    )
    found = impact(cf, groups, draws=300, seed=1)
    overall = found[found["group"] == "all"].set_index("scope")
    assert list(overall.index) == list(overall.sort_values("avoided", ascending=False).index)
    for i, scope in enumerate(scopes):
        row = overall.loc[scope.name]
        assert row["avoided"] == pytest.approx(cf.avoided(i).sum(), rel=1e-12)
        assert row["share"] == pytest.approx(row["avoided"] / cf.risk.sum(), rel=1e-12)
        assert row["sessions_with_friction"] == len(cf.rows[i])
        if row["avoided"] > 1:
            assert row["avoided_low"] < row["avoided"] < row["avoided_high"]
            assert row["share_low"] < row["share"] < row["share_high"]
    # Per day and per platform, the same figures partition the sessions.
    for group in ("day", "platform"):
        part = found[found["group"] == group].groupby("scope")[["avoided", "sessions_with_friction"]].sum()
        np.testing.assert_allclose(part.loc[overall.index, "avoided"], overall["avoided"], rtol=1e-9)
        assert (part.loc[overall.index, "sessions_with_friction"] == overall["sessions_with_friction"]).all()
    # Seeded: the same draws give the same interval, other seeds another one.
    again = impact(cf, groups, draws=300, seed=1)
    pd.testing.assert_frame_equal(found, again)
    other = impact(cf, None, draws=300, seed=2).set_index("scope")
    assert not np.allclose(other["avoided_low"], overall["avoided_low"])
    assert impact(cf, None, draws=0)["avoided_low"].isna().all()


def test_the_ranking_agrees_with_the_simulators_truth(model: FrictionModel, world: SmallWorld) -> None:
    table = world.table
    truth = world.world.truth.set_index("session_id").loc[table["session_id"]]
    touchpoints = friction_map(model).touchpoints
    cf = counterfactual(model, table, [Scope(t) for t in touchpoints])
    estimate = impact(cf, draws=0).set_index("scope")["avoided"]
    logit = truth["logit"].to_numpy()
    true = pd.Series(
        {
            t: float((sigmoid(logit) - sigmoid(logit - truth[f"friction_{t}"].to_numpy())).sum())
            for t in touchpoints
        }
    )
    both = pd.DataFrame({"estimate": estimate, "true": true}).sort_values("true", ascending=False)
    assert spearmanr(both["estimate"], both["true"]).statistic >= 0.9, both.round(2).to_string()
    assert list(both.index[:3]) == list(both.sort_values("estimate", ascending=False).index[:3]), both.round(
        2
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("paymnt", r"unknown scope 'paymnt' \(did you mean `payment`\?\): a scope is"),
        ("payment,rage_click", r"'payment,rage_click' \(did you mean `payment,rage_clicks`\?\)"),
        ("payment__visits", r"a scope is a touchpoint \(home, .*\), a friction family \(rage_clicks, "),
    ],
)
def test_a_bad_scope_names_the_allowed_ones(model: FrictionModel, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_scope(model, text)


def test_scopes_parse(model: FrictionModel) -> None:
    assert parse_scope(model, "payment") == Scope("payment")
    assert parse_scope(model, "rage_clicks") == Scope(family="rage_clicks")
    assert parse_scope(model, " payment , rage_clicks ") == Scope("payment", "rage_clicks")


def test_friction_the_trees_never_split_on_spares_exactly_nothing(
    model: FrictionModel, world: SmallWorld
) -> None:
    found = friction_map(model)
    splits = dict(zip(model.manifest.names, model.booster.feature_importance("split"), strict=True))
    summed = set(found.totals.values())  # removing these lowers a session total, which may be split on
    unused = [s for s in found.pairs() if splits[found.columns(s)[0]] == 0 and s.family not in summed]
    assert unused, "every friction feature is split on: pick a model with an unused one"
    # The risk as the report has it: calibrated sums of contributions, equal to predict_proba
    # only up to float rounding; removing ignored friction must still change nothing at all.
    risk = model.calibrator.apply(model.contributions(world.table).sum(axis=1).to_numpy())
    cf = counterfactual(model, world.table, unused, risk=risk)
    assert sum(len(r) for r in cf.rows) > 0
    assert all((cf.avoided(i) == 0).all() for i in range(len(unused)))
    assert (impact(cf, draws=0)["avoided"] == 0).all()


def test_each_driver_gets_the_risk_without_its_friction(model: FrictionModel, world: SmallWorld) -> None:
    table = world.table.iloc[:300].reset_index(drop=True)
    drivers = [["payment__errors", "payment__visits", None]] * 150 + [
        ["session__stalls", "search__errors"]
    ] * 150
    found = risk_without_drivers(model, table, drivers)
    assert found.shape == (300, 3)
    assert np.isnan(found[:, 1][:150]).all()  # exposure: nothing to remove
    assert np.isnan(found[:150, 2]).all()
    assert np.isnan(found[150:, 2]).all()  # fewer drivers in that row
    cf = counterfactual(
        model, table, [Scope("payment", "errors"), Scope(family="stalls"), Scope("search", "errors")]
    )
    np.testing.assert_allclose(found[:150, 0], cf.risk_without(0)[:150], rtol=0, atol=1e-12)
    np.testing.assert_allclose(found[150:, 0], cf.risk_without(1)[150:], rtol=0, atol=1e-12)
    np.testing.assert_allclose(found[150:, 1], cf.risk_without(2)[150:], rtol=0, atol=1e-12)
    assert (found[:150, 0] < cf.risk[:150]).any()


def test_a_design_matrix_gets_the_same_risk_without_as_its_table(
    model: FrictionModel, world: SmallWorld
) -> None:
    """The API passes the design matrix it built from the featurizer's arrays: same figures."""
    table = world.table.iloc[:200].reset_index(drop=True)
    drivers = [["payment__errors", "session__stalls", "payment__visits"]] * 200
    from_table = risk_without_drivers(model, table, drivers)
    from_matrix = risk_without_drivers(model, model.design(table, strict=False), drivers)
    np.testing.assert_array_equal(from_matrix, from_table)
    assert np.isfinite(from_table[:, :2]).all()
    assert np.isnan(from_table[:, 2]).all()
    with pytest.raises(FeatureMismatchError, match=r"columns \(`model.design`\), got shape \(200, 3\)"):
        risk_without_drivers(model, model.design(table, strict=False)[:, :3], drivers)
