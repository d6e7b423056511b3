"""Each friction signal on hand-written sequences: what fires, and look-alikes that must not."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from features.config import FrictionConfig, parse_config
from features.errors import ConfigError
from features.featurize import Featurizer
from features.schema import TIMESTAMP_DTYPE
from features.signals import SIGNAL_NAMES, SignalsConfig

T0 = pd.Timestamp("2024-03-04T09:00:00Z")
PAY, SHIP, CART, PRODUCT = "/checkout/payment", "/checkout/shipping", "/cart", "/p/1"


def frame(*rows: dict[str, Any]) -> pd.DataFrame:
    data = pd.DataFrame([{"session_id": "s1", "user_id": "u1", **row} for row in rows])
    data["timestamp"] = (T0 + pd.to_timedelta(data.pop("t"), unit="s")).astype(TIMESTAMP_DTYPE)
    return data


def view(t: float, page: str, **extra: Any) -> dict[str, Any]:
    return {"t": t, "event": "page_view", "page": page, "target": None, "x": None, "y": None, **extra}


def click(
    t: float, page: str = PAY, target: str = "pay", x: float = 100.0, y: float = 200.0
) -> dict[str, Any]:
    return {"t": t, "event": "click", "page": page, "target": target, "x": x, "y": y}


def event(t: float, name: str, page: str = PAY, **extra: Any) -> dict[str, Any]:
    return {"t": t, "event": name, "page": page, "target": None, "x": None, "y": None, **extra}


def features(events: pd.DataFrame, **signals: Any) -> pd.Series:
    config = FrictionConfig(signals=SignalsConfig(**signals))
    table = Featurizer(config)(events).frame
    assert len(table) == 1
    return table.iloc[0]


def clicks(*times: float, **kwargs: Any) -> pd.DataFrame:
    return frame(view(0, PAY), *(click(t, **kwargs) for t in times), view(times[-1] + 1, CART))


# --- rage clicks (PostHog: 3 clicks, each < 1000 ms and < 30 px from the previous) ---


def test_rage_click_burst_fires_once_at_its_touchpoint() -> None:
    row = features(clicks(1.0, 1.3, 1.6))
    assert row["payment__rage_clicks"] == 1
    assert row["cart__rage_clicks"] == 0


def test_a_long_burst_counts_once_and_a_second_burst_again() -> None:
    assert features(clicks(1.0, 1.2, 1.4, 1.6, 1.8))["payment__rage_clicks"] == 1
    assert features(clicks(1.0, 1.2, 1.4, 5.0, 5.2, 5.4))["payment__rage_clicks"] == 2


def test_slow_triple_click_is_not_rage() -> None:
    assert features(clicks(1.0, 2.2, 3.4))["payment__rage_clicks"] == 0
    # exactly 1000 ms apart: PostHog's test is strict (< 1000 ms)
    assert features(clicks(1.0, 2.0, 3.0))["payment__rage_clicks"] == 0


def test_fast_clicks_on_different_targets_or_spots_are_not_rage() -> None:
    spread = frame(view(0, PAY), click(1.0, target="a"), click(1.2, target="b"), click(1.4, target="c"))
    assert features(spread)["payment__rage_clicks"] == 0
    apart = frame(view(0, PAY), click(1.0, x=100), click(1.2, x=140), click(1.4, x=180))
    assert features(apart)["payment__rage_clicks"] == 0


def test_rage_clicks_use_target_and_time_when_positions_are_absent() -> None:
    events = clicks(1.0, 1.3, 1.6).drop(columns=["x", "y"])
    assert features(events)["payment__rage_clicks"] == 1


def test_rage_click_threshold_comes_from_config() -> None:
    assert features(clicks(1.0, 1.3, 1.6), rage_click_min_clicks=4)["payment__rage_clicks"] == 0
    assert features(clicks(1.0, 2.2, 3.4), rage_click_max_interval_ms=1500)["payment__rage_clicks"] == 1


def test_rage_clicks_do_not_chain_across_sessions() -> None:
    first = frame(view(0, PAY), click(1.0), click(1.3))
    second = frame(click(1.5)).assign(session_id="s2")
    table = Featurizer()(pd.concat([first, second], ignore_index=True)).frame
    assert table["payment__rage_clicks"].tolist() == [0, 0]


# --- dead clicks (PostHog: nothing happens within 2.5 s) ---


def test_dead_click_is_followed_by_nothing_for_over_the_window() -> None:
    assert features(frame(view(0, PAY), click(1.0), view(4.0, CART)))["payment__dead_clicks"] == 1


def test_a_click_answered_in_time_or_ending_the_session_is_not_dead() -> None:
    assert features(frame(view(0, PAY), click(1.0), view(2.0, CART)))["payment__dead_clicks"] == 0
    assert features(frame(view(0, PAY), click(1.0), view(3.5, CART)))["payment__dead_clicks"] == 0
    assert features(frame(view(0, PAY), click(1.0)))["payment__dead_clicks"] == 0


# --- errors and error clicks ---


def test_errors_count_where_they_happen() -> None:
    row = features(frame(view(0, SHIP), event(5, "error", SHIP), view(9, PAY), event(12, "error")))
    assert (row["shipping__errors"], row["payment__errors"]) == (1, 1)


def test_error_click_needs_the_error_soon_after_the_click() -> None:
    soon = frame(view(0, PAY), click(1.0), event(2.0, "error"))
    late = frame(view(0, PAY), click(1.0), event(4.0, "error"))
    before = frame(view(0, PAY), event(0.5, "error"), click(1.0), view(2.0, CART))
    assert features(soon)["payment__error_clicks"] == 1
    assert features(late)["payment__error_clicks"] == 0
    assert features(before)["payment__error_clicks"] == 0


def errors_of_three_kinds() -> pd.DataFrame:
    return frame(
        view(0, SHIP),
        event(5, "error_page", SHIP),
        view(9, PAY),
        event(12, "payment_error"),
        event(14, "Checkout_Failure"),
        event(15, "error"),
        event(16, "errorless_step"),
    )


def test_error_events_take_a_list_beside_the_single_name() -> None:
    row = features(errors_of_three_kinds(), error_events=["payment_error", "error_page"])
    # The single name (default `error`) stays one of them; unlisted names are not errors.
    assert (row["shipping__errors"], row["payment__errors"]) == (1, 2)


def test_error_events_take_a_pattern_searched_in_each_name() -> None:
    row = features(errors_of_three_kinds(), error_event_pattern="(?i)(^|_)(error|failure)(_|$)")
    assert (row["shipping__errors"], row["payment__errors"]) == (1, 3)


def test_list_and_pattern_add_up_and_drive_error_clicks() -> None:
    events = frame(view(0, PAY), click(1.0), event(2.0, "card_declined"), event(9, "payment_error"))
    row = features(events, error_events=["card_declined"], error_event_pattern="_error$")
    assert (row["payment__errors"], row["payment__error_clicks"]) == (2, 1)


def test_click_search_and_submit_events_take_lists_and_patterns() -> None:
    taps = frame(
        view(0, PAY),
        *(event(t, "tap_button", target="pay", x=1.0, y=1.0) for t in (1.0, 1.3, 1.6)),
        event(2.0, "SEARCH_QUERY"),
        event(3.0, "find"),
        event(4.0, "form_send"),
        event(5.0, "form_send"),
    )
    row = features(
        taps,
        click_event_pattern="^tap_",
        search_events=["find"],
        search_event_pattern="(?i)search",
        submit_events=["form_send"],
    )
    assert row["payment__rage_clicks"] == 1
    assert row["payment__search_refinements"] == 1
    assert row["payment__repeated_submits"] == 1
    assert features(taps)["payment__rage_clicks"] == 0


@pytest.mark.parametrize(
    ("signals", "message"),
    [
        (
            {"error_event": ["a", "b"]},
            r"`signals\.error_event`: takes one event name; for several, write "
            r"`error_events = \[\.\.\.\]`",
        ),
        (
            {"error_events": "payment_error"},
            r"`signals\.error_events`: takes a list of event names, e\.g\. "
            r"\['payment_error'\] \(or write `error_event = 'payment_error'`\)",
        ),
        ({"click_events": ["tap", " "]}, r"`signals\.click_events`: an event name cannot be empty"),
        (
            {"search_event_pattern": "(?=q)"},
            r"`signals\.search_event_pattern`: bad regular expression "
            r"'\(\?=q\)'",
        ),
        (
            {"error_event_patern": "x"},
            r"unknown key `signals\.error_event_patern` \(did you mean "
            r"`error_event_pattern`\?\)",
        ),
    ],
)
def test_bad_event_keys_are_errors_naming_the_key(signals: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"signals": signals})


def test_event_lists_survive_the_config_a_model_carries() -> None:
    config = parse_config({"signals": {"error_events": ["payment_error"], "error_event_pattern": "fail"}})
    again = parse_config(config.self_contained().model_dump(mode="json"))
    assert again.signals.event_match("error") == config.signals.event_match("error")


# --- navigation: quick backs, page loops, ping-pongs, funnel regressions ---


def test_quick_back_counts_at_the_touchpoint_left_quickly() -> None:
    row = features(frame(view(0, PRODUCT), view(10, CART), view(13, PRODUCT)))
    assert (row["cart__quick_backs"], row["product__quick_backs"]) == (1, 0)


def test_a_slow_return_or_a_new_place_is_not_a_quick_back() -> None:
    assert features(frame(view(0, PRODUCT), view(10, CART), view(30, PRODUCT)))["cart__quick_backs"] == 0
    assert features(frame(view(0, PRODUCT), view(10, CART), view(12, SHIP)))["cart__quick_backs"] == 0


def test_page_loop_is_one_page_three_times_within_the_window() -> None:
    reloads = frame(view(0, PRODUCT), view(4, PRODUCT), view(8, PRODUCT), view(12, PRODUCT))
    assert features(reloads)["product__page_loops"] == 1
    pages = ["/p/1", "/p/2", "/p/1", "/p/2", "/p/1", "/p/2"]
    bouncing = frame(*(view(3 * k, page) for k, page in enumerate(pages)))  # each page 3 times in 12 s
    assert features(bouncing)["product__page_loops"] == 2


def test_spread_out_or_twice_viewed_pages_are_not_loops() -> None:
    assert features(frame(view(0, PRODUCT), view(10, PRODUCT), view(20, PRODUCT)))["product__page_loops"] == 0
    assert features(frame(view(0, PRODUCT), view(2, PRODUCT)))["product__page_loops"] == 0


def test_page_loops_need_the_page_column() -> None:
    events = frame(event(0, "click"), event(1, "click")).drop(columns=["page"])
    table = Featurizer()(events)
    assert table.skipped_signals["page_loops"] == "missing column `page`"
    assert "product__page_loops" not in table.frame.columns


def test_ping_pong_needs_four_alternating_visits() -> None:
    four = frame(view(0, CART), view(20, SHIP), view(40, CART), view(60, SHIP))
    three = frame(view(0, CART), view(20, SHIP), view(40, CART))
    assert features(four)["shipping__ping_pongs"] == 1
    assert features(three)[["cart__ping_pongs", "shipping__ping_pongs"]].sum() == 0


def test_funnel_regression_counts_at_the_stage_left() -> None:
    row = features(frame(view(0, CART), view(10, PAY), view(20, "/help/faq"), view(30, CART)))
    assert (row["payment__funnel_regressions"], row["funnel__regressions"]) == (1, 1)
    assert row["funnel__deepest_stage"] == 7


def test_moving_forward_is_no_regression() -> None:
    row = features(frame(view(0, "/"), view(10, PRODUCT), view(20, CART), view(30, PAY)))
    assert row["funnel__regressions"] == 0


# --- searches, loads, stalls, submits ---


def test_searches_without_results_and_refinements() -> None:
    events = frame(
        event(0, "search", "/search?q=shoos", value=0.0),
        event(20, "search", "/search?q=shoes", value=12.0),
        event(200, "search", "/search?q=boots", value=3.0),
    )
    row = features(events)
    assert row["search__no_result_searches"] == 1
    assert row["search__search_refinements"] == 1


def test_no_result_searches_need_the_value_column() -> None:
    events = frame(event(0, "search", "/search?q=x"))
    assert Featurizer()(events).skipped_signals["no_result_searches"] == "missing column `value`"


def test_slow_loads_are_over_the_threshold() -> None:
    events = frame(view(0, PAY, load_ms=5000.0), view(10, CART, load_ms=3000.0), view(20, SHIP, load_ms=None))
    row = features(events)
    assert (row["payment__slow_loads"], row["cart__slow_loads"], row["shipping__slow_loads"]) == (1, 0, 0)


def test_stall_counts_at_the_touchpoint_where_the_customer_stopped() -> None:
    row = features(frame(view(0, CART), view(150, PAY), view(250, SHIP)))  # 150 s, then 100 s (reading)
    assert (row["cart__stalls"], row["payment__stalls"], row["session__stalls"]) == (1, 0, 1)


def test_repeated_submit_is_at_the_same_touchpoint_within_the_window() -> None:
    again = frame(view(0, SHIP), event(5, "submit", SHIP), event(15, "submit", SHIP))
    moved_on = frame(view(0, SHIP), event(5, "submit", SHIP), event(15, "submit", PAY))
    later = frame(view(0, SHIP), event(5, "submit", SHIP), event(65, "submit", SHIP))
    assert features(again)["shipping__repeated_submits"] == 1
    assert features(moved_on)[["shipping__repeated_submits", "payment__repeated_submits"]].sum() == 0
    assert features(later)["shipping__repeated_submits"] == 0


# --- configuration ---


def test_disabled_signals_are_left_out_and_recorded() -> None:
    config = parse_config({"signals": {"disabled": ["rage_clicks", "stalls"]}})
    result = Featurizer(config)(clicks(1.0, 1.3, 1.6))
    assert result.skipped_signals == {
        "rage_clicks": "disabled in [signals]",
        "no_result_searches": "missing column `value`",
        "slow_loads": "missing column `load_ms`",
        "stalls": "disabled in [signals]",
    }
    assert not any(name.endswith(("__rage_clicks", "__stalls")) for name in result.frame.columns)


def test_unknown_signal_is_an_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"unknown signal `rage_click` \(did you mean `rage_clicks`\?\)"):
        parse_config({"signals": {"disabled": ["rage_click"]}})


@pytest.mark.parametrize(
    ("key", "value"),
    [("rage_click_min_clicks", 1), ("dead_click_ms", 0), ("page_loop_window_s", -5), ("ping_pong_min", 2)],
)
def test_impossible_threshold_is_an_error_naming_it(key: str, value: float) -> None:
    with pytest.raises(ConfigError, match=rf"`signals\.{key}`.*\(got {value}\)"):
        parse_config({"signals": {key: value}})


def test_signal_names_are_unique_and_all_configurable() -> None:
    assert len(set(SIGNAL_NAMES)) == len(SIGNAL_NAMES) == 13
    assert SignalsConfig(disabled=list(SIGNAL_NAMES)).disabled == list(SIGNAL_NAMES)
