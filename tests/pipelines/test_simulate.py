"""The simulator: determinism, schema, and a truth that the standard rules recover from raw events.

The reference rules below are written independently of the generator, on the raw events
only, with the thresholds of the issue; the truth must be exactly what they find.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.config import load_config
from features.errors import ConfigError
from features.schema import TIMESTAMP_DTYPE
from pipelines.simulator import INCIDENT, KINDS, START, TOUCHPOINTS, World, simulate, write_world
from pipelines.simulator.events import build_events
from pipelines.simulator.sessions import draw_sessions
from pipelines.simulator.steps import draw_steps
from pipelines.simulator.truth import EXPOSURE_KINDS, sigmoid, touchpoint_contributions, weight_matrix
from pipelines.simulator.vocabulary import EVENTS

SEED = 7
N_SESSIONS = 6000
LABELS = ("support_chat", "complaint")
PREFIXES = (
    ("/search", "search"),
    ("/c/", "catalog"),
    ("/p/", "product"),
    ("/cart", "cart"),
    ("/checkout/shipping", "shipping"),
    ("/checkout/payment", "payment"),
    ("/checkout/confirmation", "confirmation"),
    ("/account", "account"),
    ("/help", "help"),
)


@pytest.fixture(scope="module")
def world() -> World:
    return simulate(N_SESSIONS, seed=SEED)


def touchpoint_of(pages: pd.Series) -> np.ndarray:
    """Index into TOUCHPOINTS of each page, by URL prefix (the default taxonomy's rules)."""
    names = pages.astype(str)
    tp = np.where(names == "/", "home", "other").astype(object)
    for prefix, name in PREFIXES:
        tp = np.where(names.str.startswith(prefix), name, tp)
    return np.array([TOUCHPOINTS.index(t) for t in tp])


@pytest.fixture(scope="module")
def journey(world: World) -> pd.DataFrame:
    """Journey events (labels dropped), with session and touchpoint codes and the next event's time."""
    events = world.events[~world.events["event"].isin(LABELS)].reset_index(drop=True)
    out = pd.DataFrame(
        {
            "session": pd.factorize(events["session_id"])[0],
            "tp": touchpoint_of(events["page"]),
            "event": events["event"].astype(str).to_numpy(),
            "page": events["page"].astype(str).to_numpy(),
            "target": events["target"].astype(str).to_numpy(),
            "t": events["timestamp"].dt.tz_convert(None).to_numpy().view(np.int64) / 1e6,
            "x": events["x"].to_numpy(),
            "y": events["y"].to_numpy(),
            "load_ms": events["load_ms"].to_numpy(),
            "value": events["value"].to_numpy(),
        }
    )
    same = np.r_[out["session"].to_numpy()[1:] == out["session"].to_numpy()[:-1], False]
    out["gap_after"] = np.where(same, np.r_[np.diff(out["t"].to_numpy()), 0.0], np.nan)
    return out


def per_tp(frame: pd.DataFrame, flag: np.ndarray, tp: np.ndarray | None = None) -> np.ndarray:
    """(sessions x touchpoints) counts of flagged rows."""
    tps = frame["tp"].to_numpy() if tp is None else tp
    key = frame["session"].to_numpy()[flag] * len(TOUCHPOINTS) + tps[flag]
    return np.bincount(key, minlength=N_SESSIONS * len(TOUCHPOINTS)).reshape(N_SESSIONS, len(TOUCHPOINTS))


def rage_bursts(j: pd.DataFrame) -> np.ndarray:
    clicks = j[j["event"] == "click"]
    s, t, tgt = clicks["session"].to_numpy(), clicks["t"].to_numpy(), clicks["target"].to_numpy()
    x, y = clicks["x"].to_numpy(), clicks["y"].to_numpy()
    linked = np.r_[
        False,
        (s[1:] == s[:-1])
        & (tgt[1:] == tgt[:-1])
        & (np.diff(t) < 1.0)
        & (np.hypot(np.diff(x), np.diff(y)) <= 30.0),
    ]
    run = np.cumsum(~linked)
    size = np.bincount(run)[run]
    starts = ~linked & (size >= 3)
    return per_tp(clicks, starts)


def quick_backs(j: pd.DataFrame, within_s: float = 5.0) -> tuple[np.ndarray, int]:
    """Quick backs at the touchpoint left (X -> Y -> X, Y left within seconds); also slow returns."""
    views = j[j["event"] == "page_view"].reset_index(drop=True)
    s, tp, t = views["session"].to_numpy(), views["tp"].to_numpy(), views["t"].to_numpy()
    triple = np.r_[False, (s[2:] == s[:-2]) & (tp[2:] == tp[:-2]) & (tp[1:-1] != tp[:-2]), False]
    stay = np.r_[np.diff(t), np.inf]
    quick = triple & (stay < within_s)
    slow_returns = int((triple & (stay > 3 * within_s)).sum())
    return per_tp(views, quick), slow_returns


def detect(j: pd.DataFrame, world: World) -> dict[str, np.ndarray]:
    """Every friction kind, found on the raw events by its standard rule."""
    event, gap = j["event"].to_numpy(), j["gap_after"].to_numpy()
    # A stall belongs to the page it happens on; the generator keeps both sides on one page.
    next_tp = np.r_[j["tp"].to_numpy()[1:], -1]
    stall = gap > 120.0
    assert (next_tp[stall] == j["tp"].to_numpy()[stall]).all()
    views = j[event == "page_view"]
    vs, vtp = views["session"].to_numpy(), views["tp"].to_numpy()
    cart, shipping = TOUCHPOINTS.index("cart"), TOUCHPOINTS.index("shipping")
    back_to_cart = np.r_[False, (vs[1:] == vs[:-1]) & (vtp[1:] == cart) & (vtp[:-1] == shipping)]
    loops = np.bincount(vs[back_to_cart], minlength=N_SESSIONS)
    loop_counts = np.zeros((N_SESSIONS, len(TOUCHPOINTS)), np.int64)
    loop_counts[:, cart] = loop_counts[:, shipping] = loops
    # Abandonment: reached the cart, no purchase; at the last page viewed.
    last_view = np.r_[vs[1:] != vs[:-1], True]
    exit_tp = np.full(N_SESSIONS, -1)
    exit_tp[vs[last_view]] = vtp[last_view]
    reached_cart = np.bincount(vs[vtp == cart], minlength=N_SESSIONS) > 0
    bought = np.bincount(j["session"].to_numpy()[event == "purchase"], minlength=N_SESSIONS) > 0
    abandonment = np.zeros((N_SESSIONS, len(TOUCHPOINTS)), np.int64)
    left = np.flatnonzero(reached_cart & ~bought)
    abandonment[left, exit_tp[left]] = 1
    return {
        "error": per_tp(j, event == "error"),
        "slow_load": per_tp(j, (event == "page_view") & (j["load_ms"].to_numpy() > 3000)),
        "rage_click": rage_bursts(j),
        "dead_click": per_tp(j, (event == "click") & (gap > 2.5)),
        "long_stall": per_tp(j, stall),
        "quick_back": quick_backs(j)[0],
        "search_no_results": per_tp(j, (event == "search") & (j["value"].to_numpy() == 0)),
        "checkout_loop": loop_counts,
        "abandonment": abandonment,
    }


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_n_sessions_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(ConfigError, match=rf"n_sessions must be an integer >= 1, got {re.escape(repr(bad))}"):
        simulate(bad)  # type: ignore[arg-type]


def test_seed_must_be_a_non_negative_integer() -> None:
    with pytest.raises(ConfigError, match=r"seed must be an integer >= 0, got -1"):
        simulate(10, seed=-1)
    assert len(simulate(1, seed=np.int64(5)).truth) == 1


def test_journey_events_do_not_depend_on_the_outcome() -> None:
    # The same journey closed with labels for everyone or for no one: identical up to the labels.
    def events_with(labels: str) -> pd.DataFrame:
        rng = np.random.default_rng(11)
        sessions = draw_sessions(rng, 500)
        steps = draw_steps(rng, sessions)
        label = np.full(sessions.n, -1 if labels == "none" else EVENTS.index("complaint"))
        arrays = build_events(rng, steps, sessions.start_us, label)
        frame = pd.DataFrame(vars(arrays))
        return frame[~frame["event"].isin([EVENTS.index(e) for e in LABELS])].reset_index(drop=True)

    unlabelled, labelled = events_with("none"), events_with("all")
    pd.testing.assert_frame_equal(unlabelled, labelled)


def sha256s(paths: dict[str, Path]) -> dict[str, str]:
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in paths.items()}


def test_same_seed_same_bytes_and_other_seeds_differ(tmp_path: Path) -> None:
    first = sha256s(write_world(simulate(400, seed=3), tmp_path / "a"))
    again = sha256s(write_world(simulate(400, seed=3), tmp_path / "b"))
    other = sha256s(write_world(simulate(400, seed=4), tmp_path / "c"))
    assert first == again
    assert set(first) == {"events", "surveys", "truth", "world", "config"}
    for name in ("events", "surveys", "truth"):
        assert first[name] != other[name]


def test_written_world_loads_with_its_config(world: World, tmp_path: Path) -> None:
    paths = write_world(world, tmp_path)
    config = load_config(paths["config"])
    assert config.events.context == ["platform", "acquisition_channel", "customer_type"]
    assert config.label.kind == "event"
    assert config.label.events == list(LABELS)
    events = pd.read_parquet(paths["events"])
    assert events["timestamp"].dtype == TIMESTAMP_DTYPE
    pd.testing.assert_frame_equal(pd.read_parquet(paths["truth"]), world.truth)
    assert len(pd.read_parquet(paths["surveys"])) == len(world.surveys)


def test_events_schema_and_order(world: World) -> None:
    events = world.events
    assert list(events.columns) == [
        "session_id",
        "user_id",
        "timestamp",
        "event",
        "page",
        "target",
        "x",
        "y",
        "load_ms",
        "value",
        "platform",
        "acquisition_channel",
        "customer_type",
    ]
    assert str(events["timestamp"].dtype) == TIMESTAMP_DTYPE
    for column in ("x", "y", "load_ms", "value"):
        assert events[column].dtype == np.float64
    for column in ("session_id", "user_id"):
        assert events[column].dtype == "str"
    for column in ("event", "page", "target", "platform", "acquisition_channel", "customer_type"):
        assert isinstance(events[column].dtype, pd.CategoricalDtype)
    assert events["session_id"].nunique() == N_SESSIONS
    # Sorted by session, then strictly by time within a session.
    assert events["session_id"].astype(str).is_monotonic_increasing
    ordered = events.groupby("session_id", observed=True)["timestamp"].diff().dropna()
    assert (ordered > pd.Timedelta(0)).all()
    assert events["timestamp"].min() >= START
    assert events["timestamp"].max() < START + pd.Timedelta(days=28)
    # Each kind of event carries its own fields, and only those.
    clicks = events["event"] == "click"
    assert events.loc[clicks, ["target", "x", "y"]].notna().all().all()
    assert events.loc[~clicks & (events["event"] != "error"), "target"].isna().all()
    assert events.loc[~clicks, ["x", "y"]].isna().all().all()
    assert events.loc[events["event"] == "page_view", "load_ms"].notna().all()
    assert events["value"].notna().sum() == (events["event"] == "search").sum()
    assert set(events["event"].unique()) == {
        "page_view",
        "click",
        "search",
        "add_to_cart",
        "submit",
        "error",
        "purchase",
        *LABELS,
    }
    # Every page is one the default taxonomy knows.
    assert (touchpoint_of(events["page"]) != TOUCHPOINTS.index("other")).all()


def test_context_is_consistent_with_each_users_history(world: World) -> None:
    sessions = world.events.groupby("session_id", observed=True).agg(
        user=("user_id", "first"),
        start=("timestamp", "min"),
        end=("timestamp", "max"),
        kind=("customer_type", "first"),
        kinds=("customer_type", "nunique"),
        platforms=("platform", "nunique"),
    )
    assert (sessions["kinds"] == 1).all()
    assert (sessions["platforms"] == 1).all()
    sessions = sessions.sort_values(["user", "start"])
    later = sessions["user"].astype(str).duplicated()
    assert (sessions.loc[later, "kind"] == "returning").all()
    first_kinds = set(sessions.loc[~later, "kind"].astype(str))
    assert first_kinds == {"new", "returning"}, "users who bought before the window return at once"
    assert sessions["user"].nunique() < len(sessions) / 2
    # A 30-minute inactivity gap splits a user's sessions exactly as the ids do.
    gap = sessions["start"].to_numpy()[1:] - sessions["end"].to_numpy()[:-1]
    same_user = sessions["user"].to_numpy()[1:] == sessions["user"].to_numpy()[:-1]
    assert (gap[same_user] > np.timedelta64(30, "m")).all()
    duration = sessions["end"] - sessions["start"]
    assert duration.max() < pd.Timedelta(hours=3)


def test_truth_adds_up(world: World) -> None:
    truth = world.truth
    contrib = [f"contrib_{tp}" for tp in TOUCHPOINTS]
    assert list(truth["session_id"]) == sorted(world.events["session_id"].unique())
    total = truth["base"] + truth[contrib].sum(axis=1) + truth["contrib_context"]
    np.testing.assert_allclose(truth["logit"], total, rtol=0, atol=1e-12)
    np.testing.assert_allclose(truth["p_true"], sigmoid(truth["logit"].to_numpy()), rtol=0, atol=1e-12)
    assert (truth["contrib_other"] == 0).all()
    assert (truth[contrib] >= 0).all().all()
    assert 0.10 <= truth["y"].mean() <= 0.20


def test_truth_is_what_the_rules_find_in_the_raw_events(world: World, journey: pd.DataFrame) -> None:
    found = detect(journey, world)
    contrib = touchpoint_contributions(np.stack([found[k] for k in KINDS]))
    expected = world.truth[[f"contrib_{tp}" for tp in TOUCHPOINTS]].to_numpy()
    np.testing.assert_allclose(contrib, expected, rtol=0, atol=1e-9)
    # The friction part: every kind but abandonment, which the catalog books as exposure (exit).
    friction = touchpoint_contributions(np.stack([found[k] * (k != "abandonment") for k in KINDS]))
    booked = world.truth[[f"friction_{tp}" for tp in TOUCHPOINTS]].to_numpy()
    np.testing.assert_allclose(friction, booked, rtol=0, atol=1e-9)
    assert {"abandonment"} == EXPOSURE_KINDS
    assert (booked < expected - 0.1).any()  # abandonment is really left out somewhere
    truth = world.truth
    payment = TOUCHPOINTS.index("payment")
    np.testing.assert_array_equal(found["error"][:, payment], truth["n_payment_errors"])
    np.testing.assert_array_equal(found["error"].sum(1) - found["error"][:, payment], truth["n_other_errors"])
    for kind, column in [
        ("slow_load", "n_slow_loads"),
        ("rage_click", "n_rage_clicks"),
        ("dead_click", "n_dead_clicks"),
        ("long_stall", "n_long_stalls"),
        ("quick_back", "n_quick_backs"),
        ("search_no_results", "n_searches_no_results"),
    ]:
        np.testing.assert_array_equal(found[kind].sum(1), truth[column], err_msg=kind)
        assert truth[column].sum() > 0, f"no {kind} injected"
    np.testing.assert_array_equal(
        found["checkout_loop"][:, TOUCHPOINTS.index("cart")], truth["n_checkout_loops"]
    )
    np.testing.assert_array_equal(found["abandonment"].sum(1), truth["abandoned"])
    assert truth["n_checkout_loops"].sum() > 0
    assert truth["abandoned"].sum() > 0


def test_quick_backs_do_not_depend_on_the_exact_threshold(journey: pd.DataFrame) -> None:
    # Quick backs leave within 3 s, ordinary returns after >= 15 s: any threshold in between agrees.
    strict, slow_returns = quick_backs(journey, within_s=3.5)
    lenient, _ = quick_backs(journey, within_s=14.0)
    np.testing.assert_array_equal(strict, lenient)
    assert slow_returns > strict.sum(), "normal browsing back and forth is the common case"


def test_look_alikes_are_present_and_not_counted(world: World, journey: pd.DataFrame) -> None:
    clicks = journey[journey["event"] == "click"]
    s, t, tgt = clicks["session"].to_numpy(), clicks["t"].to_numpy(), clicks["target"].to_numpy()
    same = (s[1:] == s[:-1]) & (tgt[1:] == tgt[:-1])
    gaps = np.diff(t)
    slow_pairs = same & (gaps > 1.0) & (gaps < 2.5)
    slow_triples = (slow_pairs[1:] & slow_pairs[:-1]).sum()
    fast = same & (gaps < 1.0)
    isolated_doubles = (fast & ~np.r_[False, fast[:-1]] & ~np.r_[fast[1:], False]).sum()
    assert slow_triples > 20
    assert isolated_doubles > 20
    loads = journey.loc[journey["event"] == "page_view", "load_ms"]
    assert loads.between(2000, 2500).sum() > 20  # slowish but normal loads
    assert not loads.between(2500, 4000, inclusive="neither").any()  # a clear gap below "slow"
    # Ordinary clicks are followed within 2.4 s: only dead clicks wait longer than 2.5 s.
    gap = clicks["gap_after"].to_numpy()
    assert ((gap > 2.41) == (gap > 2.5)).all()
    assert ((gap > 2.5).sum()) == world.truth["n_dead_clicks"].sum()


def test_more_friction_never_lowers_the_probability() -> None:
    weights = weight_matrix()
    assert (weights >= 0).all()
    for k, kind in enumerate(KINDS):
        assert weights[k].max() > 0, kind
        for tp in np.flatnonzero(weights[k] > 0):
            counts = np.zeros((len(KINDS), 4, len(TOUCHPOINTS)), np.int64)
            counts[k, :, tp] = [0, 1, 2, 5]
            contrib = touchpoint_contributions(counts)[:, tp]
            assert (np.diff(contrib) > 0).all(), (kind, TOUCHPOINTS[tp])
            assert contrib[1] == pytest.approx(weights[k, tp])


def test_friction_raises_the_outcome_rate(world: World) -> None:
    truth = world.truth
    rough = truth[[c for c in truth.columns if c.startswith("n_")]].sum(axis=1) > 0
    assert truth.loc[rough, "p_true"].mean() > 1.5 * truth.loc[~rough, "p_true"].mean()
    assert truth.loc[rough, "y"].mean() > truth.loc[~rough, "y"].mean()


def test_incident_stays_inside_its_window_and_platform(world: World) -> None:
    events, truth = world.events, world.truth
    hit = set(truth.loc[truth["incident"], "session_id"])
    assert len(hit) > 10
    starts = events.groupby("session_id", observed=True).agg(
        start=("timestamp", "min"), platform=("platform", "first")
    )
    hit_starts = starts.loc[sorted(hit)]
    assert (hit_starts["platform"] == INCIDENT.platform).all()
    assert hit_starts["start"].between(INCIDENT.start, INCIDENT.end, inclusive="left").all()
    outage = events[events["target"] == INCIDENT.error_target]
    assert set(outage["session_id"].astype(str)) == hit
    assert (truth.loc[truth["incident"], "n_payment_errors"] >= 1).all()
    # Payment errors per android session spike on the outage days only.
    errors = events[
        (events["event"] == "error") & events["page"].astype(str).str.startswith("/checkout/payment")
    ]
    android = starts[starts["platform"] == INCIDENT.platform]
    per_day = (
        errors[errors["platform"] == INCIDENT.platform].groupby(errors["timestamp"].dt.floor("D")).size()
    )
    sessions_per_day = android.groupby(android["start"].dt.floor("D")).size()
    rate = (per_day.reindex(sessions_per_day.index, fill_value=0) / sessions_per_day).fillna(0)
    inside = (rate.index >= INCIDENT.start) & (rate.index < INCIDENT.end)
    assert rate[inside].min() > 3 * rate[~inside].max()


def test_label_events_come_after_the_whole_journey(world: World) -> None:
    events = world.events
    is_label = events["event"].isin(LABELS).to_numpy()
    session = pd.factorize(events["session_id"])[0]
    last_of_session = np.r_[session[1:] != session[:-1], True]
    assert (is_label <= last_of_session).all(), "a label event is always its session's last event"
    labelled = np.zeros(N_SESSIONS, bool)
    labelled[session[is_label]] = True
    np.testing.assert_array_equal(labelled, world.truth["y"].to_numpy() == 1)
    assert events.loc[is_label, "page"].astype(str).str.startswith("/help/").all()
    before = events["timestamp"].diff().to_numpy()[is_label]
    assert (before >= np.timedelta64(10, "s")).all()
    assert 0.6 < (events.loc[is_label, "event"] == "support_chat").mean() < 0.95


def test_surveys_answer_after_the_session_with_response_bias(world: World) -> None:
    surveys, truth = world.surveys, world.truth.set_index("session_id")
    assert list(surveys.columns) == ["session_id", "user_id", "timestamp", "csat"]
    assert str(surveys["timestamp"].dtype) == TIMESTAMP_DTYPE
    assert 0 < len(surveys) < 0.3 * N_SESSIONS
    ends = world.events.groupby("session_id", observed=True)["timestamp"].max()
    ends.index = ends.index.astype(str)
    assert (surveys["timestamp"].to_numpy() > ends.loc[surveys["session_id"]].to_numpy()).all()
    assert (surveys["user_id"].to_numpy() == truth.loc[surveys["session_id"], "user_id"].to_numpy()).all()
    y = truth.loc[surveys["session_id"], "y"].to_numpy()
    responded = truth.index.isin(surveys["session_id"])
    assert responded[truth["y"] == 1].mean() > 2 * responded[truth["y"] == 0].mean()
    csat = surveys["csat"].to_numpy()
    assert set(np.unique(csat)) <= {1, 2, 3, 4, 5}
    assert (csat[y == 1] <= 2).mean() > 0.75
    assert (csat[y == 0] >= 3).mean() > 0.85
