"""The feature catalog: every column the featurizer writes has a name, words and a unit."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
import pytest

from features.catalog import build_catalog, is_friction, total_of
from features.featurize import Featurizer
from features.signals import SIGNALS, SignalsConfig
from features.taxonomy import load_taxonomy

ALL_COLUMNS = ("session_id", "user_id", "timestamp", "event", "page", "target", "x", "y", "load_ms", "value")


def test_every_feature_has_words_a_unit_and_a_unique_name() -> None:
    catalog = Featurizer().catalog([*ALL_COLUMNS, "platform"])
    assert len(set(catalog.names)) == len(catalog)
    for entry in catalog:
        assert all((entry.meaning, entry.unit, entry.family)), entry.name
        assert "{" not in entry.meaning, entry.name  # every placeholder filled
        scope = entry.name.split("__")[0]
        assert entry.touchpoint == (scope if scope not in {"session", "funnel", "context"} else None)


def test_touchpoint_features_cover_every_touchpoint_and_signal() -> None:
    taxonomy = load_taxonomy()
    catalog = build_catalog(taxonomy.touchpoints, taxonomy.funnel, SIGNALS, SignalsConfig())
    for touchpoint in taxonomy.touchpoints:
        for family in ("visits", "revisits", "dwell_s", "exit", "rage_clicks", "slow_loads", "stalls"):
            assert f"{touchpoint}__{family}" in catalog
    # regressions only leave funnel stages
    assert "payment__funnel_regressions" in catalog
    assert "help__funnel_regressions" not in catalog


def test_meanings_carry_the_configured_thresholds() -> None:
    config = SignalsConfig(rage_click_max_interval_ms=800, slow_load_ms=2500)
    taxonomy = load_taxonomy()
    catalog = build_catalog(taxonomy.touchpoints, taxonomy.funnel, SIGNALS, config)
    entry = catalog["payment__rage_clicks"]
    assert (entry.touchpoint, entry.family, entry.unit) == ("payment", "rage_clicks", "count")
    assert entry.meaning.startswith(
        "rage-click bursts at payment: 3+ clicks on one target, each under 800 ms"
    )
    assert "2500 ms" in catalog["cart__slow_loads"].meaning
    assert catalog["cart__dwell_s"].unit == "seconds"


def test_context_columns_are_categorical_entries() -> None:
    catalog = Featurizer().catalog(["user_id", "timestamp", "event", "platform"])
    entry = catalog["context__platform"]
    assert (entry.dtype, entry.unit, entry.touchpoint) == ("category", "category", None)
    assert [e.name for e in catalog.categorical] == ["context__platform"]


def test_the_catalog_is_the_frame_columns() -> None:
    events = pd.DataFrame(
        {
            "session_id": ["s"],
            "timestamp": pd.to_datetime(["2024-01-01"], utc=True),
            "event": ["page_view"],
            "platform": ["ios"],
        }
    )
    result = Featurizer()(events)
    assert list(result.frame.columns[4:-2]) == list(result.catalog.names)
    assert result.manifest()["features"][0]["name"] == result.catalog.names[0]


def test_unknown_feature_name_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError, match="no feature named 'payment__rage' in the catalog"):
        Featurizer().catalog(ALL_COLUMNS)["payment__rage"]


def test_every_feature_is_marked_friction_or_exposure() -> None:
    catalog = Featurizer().catalog([*ALL_COLUMNS, "platform"])
    friction = {e.name for e in catalog if e.role == "friction"}
    assert {e.role for e in catalog} == {"friction", "exposure"}
    assert {
        "payment__errors",
        "cart__rage_clicks",
        "search__no_result_searches",
        "product__quick_backs",
    } <= friction
    assert {"session__stalls", "funnel__regressions", "shipping__funnel_regressions"} <= friction
    exposure = {"payment__visits", "payment__dwell_s", "payment__exit", "payment__revisits", "session__hour"}
    assert not exposure & friction
    assert not {e.name for e in catalog.categorical} & friction
    assert {e.family for e in catalog if e.touchpoint and e.role == "friction"} == {s.name for s in SIGNALS}
    totals = {e.name: e.total_of for e in catalog if e.total_of}
    assert totals == {"session__stalls": "stalls", "funnel__regressions": "funnel_regressions"}


def test_records_saved_before_roles_fall_back_to_the_family_rule() -> None:
    catalog = Featurizer().catalog([*ALL_COLUMNS, "platform"])
    for entry in catalog:
        record = {k: v for k, v in asdict(entry).items() if k not in {"role", "total_of"}}
        assert is_friction(entry.name, record) == (entry.role == "friction"), entry.name
        assert is_friction(entry.name) == (entry.role == "friction"), entry.name  # no record at all
        assert total_of(entry.name, record) == entry.total_of, entry.name
    # The marking, when present, decides over the family.
    assert not is_friction("payment__errors", {"family": "errors", "role": "exposure"})
