"""`friction init`'s inference, piece by piece: words, URL templates, synonyms, errors, labels,
column roles, vendor detection, and the drafted text loading back as a config."""

from __future__ import annotations

import tomllib
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.column_roles import infer_roles
from features.config import parse_config
from features.draft_config import draft_events_config, render_config
from features.draft_taxonomy import draft_taxonomy, status_error_names, template_pattern
from features.errors import SchemaError
from features.patterns import LinearPattern
from features.presets import detect_preset
from features.taxonomy import load_taxonomy
from features.tokens import joined_pairs, tokens, url_template
from features.vocabulary import touchpoint_of

FUNNEL = ("home", "search", "catalog", "product", "cart", "shipping", "payment", "confirmation")
TOUCHPOINTS = (*FUNNEL, "account", "help")


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("add_payment_info", ("add", "payment", "info")),
        ("addPaymentInfo", ("add", "payment", "info")),
        ("add-payment-info", ("add", "payment", "info")),
        ("/checkout/payment", ("checkout", "payment")),
        ("HTTPError404", ("http", "error", "404")),
        ("Product Added", ("product", "added")),
        ("", ()),
    ],
)
def test_tokens_split_every_naming_style(name: str, words: tuple[str, ...]) -> None:
    assert tokens(name) == words


def test_joined_pairs_read_words_written_apart() -> None:
    assert joined_pairs(("sign", "in", "now")) == ("sign", "in", "now", "signin", "innow")


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/p/10177", "/p/{id}"),
        ("/p/10177/reviews", "/p/{id}/reviews"),
        ("/order/3f2a9c1e-0b7d-4e1a-9c3e-5d6f7a8b9c0d", "/order/{id}"),
        ("/u/a1b2c3d4e5f6", "/u/{id}"),
        ("/c/home-decor", "/c/home-decor"),
        ("/checkout/payment", "/checkout/payment"),
        ("/", "/"),
    ],
)
def test_url_templates_replace_identifiers_only(path: str, template: str) -> None:
    assert url_template(path) == template


def test_template_patterns_match_the_template_and_nothing_wider() -> None:
    pattern = LinearPattern(template_pattern("/p/{id}"))
    assert pattern.search("/p/1")
    assert pattern.search("/p/1/")
    assert not pattern.search("/p/1/reviews")
    assert not pattern.search("/pp/1")
    assert LinearPattern(template_pattern("/")).search("/")
    assert not LinearPattern(template_pattern("/")).search("/cart")


@pytest.mark.parametrize(
    ("name", "touchpoint"),
    [
        ("basket_view", "cart"),
        ("begin_checkout", "cart"),
        ("payment_details", "payment"),
        ("billing_form", "payment"),
        ("sign_in", "account"),
        ("userProfile", "account"),
        ("order_complete", "confirmation"),
        ("thank_you", "confirmation"),
        ("purchase", "confirmation"),
        ("faq", "help"),
        ("contact_us", "help"),
        ("find_store", "search"),
        ("view_search_results", "search"),
        ("pdp_view", "product"),
        ("view_item", "product"),
        ("view_item_list", "catalog"),
        ("collection_page", "catalog"),
        ("delivery_options", "shipping"),
        ("add_shipping_info", "shipping"),
        ("landing", "home"),
        ("/checkout/payment", "payment"),
        ("/help/payment", "help"),
        ("session_start", None),
        ("scroll", None),
    ],
)
def test_synonyms_place_names_and_the_more_specific_word_wins(name: str, touchpoint: str | None) -> None:
    found = touchpoint_of(joined_pairs(tokens(name)))
    assert (found[0] if found else None) == touchpoint


def events_frame(
    counts: dict[str, int], pages: dict[str, str] | None = None, sessions: int = 10
) -> pd.DataFrame:
    names = [name for name, n in counts.items() for _ in range(n)]
    frame = pd.DataFrame({"event": names, "session_id": [f"s{k % sessions}" for k in range(len(names))]})
    if pages is not None:
        frame["page"] = [pages.get(name) for name in names]
    return frame


def draft(frame: pd.DataFrame, **kwargs: Any) -> Any:
    return draft_taxonomy(frame, FUNNEL, TOUCHPOINTS, **kwargs)


def test_errors_are_found_by_their_words() -> None:
    frame = events_frame(
        {
            "payment_error": 5,
            "error_page": 3,
            "checkout_bug": 2,
            "card_declined": 2,
            "http_404": 1,
            "pdp_view": 50,
        }
    )
    result = draft(frame)
    assert {f.name for f in result.errors} == {
        "payment_error",
        "error_page",
        "checkout_bug",
        "card_declined",
        "http_404",
    }
    # An error is placed where its words say (payment), but is never a click or search event.
    assert any(r.name == "payment_error" and r.touchpoint == "payment" for r in result.event_rules)
    assert not any(f.name == "payment_error" for fs in result.signals.values() for f in fs)


def test_an_http_status_column_marks_errors_by_their_rows() -> None:
    names = pd.Series(["api_call"] * 4 + ["page_load"] * 4)
    status = pd.Series([500, 503, 502, 200, 200, 200, 404, 200])
    assert status_error_names(names, status) == {"api_call": 0.75}
    result = draft(events_frame({"api_call": 4, "page_load": 4}), status_errors={"api_call": 0.75})
    assert [f.name for f in result.errors] == ["api_call"]
    assert "HTTP status >= 400 on 75%" in result.errors[0].why


def test_label_candidates_carry_their_session_rate_and_are_nothing_else() -> None:
    frame = events_frame(
        {"contact_support": 2, "thumbs_down": 1, "refund_requested": 1, "pdp_view": 46}, sessions=10
    )
    result = draft(frame)
    labels = {f.name: f.rate for f in result.labels}
    assert set(labels) == {"contact_support", "thumbs_down", "refund_requested"}
    assert labels["contact_support"] == pytest.approx(0.2)
    placed = {r.name for r in result.event_rules}
    assert not placed & set(labels)  # `contact_support` would be `help` by its words
    assert not {f.name for fs in result.signals.values() for f in fs} & set(labels)


def test_a_failing_refund_is_an_error_not_a_label() -> None:
    result = draft(events_frame({"refund_failed": 3, "pdp_view": 10}))
    assert [f.name for f in result.errors] == ["refund_failed"]
    assert not result.labels


def test_a_frequent_unplaced_name_gets_its_own_touchpoint_and_a_rare_one_stays_other() -> None:
    result = draft(events_frame({"wishlisted_gift_registry": 40, "loyalty_points": 1, "pdp_view": 200}))
    assert result.own_touchpoints == ("wishlisted_gift_registry",)
    assert [f.name for f in result.unplaced] == ["loyalty_points"]
    # Generic names say what happened, not where: no touchpoint of their own.
    assert draft(events_frame({"scroll": 40, "pdp_view": 10})).own_touchpoints == ()


def test_pages_are_grouped_into_templates_and_place_their_events() -> None:
    pages = {"page_view": "/p/1", "click": "/p/2", "blog_read": "/blog/how-to", "tap": "/c/shoes"}
    frame = events_frame({"page_view": 30, "click": 30, "tap": 30, "blog_read": 10}, pages=pages)
    frame.loc[frame.index[:15], "page"] = [f"/p/{k}" for k in range(15)]
    result = draft(frame)
    rules = {f.name: (f.touchpoint, f.pattern) for f in result.url_rules}
    assert rules["/p/{id}"] == ("product", "^/p/[^/]+/?$")
    assert rules["/c/shoes"][0] == "catalog"
    assert rules["/blog/how-to"][0] == "blog_how_to"  # frequent, no synonym: its own
    # page_view and click are placed by their pages: no event rule, no touchpoint of their own.
    assert "click" not in {r.name for r in result.event_rules}
    assert "click" not in result.own_touchpoints


def test_the_draft_renders_to_a_config_that_loads_and_maps_by_it() -> None:
    frame = events_frame({"basket_view": 20, "payment_error": 2, "contact_support": 1, "pdp_click": 30})
    frame["ts"] = pd.date_range("2026-01-01", periods=len(frame), freq="s", tz="UTC")
    roles = infer_roles(frame)
    events = draft_events_config("custom", roles, frame.columns)
    text = render_config("events.csv", ("custom", "no vendor"), roles, events, draft(frame))
    config = parse_config(tomllib.loads(text))
    assert config.events.timestamp == "ts"
    assert config.signals.error_events == ["payment_error"]
    assert config.signals.click_events == ["pdp_click"]
    assert config.label.events == ["contact_support"]
    taxonomy = load_taxonomy(config.touchpoints)
    names = np.array(["basket_view", "pdp_click"], dtype=object)
    codes = taxonomy.map_codes(np.arange(2), names, None, None)
    assert [taxonomy.touchpoints[c] for c in codes] == ["cart", "product"]


def test_column_roles_from_unfamiliar_names_and_values() -> None:
    n = 200
    frame = pd.DataFrame(
        {
            "visitId": [f"v{k // 10}" for k in range(n)],
            "customer_type": ["new", "returning"] * (n // 2),  # no user id: it says type, not id
            "clientId": [f"c{k // 20}" for k in range(n)],
            "eventTime": np.arange(n) * 1000 + 1_767_225_600_000,  # epoch ms
            "action_name": ["pdp_view", "basket_click", "payment_error", "faq"] * (n // 4),
            "page_url": ["https://shop.example/p/1", "/cart"] * (n // 2),
            "clickX": np.arange(n, dtype=float),
            "clickY": np.arange(n, dtype=float),
            "ttfb": np.full(n, 120.0),
            "http_status": [200, 200, 200, 500] * (n // 4),
            "device": ["ios" if (k // 10) % 2 else "web" for k in range(n)],
            "csat": [1 if k < 50 else 4 for k in range(n)],  # the first 5 of 20 visits
        }
    )
    roles = infer_roles(frame)
    found = {name: guess.raw for name, guess in roles.columns.items()}
    assert found == {
        "timestamp": "eventTime",
        "session_id": "visitId",
        "user_id": "clientId",
        "event": "action_name",
        "page": "page_url",
        "x": "clickX",
        "y": "clickY",
        "load_ms": "ttfb",
    }
    assert roles.timestamp_unit == "ms"
    assert roles.status is not None
    assert roles.status.raw == "http_status"
    assert [g.raw for g in roles.scores] == ["csat"]
    assert roles.scores[0].evidence.endswith("numbers from 1 to 4; <= 2 in 25.0% of sessions")
    # `customer_type` changes within a visit here, `device` does not.
    assert [g.raw for g in roles.context] == ["device"]


def test_missing_core_columns_are_named() -> None:
    frame = pd.DataFrame({"what": ["a", "b"], "who": ["x", "y"]})
    with pytest.raises(
        SchemaError,
        match="cannot tell which column holds the timestamp and the event and the "
        "session_id or user_id; columns: what, who",
    ):
        draft_events_config("custom", infer_roles(frame), frame.columns)


@pytest.mark.parametrize(
    ("columns", "preset"),
    [
        (["event_name", "event_timestamp", "user_pseudo_id", "event_params"], "ga4"),
        (["event_name", "event_params.ga_session_id", "user_pseudo_id"], "ga4"),
        (["domain_sessionid", "derived_tstamp", "event", "page_urlpath"], "snowplow"),
        (["anonymousId", "messageId", "event", "context.page.path"], "segment"),
        (["session_id", "timestamp", "event", "event_name"], "custom"),
    ],
)
def test_vendor_exports_are_recognised_by_their_columns(columns: list[str], preset: str) -> None:
    assert detect_preset(columns)[0] == preset
