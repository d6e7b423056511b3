"""`friction init`: a world in a vocabulary Friction has never seen, drafted into a config that
`friction features` runs as is; and the command's contract (--force, bad paths, presets)."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.config import load_config
from features.taxonomy import load_taxonomy
from pipelines.cli import app
from pipelines.simulate import simulate

runner = CliRunner()

# (simulator event, true touchpoint) -> the name an unfamiliar product gives it. No page column:
# the names alone say where the customer is, as in many app exports.
ALT_NAMES: dict[tuple[str, str], str] = {
    ("page_view", "home"): "landing_view",
    ("page_view", "search"): "search_results_view",
    ("page_view", "catalog"): "category_list_view",
    ("page_view", "product"): "pdp_view",
    ("page_view", "cart"): "basket_view",
    ("page_view", "shipping"): "delivery_address_view",
    ("page_view", "payment"): "payment_details",
    ("page_view", "confirmation"): "thank_you",
    ("page_view", "account"): "sign_in",
    ("page_view", "help"): "faq",
    ("click", "home"): "landing_tap",
    ("click", "search"): "searchResultClick",
    ("click", "catalog"): "category-tile-click",
    ("click", "product"): "pdp_click",
    ("click", "cart"): "basket_click",
    ("click", "shipping"): "delivery_form_click",
    ("click", "payment"): "pay_button_click",
    ("click", "account"): "profile_click",
    ("click", "help"): "help_center_click",
    ("search", "search"): "site_search",
    ("add_to_cart", "product"): "Product Added",
    ("submit", "shipping"): "address_form_submit",
    ("submit", "payment"): "payment_form_submit",
    ("purchase", "confirmation"): "order_complete",
    ("error", "payment"): "payment_error",
    ("error", "shipping"): "checkout_bug",
    ("error", "product"): "pdp_exception",
    ("support_chat", "help"): "contact_support",
    ("complaint", "help"): "file_complaint",
}
OTHER_ERRORS = "error_page"  # an error anywhere else
ALT_COLUMNS = {
    "session_id": "visit_id",
    "user_id": "anonymous_id",
    "event": "action",
    "target": "element",
    "x": "click_x",
    "y": "click_y",
    "load_ms": "latency_ms",
}


@dataclass(frozen=True)
class AltWorld:
    events: Path
    truth: pd.Series  # true touchpoint per row, from the simulator's own pages
    names: pd.Series  # the new event name per row
    errors: frozenset[str]
    labels: frozenset[str]


def alt_world(out: Path, sessions: int = 1_500, seed: int = 11) -> AltWorld:
    """A simulated world renamed into ALT_NAMES, with other column names and epoch-ms times."""
    events = simulate(sessions, seed=seed).events
    taxonomy = load_taxonomy()  # the simulator's pages all map by the default taxonomy
    event_codes, event_names = pd.factorize(events["event"].astype("str"))
    page_codes, pages = pd.factorize(events["page"].astype("str"))
    codes = taxonomy.map_codes(
        event_codes.astype(np.int64),
        np.asarray(event_names, dtype=object),
        page_codes.astype(np.int64),
        np.asarray(pages, dtype=object),
    )
    truth = pd.Series(np.asarray(taxonomy.touchpoints, dtype=object)[codes])
    original = events["event"].astype("str")
    pairs = list(zip(original, truth, strict=True))
    renamed = pd.Series(
        [ALT_NAMES.get(p, OTHER_ERRORS if p[0] == "error" else None) for p in pairs], dtype="object"
    )
    assert renamed.notna().all(), sorted({p for p, n in zip(pairs, renamed, strict=True) if n is None})
    alt = events.drop(columns=["page"]).rename(columns=ALT_COLUMNS)
    alt["action"] = renamed.to_numpy()
    alt["event_time"] = events["timestamp"].astype("int64") // 1000  # epoch milliseconds
    alt = alt.drop(columns=["timestamp"])
    path = out / "alt_events.parquet"
    alt.to_parquet(path)
    errors = frozenset(n for (e, _), n in ALT_NAMES.items() if e == "error") | {OTHER_ERRORS}
    labels = frozenset(ALT_NAMES[(e, "help")] for e in ("support_chat", "complaint"))
    return AltWorld(path, truth, renamed, errors & set(renamed), labels)


def test_init_then_features_maps_an_unfamiliar_world(tmp_path: Path) -> None:
    world = alt_world(tmp_path)
    config_path = tmp_path / "friction.toml"
    result = runner.invoke(app, ["init", "--events", str(world.events), "--out", str(config_path)])
    assert result.exit_code == 0, result.output
    config = load_config(config_path)

    # The columns were found under their unfamiliar names, the epoch unit too.
    assert config.events.session_id == "visit_id"
    assert config.events.event == "action"
    assert config.events.timestamp == "event_time"
    assert config.events.timestamp_unit == "ms"

    # >= 90 % of the journey's events at their true touchpoint (label events are the outcome:
    # features never see them, so they are no touchpoint visits).
    taxonomy = load_taxonomy(config.touchpoints)
    names, codes = np.unique(world.names.to_numpy(dtype=object), return_inverse=True)
    found = np.asarray(taxonomy.touchpoints, dtype=object)[
        taxonomy.map_codes(codes.astype(np.int64), names, None, None)
    ]
    journey = ~world.names.isin(world.labels).to_numpy()
    accuracy = float((found[journey] == world.truth.to_numpy()[journey]).mean())
    assert accuracy >= 0.90, accuracy

    # Every error event name, and no other name, is an error; the label events are the label.
    assert config.signals.error_events is not None
    assert set(config.signals.error_events) == world.errors
    assert set(config.label.events) == world.labels
    assert not world.labels & set(config.signals.click_events + config.signals.search_events)

    # `friction features` runs the drafted file as is, and errors become features.
    features = tmp_path / "features.parquet"
    ran = runner.invoke(
        app, ["features", "--config", str(config_path), "--events", str(world.events), "--out", str(features)]
    )
    assert ran.exit_code == 0, ran.output
    table = pd.read_parquet(features)
    assert table["payment__errors"].sum() > 0
    assert table["label"].sum() > 0
    manifest = json.loads(features.with_suffix(".manifest.json").read_text())
    assert manifest["coverage"]["touchpoints"]["payment"] > 0
    assert manifest["coverage"]["other_share"] < 0.10


def test_the_drafted_file_says_why_for_each_inference(tmp_path: Path) -> None:
    world = alt_world(tmp_path, sessions=300)
    config_path = tmp_path / "friction.toml"
    assert (
        runner.invoke(app, ["init", "--events", str(world.events), "--out", str(config_path)]).exit_code == 0
    )
    text = config_path.read_text()
    parsed = tomllib.loads(text)
    rule = next(r for r in parsed["touchpoints"]["rules"] if r.get("event") == "basket_view")
    assert rule["touchpoint"] == "cart"
    line = next(
        line for line in text.splitlines() if line.startswith("[[touchpoints.rules]]  # basket_view:")
    )
    assert "events (" in line
    assert "word `basket`" in line
    assert "#   payment_error: " in text  # the error's evidence
    assert "of sessions; word `support`" in text  # the label candidate's rate


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    world = alt_world(tmp_path, sessions=100)
    target = tmp_path / "friction.toml"
    target.write_text("# mine\n")
    refused = runner.invoke(app, ["init", "--events", str(world.events), "--out", str(target)])
    assert refused.exit_code == 2
    assert (
        refused.stderr.strip()
        == f"friction init: error: {target} already exists; pass --force to overwrite it"
    )
    assert target.read_text() == "# mine\n"
    forced = runner.invoke(app, ["init", "--events", str(world.events), "--out", str(target), "--force"])
    assert forced.exit_code == 0, forced.output
    assert load_config(target).events.event == "action"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "{events}"], "is the events file itself"),
        (["--out", "{tmp}"], "is a folder"),
        (["--preset", "ga5"], "unknown preset 'ga5' (did you mean `ga4`?); allowed: auto, custom"),
    ],
)
def test_bad_targets_and_presets_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    world = alt_world(tmp_path, sessions=50)
    filled = [a.format(events=world.events, tmp=tmp_path) for a in args]
    result = runner.invoke(app, ["init", "--events", str(world.events), *filled, "--force"])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert pd.read_parquet(world.events).shape[0] > 0  # the events are untouched


def test_missing_events_file_is_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["init", "--events", str(tmp_path / "none.csv"), "--out", str(tmp_path / "f.toml")]
    )
    assert result.exit_code == 2
    assert not (tmp_path / "f.toml").exists()


def test_unreadable_columns_are_a_one_line_error(tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    pd.DataFrame({"a": ["x", "y"], "b": [1, 2]}).to_csv(events, index=False)
    result = runner.invoke(app, ["init", "--events", str(events), "--out", str(tmp_path / "f.toml")])
    assert result.exit_code == 2
    assert "cannot tell which column holds the timestamp and the event" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("fixture", "preset"),
    [
        ("ga4_bigquery_export.jsonl", "ga4"),  # nested event_params: no column role takes them
        ("ga4_ecommerce_export.jsonl", "ga4"),
        ("snowplow_atomic_events.csv", "snowplow"),
        ("snowplow_enriched.tsv", "snowplow"),  # no header: the reader names the fields
        ("segment_track_calls.jsonl", "segment"),
    ],
)
def test_a_vendor_export_is_recognised(tmp_path: Path, fixture: str, preset: str) -> None:
    out = tmp_path / "friction.toml"
    events = Path(__file__).parent.parent / "fixtures" / fixture
    result = runner.invoke(app, ["init", "--events", str(events), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert load_config(out).events.preset == preset
    assert "# preset: columns `" in out.read_text()  # the marks that named the vendor


def test_validate_warns_when_the_taxonomy_misses_the_vocabulary(tmp_path: Path) -> None:
    # A config that only maps the columns, what a new user writes first: the default taxonomy
    # knows none of these names, and validate says so instead of printing a plain success.
    world = alt_world(tmp_path, sessions=200)
    config_path = tmp_path / "columns_only.toml"
    mapping = {**ALT_COLUMNS, "timestamp": "event_time"}
    lines = ["[events]", *(f'{k} = "{v}"' for k, v in mapping.items()), 'timestamp_unit = "ms"']
    config_path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["validate", "--config", str(config_path), "--events", str(world.events)])
    assert result.exit_code == 0, result.output
    assert "touchpoint other" in result.stdout
    assert "warning: " in result.stderr
    warning = " ".join(result.stderr.split())
    assert "map to no touchpoint (`other`); top event names: pdp_click" in warning
    assert "Add [[touchpoints.rules]] or run `friction init`" in warning
    assert "off: missing column `page`" in result.stdout  # page loops
    assert "off: no `error` event in the data" in result.stdout


def test_streamed_features_record_the_coverage_of_a_sample(tmp_path: Path) -> None:
    from pipelines.features_job import run_features

    world = alt_world(tmp_path, sessions=200)
    config_path = tmp_path / "friction.toml"
    assert (
        runner.invoke(app, ["init", "--events", str(world.events), "--out", str(config_path)]).exit_code == 0
    )
    out = tmp_path / "features.parquet"
    summary = run_features(
        load_config(config_path), world.events, out, tmp_path / "q.parquet", streaming=True
    )
    coverage = json.loads(out.with_suffix(".manifest.json").read_text())["coverage"]
    assert coverage["sampled"] is True
    assert coverage["other_share"] < 0.10
    assert "touchpoint payment (sample)" in summary.as_rows()
