from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import pytest

from features.config import EventsConfig, FrictionConfig, parse_config
from features.errors import SchemaError
from features.events import normalize_events
from features.featurize import Featurizer, featurize
from features.presets import PRESETS, detect_preset, expand_key_values, plan_columns, with_preset
from features.signals import SignalsConfig
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


# --- The vendor's vocabulary: signal names and standard events mapped to touchpoints.


def touchpoints_of(preset: str, names: list[str], **config: object) -> list[str]:
    """The touchpoint of each event name (no page) under the preset, as the featurizer maps it."""
    featurizer = Featurizer(parse_config({"events": {"preset": preset}, **config}))
    taxonomy = featurizer.taxonomy_
    codes = taxonomy.map_codes(np.arange(len(names)), np.array(names, dtype=object), None, None)
    return [taxonomy.touchpoints[code] for code in codes]


def test_ga4_recommended_events_map_to_the_journey_without_a_rule() -> None:
    names = [
        "view_item_list",
        "select_item",
        "view_item",
        "add_to_cart",
        "view_cart",
        "begin_checkout",
        "add_shipping_info",
        "add_payment_info",
        "purchase",
        "refund",
        "view_search_results",
        "login",
        "sign_up",
    ]
    assert touchpoints_of("ga4", names) == [
        "catalog",
        "catalog",
        "product",
        "cart",
        "cart",
        "shipping",
        "shipping",
        "payment",
        "confirmation",
        "help",
        "search",
        "account",
        "account",
    ]
    assert touchpoints_of("custom", ["view_item_list", "view_search_results"]) == ["other", "other"]


def test_segment_and_snowplow_bring_their_vocabulary_too() -> None:
    assert touchpoints_of("segment", ["Product Viewed", "Cart Viewed", "Order Completed", "Signed In"]) == [
        "product",
        "cart",
        "confirmation",
        "account",
    ]
    assert touchpoints_of("snowplow", ["list_view", "add_to_cart", "checkout_step", "transaction"]) == [
        "catalog",
        "cart",
        "shipping",
        "confirmation",
    ]


def test_rules_the_user_wrote_and_page_rules_win_over_the_vocabulary() -> None:
    rule = {"rules": [{"touchpoint": "product", "event": "add_to_cart"}]}
    assert touchpoints_of("ga4", ["add_to_cart"], touchpoints=rule) == ["product"]
    taxonomy = Featurizer(parse_config({"events": {"preset": "ga4"}})).taxonomy_
    events = np.array(["add_to_cart"], dtype=object)
    pages = np.array(["/cart"], dtype=object)
    (code,) = taxonomy.map_codes(np.array([0]), events, np.array([0]), pages)
    assert taxonomy.touchpoints[code] == "cart"


def test_a_model_carrying_its_config_maps_events_as_at_training() -> None:
    config = parse_config(
        {"events": {"preset": "ga4"}, "touchpoints": {"rules": [{"touchpoint": "help", "event": "refund"}]}}
    )
    trained = with_preset(config).touchpoints.rules
    carried = with_preset(config.self_contained()).touchpoints.rules
    assert trained == carried


def test_presets_set_their_vendor_event_lists_unless_signals_name_the_kind() -> None:
    def signals(preset: str, **mine: object) -> SignalsConfig:
        return with_preset(parse_config({"events": {"preset": preset}, "signals": mine})).signals

    ga4 = signals("ga4")
    assert (ga4.error_events, ga4.search_events, ga4.submit_events) == (
        ["app_exception"],
        ["view_search_results"],
        ["form_submit"],
    )
    assert ga4.event_match("search").names == {"search", "view_search_results"}  # the default stays
    snowplow = signals("snowplow")
    assert snowplow.error_events == ["application_error", "trns_error"]
    assert (snowplow.search_events, snowplow.click_events) == (
        ["site_search"],
        ["link_click", "button_click"],
    )
    segment = signals("segment")
    assert (segment.error_events, segment.search_events) == (["Application Crashed"], ["Products Searched"])
    # Any key of a kind the user wrote takes that kind from the preset; the other kinds stay.
    for mine in ({"error_event": "oops"}, {"error_events": ["oops"]}, {"error_event_pattern": "oops"}):
        taken = signals("snowplow", **mine)
        assert "application_error" not in taken.event_match("error").names
        assert taken.search_events == ["site_search"]
    assert signals("custom").error_events == []


def test_a_carried_config_gets_the_same_signal_names_as_the_config_it_was_trained_with() -> None:
    config = parse_config({"events": {"preset": "snowplow"}, "signals": {"search_events": ["find"]}})
    # A model stores its config whole, every key written: it must not lose the preset's names.
    carried = FrictionConfig.model_validate(config.self_contained().model_dump(mode="json"))
    assert with_preset(carried).signals == with_preset(config).signals
    assert with_preset(with_preset(config)).signals == with_preset(config).signals


def test_every_snowplow_error_event_counts_as_an_error() -> None:
    column = "unstruct_event_com_snowplowanalytics_snowplow_ecommerce_snowplow_ecommerce_action_1"
    raw = pd.DataFrame(
        {
            "domain_sessionid": ["s"] * 4,
            "domain_userid": ["u"] * 4,
            "derived_tstamp": [f"2024-03-01 10:00:0{k}.000" for k in range(4)],
            "event_name": ["page_view", "snowplow_ecommerce_action", "application_error", "page_view"],
            "page_urlpath": ["/checkout/payment"] * 4,
            f"{column}.type": [None, "trns_error", None, None],
        }
    )
    config = parse_config({"events": {"preset": "snowplow"}})
    events = normalize_events(raw, config.events).events
    table = featurize(events, config).frame
    assert table["payment__errors"].iloc[0] == 2.0


def test_ga4_searches_feed_the_search_signals() -> None:
    at = pd.Timestamp("2020-11-01 00:54:33", tz=UTC)
    events = pd.DataFrame(
        {
            "session_id": ["s"] * 3,
            "user_id": ["u"] * 3,
            "timestamp": [at, at + pd.Timedelta(seconds=10), at + pd.Timedelta(seconds=20)],
            "event": ["page_view", "view_search_results", "view_search_results"],
        }
    )
    table = featurize(events, parse_config({"events": {"preset": "ga4"}})).frame
    assert table["search__search_refinements"].iloc[0] == 1.0
    assert table["search__visits"].iloc[0] == 1.0


def test_snowplow_ecommerce_actions_are_named_by_their_type() -> None:
    events = normalized("snowplow", "snowplow_enriched.tsv")
    assert events["event"].tolist() == [
        "page_view",
        "page_view",
        "add_to_cart",
        "site_search",
        "transaction",
        "screen_view",
        "refund",
    ]
    # The warehouse loaders keep the action in a column of its own, a record in JSON.
    column = "unstruct_event_com_snowplowanalytics_snowplow_ecommerce_snowplow_ecommerce_action_1"
    raw = pd.DataFrame(
        {
            "domain_sessionid": ["s", "s"],
            "derived_tstamp": ["2024-03-01 10:00:00.000", "2024-03-01 10:00:05.000"],
            "event_name": ["page_view", "snowplow_ecommerce_action"],
            f"{column}.type": [None, "checkout_step"],
        }
    )
    assert normalize_events(raw, EventsConfig(preset="snowplow")).events["event"].tolist() == [
        "page_view",
        "checkout_step",
    ]


def test_a_dotted_path_names_a_field_inside_json_text_or_key_values() -> None:
    events = normalize_events(
        read_events(FIXTURES / "snowplow_enriched.tsv"),
        EventsConfig(preset="snowplow", event="unstruct_event.data.data.type"),
    )
    assert events.events["event"].tolist() == ["add_to_cart", "transaction"]
    assert events.summary.problems == {"missing event": 5}  # the rows without that field
    ga4 = normalize_events(
        read_events(FIXTURES / "ga4_ecommerce_export.jsonl"),
        EventsConfig(preset="ga4", target="event_params.search_term"),
    ).events
    assert ga4["target"].dropna().tolist() == ["tee"]


def test_snowplow_mobile_sessions_come_from_the_client_session_entity() -> None:
    events = normalized("snowplow", "snowplow_enriched.tsv")
    assert events["session_id"].iloc[5] == "9c65e7f3-1b1c-4e35-9a8f-3a3c1e1f0b7d"  # from `contexts`
    assert pd.isna(events["session_id"].iloc[6])  # none anywhere: sessions come from the gap
    # The warehouse loaders' column: a list of records, read from JSON.
    rows = [
        {"domain_userid": "d", "derived_tstamp": "2024-03-01 10:00:00", "event_name": "screen_view"}
        | {
            "contexts_com_snowplowanalytics_snowplow_client_session_1": [
                {"sessionId": "m-1", "sessionIndex": 2}
            ]
        },
        {"domain_userid": "d", "domain_sessionid": "web-1", "derived_tstamp": "2024-03-01 11:00:00"}
        | {"event_name": "page_view", "contexts_com_snowplowanalytics_snowplow_client_session_1": None},
    ]
    raw = pd.json_normalize(rows)
    assert normalize_events(raw, EventsConfig(preset="snowplow")).events["session_id"].tolist() == [
        "m-1",
        "web-1",
    ]


@pytest.mark.parametrize(
    ("name", "preset"),
    [
        ("ga4_bigquery_export.jsonl", "ga4"),
        ("ga4_ecommerce_export.jsonl", "ga4"),
        ("snowplow_atomic_events.csv", "snowplow"),
        ("snowplow_enriched.tsv", "snowplow"),
        ("segment_track_calls.jsonl", "segment"),
        ("events.csv", "custom"),
    ],
)
def test_the_vendor_is_recognised_from_its_columns(name: str, preset: str) -> None:
    assert detect_preset(list(read_events(FIXTURES / name).columns))[0] == preset


def test_the_evidence_names_the_marks_and_one_mark_is_not_enough() -> None:
    assert detect_preset(["user_pseudo_id", "event_params.ga_session_id", "x"]) == (
        "ga4",
        "columns `event_params`, `user_pseudo_id`",
    )
    assert detect_preset(["session_id", "event_name", "messageId"])[0] == "custom"


def test_segment_warehouse_tracks_tables_map_too() -> None:
    raw = pd.DataFrame(
        {
            "id": ["m1"],
            "anonymous_id": ["anon-1"],
            "user_id": [None],
            "event": ["Product Viewed"],
            "received_at": ["2024-03-01 10:00:01.000 UTC"],
            "original_timestamp": ["2024-03-01 10:00:00.000 UTC"],
            "timestamp": ["2024-03-01 10:00:00.000 UTC"],
            "context_page_path": ["/product/42"],
            "context_library_name": ["analytics.js"],
        }
    )
    assert detect_preset(list(raw.columns))[0] == "segment"
    events = normalize_events(raw, EventsConfig(preset="segment")).events
    assert events.iloc[0][["user_id", "event", "page", "library"]].tolist() == [
        "anon-1",
        "Product Viewed",
        "/product/42",
        "analytics.js",
    ]
