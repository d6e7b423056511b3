"""Coverage: what share of the events the taxonomy places, which signals cannot fire and why."""

from __future__ import annotations

from typing import Any

import pandas as pd

from features.config import parse_config
from features.coverage import measure_coverage
from features.taxonomy import OTHER, load_taxonomy


def coverage_of(rows: list[tuple[str, str, str | None]], **config: Any) -> Any:
    events = pd.DataFrame(rows, columns=["session_id", "event", "page"])
    parsed = parse_config(config)
    return measure_coverage(events, parsed, load_taxonomy(parsed.touchpoints))


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
    assert (result.sessions, result.label_sessions, result.sessions_without_journey) == (3, 2, 1)
    assert result.label_rate == 2 / 3
    assert result.as_json()["label_rate"] == 2 / 3


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


def test_a_label_that_never_occurs_is_said() -> None:
    result = coverage_of([("s1", "page_view", "/cart")], label={"events": ["refund"]})
    assert result.label_rate == 0.0
    assert "no session holds a label event" in result.warnings()[-1]
