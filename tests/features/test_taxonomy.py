"""Touchpoint taxonomy: the default rules, config overrides, a given column, and bad rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from features.config import parse_config
from features.errors import ConfigError
from features.featurize import Featurizer
from features.schema import TIMESTAMP_DTYPE
from features.taxonomy import DEFAULT_TAXONOMY, OTHER, TouchpointRule, TouchpointsConfig, load_taxonomy

VOCABULARY = {
    "/": "home",
    "/?utm_source=mail": "home",
    "/search?q=red+shoes": "search",
    "/c/shoes": "catalog",
    "/p/1234": "product",
    "/cart": "cart",
    "/checkout/shipping": "shipping",
    "/checkout/payment": "payment",
    "/checkout/confirmation": "confirmation",
    "/account/orders": "account",
    "/help/chat": "help",
    "/cartoons": OTHER,
    "/blog/post": OTHER,
}


def touchpoints_of(config: TouchpointsConfig, events: list[str], pages: list[str | None]) -> list[str]:
    taxonomy = load_taxonomy(config)
    event_names, event_codes = np.unique(np.array(events, dtype=object), return_inverse=True)
    page_values = np.array(sorted({p for p in pages if p is not None}), dtype=object)
    lookup = {page: code for code, page in enumerate(page_values)}
    page_codes = np.array([lookup.get(p, -1) if p is not None else -1 for p in pages])
    codes = taxonomy.map_codes(event_codes, event_names, page_codes, page_values)
    return [taxonomy.touchpoints[c] for c in codes]


def test_default_taxonomy_maps_the_journey_vocabulary() -> None:
    pages = list(VOCABULARY)
    assert touchpoints_of(TouchpointsConfig(), ["page_view"] * len(pages), pages) == list(VOCABULARY.values())


def test_events_without_a_page_map_by_name_and_the_rest_to_other() -> None:
    events = ["search", "purchase", "support_chat", "complaint", "click"]
    found = touchpoints_of(TouchpointsConfig(), events, [None] * len(events))
    assert found == ["search", "confirmation", "help", "help", OTHER]


def test_default_funnel_and_touchpoint_order() -> None:
    taxonomy = load_taxonomy()
    funnel = ("home", "search", "catalog", "product", "cart", "shipping", "payment", "confirmation")
    assert taxonomy.funnel == funnel
    assert taxonomy.touchpoints == (*funnel, "account", "help", OTHER)
    assert taxonomy.stages.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, -1, -1, -1]


def test_default_taxonomy_is_found_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert DEFAULT_TAXONOMY.is_file()
    assert load_taxonomy().source == str(DEFAULT_TAXONOMY)


def test_config_rules_come_first_and_add_touchpoints() -> None:
    config = parse_config(
        {
            "touchpoints": {
                "rules": [
                    {"touchpoint": "gifts", "url": "^/p/gift-"},
                    {"touchpoint": "checkout_error", "event": "error", "url": "^/checkout/"},
                ]
            }
        }
    ).touchpoints
    found = touchpoints_of(
        config,
        ["page_view", "page_view", "error", "error"],
        ["/p/gift-card", "/p/42", "/checkout/payment", "/cart"],
    )
    assert found == ["gifts", "product", "checkout_error", "cart"]
    assert load_taxonomy(config).touchpoints[-3:] == ("gifts", "checkout_error", OTHER)


def test_config_funnel_replaces_the_default_one() -> None:
    config = TouchpointsConfig(funnel=["product", "cart", "payment"])
    taxonomy = load_taxonomy(config)
    assert taxonomy.funnel == ("product", "cart", "payment")
    assert taxonomy.touchpoints[:3] == ("product", "cart", "payment")
    assert taxonomy.stages[taxonomy.touchpoints.index("home")] == -1


def test_more_than_64_rules_keep_first_match_order() -> None:
    rules = [{"touchpoint": f"t{k}", "url": f"^/x/{k}$"} for k in range(70)]
    config = parse_config({"touchpoints": {"rules": rules}}).touchpoints
    assert touchpoints_of(config, ["page_view"] * 3, ["/x/3", "/x/67", "/cart"]) == ["t3", "t67", "cart"]


def test_a_touchpoint_column_in_the_data_wins() -> None:
    events = pd.DataFrame(
        {
            "session_id": "s1",
            "timestamp": pd.date_range("2024-01-01", periods=3, freq="10s", tz="UTC").astype(TIMESTAMP_DTYPE),
            "event": "page_view",
            "page": ["/cart", "/cart", "/cart"],
            "touchpoint": ["payment", None, "checkout_v2"],
        }
    )
    result = Featurizer()(events)
    row = result.frame.iloc[0]
    assert (row["payment__visits"], row["cart__visits"], row["other__visits"]) == (1, 1, 1)
    assert result.unknown_touchpoints == ("checkout_v2",)


def test_bad_regex_is_an_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"touchpoints\.rules\.0\.url.*bad regular expression '\^/p/\('"):
        parse_config({"touchpoints": {"rules": [{"touchpoint": "product", "url": "^/p/("}]}})


def test_unknown_funnel_touchpoint_is_an_error_naming_it() -> None:
    config = TouchpointsConfig(funnel=["home", "paymnet"])
    with pytest.raises(
        ConfigError, match=r"unknown funnel touchpoint `paymnet` \(did you mean `payment`\?\)"
    ):
        load_taxonomy(config)


def test_other_cannot_be_a_funnel_stage() -> None:
    with pytest.raises(ConfigError, match="unknown funnel touchpoint `other`"):
        load_taxonomy(TouchpointsConfig(funnel=["home", "other"]))


@pytest.mark.parametrize("name", ["session", "pay__ment", "pay ment", "_cart"])
def test_touchpoint_names_must_make_feature_names(name: str) -> None:
    with pytest.raises(ConfigError, match="letters, digits and single underscores"):
        parse_config({"touchpoints": {"rules": [{"touchpoint": name, "event": "x"}]}})


def test_a_rule_needs_an_event_or_url() -> None:
    with pytest.raises(ConfigError, match="rule for touchpoint 'cart' needs `event` or `url`"):
        parse_config({"touchpoints": {"rules": [{"touchpoint": "cart"}]}})


def test_missing_or_broken_taxonomy_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="taxonomy file not found"):
        load_taxonomy(TouchpointsConfig(taxonomy=tmp_path / "nope.toml"))
    broken = tmp_path / "taxonomy.toml"
    broken.write_text('funnel = ["home"]\n[[rules]]\ntouchpoint = "home"\nurl = "["\n')
    with pytest.raises(ConfigError, match=r"taxonomy\.toml: `rules\.0\.url`.*bad regular expression"):
        load_taxonomy(TouchpointsConfig(taxonomy=broken))


def test_self_contained_taxonomy_compiles_to_the_same_one(tmp_path: Path) -> None:
    config = TouchpointsConfig(
        rules=[TouchpointRule(touchpoint="wishlist", event="wish")], funnel=["product", "cart", "payment"]
    )
    inline = config.self_contained()
    assert inline.inline
    assert inline.taxonomy is None
    original, rebuilt = load_taxonomy(config), load_taxonomy(inline)
    assert rebuilt.touchpoints == original.touchpoints
    assert rebuilt.funnel == original.funnel
    assert rebuilt.rules == original.rules
    assert rebuilt.source == "inline"
    assert inline.self_contained() == inline  # idempotent


def test_inline_and_a_taxonomy_file_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="`inline = true` reads no taxonomy file"):
        TouchpointsConfig(taxonomy=tmp_path / "t.toml", inline=True)


# `^/(a+)+$` against this page backtracks about 2**40 times on Python's `re`.
CATASTROPHIC_RULE = {"touchpoint": "home", "url": "^/(a+)+$"}
CATASTROPHIC_PAGE = "/" + "a" * 40 + "!"


@pytest.mark.timeout(10)
def test_a_catastrophic_url_rule_runs_in_linear_time() -> None:
    assert len(CATASTROPHIC_PAGE) == 42
    config = parse_config({"touchpoints": {"rules": [CATASTROPHIC_RULE]}}).touchpoints
    pages = [CATASTROPHIC_PAGE, "/" + "a" * 40, "/aa"]
    assert touchpoints_of(config, ["page_view"] * 3, pages) == [OTHER, "home", "home"]


@pytest.mark.timeout(10)
def test_a_catastrophic_url_rule_in_a_self_contained_config_runs_in_linear_time() -> None:
    # A model carries its taxonomy inline: the same engine must run it when scoring.
    inline = parse_config({"touchpoints": {"rules": [CATASTROPHIC_RULE]}}).self_contained().touchpoints
    assert touchpoints_of(inline, ["page_view"], [CATASTROPHIC_PAGE]) == [OTHER]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [(r"^/(p)/\1$", "invalid escape sequence"), ("^/p(?=/)", "invalid perl operator"), ("(?<!x)/p", "")],
)
def test_patterns_outside_re2_are_refused_naming_them(pattern: str, reason: str) -> None:
    with pytest.raises(ConfigError, match="bad regular expression") as caught:
        parse_config({"touchpoints": {"rules": [{"touchpoint": "product", "url": pattern}]}})
    message = str(caught.value)
    assert repr(pattern) in message
    assert reason in message
    assert "\n" not in message


def test_the_default_taxonomy_and_inline_flags_compile_on_re2() -> None:
    # The built-in rules, and the `(?i)` flag users write, are in RE2's syntax.
    assert load_taxonomy().rules
    config = parse_config({"touchpoints": {"rules": [{"touchpoint": "cart", "url": "(?i)^/BASKET"}]}})
    assert touchpoints_of(config.touchpoints, ["page_view"], ["/basket/1"]) == ["cart"]


@pytest.mark.timeout(10)
def test_featurizing_a_catastrophic_page_under_a_catastrophic_rule_returns() -> None:
    # What the API does with one request: featurize a session with the model's inline config.
    config = parse_config({"touchpoints": {"rules": [CATASTROPHIC_RULE]}}).self_contained()
    events = pd.DataFrame(
        {
            "session_id": ["s1", "s1"],
            "timestamp": pd.to_datetime(["2026-01-01T10:00:00Z", "2026-01-01T10:00:05Z"]).astype(
                TIMESTAMP_DTYPE
            ),
            "event": ["page_view", "page_view"],
            "page": [CATASTROPHIC_PAGE, "/aaa"],
        }
    )
    row = Featurizer(config)(events).frame.iloc[0]
    assert (row["home__visits"], row["other__visits"]) == (1, 1)
