from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.config import EventsConfig
from features.errors import DataQualityError, SchemaError
from features.events import (
    RAW_LINE_COLUMN,
    READ_ERROR_COLUMN,
    NormalizeSummary,
    check_bad_row_rate,
    normalize_events,
    parse_timestamps,
)
from features.schema import TIMESTAMP_DTYPE

TEN = pd.Timestamp("2024-03-01T10:00:00", tz="UTC")


def frame(**columns: list[object]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base: dict[str, list[object]] = {
        "session_id": [f"s{i}" for i in range(n)],
        "timestamp": ["2024-03-01T10:00:00Z"] * n,
        "event": ["click"] * n,
    }
    return pd.DataFrame(base | columns)


# --- timestamps


@pytest.mark.parametrize(
    "value",
    [
        "2024-03-01T10:00:00Z",
        "2024-03-01T10:00:00",  # naive: UTC
        "2024-03-01 10:00:00",
        "2024-03-01T12:00:00+02:00",
        "2024-03-01T05:00:00-05:00",
        "2024-03-01T10:00:00.000000Z",
        "1709287200",  # epoch seconds as text
        " 1709287200000 ",  # milliseconds, padded
        "1709287200000000",  # microseconds
        "1.7092872e9",
    ],
)
def test_timestamp_text_forms_are_one_instant(value: str) -> None:
    parsed = parse_timestamps(pd.Series([value]))
    assert parsed.dtype == TIMESTAMP_DTYPE
    assert parsed.iloc[0] == TEN


@pytest.mark.parametrize(
    "value", [1709287200, 1709287200000, 1709287200000000, 1709287200000000000, 1709287200.0, 1709287200000.0]
)
def test_epoch_numbers_in_any_unit_are_one_instant(value: float) -> None:
    assert parse_timestamps(pd.Series([value])).iloc[0] == TEN


def test_auto_unit_is_decided_per_value_in_a_mixed_column() -> None:
    mixed = pd.Series(
        [1709287200, "1709287200123", "2024-03-01T11:00:00+01:00", 1709287200000000.0], dtype=object
    )
    parsed = parse_timestamps(mixed)
    assert parsed.tolist() == [TEN, TEN + pd.Timedelta(milliseconds=123), TEN, TEN]


def test_integer_epochs_keep_every_microsecond() -> None:
    parsed = parse_timestamps(pd.Series([1709287200123456, 1709287200123456789]))
    assert (parsed == TEN + pd.Timedelta(microseconds=123456)).all()


def test_fractional_seconds_round_to_the_microsecond() -> None:
    assert parse_timestamps(pd.Series(["1709287200.5"])).iloc[0] == TEN + pd.Timedelta(milliseconds=500)


def test_explicit_unit_overrides_the_magnitude() -> None:
    as_ms = parse_timestamps(pd.Series([1709287200]), unit="ms").iloc[0]
    assert as_ms == pd.Timestamp(1709287200, unit="ms", tz="UTC")


def test_datetime_columns_naive_and_zoned_become_utc_microseconds() -> None:
    naive = pd.Series(pd.to_datetime(["2024-03-01 10:00:00"])).astype("datetime64[ns]")
    zoned = pd.Series(pd.to_datetime(["2024-03-01 11:00:00"]).tz_localize("Europe/Paris"))
    for series in (naive, zoned):
        parsed = parse_timestamps(series)
        assert parsed.dtype == TIMESTAMP_DTYPE
        assert parsed.iloc[0] == TEN


@pytest.mark.parametrize("value", ["yesterday", "03/01/2024", "2024-13-45", "1e30", "nan", "True"])
def test_unparseable_timestamps_are_nat(value: str) -> None:
    assert parse_timestamps(pd.Series([value])).isna().all()


def test_overflowing_epoch_in_an_explicit_unit_is_nat_not_wrapped() -> None:
    assert parse_timestamps(pd.Series([10**18]), unit="s").isna().all()


# --- rows and reasons


def test_canonical_frame_has_contract_types_and_fresh_index() -> None:
    raw = frame(
        user_id=["u1", "u2"],
        page=["https://shop.example/cart?x=1#top", "checkout"],
        x=["10", ""],
        load_ms=[5, None],
    ).set_axis([10, 11])
    events = normalize_events(raw, EventsConfig()).events
    assert list(events.columns) == ["session_id", "user_id", "timestamp", "event", "page", "x", "load_ms"]
    assert events.dtypes.astype(str).tolist() == [
        "str",
        "str",
        TIMESTAMP_DTYPE,
        "str",
        "str",
        "float64",
        "float64",
    ]
    assert events.index.tolist() == [0, 1]
    assert events["page"].tolist() == ["/cart", "checkout"]
    assert events["x"].isna().tolist() == [False, True]


def test_each_bad_row_is_quarantined_with_a_reason_naming_the_value() -> None:
    raw = frame(
        session_id=["s1", "s2", "s3", "", "s5", "s6", "s7", "s8"],
        timestamp=[
            "2024-03-01T10:00:00Z",
            "soon",
            None,
            "1709287200",
            "1709287200",
            "1709287200",
            "1709287200",
            "x",
        ],
        event=["click", "click", "click", "click", "  ", "click", "click", "click"],
        x=["1", "2", "3", "4", "5", "left", "7", "8"],
        load_ms=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -7.0, 8.0],
    )
    result = normalize_events(raw, EventsConfig())
    reasons = dict(zip(result.quarantine["source_row"], result.quarantine["reason"], strict=True))
    assert reasons == {
        1: "unparseable timestamp 'soon'",
        2: "missing timestamp",
        3: "unidentifiable: no session_id",
        4: "missing event name",
        5: "non-numeric x 'left'",
        6: "negative load_ms '-7.0'",
        7: "unparseable timestamp 'x'",
    }
    assert result.events["session_id"].tolist() == ["s1"]
    # The row without an id is set aside too, but it is not broken: it is counted apart.
    assert result.summary == NormalizeSummary(8, 1, 6, result.summary.problems, rows_unidentifiable=1)
    assert result.summary.problems["unparseable timestamp"] == 2


def test_a_row_with_several_problems_lists_them_all() -> None:
    raw = frame(timestamp=["never"], event=[""], x=["far"])
    (reason,) = normalize_events(raw, EventsConfig()).quarantine["reason"]
    assert reason == "unparseable timestamp 'never'; missing event name; non-numeric x 'far'"


def test_quarantine_keeps_the_raw_values_as_text() -> None:
    raw = frame(timestamp=[1.5e30], x=[3.25], extra=[[1, 2]]).set_axis([41])
    quarantine = normalize_events(raw, EventsConfig()).quarantine
    assert quarantine.loc[0, "source_row"] == 41
    assert quarantine.loc[0, "timestamp"] == "1.5e+30"
    assert quarantine.loc[0, "x"] == "3.25"
    assert quarantine.loc[0, "extra"] == "[1, 2]"


def test_both_ids_missing_is_unidentifiable_not_broken_one_is_enough() -> None:
    raw = frame(session_id=["s1", None, None], user_id=[None, "u2", " "])
    result = normalize_events(raw, EventsConfig())
    assert result.quarantine["reason"].tolist() == ["unidentifiable: no session_id and no user_id"]
    assert result.events["user_id"].isna().tolist() == [True, False]
    assert (result.summary.rows_quarantined, result.summary.rows_unidentifiable) == (0, 1)
    assert result.summary.bad_row_rate == 0.0
    assert "unidentifiable" not in result.summary.problems


def test_reader_errors_are_the_only_reason_of_their_row() -> None:
    raw = frame(session_id=["s1", None], timestamp=["2024-03-01", None], event=["click", None])
    raw[READ_ERROR_COLUMN] = [None, "line 2: not valid JSON"]
    raw[RAW_LINE_COLUMN] = [None, '{"session_id": ']
    result = normalize_events(raw, EventsConfig())
    assert result.quarantine["reason"].tolist() == ["line 2: not valid JSON"]
    assert result.quarantine["raw_line"].tolist() == ['{"session_id": ']
    assert READ_ERROR_COLUMN not in result.quarantine.columns
    assert READ_ERROR_COLUMN not in result.events.columns


def test_integral_float_ids_lose_their_decimal_point() -> None:
    raw = frame(session_id=[1709287200.0, np.nan], user_id=[7.0, 8.0])
    events = normalize_events(raw, EventsConfig()).events
    assert events["session_id"].tolist()[0] == "1709287200"
    assert events["user_id"].tolist() == ["7", "8"]


def test_input_frame_is_left_untouched() -> None:
    raw = frame(timestamp=["2024-03-01T10:00:00Z", "bad"], x=[" 1 ", "2"], page=["https://a.example/b", "/c"])
    before = raw.copy(deep=True)
    normalize_events(raw, EventsConfig())
    pd.testing.assert_frame_equal(raw, before)


def test_mapping_renames_raw_columns_and_context() -> None:
    raw = pd.DataFrame(
        {
            "sid": ["a"],
            "when": ["2024-03-01T10:00:00Z"],
            "what": ["view"],
            "device.os": ["ios"],
            "utm": ["email"],
        }
    )
    config = EventsConfig(session_id="sid", timestamp="when", event="what", context={"channel": "utm"})
    events = normalize_events(raw, config).events
    assert events.columns.tolist() == ["session_id", "timestamp", "event", "channel"]
    listed = normalize_events(raw, config.model_copy(update={"context": ["device.os"]})).events
    assert listed["device_os"].tolist() == ["ios"]


# --- missing columns


def test_missing_required_column_names_it_with_a_hint_and_the_columns() -> None:
    raw = pd.DataFrame({"session_id": ["a"], "timestmp": ["2024-03-01"], "event": ["view"]})
    with pytest.raises(
        SchemaError,
        match=r"`timestamp` \(looked for the raw column `timestamp` \(did you mean `timestmp`\?\)\)",
    ) as err:
        normalize_events(raw, EventsConfig())
    assert "available columns: session_id, timestmp, event" in str(err.value)


def test_configured_raw_name_that_is_missing_is_named() -> None:
    raw = pd.DataFrame({"ts": ["2024-03-01"], "name": ["view"], "user": ["u"]})
    with pytest.raises(SchemaError, match=r"`timestamp` \(looked for the raw column `event_time`\)"):
        normalize_events(raw, EventsConfig(timestamp="event_time", event="name", user_id="user"))


def test_no_id_column_at_all_is_an_error() -> None:
    raw = pd.DataFrame({"timestamp": ["2024-03-01"], "event": ["view"], "sesion_id": ["a"]})
    with pytest.raises(SchemaError, match=r"`session_id` or `user_id`.*did you mean `sesion_id`"):
        normalize_events(raw, EventsConfig())


def test_explicit_optional_and_context_columns_must_exist() -> None:
    raw = frame(x=[1])
    with pytest.raises(SchemaError, match=r"`page` \(looked for the raw column `url`\)"):
        normalize_events(raw, EventsConfig(page="url"))
    with pytest.raises(SchemaError, match=r"context column `platfrom`.*available columns"):
        normalize_events(raw, EventsConfig(context=["platfrom"]))


def test_optional_columns_are_used_when_present() -> None:
    events = normalize_events(frame(target=["#buy"], value=["9.5"]), EventsConfig()).events
    assert events["target"].tolist() == ["#buy"]
    assert events["value"].tolist() == [9.5]


# --- the bad-row limit


def test_bad_row_rate_just_under_the_limit_passes_and_just_over_fails() -> None:
    check_bad_row_rate(NormalizeSummary(1000, 990, 10), 0.01)
    with pytest.raises(
        DataQualityError,
        match=r"11 of 1,000 rows are malformed \(1\.10%\).*quality\.max_bad_row_rate = 1\.00%",
    ):
        check_bad_row_rate(
            NormalizeSummary(1000, 989, 11, {"missing timestamp": 11}), 0.01, quarantine="q.parquet"
        )


def test_rate_error_names_the_problems_and_the_quarantine() -> None:
    summary = NormalizeSummary(10, 5, 5, {"missing event": 2, "unparseable timestamp": 3})
    with pytest.raises(
        DataQualityError, match=r"unparseable timestamp: 3, missing event: 2\); each has its reason in q\.csv"
    ):
        check_bad_row_rate(summary, 0.2, quarantine="q.csv")


def test_summary_refuses_rows_that_do_not_add_up() -> None:
    with pytest.raises(ValueError, match="do not add up"):
        NormalizeSummary(10, 5, 4)
    assert NormalizeSummary(0, 0, 0).bad_row_rate == 0.0


# --- the invariant, on random rows

GOOD_STAMPS = st.sampled_from(
    ["2024-03-01T10:00:00Z", "1709287200", "2024-03-01 10:00:00+01:00", "1709287200000"]
)
BAD_STAMPS = st.sampled_from(["", None, "soon", "31/12/2024", "12:00"])
ROW = st.tuples(
    st.one_of(GOOD_STAMPS, BAD_STAMPS),
    st.sampled_from(["view", "click", "", None]),
    st.sampled_from(["s1", "s2", "", None]),
    st.sampled_from(["1", "2.5", "", None, "abc", "inf"]),
    st.sampled_from([1.0, 0.0, np.nan, -1.0]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ROW, max_size=40))
def test_rows_in_equals_kept_plus_quarantined(rows: list[tuple[object, ...]]) -> None:
    raw = pd.DataFrame(rows, columns=["timestamp", "event", "session_id", "x", "load_ms"], dtype=object)
    raw = raw.astype({"load_ms": "float64"})
    result = normalize_events(raw, EventsConfig())
    summary = result.summary
    set_aside = summary.rows_quarantined + summary.rows_unidentifiable
    assert summary.rows_in == len(raw) == summary.rows_kept + set_aside
    expected_bad = [
        i
        for i, (stamp, event, session, x, load) in enumerate(rows)
        if stamp in ("", None, "soon", "31/12/2024", "12:00")
        or event in ("", None)
        or session in ("", None)
        or x in ("abc", "inf")
        or load < 0
    ]
    assert result.quarantine["source_row"].tolist() == expected_bad
    assert result.quarantine["reason"].notna().all()
    assert len(result.events) == summary.rows_kept
    assert result.events["timestamp"].notna().all()


def test_pages_become_url_paths_and_missing_stays_missing() -> None:
    raw = frame(page=[None, "https://shop.example", "/a?b=1", "http://h:8080/x/y#z", "  "])
    pages = normalize_events(raw, EventsConfig()).events["page"]
    assert pages.isna().tolist() == [True, False, False, False, True]
    assert pages.tolist()[1:4] == ["/", "/a", "/x/y"]


def test_missing_column_message_lists_only_data_columns() -> None:
    raw = pd.DataFrame(
        {"session_id": ["a"], "event": ["view"], READ_ERROR_COLUMN: [None], RAW_LINE_COLUMN: [None]}
    )
    with pytest.raises(SchemaError, match=r"available columns: session_id, event$"):
        normalize_events(raw, EventsConfig())
