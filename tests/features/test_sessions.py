"""Sessions: derived from user activity (gap and 24 h cut), or used as given; input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.config import FrictionConfig
from features.errors import DataQualityError, SchemaError
from features.featurize import Featurizer
from features.schema import TIMESTAMP_DTYPE
from features.sessions import SessionsConfig, Table, lay_out, split_sessions

T0 = pd.Timestamp("2024-03-04T09:00:00Z")
US = 1_000_000


def at_minutes(*minutes: float, user: str = "u1") -> pd.DataFrame:
    stamps = (T0 + pd.to_timedelta(list(minutes), unit="min")).astype(TIMESTAMP_DTYPE)
    return pd.DataFrame({"user_id": user, "timestamp": stamps, "event": "page_view", "page": "/"})


def test_a_gap_longer_than_gap_minutes_opens_a_new_session() -> None:
    table = Featurizer()(at_minutes(0, 10, 39, 70, 71)).frame
    assert table["session__events"].tolist() == [3, 2]
    start = int(T0.value // 1000)
    assert table["session_id"].tolist() == [f"u1:{start}", f"u1:{start + 70 * 60 * US}"]


def test_gap_minutes_comes_from_config() -> None:
    config = FrictionConfig(sessions=SessionsConfig(gap_minutes=10))
    assert len(Featurizer(config)(at_minutes(0, 5, 16)).frame) == 2


def test_sessions_are_cut_after_max_hours() -> None:
    minutes = np.arange(0, 30 * 60, 20)  # active every 20 min for 30 h
    table = Featurizer()(at_minutes(*minutes)).frame
    assert len(table) == 2
    assert table["session__duration_s"].max() < 24 * 3600
    assert table["session__events"].sum() == len(minutes)


def test_split_sessions_applies_the_max_hours_cut_in_rounds() -> None:
    ts = np.arange(0, 80 * 3600, 600, dtype=np.int64) * US  # 80 h without a pause
    first = np.zeros(len(ts), dtype=bool)
    first[0] = True
    opens = np.flatnonzero(split_sessions(first, ts, SessionsConfig()))
    assert (ts[opens] / (3600 * US)).tolist() == [0, 24, 48, 72]


def test_users_are_sessionized_separately_and_ids_are_deterministic() -> None:
    events = pd.concat([at_minutes(0, 5, user="b"), at_minutes(1, 2, user="a")], ignore_index=True)
    table = Featurizer()(events).frame
    assert table["user_id"].tolist() == ["a", "b"]
    assert table["session_id"].str.startswith(("a:", "b:")).all()
    again = Featurizer()(events.iloc[::-1]).frame
    assert again["session_id"].tolist() == table["session_id"].tolist()


def test_given_session_ids_are_used_as_given() -> None:
    events = at_minutes(0, 300, 301).assign(session_id=["x", "x", "y"])
    table = Featurizer()(events).frame
    assert table["session_id"].tolist() == ["x", "y"]
    assert table["session__events"].tolist() == [2, 1]


def test_sessions_without_user_id_have_no_user_history() -> None:
    events = at_minutes(0, 1).drop(columns="user_id").assign(session_id="s")
    row = Featurizer()(events).frame.iloc[0]
    assert pd.isna(row["user_id"])
    assert np.isnan(row[["session__prior_sessions", "session__days_since_last"]].to_numpy(float)).all()


def test_layout_sorts_only_when_needed_and_orders_ties_by_content() -> None:
    events = pd.DataFrame(
        {
            "session_id": ["b", "a", "a", "b"],
            "timestamp": pd.to_datetime([5, 3, 3, 1], unit="s", utc=True).astype(TIMESTAMP_DTYPE),
            "event": ["click", "scroll", "click", "page_view"],
        }
    )
    layout = lay_out(Table(events), SessionsConfig())
    names = layout.event_names[layout.event].tolist()
    assert layout.starts.tolist() == [0, 2]
    by_session = dict(zip(layout.session_ids, (names[:2], names[2:]), strict=True))
    assert by_session == {"a": ["click", "scroll"], "b": ["page_view", "click"]}
    in_order = events.sort_values(["session_id", "timestamp"], kind="stable")  # "scroll" before "click"
    again = lay_out(Table(in_order), SessionsConfig())  # already laid out: no sort, ties still by content
    assert again.event_names[again.event].tolist() == ["click", "scroll", "page_view", "click"]


def test_mapping_input_with_iso_timestamps_equals_the_frame() -> None:
    events = at_minutes(0, 1, 2).assign(session_id="s")
    mapping = {name: events[name].tolist() for name in events.columns}
    mapping["timestamp"] = [t.isoformat() for t in events["timestamp"]]
    pd.testing.assert_frame_equal(Featurizer()(mapping).frame, Featurizer()(events).frame)


def test_events_need_an_id_column() -> None:
    with pytest.raises(
        SchemaError, match=r"need `session_id` or `user_id` \(did you mean `userid`\?\); they have: userid,"
    ):
        Featurizer()(at_minutes(0).rename(columns={"user_id": "userid"}))


def test_missing_core_column_is_named_with_a_hint() -> None:
    with pytest.raises(SchemaError, match=r"lack the column `timestamp` \(did you mean `Timestamp`\?\)"):
        Featurizer()(at_minutes(0).rename(columns={"timestamp": "Timestamp"}))


def test_empty_ids_and_times_are_data_quality_errors() -> None:
    events = at_minutes(0, 1).assign(user_id=["u1", None])
    with pytest.raises(DataQualityError, match=r"column `user_id` is empty on 1 row\(s\)"):
        Featurizer()(events)
    events = at_minutes(0, 1)
    events.loc[1, "timestamp"] = pd.NaT
    with pytest.raises(DataQualityError, match=r"column `timestamp` is empty on 1 row\(s\)"):
        Featurizer()(events)


def test_unparseable_timestamps_are_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="column `timestamp` must hold timestamps"):
        Featurizer()({"user_id": ["u"], "timestamp": ["yesterday"], "event": ["click"]})
