"""No command writes over its own input (issue 20, item 16), and `score --top` is bounded
(item 21): each refusal is one line, exit 2, before anything is read or written."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from tests.worlds import SmallWorld, TrainedWorld

runner = CliRunner()


@pytest.fixture
def inputs(world: SmallWorld, tmp_path: Path) -> dict[str, Path]:
    events = tmp_path / "events.csv"
    world.world.events.head(300).to_csv(events, index=False)
    features = tmp_path / "features.parquet"
    world.table.head(200).to_parquet(features, index=False)
    config = tmp_path / "friction.toml"
    config.write_bytes(world.paths["config"].read_bytes())
    return {"events": events, "features": features, "config": config}


def _refused(args: list[str], expected: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    # Loading an unsigned model may warn first (models.signing); the error is one line, last.
    lines = [line for line in result.stderr.strip().splitlines() if "warning: " not in line and line]
    assert len(lines) == 1, lines
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.output


def _unchanged(path: Path, before: bytes) -> None:
    assert path.read_bytes() == before


def test_features_out_equal_to_events_is_refused_and_the_csv_kept(inputs: dict[str, Path]) -> None:
    events, config = inputs["events"], inputs["config"]
    before = events.read_bytes()
    base = ["features", "--config", str(config), "--events", str(events)]
    _refused([*base, "--out", str(events)], f"--out {events} is the same path as --events {events}")
    dotted = events.parent / "sub" / ".." / events.name
    (events.parent / "sub").mkdir()
    _refused([*base, "--out", str(dotted)], "is the same path as --events")
    link = events.parent / "link.parquet"
    link.symlink_to(events)
    _refused([*base, "--out", str(link)], "is the same path as --events")
    hard = events.parent / "hard.parquet"
    os.link(events, hard)
    _refused([*base, "--out", str(hard)], "is the same path as --events")
    _refused([*base, "--out", str(config)], "is the same path as --config")
    _unchanged(events, before)


def test_features_out_inside_an_events_folder_is_refused(inputs: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "dataset"
    folder.mkdir()
    (folder / "part-0.csv").write_bytes(inputs["events"].read_bytes())
    args = ["features", "--config", str(inputs["config"]), "--events", str(folder)]
    _refused([*args, "--out", str(folder / "features.parquet")], "lies inside the --events folder")
    assert sorted(p.name for p in folder.iterdir()) == ["part-0.csv"]


def test_score_out_equal_to_its_input_is_refused(world_model: TrainedWorld, inputs: dict[str, Path]) -> None:
    model = ["score", "--model", str(world_model.path)]
    for flag in ("events", "features"):
        path = inputs[flag]
        before = path.read_bytes()
        _refused([*model, f"--{flag}", str(path), "--out", str(path)], f"same path as --{flag}")
        _unchanged(path, before)


def test_train_and_report_never_replace_a_folder_holding_their_input(
    world_model: TrainedWorld, inputs: dict[str, Path]
) -> None:
    features, config = inputs["features"], inputs["config"]
    before = features.read_bytes()
    folder = features.parent
    _refused(
        ["train", "--config", str(config), "--features", str(features), "--out", str(folder)],
        f"--features {features} lies inside the --out folder {folder}, which is replaced whole",
    )
    _refused(
        ["report", "--model", str(world_model.path), "--features", str(features), "--out", str(folder)],
        "lies inside the --out folder",
    )
    _unchanged(features, before)


def test_validate_quarantine_equal_to_events_is_refused(inputs: dict[str, Path]) -> None:
    events = inputs["events"]
    before = events.read_bytes()
    args = ["validate", "--config", str(inputs["config"]), "--events", str(events)]
    _refused([*args, "--quarantine", str(events)], "--quarantine")
    _unchanged(events, before)


def test_retrain_refuses_an_out_folder_whose_features_file_is_the_events(inputs: dict[str, Path]) -> None:
    events = inputs["events"].rename(inputs["events"].parent / "features.parquet")
    args = ["retrain", "--config", str(inputs["config"]), "--events", str(events), "--name", "x"]
    _refused([*args, "--out", str(events.parent)], "is the same path as --events")


@pytest.mark.parametrize("top", [51, 5_000, 100_000])
def test_score_top_is_bounded(
    world_model: TrainedWorld, inputs: dict[str, Path], tmp_path: Path, top: int
) -> None:
    out = tmp_path / "scores.parquet"
    args = ["score", "--model", str(world_model.path), "--features", str(inputs["features"]), "--explain"]
    started = time.perf_counter()
    _refused(
        [*args, "--top", str(top), "--out", str(out)],
        f"--top must be an integer from 1 to 50 (50 at most), got {top}",
    )
    assert time.perf_counter() - started < 10
    assert not out.exists()


def test_score_top_at_the_bound_works(
    world_model: TrainedWorld, inputs: dict[str, Path], tmp_path: Path
) -> None:
    import pandas as pd

    out = tmp_path / "scores.parquet"
    args = ["score", "--model", str(world_model.path), "--features", str(inputs["features"]), "--explain"]
    result = runner.invoke(app, [*args, "--top", "50", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "driver_50_feature" in pd.read_parquet(out).columns
