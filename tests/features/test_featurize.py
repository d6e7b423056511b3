"""The one featurizer: output contract, user history, and invariance properties (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from features.errors import DataQualityError, SchemaError
from features.featurize import FeatureSet, Featurizer, featurize
from features.schema import TIMESTAMP_DTYPE

# Hypothesis caches into ./.hypothesis, which pytest's `norecursedirs` (set without the defaults in
# pyproject.toml) reports with a collection warning, an error under `filterwarnings = error`.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "friction-hypothesis")

T0 = pd.Timestamp("2024-03-04T09:00:00Z")
SESSION_SPACING = pd.Timedelta(hours=2)  # > the 30 min gap, so derived sessions match the generated ones
EVENTS = ["page_view", "click", "click", "error", "submit", "search", "add_to_cart", "purchase", "complaint"]
PAGES = ["/", "/search?q=a", "/c/x", "/p/1", "/p/2", "/cart", "/checkout/shipping", "/checkout/payment", None]
BLANK = {"page": None, "target": None, "x": None, "load_ms": None, "value": None}
FEATURIZER = Featurizer()
PROPERTIES = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

event_rows = st.fixed_dictionaries(
    {
        "gap_s": st.sampled_from([0.0, 0.0, 0.4, 1.0, 3.0, 6.0, 20.0, 75.0]),
        "event": st.sampled_from(EVENTS),
        "page": st.sampled_from(PAGES),
        "target": st.sampled_from(["a", "b", None]),
        "x": st.sampled_from([10.0, 12.0, 60.0, None]),
        "load_ms": st.sampled_from([200.0, 5000.0, None]),
        "value": st.sampled_from([0.0, 4.0, None]),
    }
)
sessions = st.lists(
    st.tuples(
        st.sampled_from(["u0", "u1", "u2"]),
        st.sampled_from(["ios", "web", None]),
        st.lists(event_rows, min_size=1, max_size=8),
    ),
    min_size=1,
    max_size=5,
)


def build(drawn: list[tuple[str, str | None, list[dict[str, Any]]]], derived: bool) -> pd.DataFrame:
    rows = []
    for k, (user, platform, events) in enumerate(drawn):
        at = T0 + k * SESSION_SPACING
        for row in events:
            at += pd.Timedelta(seconds=row["gap_s"])
            fields = {**BLANK, **{key: value for key, value in row.items() if key != "gap_s"}}
            rows.append(
                {"session_id": f"s{k}", "user_id": user, "timestamp": at, "platform": platform, **fields}
            )
    frame = pd.DataFrame(rows).assign(y=lambda d: d["x"])
    frame["timestamp"] = frame["timestamp"].astype(TIMESTAMP_DTYPE)
    return frame.drop(columns="session_id") if derived else frame


def plain(result: FeatureSet) -> pd.DataFrame:
    """The table with categories as plain values (category sets differ between batches)."""
    table = result.frame
    return table.astype({c: object for c in table.columns if isinstance(table[c].dtype, pd.CategoricalDtype)})


# --- output contract ---


def test_one_row_per_session_with_ids_times_features_and_labels() -> None:
    events = build([("u0", "ios", [{"gap_s": 0, "event": "page_view", "page": "/"}] * 3)] * 2, derived=False)
    result = FEATURIZER(events)
    table = result.frame
    assert table["session_id"].tolist() == ["s0", "s1"]
    assert list(table.columns[:4]) == ["session_id", "user_id", "session_start", "session_end"]
    assert list(table.columns[-2:]) == ["label", "label_known"]
    assert {str(t) for t in table.dtypes[4:-2]} == {"float64", "category"}
    assert table.dtypes["session_start"] == TIMESTAMP_DTYPE
    assert {c: str(t) for c, t in table.dtypes.items()} == FEATURIZER.schema(list(events.columns))
    assert result.counts["events_in"] == result.counts["events_used"] == 6
    assert table["context__platform"].tolist() == ["ios", "ios"]


def test_the_callers_frame_is_left_untouched() -> None:
    events = build(
        [("u0", "ios", [{"gap_s": 3.0, "event": "click", "page": "/", "target": "a"}] * 4)], derived=True
    )
    shuffled = events.sample(frac=1.0, random_state=1)
    before = shuffled.copy()
    FEATURIZER(shuffled)
    pd.testing.assert_frame_equal(shuffled, before)


def test_no_events_gives_an_empty_table_with_every_column() -> None:
    events = build([("u0", None, [{"gap_s": 0, "event": "page_view", "page": "/"}])], derived=False).iloc[:0]
    table = FEATURIZER(events).frame
    assert table.empty
    assert list(table.columns) == list(FEATURIZER.schema(list(events.columns)))


def test_prior_sessions_and_days_since_last_come_from_the_users_earlier_sessions() -> None:
    one = [{"gap_s": 60.0, "event": "page_view", "page": "/"}] * 2
    table = FEATURIZER(build([("u0", None, one), ("u1", None, one), ("u0", None, one)], derived=False)).frame
    assert table["session__prior_sessions"].tolist() == [0, 0, 1]
    assert np.isnan(table["session__days_since_last"].iloc[0])
    assert table["session__days_since_last"].iloc[2] == pytest.approx((4 * 3600 - 60) / 86400)


def test_history_from_the_caller_extends_the_batch() -> None:
    events = build([("u0", None, [{"gap_s": 0, "event": "page_view", "page": "/"}])] * 2, derived=False)
    history = {"user_id": ["u0"], "prior_sessions": [5], "last_session_end": [T0 - pd.Timedelta(days=2)]}
    table = FEATURIZER(events, history=history).frame
    assert table["session__prior_sessions"].tolist() == [5, 6]
    assert table["session__days_since_last"].iloc[0] == pytest.approx(2.0)


def test_bad_history_is_named() -> None:
    events = build([("u0", None, [{"gap_s": 0, "event": "page_view", "page": "/"}])], derived=False)
    with pytest.raises(
        SchemaError, match=r"history lacks the column `prior_sessions` \(did you mean `prior_session`\?\)"
    ):
        FEATURIZER(events, history={"user_id": ["u0"], "prior_session": [1], "last_session_end": [T0]})
    with pytest.raises(DataQualityError, match="more than one row for user `u0`"):
        FEATURIZER(
            events, history={"user_id": ["u0", "u0"], "prior_sessions": [1, 2], "last_session_end": [T0, T0]}
        )


def test_featurize_is_the_featurizer_called_once() -> None:
    events = build(
        [("u0", "web", [{"gap_s": 1.0, "event": "click", "page": "/cart", "target": "a"}] * 3)], derived=True
    )
    pd.testing.assert_frame_equal(featurize(events).frame, FEATURIZER(events).frame)


# --- properties ---


@pytest.mark.parametrize("derived", [False, True])
@PROPERTIES
@given(drawn=sessions, seed=st.integers(0, 2**16))
def test_row_order_never_matters(derived: bool, drawn: Any, seed: int) -> None:
    events = build(drawn, derived)
    shuffled = events.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    pd.testing.assert_frame_equal(plain(FEATURIZER(shuffled)), plain(FEATURIZER(events)))


@pytest.mark.parametrize("derived", [False, True])
@PROPERTIES
@given(
    drawn=sessions,
    extra=st.lists(st.tuples(st.sampled_from([0.0, 1.0, 30.0]), event_rows), min_size=1, max_size=4),
)
def test_events_after_the_label_cutoff_never_change_features(derived: bool, drawn: Any, extra: Any) -> None:
    events = build(drawn, derived=False)
    if not events["event"].eq("complaint").any():
        last = events[events["session_id"] == "s0"].iloc[[-1]].assign(event="complaint")
        events = pd.concat([events, last], ignore_index=True)
    labels = events[events["event"] == "complaint"].groupby("session_id")["timestamp"].min()
    # A complaining session is a row (labelled 1) when some event came strictly before it.
    before_cutoff = events["timestamp"] < events["session_id"].map(labels)
    labelled = events.loc[before_cutoff, "session_id"].nunique()
    appended = []
    for session_id, cutoff in labels.items():
        base = events[events["session_id"] == session_id].iloc[0]
        for delay, row in extra:
            fields = {k: v for k, v in row.items() if k != "gap_s"}
            at = cutoff + pd.Timedelta(seconds=delay)
            appended.append({**base.to_dict(), **fields, "timestamp": at, "y": fields["x"]})
    longer = pd.concat([events, pd.DataFrame(appended).astype(events.dtypes.to_dict())], ignore_index=True)
    if derived:
        events, longer = events.drop(columns="session_id"), longer.drop(columns="session_id")
    before, after = plain(FEATURIZER(events)), plain(FEATURIZER(longer))
    pd.testing.assert_frame_equal(after, before)
    assert (before["label"] == 1).sum() == labelled


@pytest.mark.parametrize("derived", [False, True])
@PROPERTIES
@given(drawn=sessions, first=st.sets(st.sampled_from(["u0", "u1", "u2"])))
def test_splitting_by_user_across_batches_never_changes_features(
    derived: bool, drawn: Any, first: set[str]
) -> None:
    events = build(drawn, derived)
    part = events["user_id"].isin(first)
    batches = [FEATURIZER(events[rows]) for rows in (part, ~part) if rows.any()]
    together = pd.concat([plain(b) for b in batches], ignore_index=True)
    together = together.sort_values("session_id", ignore_index=True)
    pd.testing.assert_frame_equal(together, plain(FEATURIZER(events)))


@pytest.mark.parametrize("derived", [False, True])
@PROPERTIES
@given(drawn=sessions)
def test_renaming_ids_never_changes_features(derived: bool, drawn: Any) -> None:
    events = build(drawn, derived)
    renamed = events.assign(user_id="user-" + events["user_id"].str[::-1].str.upper())
    if not derived:
        renamed["session_id"] = "zz" + events["session_id"].str[::-1]

    def by_start(result: FeatureSet) -> pd.DataFrame:
        return (
            plain(result)
            .drop(columns=["session_id", "user_id"])
            .sort_values("session_start", ignore_index=True)
        )

    pd.testing.assert_frame_equal(by_start(FEATURIZER(renamed)), by_start(FEATURIZER(events)))


@pytest.mark.parametrize("derived", [False, True])
@settings(PROPERTIES, max_examples=15)  # each example featurizes every session once more
@given(drawn=sessions)
def test_one_session_alone_equals_its_row_in_the_batch(derived: bool, drawn: Any) -> None:
    events = build(drawn, derived=False)
    batch = plain(FEATURIZER(events.drop(columns="session_id") if derived else events))
    for k in range(len(drawn)):
        alone_events = events[events["session_id"] == f"s{k}"]
        if derived:
            alone_events = alone_events.drop(columns="session_id")
        user = alone_events["user_id"].iloc[0]
        start = alone_events["timestamp"].min()
        earlier = batch[(batch["user_id"] == user) & (batch["session_start"] < start)]
        earlier = earlier.sort_values(["session_start", "session_end"])
        history = {
            "user_id": [user],
            "prior_sessions": [len(earlier)],
            "last_session_end": [earlier["session_end"].iloc[-1] if len(earlier) else pd.NaT],
        }
        alone = plain(FEATURIZER(alone_events, history=history))
        if alone.empty:  # the session opened with its label event
            continue
        row = batch[batch["session_id"] == alone["session_id"].iloc[0]].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone, row)


# --- end to end on the simulator (thousands of rows: the Arrow and sort paths) ---

TRUTH_COUNTS = {
    "n_payment_errors": ("errors", "payment"),
    "n_slow_loads": ("slow_loads", None),
    "n_rage_clicks": ("rage_clicks", None),
    "n_dead_clicks": ("dead_clicks", None),
    "n_long_stalls": ("stalls", None),
    "n_quick_backs": ("quick_backs", None),
    "n_searches_no_results": ("no_result_searches", None),
}


@pytest.fixture(scope="module")
def world() -> Any:
    from pipelines.simulator import simulate

    return simulate(400, seed=11)


def test_signals_recover_the_friction_the_simulator_injected(world: Any) -> None:
    result = FEATURIZER(world.events)
    table = result.frame.set_index("session_id")
    truth = world.truth.set_index("session_id").loc[table.index]
    assert result.skipped_signals == {}
    assert result.unknown_touchpoints == ()
    assert (table["other__visits"] == 0).all()
    for column, (family, touchpoint) in TRUTH_COUNTS.items():
        names = [touchpoint] if touchpoint else list(FEATURIZER.taxonomy_.touchpoints)
        found = table[[f"{tp}__{family}" for tp in names]].sum(axis=1)
        assert (found.to_numpy() == truth[column].to_numpy()).all(), column
    assert (table["label"].to_numpy() == truth["y"].to_numpy()).all()


def test_large_batches_match_whatever_their_row_order_and_text_type(world: Any) -> None:
    events = world.events
    text = events.astype(
        {c: "str" for c in events.columns if isinstance(events[c].dtype, pd.CategoricalDtype)}
    )
    shuffled = text.sample(frac=1.0, random_state=3).reset_index(drop=True)
    expected = plain(FEATURIZER(events))
    pd.testing.assert_frame_equal(plain(FEATURIZER(text)), expected)
    pd.testing.assert_frame_equal(plain(FEATURIZER(shuffled)), expected)
    # derived sessions are the simulated ones (a user's sessions start hours apart)
    derived = plain(FEATURIZER(shuffled.drop(columns="session_id")))

    def by_user(table: pd.DataFrame) -> pd.DataFrame:
        return table.drop(columns="session_id").sort_values(["user_id", "session_start"], ignore_index=True)

    pd.testing.assert_frame_equal(by_user(derived), by_user(expected))
