"""A feature table is checked against the config a model will carry before training on it."""

from __future__ import annotations

import pandas as pd
import pytest

from features.config import FrictionConfig, parse_config
from features.errors import ConfigError
from features.featurize import Featurizer
from pipelines.feature_table import check_built_with
from pipelines.simulator import simulate


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return Featurizer(FrictionConfig())(simulate(200, seed=2).events).frame


def test_the_table_of_this_config_passes(table: pd.DataFrame) -> None:
    check_built_with(table, FrictionConfig())


def test_a_taxonomy_with_another_touchpoint_is_refused(table: pd.DataFrame) -> None:
    config = parse_config({"touchpoints": {"rules": [{"touchpoint": "wishlist", "event": "wish"}]}})
    with pytest.raises(ConfigError, match=r"features.parquet lacks the touchpoint\(s\) wishlist"):
        check_built_with(table, config, source="features.parquet")


def test_features_the_config_does_not_produce_are_refused(table: pd.DataFrame) -> None:
    config = parse_config({"signals": {"disabled": ["rage_clicks"]}})
    with pytest.raises(ConfigError, match=r"has features this config does not produce \(.*__rage_clicks"):
        check_built_with(table, config)
    with pytest.raises(ConfigError, match=r"\(mystery__score\)"):
        check_built_with(table.assign(mystery__score=1.0), FrictionConfig())
