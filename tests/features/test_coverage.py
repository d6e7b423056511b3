"""Coverage: what share of the events the taxonomy places, which signals cannot fire and why."""

from __future__ import annotations

from typing import Any

import pandas as pd

from features.config import parse_config
from features.coverage import measure_coverage
from features.taxonomy import OTHER


def coverage_of(rows: list[tuple[str, str, str | None]], **config: Any) -> Any:
    events = pd.DataFrame(rows, columns=["session_id", "event", "page"])
    return measure_coverage(events, parse_config(config))


def test_shares_per_touchpoint_and_label_events_apart() -> None:
    result = coverage_of(
        [
            ("s1", "page_view", "/cart"),
            ("s1", "page_view", "/checkout/payment"),
            ("s1", "support_chat", "/help"),
            ("s2", "page_view", "/cart"),
            ("s3", "complaint", None),
        ]
    )
    assert result.touchpoints["cart"] == 2
    assert result.touchpoints["payment"] == 1
    assert result.touchpoints["help"] == 0  # the chat is the label, not a visit to help
    assert result.label_events == 2
    assert (result.sessions, result.label.dissatisfied, result.sessions_without_journey) == (3, 2, 1)
    assert result.label_rate == 2 / 3
    assert result.as_json()["label_rate"] == 2 / 3
    assert result.as_rows()["label rate"] == "66.7% of sessions (2 of 3)"
    assert not result.warnings()


def test_a_large_other_share_warns_with_the_top_names_and_templates() -> None:
    rows = [("s1", "wish", f"/wishlist/{k}") for k in range(8)] + [("s1", "page_view", "/cart")] * 2
    result = coverage_of(rows)
    assert result.touchpoints[OTHER] == 8
    assert result.other_share == 0.8
    (warning, *_) = result.warnings()
    assert warning.startswith("80% of events map to no touchpoint (`other`)")
    assert "wish (8)" in warning
    assert "/wishlist/{id} (8)" in warning


def test_signals_off_say_why() -> None:
    result = coverage_of([("s1", "page_view", "/cart"), ("s1", "tap", "/cart")])
    off = result.signals_off
    assert off["rage_clicks"] == "missing column `target`"
    assert off["slow_loads"] == "missing column `load_ms`"
    assert off["errors"].startswith("no `error` event in the data")
    assert off["dead_clicks"].startswith("no `click` event in the data (set `click_events`")
    with_taps = coverage_of([("s1", "tap", "/cart")], signals={"click_event_pattern": "^tap$"})
    assert "dead_clicks" not in with_taps.signals_off
    assert "signal errors" in result.as_rows()


def test_a_label_that_never_occurs_is_said_with_the_data_s_most_frequent_names() -> None:
    rows = [("s1", "page_view", "/cart"), ("s1", "page_view", "/"), ("s2", "tap", "/cart")]
    result = coverage_of(rows, label={"events": ["refund", "complaint"]})
    assert result.label_rate == 0.0
    assert result.warnings() == [
        "the label events never occur: `refund`, `complaint` in 0 of 2 sessions (label rate 0.0%); "
        "`train` needs dissatisfied sessions: name this data's events in [label] events "
        "(its most frequent: page_view (2), tap (1))"
    ]


def test_an_absence_label_is_the_share_of_sessions_reaching_the_touchpoint_without_the_events() -> None:
    rows = [
        ("s1", "page_view", "/cart"),
        ("s1", "purchase", "/thanks"),
        ("s2", "page_view", "/cart"),
        ("s3", "page_view", "/cart"),
        ("s4", "page_view", "/"),  # never reached the cart: unlabelled
    ]
    label = {"kind": "absence", "reached": "cart", "events": ["purchase"]}
    result = coverage_of(rows, label=label)
    assert result.label_events == 1  # the purchase is the label's, not a confirmation visit
    assert result.touchpoints["confirmation"] == 0
    assert (result.label.base, result.label.dissatisfied) == (3, 2)
    assert result.as_rows()["label rate"] == "66.7% of sessions reaching cart (2 of 3 hold no purchase)"
    assert not result.warnings()
    never = coverage_of([r for r in rows if r[1] != "purchase"], label=label)
    assert never.label_rate == 1.0
    assert never.warnings() == [
        "`purchase` never occur, so all 3 sessions reaching `cart` would be dissatisfied "
        "(label rate 100.0%); name this data's events in [label] events "
        "(its most frequent: page_view (4))"
    ]


def test_rows_without_a_session_id_count_as_one_more_session_of_their_user() -> None:
    events = pd.DataFrame(
        {
            "session_id": ["s1", "s1", None, None, None],
            "user_id": ["u1", "u1", "u1", "u2", "u2"],
            "event": ["page_view", "complaint", "page_view", "page_view", "support_chat"],
            "page": ["/cart", None, "/cart", "/cart", None],
        }
    )
    result = measure_coverage(events, parse_config({}))
    # s1, u1's rows without a session, u2's rows without a session.
    assert (result.sessions, result.label.dissatisfied) == (3, 2)
    assert result.session_unit == "sessions"
    users_only = measure_coverage(events.drop(columns="session_id"), parse_config({}))
    assert (users_only.sessions, users_only.label.dissatisfied, users_only.session_unit) == (2, 2, "users")


def test_the_preset_s_vocabulary_and_signal_names_count_as_the_featurizer_counts_them() -> None:
    rows = [("s1", "view_item_list", None), ("s1", "app_exception", None), ("s1", "begin_checkout", None)]
    plain = coverage_of(rows)
    ga4 = coverage_of(rows, events={"preset": "ga4"})
    assert (plain.touchpoints["catalog"], plain.touchpoints["shipping"]) == (0, 0)
    assert (ga4.touchpoints["catalog"], ga4.touchpoints["shipping"]) == (1, 1)
    assert "errors" in plain.signals_off
    assert "errors" not in ga4.signals_off
