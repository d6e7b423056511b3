"""Simulator profiles and vocabularies: the small-shop world looks like real logs (core columns,
returning users, a drifting base rate, a mid-range incident), and the alt vocabulary renames
the same world, with the truth of every name written beside it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.config import load_config
from features.errors import ConfigError
from features.featurize import Featurizer
from features.schema import CORE_COLUMNS
from pipelines.cli import app
from pipelines.simulator import CONTEXT_COLUMNS, TOUCHPOINTS, World, simulate, write_world
from pipelines.simulator.vocabulary import EVENTS

SEED = 11
SMALL = 1500  # sessions of the default-profile worlds below


@pytest.fixture(scope="module")
def shop() -> World:
    return simulate(profile="small-shop", seed=SEED)


@pytest.fixture(scope="module")
def shop_starts(shop: World) -> pd.Series:
    """Each session's first event time, indexed like the truth."""
    starts = shop.events.groupby("session_id", observed=True)["timestamp"].min()
    starts.index = starts.index.astype(str)
    return starts.loc[shop.truth["session_id"]].reset_index(drop=True)


def sha256s(paths: dict[str, Path]) -> dict[str, str]:
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in paths.items()}


def test_small_shop_has_its_own_size_and_only_core_columns(shop: World) -> None:
    assert len(shop.truth) == 3_000
    assert list(shop.events.columns) == [*CORE_COLUMNS[:2], "timestamp", "event", *CONTEXT_COLUMNS]
    names = set(shop.events["event"].astype(str))
    assert {"payment_error", "shipping_error", "error_page", "support_chat", "complaint"} <= names
    # Friction shows only through names and timing: no clicks, no generic `error`.
    assert names.isdisjoint({"click", "error", "page_view"})
    assert (
        (shop.truth[["n_rage_clicks", "n_dead_clicks", "n_slow_loads", "n_searches_no_results"]] == 0)
        .all()
        .all()
    )
    assert len(simulate(500, seed=SEED, profile="small-shop").truth) == 500


def test_small_shop_sessions_mostly_come_from_returning_users(shop: World, shop_starts: pd.Series) -> None:
    truth = shop.truth.assign(start=shop_starts)
    first = truth.groupby("user_id")["start"].transform("min")
    returning = (truth["start"] > first).mean()
    assert 0.55 < returning < 0.65
    # Returning users come back over weeks, not within one day.
    span = truth.groupby("user_id")["start"].agg(lambda s: s.max() - s.min())
    assert span[span > pd.Timedelta(0)].median() > pd.Timedelta(days=14)


def test_small_shop_incident_sits_inside_the_training_range(shop: World, tmp_path: Path) -> None:
    meta = json.loads(write_world(shop, tmp_path)["world"].read_text())
    start, end = pd.Timestamp(meta["start"]), pd.Timestamp(meta["end"])
    incident = meta["incident"]
    assert incident["touchpoint"] == "payment"
    begins, ends = pd.Timestamp(incident["start"]), pd.Timestamp(incident["end"])
    assert ends - begins == pd.Timedelta(weeks=3)
    assert start + 0.25 * (end - start) < begins
    assert ends <= start + 0.75 * (end - start)


def test_small_shop_incident_multiplies_payment_errors_which_make_customers_unhappy(
    shop: World, shop_starts: pd.Series
) -> None:
    incident, truth = shop.profile.incident, shop.truth
    inside = shop_starts.between(incident.start, incident.end, inclusive="left").to_numpy()
    assert set(truth["incident"]) == {False, True}
    assert not truth.loc[~inside, "incident"].any()
    events = shop.events
    sessions = events["session_id"].astype(str)
    at_payment = truth["session_id"].isin(sessions[events["event"] == "view_payment"]).to_numpy()
    with_error = truth["session_id"].isin(sessions[events["event"] == "payment_error"]).to_numpy()
    rate_inside = with_error[at_payment & inside].mean()
    rate_outside = with_error[at_payment & ~inside].mean()
    assert rate_inside > 5 * rate_outside
    assert truth.loc[with_error, "p_true"].mean() > 0.85
    assert truth.loc[with_error, "y"].mean() > 0.8
    assert truth.loc[~with_error, "p_true"].mean() < 0.2
    # Over the incident days, payment is the moment of truth: it carries the most log-odds.
    contrib = truth.loc[inside, [f"contrib_{tp}" for tp in TOUCHPOINTS]].sum()
    assert contrib.idxmax() == "contrib_payment"
    assert contrib["contrib_payment"] > 2 * contrib.drop("contrib_payment").max()


def test_small_shop_base_rate_drifts_over_the_range(shop: World, shop_starts: pd.Series) -> None:
    truth = shop.truth
    quarter = pd.qcut(shop_starts, 4, labels=False).to_numpy()
    calm = ~truth["incident"].to_numpy()
    base = truth.groupby(quarter)["base"].mean()
    assert base.is_monotonic_increasing
    assert base.iloc[-1] - base.iloc[0] > 0.5
    p_true = truth[calm].groupby(quarter[calm])["p_true"].mean()
    assert p_true.iloc[-1] > 1.2 * p_true.iloc[0]


def test_small_shop_config_maps_every_name_and_counts_payment_errors(shop: World, tmp_path: Path) -> None:
    paths = write_world(shop, tmp_path)
    config = load_config(paths["config"])
    assert config.touchpoints.inline
    meta = json.loads(paths["world"].read_text())
    rules = {rule.event: rule.touchpoint for rule in config.touchpoints.rules}
    assert rules == {name: row["touchpoint"] for name, row in meta["event_names"].items()}
    assert set(shop.events["event"].astype(str)) == set(rules)
    table = Featurizer(config)(pd.read_parquet(paths["events"])).frame.set_index("session_id")
    truth = shop.truth.set_index("session_id")
    np.testing.assert_array_equal(table.loc[truth.index, "label"], truth["y"])
    hit = truth.index[truth["incident"]]
    assert (table.loc[hit, "payment__errors"] > 0).all()
    np.testing.assert_array_equal(table.loc[truth.index, "payment__errors"], truth["n_payment_errors"])


def test_small_shop_counts_every_error_event_of_the_world_at_its_touchpoint(
    shop: World, tmp_path: Path
) -> None:
    paths = write_world(shop, tmp_path)
    config = load_config(paths["config"])
    truth = json.loads(paths["world"].read_text())["event_names"]
    errors = {name: row["touchpoint"] for name, row in truth.items() if row["is_error"]}
    assert set(errors) == {"payment_error", "shipping_error", "error_page"}
    assert set(config.signals.error_events) == set(errors)
    table = Featurizer(config)(pd.read_parquet(paths["events"])).frame.set_index("session_id")
    # What the features see: the events strictly before the session's first label event.
    events = shop.events.assign(session_id=shop.events["session_id"].astype(str))
    events["event"] = events["event"].astype(str)
    labelled = events[events["event"].isin(config.label.events)]
    cutoff = labelled.groupby("session_id")["timestamp"].min()
    before = ~(events["timestamp"] >= events["session_id"].map(cutoff))  # NaT: no label, all seen
    seen = events[before & events["event"].isin(list(errors))]
    expected = seen.groupby([seen["session_id"], seen["event"].map(errors)]).size().unstack(fill_value=0)
    for name, touchpoint in errors.items():
        assert (seen["event"] == name).any(), name  # each error name occurs where features see it
        counted = table[f"{touchpoint}__errors"]
        wanted = expected[touchpoint].reindex(counted.index, fill_value=0)
        np.testing.assert_array_equal(counted.to_numpy(), wanted.to_numpy(), err_msg=name)


@pytest.mark.parametrize(("profile", "vocabulary"), [("small-shop", "default"), ("default", "alt")])
def test_same_seed_same_bytes(profile: str, vocabulary: str, tmp_path: Path) -> None:
    def written(seed: int, folder: str) -> dict[str, str]:
        world = simulate(400, seed=seed, profile=profile, vocabulary=vocabulary)
        return sha256s(write_world(world, tmp_path / folder))

    first, again, other = written(3, "a"), written(3, "b"), written(4, "c")
    assert first == again
    assert all(first[name] != other[name] for name in ("events", "truth"))


def test_unknown_names_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^unknown profile 'big'; allowed: default, small-shop$"):
        simulate(10, profile="big")
    with pytest.raises(ConfigError, match=r"^unknown vocabulary 'fr'; allowed: default, alt$"):
        simulate(10, vocabulary="fr")
    for flag, value in (("--profile", "big"), ("--vocabulary", "fr")):
        result = CliRunner().invoke(app, ["simulate", flag, value, "--out", str(tmp_path / "w")])
        assert result.exit_code == 2
        assert result.stderr.strip().splitlines() == [
            f"friction simulate: error: unknown {flag[2:]} {value!r}; allowed: "
            + ("default, small-shop" if flag == "--profile" else "default, alt")
        ]
        assert not (tmp_path / "w").exists()


def test_cli_writes_a_small_shop_world(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--profile", "small-shop", "--vocabulary", "alt", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "world.json").read_text())
    assert (meta["profile"], meta["vocabulary"], meta["sessions"]) == ("small-shop", "alt", 3_000)


@pytest.fixture(scope="module")
def default_world() -> World:
    return simulate(SMALL, seed=SEED)


@pytest.fixture(scope="module")
def alt_world() -> World:
    return simulate(SMALL, seed=SEED, vocabulary="alt")


def test_alt_is_the_same_world_in_other_names(default_world: World, alt_world: World) -> None:
    pd.testing.assert_frame_equal(alt_world.truth, default_world.truth)
    pd.testing.assert_frame_equal(alt_world.surveys, default_world.surveys)
    assert "page" not in alt_world.events.columns
    same = [c for c in alt_world.events.columns if c != "event"]
    pd.testing.assert_frame_equal(alt_world.events[same], default_world.events[same])
    names = set(alt_world.events["event"].astype(str))
    assert names.isdisjoint(EVENTS)
    assert len(names) > len(EVENTS)
    # Each default event kind keeps one name per place it happens, never shared with another kind.
    pairs = pd.DataFrame({"default": default_world.events["event"], "alt": alt_world.events["event"]})
    assert (pairs.groupby("alt", observed=True)["default"].nunique() == 1).all()


def test_alt_truth_names_each_events_touchpoint_and_errors(default_world: World, alt_world: World) -> None:
    truth = alt_world.event_names
    assert truth is not None
    by_name = truth.set_index("event")
    used = alt_world.events["event"].astype(str)
    assert set(used) <= set(by_name.index)
    # The true touchpoint of a name is where the default world's page puts its events.
    pages = default_world.events["page"].astype(str)
    where = np.select(
        [
            pages == "/",
            pages.str.startswith("/search"),
            pages.str.startswith("/c/"),
            pages.str.startswith("/p/"),
            pages.str.startswith("/cart"),
            pages.str.startswith("/checkout/shipping"),
            pages.str.startswith("/checkout/payment"),
            pages.str.startswith("/checkout/confirmation"),
            pages.str.startswith("/account"),
            pages.str.startswith("/help"),
        ],
        TOUCHPOINTS[:-1],
        default="other",
    )
    claimed = by_name.loc[used, "touchpoint"].to_numpy()
    generic = by_name.loc[used, "is_error"].to_numpy() & (claimed == "other")
    assert set(used[generic]) == {"error_page"}
    np.testing.assert_array_equal(claimed[~generic], where[~generic])
    is_error = by_name.loc[used, "is_error"].to_numpy()
    np.testing.assert_array_equal(is_error, (default_world.events["event"] == "error").to_numpy())
    assert len(truth[truth["is_error"]]) >= 3
    labels = truth.loc[truth["is_label"], "event"]
    assert set(labels) == set(
        used[default_world.events["event"].isin(["support_chat", "complaint"]).to_numpy()]
    )


def test_alt_config_maps_columns_only_and_loads(alt_world: World, tmp_path: Path) -> None:
    paths = write_world(alt_world, tmp_path)
    config = load_config(paths["config"])
    assert config.touchpoints.rules == []
    assert config.events.page is None
    meta = json.loads(paths["world"].read_text())
    assert config.label.events == meta["label_events"] == ["contact_support", "file_complaint"]
    assert set(alt_world.events["event"].astype(str)) <= set(meta["event_names"])
    table = Featurizer(config)(pd.read_parquet(paths["events"])).frame.set_index("session_id")
    truth = alt_world.truth.set_index("session_id")
    np.testing.assert_array_equal(table.loc[truth.index, "label"], truth["y"])


def test_small_shop_in_alt_names_keeps_its_truth(shop: World) -> None:
    alt = simulate(profile="small-shop", seed=SEED, vocabulary="alt")
    pd.testing.assert_frame_equal(alt.truth, shop.truth)
    assert list(alt.events.columns) == list(shop.events.columns)
    assert set(alt.events["event"].astype(str)).isdisjoint(
        set(shop.events["event"].astype(str)) - {"payment_error", "error_page"}
    )
