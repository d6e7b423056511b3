"""The analyst report: every section and export, the numbers behind them, the incident rule,
and the page as headless Chromium renders it (no console errors, no requests, no script)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.errors import FrictionError, SchemaError
from features.featurize import Featurizer
from models.artifact import BASE_VALUE
from models.explain import by_touchpoint
from models.impact import Scope, counterfactual, friction_map
from models.report import HTML_FILE, TABLES_DIR, Report, ReportConfig, build_report, write_report_files
from models.report.html import CSS, SECTIONS, content_security_policy, render_html
from models.report.incidents import daily_contributions, flag_days
from models.report.scoring import score_all
from models.report.tables import segment_columns, trend_and_incidents
from pipelines.simulator import INCIDENT
from tests.chromium import visit
from tests.worlds import SmallWorld, TrainedWorld

XSS = "</script><script>alert(1)</script>"
# Small figures and few sessions: the same code paths, a fraction of the drawing time.
FAST = ReportConfig(chunk_rows=1_000, plot_sample=300, riskiest_sessions=3, dependence_features=2)
EXPORTED = (
    "headline",
    "quality",
    "drift",
    "moments",
    "impact_by_day",
    "impact_by_segment",
    "moment_signals",
    "journey_nodes",
    "journey_edges",
    "trend",
    "incidents",
    "segments",
    "riskiest",
    "drivers",
    "timelines",
)


@pytest.fixture(scope="module")
def hostile(world: SmallWorld, world_model: TrainedWorld) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The world's events with a script-like string as an event name (one per session, first
    thing each session does) and as the `platform` of every iOS session; and their features."""
    events = world.world.events
    first = events.drop_duplicates("session_id").copy()
    first["event"] = XSS
    hostile_events = pd.concat([first, events], ignore_index=True)
    hostile_events["platform"] = (
        hostile_events["platform"].astype(object).where(hostile_events["platform"] != "ios", XSS)
    )
    features = world_model.model.featurizer()(hostile_events).frame
    return hostile_events, features


@pytest.fixture(scope="module")
def plain(world: SmallWorld, world_model: TrainedWorld) -> Report:
    """The world's report from its feature table alone (no events)."""
    return build_report(world_model.model, world.table, None, FAST)


@pytest.fixture(scope="module")
def written(
    hostile: tuple[pd.DataFrame, pd.DataFrame],
    world_model: TrainedWorld,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    events, features = hostile
    report = build_report(world_model.model, features, events, FAST)
    folder = tmp_path_factory.mktemp("report")
    write_report_files(report, folder)
    return folder


def test_every_section_is_in_the_page(written: Path) -> None:
    page = (written / HTML_FILE).read_text(encoding="utf-8")
    for key, title in SECTIONS:
        assert f'<section id="{key}"><h2>' in page, key
        assert f'href="#{key}"' in page
        assert title in page
    assert page.count('<img src="data:image/png;base64,') == 4 + FAST.dependence_features
    assert page.count('<svg class="waterfall"') == FAST.riskiest_sessions
    assert "From the events: consecutive touchpoint visits" in page
    assert "Event timeline" in page


def test_every_table_is_exported_as_csv_and_json(written: Path) -> None:
    index = json.loads((written / TABLES_DIR / "index.json").read_text())
    assert sorted(index) == sorted(EXPORTED)
    for name in EXPORTED:
        records = json.loads((written / TABLES_DIR / f"{name}.json").read_text(encoding="utf-8"))
        frame = pd.read_csv(written / TABLES_DIR / f"{name}.csv")
        assert len(records) == len(frame) == index[name]["rows"], name
        assert list(frame.columns) == index[name]["columns"], name
        if name not in ("incidents",):  # a tiny world may have no flagged day
            assert len(frame) > 0, name


def test_page_is_safe_by_construction(written: Path) -> None:
    page = (written / HTML_FILE).read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert "http://" not in page
    assert "https://" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert f'content="{content_security_policy()}"'.replace("'", "&#x27;") in page
    assert content_security_policy().startswith("default-src 'none'; img-src data:; style-src 'sha256-")
    assert f"<style>{CSS}</style>" in page


def test_page_renders_in_chromium_offline_with_the_script_as_text(written: Path) -> None:
    shot = written.parent / "screenshots" / "report.png"
    seen = visit(written / HTML_FILE, shot)
    print(f"screenshot: {seen.screenshot}")
    assert seen.console_errors == []
    assert seen.page_errors == []
    page_uri = (written / HTML_FILE).resolve().as_uri()
    assert [u for u in seen.requests if u != page_uri and not u.startswith("data:")] == []
    assert seen.dialogs == []
    assert seen.scripts == 0
    assert XSS in seen.text  # shown as text: in the timelines (event) and the segments (platform)
    assert "Moments of truth: the fix list" in seen.text
    assert "dissatisfied sessions avoided [95 % interval]" in seen.text
    assert "Riskiest sessions" in seen.text
    assert shot.stat().st_size > 10_000


def test_scopes_add_up_to_the_raw_score_on_every_session(
    world: SmallWorld, world_model: TrainedWorld
) -> None:
    model = world_model.model
    scored = score_all(model, world.table, FAST)  # 6 blocks of 1,000 rows
    np.testing.assert_allclose(
        scored.scopes.sum(axis=1) + scored.base_value, scored.sessions["raw"], atol=1e-9
    )
    np.testing.assert_allclose(scored.sessions["raw"], model.predict_raw(world.table), atol=1e-9)
    np.testing.assert_allclose(scored.sessions["risk"], model.predict_proba(world.table), atol=1e-12)


def test_moments_are_a_fix_list_ranked_by_the_sessions_a_fix_would_spare(
    world: SmallWorld, world_model: TrainedWorld, plain: Report
) -> None:
    model = world_model.model
    moments = plain.tables["moments"].set_index("touchpoint")
    assert moments["avoided"].is_monotonic_decreasing
    assert moments["rank"].tolist() == list(range(1, len(moments) + 1))
    touchpoints = friction_map(model).touchpoints
    cf = counterfactual(model, world.table, [Scope(t) for t in touchpoints])
    for i, touchpoint in enumerate(touchpoints):
        row = moments.loc[touchpoint]
        assert row["avoided"] == pytest.approx(cf.avoided(i).sum(), rel=1e-9, abs=1e-9)
        assert row["sessions_with_friction"] == len(cf.rows[i])
        if row["avoided"] > 1:
            assert row["avoided_low"] < row["avoided"] < row["avoided_high"]
    # The top signal is the friction family whose removal alone spares the most there.
    payment = moments.loc["payment"]
    pairs = friction_map(model).pairs()
    at_payment = [s for s in pairs if s.touchpoint == "payment"]
    alone = counterfactual(model, world.table, at_payment)
    best = max(range(len(at_payment)), key=lambda i: alone.avoided(i).sum())
    assert payment["top_signal"] == at_payment[best].family
    assert payment["top_signal_avoided"] == pytest.approx(alone.avoided(best).sum(), rel=1e-9)
    assert payment["top_signal_avoided"] <= payment["avoided"] + 1e-9
    # Per day and per segment value, the same figures add up to the fix list's.
    for name, key in (("impact_by_day", "touchpoint"), ("impact_by_segment", "touchpoint")):
        table = plain.tables[name]
        if name == "impact_by_segment":
            table = table[table["segment"] == "platform"]
        summed = table.groupby(key)["avoided"].sum()
        np.testing.assert_allclose(summed, moments.loc[summed.index, "avoided"], rtol=1e-9, atol=1e-9)


def test_the_shap_view_stays_beside_the_fix_list(
    world: SmallWorld, world_model: TrainedWorld, plain: Report
) -> None:
    model = world_model.model
    report = plain
    moments = report.tables["moments"]
    np.testing.assert_allclose(
        moments["shap_total"], moments["sessions_affected"] * moments["mean_contribution"], rtol=1e-9
    )
    # Same numbers as summing models.explain's per-touchpoint contributions over all sessions at once.
    contributions = model.contributions(world.table)
    per_touchpoint = by_touchpoint(model, contributions)
    for row in moments.itertuples():
        visited = world.table[f"{row.touchpoint}__visits"].to_numpy() > 0
        assert row.sessions_affected == visited.sum()
        assert row.shap_total == pytest.approx(per_touchpoint[row.touchpoint][visited].sum(), abs=1e-9)
    # The families behind each touchpoint add up to its SHAP total.
    signals = report.tables["moment_signals"].groupby("touchpoint")["total_contribution"].sum()
    np.testing.assert_allclose(signals[moments["touchpoint"]], moments["shap_total"], atol=1e-9)
    assert contributions[BASE_VALUE].iloc[0] == pytest.approx(
        float(report.tables["headline"].set_index("measure").loc["base_value_log_odds", "value"])
    )


def test_without_events_the_journey_follows_the_funnel_and_says_so(
    world_model: TrainedWorld, plain: Report
) -> None:
    report = plain
    assert not report.journey_from_events
    funnel = list(world_model.model.featurizer().taxonomy_.funnel)
    edges = report.tables["journey_edges"]
    assert list(zip(edges["source"], edges["target"], strict=True)) == list(itertools.pairwise(funnel))
    assert set(report.tables["timelines"].columns) >= {"touchpoint", "visits", "dwell_s"}
    assert "From the feature table alone (no --events given)" in render_html(report)


def test_segments_cover_context_and_new_or_returning(
    world: SmallWorld, world_model: TrainedWorld, plain: Report
) -> None:
    segments = plain.tables["segments"]
    assert set(segments["segment"]) >= {"platform", "acquisition_channel", "new_or_returning"}
    for _, rows in segments.groupby("segment"):
        assert rows["sessions"].sum() == len(world.table)
    platform = segments[segments["segment"] == "platform"].set_index("value")
    risk = world_model.model.predict_proba(world.table)
    android = world.table["context__platform"].astype(str) == "android"
    assert platform.loc["android", "mean_risk"] == pytest.approx(risk[android.to_numpy()].mean())


def test_refuses_tables_it_cannot_report_on(world: SmallWorld, world_model: TrainedWorld) -> None:
    with pytest.raises(SchemaError, match="session_start"):
        build_report(world_model.model, world.table.drop(columns="session_start"), None, FAST)
    with pytest.raises(FrictionError, match="no sessions"):
        build_report(world_model.model, world.table.iloc[:0], None, FAST)


# -- the incident rule -----------------------------------------------------------------------------


def _daily(values: dict[str, list[float]], sessions: int = 100) -> pd.DataFrame:
    days = pd.date_range("2026-01-01", periods=len(next(iter(values.values()))), freq="D", tz="UTC")
    return pd.DataFrame(
        [
            {"day": d, "touchpoint": t, "sessions": sessions, "mean_contribution": v}
            for t, series in values.items()
            for d, v in zip(days, series, strict=True)
        ]
    )


def test_rule_flags_a_spike_and_only_rises(rng: np.random.Generator) -> None:
    noise = rng.normal(0.0, 0.01, size=28)
    spike, dip = noise.copy(), noise.copy()
    spike[10] += 0.2
    dip[10] -= 0.2
    flagged = flag_days(_daily({"a": list(spike), "b": list(dip), "c": list(noise)}), 5.0, 20, 7)
    hits = flagged[flagged["flagged"]]
    assert hits[["touchpoint", "day"]].astype(str).values.tolist() == [["a", "2026-01-11 00:00:00+00:00"]]
    assert flagged.loc[flagged["touchpoint"] == "b", "z"].min() < -5  # a drop is measured, not flagged


def test_rule_threshold_and_minimum_sessions_are_honoured() -> None:
    series = [0.01, -0.01] * 14  # median 0, MAD 0.01: robust SD 0.0148
    series[2] = 0.07  # z = 0.07 / 0.0148 = 4.7
    daily = _daily({"a": series})
    assert not flag_days(daily, 5.0, 20, 7)["flagged"].any()
    assert flag_days(daily, 3.0, 20, 7)["flagged"].sum() >= 1
    few = daily.assign(sessions=10)
    assert not flag_days(few, 3.0, 20, 7)["flagged"].any()


@pytest.fixture(scope="module")
def default_world_trends() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The simulator's default world (20,000 sessions, seed 0) and a model trained on it."""
    import tempfile

    from features.config import load_config
    from pipelines.simulator import simulate, write_world
    from training.config import LightGBMParams, TrainConfig
    from training.train import train

    simulated = simulate(20_000, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(write_world(simulated, Path(tmp))["config"])
    table = Featurizer(config)(simulated.events).frame
    # Few small trees: quick to fit and to explain, and the outage still stands far out.
    params = LightGBMParams(
        learning_rate=0.3, num_leaves=7, min_child_samples=50, num_boost_round=60, num_threads=2
    )
    model = train(table, TrainConfig(lightgbm=params, early_stopping_rounds=20)).model
    config_report = ReportConfig()
    scored = score_all(model, table, config_report)
    return trend_and_incidents(scored, segment_columns(table), config_report)


def test_simulated_outage_is_flagged_at_payment_inside_its_window_only(
    default_world_trends: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    trend, incidents = default_world_trends
    assert len(incidents) >= 2, incidents
    assert set(incidents["touchpoint"]) == {INCIDENT.touchpoint}
    assert ((incidents["day"] >= INCIDENT.start) & (incidents["day"] < INCIDENT.end)).all()
    assert trend["flagged"].sum() == len(incidents)
    # The analyst's "for whom": the rise concentrates on the outage's platform.
    assert set(zip(incidents["segment"], incidents["value"], strict=True)) == {
        ("platform", INCIDENT.platform)
    }


def test_daily_contributions_average_every_session_of_the_day() -> None:
    days = pd.Series(pd.to_datetime(["2026-01-01", "2026-01-01", "2026-01-02"], utc=True))
    scopes = pd.DataFrame({"pay": [1.0, 3.0, 5.0]})
    daily = daily_contributions(days, scopes, ["pay"])
    assert daily["mean_contribution"].tolist() == [2.0, 5.0]
    assert daily["sessions"].tolist() == [2, 1]


def test_waterfall_walks_from_the_base_to_the_raw_score_and_escapes_labels() -> None:
    from models.report.waterfall import waterfall_svg

    drivers = pd.DataFrame({"feature": [XSS, "cart__dwell_s"], "contribution": [1.0, -0.25]})
    svg = waterfall_svg(base=-2.0, drivers=drivers, raw=-1.0)
    assert XSS not in svg
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    # Bars: base -2.00, +1.00, -0.25, then the rest: -1.0 - (-2.0) - 0.75 = +0.25.
    assert [t.split("<")[0] for t in svg.split('font-size="11">')[1:5]] == [
        "-2.00",
        "+1.00",
        "-0.25",
        "+0.25",
    ]
    assert "raw score -1.00" in svg
    assert "<script" not in svg


def test_a_touchpoint_without_impact_is_never_a_top_moment() -> None:
    moments = pd.DataFrame(
        {"touchpoint": ["payment", "home", "search", "catalog"], "avoided": [2.5, 0.0, 0.0, -0.4]}
    )
    report = Report(
        tables={"moments": moments},
        figures={},
        dependence={},
        waterfalls={},
        config=ReportConfig(),
        journey_from_events=False,
        plot_sessions=0,
    )
    assert report.top_moments(3) == ["payment"]
    assert Report(**{**report.__dict__, "tables": {"moments": moments.iloc[1:]}}).top_moments(3) == []
