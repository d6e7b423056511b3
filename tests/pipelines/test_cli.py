"""The CLI's contract: every command has --help; user errors are one line and exit 2."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.config import load_config
from models.artifact import FrictionModel
from pipelines.cli import app

COMMANDS = [
    "demo",
    "init",
    "simulate",
    "validate",
    "features",
    "train",
    "report",
    "score",
    "promote",
    "retrain",
    "serve",
]
runner = CliRunner()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_no_arguments_lists_the_commands() -> None:
    result = runner.invoke(app, [])
    assert all(command in result.output for command in COMMANDS)


def test_promoting_an_unknown_model_is_one_line(tmp_path: Path) -> None:
    env = {"FRICTION_HOME": str(tmp_path / "store"), "MLFLOW_TRACKING_URI": ""}
    result = runner.invoke(app, ["promote", "--name", "nobody"], env=env)
    assert result.exit_code == 2
    # MLflow's own INFO lines about creating the store may come first; ours is the last line.
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("friction promote: error: registered model `nobody` has no versions")
    assert "Traceback" not in result.stderr


def test_missing_input_file_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["validate", "--config", str(tmp_path / "nope.toml"), "--events", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_sessions_must_be_positive(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--sessions", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--sessions" in result.output


def test_config_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "friction.toml"
    config.write_text("[sessions]\ngap_minute = 30\n")
    events = tmp_path / "events.csv"
    events.write_text("session_id,timestamp,event\ns1,2026-01-01T00:00:00Z,page_view\n")
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "validate", "--config", str(config), "--events", str(events)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "unknown key `sessions.gap_minute` (did you mean `gap_minutes`?)" in lines[0]
    assert "Traceback" not in done.stderr


def test_simulate_then_validate_end_to_end(tmp_path: Path) -> None:
    world = tmp_path / "world"
    result = runner.invoke(app, ["simulate", "--sessions", "300", "--seed", "3", "--out", str(world)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in world.iterdir()} >= {
        "events.parquet",
        "surveys.parquet",
        "truth.parquet",
        "friction.toml",
    }
    result = runner.invoke(
        app, ["validate", "--config", str(world / "friction.toml"), "--events", str(world / "events.parquet")]
    )
    assert result.exit_code == 0, result.output
    assert "rows quarantined" in result.output
    table = tmp_path / "features.parquet"
    args = ["--config", str(world / "friction.toml"), "--events", str(world / "events.parquet")]
    featured = runner.invoke(app, ["features", *args, "--out", str(table)])
    assert featured.exit_code == 0, featured.output
    # One measure of the label rate, said once and in the same words by both commands.
    said = [
        [
            " ".join(line.split("label rate")[1].strip(" │").split())
            for line in r.output.splitlines()
            if "label rate" in line
        ]
        for r in (result, featured)
    ]
    assert said[0] == said[1]
    assert len(said[0]) == 1
    assert "% of sessions (" in said[0][0]


def test_validate_fails_past_the_bad_row_rate_and_keeps_the_bad_rows(tmp_path: Path) -> None:
    config = tmp_path / "friction.toml"
    config.write_text("[quality]\nmax_bad_row_rate = 0.2\n")
    events = tmp_path / "events.csv"
    events.write_text(
        "session_id,timestamp,event\n"
        "s1,2026-01-01T00:00:00Z,page_view\n"
        "s1,not-a-time,click\n"
        "s1,2026-01-01T00:00:05Z,\n"
    )
    quarantine = tmp_path / "bad.parquet"
    result = runner.invoke(
        app, ["validate", "--config", str(config), "--events", str(events), "--quarantine", str(quarantine)]
    )
    assert result.exit_code == 2
    assert "max_bad_row_rate" in result.stderr
    assert quarantine.exists()


def test_features_train_promote_through_the_cli(tmp_path: Path) -> None:
    world = tmp_path / "world"
    assert (
        runner.invoke(app, ["simulate", "--sessions", "3000", "--seed", "5", "--out", str(world)]).exit_code
        == 0
    )
    config, table = world / "friction.toml", tmp_path / "features.parquet"
    result = runner.invoke(
        app,
        ["features", "--config", str(config), "--events", str(world / "events.parquet"), "--out", str(table)],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads(table.with_suffix(".manifest.json").read_text())
    assert manifest["rows"]["in"] == manifest["rows"]["kept"] + manifest["rows"]["quarantined"]
    assert manifest["rows"]["sessions"] == len(pd.read_parquet(table)) == 3000
    # The input is identified as `sha256sum` identifies it.
    events_bytes = (world / "events.parquet").read_bytes()
    assert manifest["input"]["sha256"] == hashlib.sha256(events_bytes).hexdigest()

    env = {"FRICTION_HOME": str(tmp_path / "store"), "MLFLOW_TRACKING_URI": ""}
    args = ["train", "--config", str(config), "--features", str(table), "--out", str(tmp_path / "model")]
    result = runner.invoke(app, [*args, "--register", "shop"], env=env)
    assert result.exit_code == 0, result.output
    assert "rule_baseline" in result.output
    assert (tmp_path / "model" / "model.txt").exists()
    carried = FrictionModel.load(tmp_path / "model").featurizer_config
    assert carried is not None
    assert carried.touchpoints.inline
    assert carried.events == load_config(config).events
    result = runner.invoke(app, ["promote", "--name", "shop"], env=env)
    assert result.exit_code == 0, result.output
    assert "shop v1 is now champion" in result.output

    other = tmp_path / "other.toml"
    wishlist = '\n[touchpoints]\nrules = [{touchpoint = "wishlist", event = "wish"}]\n'
    other.write_text(config.read_text() + wishlist)
    result = runner.invoke(app, ["train", "--config", str(other), "--features", str(table)], env=env)
    assert result.exit_code == 2
    assert "lacks the touchpoint(s) wishlist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

    out = tmp_path / "retrain"
    args = ["retrain", "--config", str(config), "--events", str(world / "events.parquet"), "--name", "shop"]
    result = runner.invoke(app, [*args, "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "shop v2" in result.output
    assert (out / "model" / "MANIFEST.json").exists()


def test_train_on_a_missing_feature_table_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "friction.toml"
    config.write_text("")
    broken = tmp_path / "features.parquet"
    broken.write_text("not parquet")
    result = runner.invoke(app, ["train", "--config", str(config), "--features", str(broken)])
    assert result.exit_code == 2
    assert result.stderr.startswith("friction train: error: cannot read the feature table")


@pytest.mark.slow
def test_features_on_spark_equal_the_local_engine(tmp_path: Path) -> None:
    world = tmp_path / "world"
    assert (
        runner.invoke(app, ["simulate", "--sessions", "400", "--seed", "8", "--out", str(world)]).exit_code
        == 0
    )
    base = ["features", "--config", str(world / "friction.toml"), "--events", str(world / "events.parquet")]
    outputs = {}
    for engine in ("local", "spark"):
        outputs[engine] = tmp_path / f"{engine}.parquet"
        result = runner.invoke(app, [*base, "--out", str(outputs[engine]), "--engine", engine])
        assert result.exit_code == 0, result.output
    local, spark = (pd.read_parquet(path) for path in outputs.values())
    pd.testing.assert_frame_equal(spark, local, check_exact=True)
    manifest = json.loads(outputs["spark"].with_suffix(".manifest.json").read_text())
    assert manifest["engine"] == "spark"
