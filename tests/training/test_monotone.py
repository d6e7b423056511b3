"""Monotone friction: which features the rule constrains (read from the featurizer's catalog),
the `[train]` keys that switch it, and a model that never lowers the risk for one more error."""

from __future__ import annotations

import pytest

from features.catalog import Catalog
from features.errors import ConfigError
from features.featurize import Featurizer
from features.signals import SIGNAL_NAMES
from models.manifest import FeatureManifest, feature_columns
from tests.training.conftest import fast_config
from tests.training.conftest import world as synthetic_world
from tests.worlds import SmallWorld
from training.config import train_config_from
from training.monotone import friction_counts, is_friction_count, monotone_constraints
from training.train import TrainResult, train


def _catalog(small: SmallWorld) -> Catalog:
    return Featurizer(small.config).catalog(list(small.world.events.columns))


def test_the_rule_constrains_exactly_the_catalogs_friction_counts(world: SmallWorld) -> None:
    catalog = _catalog(world)
    manifest = FeatureManifest.from_table(world.table, catalog=catalog.to_records())
    constrained = set(friction_counts(manifest))
    assert constrained <= set(catalog.names)
    for name in constrained:  # each one counts occurrences of a signal (or funnel regressions)
        entry = catalog[name]
        assert entry.unit == "count", name
        assert entry.family in {*SIGNAL_NAMES, "regressions"}, name
    signal_entries = {e.name for e in catalog if e.family in SIGNAL_NAMES or e.name == "funnel__regressions"}
    assert constrained == signal_entries
    assert {"payment__errors", "payment__rage_clicks", "shipping__funnel_regressions"} <= constrained
    assert {"funnel__regressions", "session__stalls"} <= constrained
    shape = {"payment__visits", "payment__dwell_s", "payment__exit", "session__events", "session__hour"}
    assert not shape & constrained
    assert not {e.name for e in catalog.categorical} & constrained


def test_names_alone_give_the_same_rule_as_the_catalog(world: SmallWorld) -> None:
    with_catalog = FeatureManifest.from_table(world.table, catalog=_catalog(world).to_records())
    names_only = FeatureManifest.from_table(world.table)
    assert friction_counts(names_only) == friction_counts(with_catalog)
    assert is_friction_count("payment__errors")
    assert not is_friction_count("errors")  # no scope: not the featurizer's naming
    assert not is_friction_count("payment__visits")


def test_the_constraints_line_up_with_the_features() -> None:
    table, _ = synthetic_world(2_000, 3)
    manifest = FeatureManifest.from_table(table, feature_columns(table))
    vector = monotone_constraints(manifest)
    assert len(vector) == len(manifest.features)
    assert {name for name, c in zip(manifest.names, vector, strict=True) if c} == {
        n for n in manifest.names if n.endswith(("__errors", "__rage_clicks"))
    }
    assert all(vector[i] == 0 for i in manifest.categorical_indices)


@pytest.fixture(scope="module")
def monotone_result() -> TrainResult:
    table, truth = synthetic_world(10_000, 11)
    return train(table, fast_config(), truth=truth)


def test_one_more_friction_count_never_lowers_a_sessions_risk(monotone_result: TrainResult) -> None:
    model, holdout = monotone_result.model, monotone_result.holdout
    assert model.card.params["monotone_constraints"] == monotone_constraints(model.manifest)
    before = model.predict_raw(holdout)
    for name in friction_counts(model.manifest):
        for extra in (1.0, 2.0):
            after = model.predict_raw(holdout.assign(**{name: holdout[name] + extra}))
            assert (after >= before).all(), name  # per session, not on average


def test_monotone_friction_off_sets_no_constraints() -> None:
    table, _ = synthetic_world(3_000, 4)
    result = train(table, fast_config(monotone_friction=False))
    assert "monotone_constraints" not in result.model.card.params
    assert result.model.card.training["config"]["monotone_friction"] is False


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"monotone_friction": "maybe"}, "`train.monotone_friction`: Input should be a valid boolean"),
        (
            {"lightgbm": {"monotone_constraints_method": "advancd"}},
            "`train.lightgbm.monotone_constraints_method`: Input should be 'basic', 'intermediate' or "
            "'advanced' (got 'advancd') (did you mean `advanced`?)",
        ),
        (
            {"lightgbm": {"extra": {"monotone_constraints": "1,0"}}},
            "['monotone_constraints'] cannot be passed through `extra`",
        ),
        ({"lightgbm": {"extra": {"mc": "1,0"}}}, "['mc'] cannot be passed through `extra`"),
    ],
)
def test_bad_monotone_settings_name_the_key(table: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        train_config_from(table, "friction.toml")
    assert expected in str(caught.value)


def test_the_method_reaches_the_booster() -> None:
    config = train_config_from({"lightgbm": {"monotone_constraints_method": "advanced"}})
    assert config.lightgbm.to_lightgbm(1_000)["monotone_constraints_method"] == "advanced"
