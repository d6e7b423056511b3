"""`friction whatif`: the fix list's figures for any scope, printed and written; a bad scope
is one line naming the allowed ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from models.impact import Scope, counterfactual
from pipelines.cli import app
from tests.worlds import SmallWorld, TrainedWorld

runner = CliRunner()


@pytest.fixture(scope="module")
def features_file(world: SmallWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("features") / "features.parquet"
    world.table.to_parquet(path, index=False)
    return path


def _args(model: TrainedWorld, features: Path, scope: str, out: Path) -> list[str]:
    return [
        "whatif",
        "--model",
        str(model.path),
        "--features",
        str(features),
        "--scope",
        scope,
        "--out",
        str(out),
    ]


@pytest.mark.parametrize(
    ("text", "scope"), [("payment", Scope("payment")), ("payment,errors", Scope("payment", "errors"))]
)
def test_whatif_prints_and_writes_the_scopes_impact(
    world: SmallWorld, world_model: TrainedWorld, features_file: Path, tmp_path: Path, text: str, scope: Scope
) -> None:
    out = tmp_path / "whatif"
    result = runner.invoke(app, [*_args(world_model, features_file, text, out), "--draws", "200"])
    assert result.exit_code == 0, result.output
    index = json.loads((out / "index.json").read_text())
    assert sorted(index) == ["impact", "impact_by_day", "impact_by_segment"]
    row = pd.read_csv(out / "impact.csv").iloc[0]
    expected = counterfactual(world_model.model, world.table, [scope]).avoided(0).sum()
    assert row["scope"] == scope.name
    assert row["avoided"] == pytest.approx(expected, rel=1e-9)
    assert row["avoided_low"] < row["avoided"] < row["avoided_high"]
    assert (
        f"{row['avoided']:,.1f} [{row['avoided_low']:,.1f}, {row['avoided_high']:,.1f}] (95 %)"
        in result.stdout
    )
    days = pd.read_csv(out / "impact_by_day.csv")
    np.testing.assert_allclose(days["avoided"].sum(), row["avoided"], rtol=1e-9)
    segments = json.loads((out / "impact_by_segment.json").read_text())
    assert {s["segment"] for s in segments} >= {"platform", "acquisition_channel"}
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("paymnt", "unknown scope 'paymnt' (did you mean `payment`?)"),
        ("payment,rage_click", "(did you mean `payment,rage_clicks`?)"),
        ("payment,visits", "a scope is a touchpoint (home, search,"),
    ],
)
def test_a_bad_scope_is_one_line_naming_the_allowed_ones(
    world_model: TrainedWorld, features_file: Path, tmp_path: Path, scope: str, expected: str
) -> None:
    out = tmp_path / "whatif"
    result = runner.invoke(app, _args(world_model, features_file, scope, out))
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.strip().startswith("friction whatif: error: ")
    assert expected in result.stderr
    assert not out.exists()


def test_whatif_refuses_a_foreign_folder(
    world_model: TrainedWorld, features_file: Path, tmp_path: Path
) -> None:
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("mine")
    result = runner.invoke(app, _args(world_model, features_file, "payment", foreign))
    assert result.exit_code == 2
    assert "refusing to write into" in result.stderr
    assert sorted(p.name for p in foreign.iterdir()) == ["todo.txt"]
