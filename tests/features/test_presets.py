from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import pytest

from features.config import EventsConfig
from features.errors import SchemaError
from features.events import normalize_events
from features.presets import PRESETS, expand_key_values, plan_columns
from pipelines.readers import read_events

FIXTURES = Path(__file__).parents[1] / "fixtures"
UTC = "UTC"


def normalized(preset: str, name: str, **keys: object) -> pd.DataFrame:
    result = normalize_events(
        read_events(FIXTURES / name), EventsConfig.model_validate({"preset": preset, **keys})
    )
    assert result.summary.rows_quarantined == 0, result.quarantine
    return result.events


def test_ga4_export_maps_onto_the_contract() -> None:
    events = normalized("ga4", "ga4_bigquery_export.jsonl")
    assert len(events) == 11
    first = events.iloc[3].to_dict()
    assert first == {
        "session_id": "1234567890.1709280000-1709287200",
        "user_id": "1234567890.1709280000",
        "timestamp": pd.Timestamp("2024-03-01 10:00:21.5", tz=UTC),
        "event": "click",
        "page": "/product/42",
        "target": "https://help.example.com/returns",
        "value": first["value"],
        "platform": "WEB",
        "device_category": "desktop",
        "traffic_medium": "organic",
    }
    assert pd.isna(first["value"])
    # ga_session_id repeats across users: the session id is made unique per user.
    assert events["session_id"].nunique() == 3
    assert events["timestamp"].iloc[0] == pd.Timestamp("2024-03-01 10:00:00.123456", tz=UTC)
    assert events.iloc[-1][["event", "page", "value"]].tolist() == ["purchase", "/checkout/thanks", 49.9]


def test_ga4_reads_the_same_from_parquet_with_nested_types(tmp_path: Path) -> None:
    table = pa_json.read_json(FIXTURES / "ga4_bigquery_export.jsonl")
    pq.write_table(table, tmp_path / "ga4.parquet")
    from_parquet = normalize_events(read_events(tmp_path / "ga4.parquet"), EventsConfig(preset="ga4")).events
    pd.testing.assert_frame_equal(from_parquet, normalized("ga4", "ga4_bigquery_export.jsonl"))


def test_ga4_params_as_python_lists_give_the_same_result() -> None:
    records = [json.loads(line) for line in (FIXTURES / "ga4_bigquery_export.jsonl").read_text().splitlines()]
    raw = pd.json_normalize(records, sep=".")  # lists of dicts in object columns
    events = normalize_events(raw, EventsConfig(preset="ga4")).events
    pd.testing.assert_frame_equal(events, normalized("ga4", "ga4_bigquery_export.jsonl"))


def test_snowplow_atomic_events_map_onto_the_contract() -> None:
    events = normalized("snowplow", "snowplow_atomic_events.csv")
    assert len(events) == 8
    assert events["session_id"].nunique() == 2
    struct = events.iloc[3]
    assert struct[["event", "page", "target", "value"]].tolist() == [
        "add-to-basket",
        "/product/42",
        "#add-to-cart",
        49.9,
    ]
    assert events["event"].tolist()[:5] == [
        "page_view",
        "page_ping",
        "page_view",
        "add-to-basket",
        "link_click",
    ]
    # derived_tstamp is empty on row 5: collector_tstamp stands in.
    assert events["timestamp"].iloc[5] == pd.Timestamp("2024-03-01 10:01:30", tz=UTC)
    assert events.iloc[6][["platform", "referrer_medium", "country"]].tolist() == ["mob", "internal", "DE"]


def test_segment_track_calls_map_onto_the_contract() -> None:
    events = normalized("segment", "segment_track_calls.jsonl")
    assert events["event"].tolist()[:2] == ["page_view", "Product Viewed"]
    assert events["user_id"].tolist()[-1] == "user-90"  # no anonymousId: userId stands in
    assert events["page"].tolist()[-1] == "/checkout"
    row = events.iloc[2]
    assert row[["session_id", "user_id", "event", "target"]].tolist() == [
        "sess-a",
        "anon-1",
        "Button Clicked",
        "#add-to-cart",
    ]
    assert events["timestamp"].iloc[5] == pd.Timestamp("2024-03-01 10:30:00", tz=UTC)  # +01:00 converted
    assert events["value"].iloc[4] == 49.9
    assert events["campaign_medium"].iloc[0] == "email"


def test_explicit_keys_override_the_preset() -> None:
    events = normalized(
        "segment", "segment_track_calls.jsonl", user_id="messageId", context=["context.locale"]
    )
    assert events["user_id"].iloc[0] == "ajs-2024-03-01T10:00:00.000Z"
    assert events.columns[-1] == "context_locale"
    assert "campaign_medium" not in events.columns


def test_plan_merges_written_keys_only() -> None:
    plan = plan_columns(EventsConfig(preset="ga4", session_id="sid", timestamp_unit="ms"))
    assert plan.columns["session_id"] == ("sid",)
    assert plan.columns["user_id"] == ("user_pseudo_id",)
    assert plan.columns["touchpoint"] == ("touchpoint",)  # not in the preset: the same name
    assert plan.explicit == {"session_id"}
    assert plan.timestamp_unit == "ms"
    assert plan_columns(EventsConfig(preset="ga4")).timestamp_unit == "us"
    assert set(PRESETS) == {"custom", "ga4", "snowplow", "segment"}


def test_a_preset_column_that_is_absent_is_skipped_but_required_ones_are_named() -> None:
    raw = pd.DataFrame({"user_pseudo_id": ["u"], "event_name": ["page_view"], "event_time": [1]})
    with pytest.raises(
        SchemaError,
        match=r"`timestamp` \(looked for the raw column `event_timestamp` \(did you mean `event_time`\?\)\)",
    ):
        normalize_events(raw, EventsConfig(preset="ga4"))
    raw = raw.rename(columns={"event_time": "event_timestamp"}).assign(event_timestamp=[1709287200000000])
    events = normalize_events(raw, EventsConfig(preset="ga4")).events
    assert events.columns.tolist() == ["user_id", "timestamp", "event"]  # no params: sessions derived later


def test_expand_key_values_takes_typed_slots_and_first_repeats() -> None:
    params = pd.Series(
        [
            [{"key": "a", "value": {"string_value": "x"}}, {"key": "b", "value": {"int_value": 7}}],
            [{"key": "a", "value": {"double_value": 1.5}}, {"key": "a", "value": {"string_value": "later"}}],
            [],
            None,
        ],
        name="event_params",
    )
    out = expand_key_values(params, ["a", "b", "missing"])
    assert out["a"].tolist()[:2] == ["x", "1.5"]
    assert out["b"].tolist()[0] == "7"
    assert out["a"].isna().tolist() == [False, False, True, True]
    assert out["missing"].isna().all()
    assert out["a"].name == "event_params.a"


def test_expand_key_values_refuses_what_is_not_a_key_value_list() -> None:
    with pytest.raises(SchemaError, match=r"`event_params` is not a list of \{key, value\} records"):
        expand_key_values(pd.Series([["a", "b"]], name="event_params"), ["a"])
    arrow = pd.Series([[1]], dtype=pd.ArrowDtype(pa.list_(pa.int64())), name="event_params")
    with pytest.raises(SchemaError, match=r"its type is list<item: int64>"):
        expand_key_values(arrow, ["a"])
