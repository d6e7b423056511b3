"""`friction report` end to end: the folder it writes (atomically), the page in Chromium, user
errors as one line, and the report logged to the model's MLflow run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.report import HTML_FILE, TABLES_DIR, ReportConfig
from pipelines.cli import app
from pipelines.reporting import REPORT_ARTIFACT, _run_id, run_report, write_report
from tests.chromium import visit
from tests.worlds import SmallWorld, TrainedWorld
from training.tracking import MODEL_ARTIFACT, TrackingSettings, ensure_store, register

runner = CliRunner()
FAST = ReportConfig(plot_sample=200, riskiest_sessions=2, dependence_features=0)


@pytest.fixture(scope="module")
def features_file(world: SmallWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("features") / "features.parquet"
    world.table.to_parquet(path, index=False)
    return path


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_report_command_writes_a_folder_that_opens_offline(
    world: SmallWorld, world_model: TrainedWorld, features_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    args = ["report", "--model", str(world_model.path), "--features", str(features_file), "--out", str(out)]
    # A threshold no day reaches: the flag is honoured and the page says nothing stands out.
    result = runner.invoke(app, [*args, "--events", str(world.paths["events"]), "--incident-z", "1000"])
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-2:]  # stderr may end with a warning (models.signing)
    assert last[0] == f"Report: {out / HTML_FILE}"
    assert last[1].startswith("Top moments of truth: ")
    assert _leftovers(tmp_path) == []
    index = json.loads((out / TABLES_DIR / "index.json").read_text())
    assert index["moments"]["rows"] > 0
    assert index["timelines"]["rows"] > 0
    assert index["incidents"]["rows"] == 0
    assert index["trend"]["rows"] > 0
    page = (out / HTML_FILE).read_text(encoding="utf-8")
    assert "From the events" in page
    assert "No day stands out." in page
    assert "at least 1000 robust standard deviations" in page

    seen = visit(out / HTML_FILE, tmp_path / "screenshots" / "cli-report.png")
    print(f"screenshot: {seen.screenshot}")
    assert seen.console_errors == []
    assert seen.page_errors == []
    assert seen.dialogs == []
    assert seen.requests == [(out / HTML_FILE).resolve().as_uri()]


def test_a_rerun_replaces_the_report_and_a_foreign_folder_is_refused(
    world_model: TrainedWorld, features_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    done = run_report(str(world_model.path), features_file, out, config=FAST)
    (out / TABLES_DIR / "stale.csv").write_text("old")
    write_report(done.report, out)
    assert not (out / TABLES_DIR / "stale.csv").exists()  # replaced whole, not merged
    assert "From the feature table alone" in (out / HTML_FILE).read_text(encoding="utf-8")
    assert _leftovers(tmp_path) == []

    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("mine")
    args = [
        "report",
        "--model",
        str(world_model.path),
        "--features",
        str(features_file),
        "--out",
        str(foreign),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "refusing to write the report into" in result.stderr
    assert sorted(p.name for p in foreign.iterdir()) == ["todo.txt"]


def test_events_need_a_model_that_carries_its_featurizer_config(
    world: SmallWorld, world_model: TrainedWorld, features_file: Path, tmp_path: Path
) -> None:
    bare = dataclasses.replace(world_model.model, featurizer_config=None).save(tmp_path / "bare")
    args = ["report", "--model", str(bare), "--features", str(features_file), "--out", str(tmp_path / "r")]
    result = runner.invoke(app, [*args, "--events", str(world.paths["events"])])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "friction report: error: --events needs a model that carries its featurizer config (trained with "
        "`friction train --config`); this one does not: run the report without --events"
    ]


def test_report_is_logged_to_the_models_mlflow_run(
    world_model: TrainedWorld, features_file: Path, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    settings = TrackingSettings(tracking_uri=None, home=tmp_path / "store")
    client = MlflowClient(tracking_uri=settings.uri(), registry_uri=settings.uri())
    # The world's model logged and registered as `friction train --register` does, without retraining.
    run_id = client.create_run(ensure_store(settings)).info.run_id
    client.log_artifacts(run_id, str(world_model.path), MODEL_ARTIFACT)
    version = register(run_id, "shop", settings)
    client.set_registered_model_alias("shop", "champion", str(version))

    assert _run_id(f"runs:/{run_id}/model", settings) == run_id
    assert _run_id(str(world_model.path), settings) is None
    done = run_report(
        "models:/shop@champion", features_file, tmp_path / "report", settings=settings, config=FAST
    )
    assert done.run_id == run_id
    logged = {a.path for a in client.list_artifacts(run_id, REPORT_ARTIFACT)}
    assert {f"{REPORT_ARTIFACT}/{HTML_FILE}", f"{REPORT_ARTIFACT}/{TABLES_DIR}"} <= logged
    tables = {a.path for a in client.list_artifacts(run_id, f"{REPORT_ARTIFACT}/{TABLES_DIR}")}
    assert f"{REPORT_ARTIFACT}/{TABLES_DIR}/moments.csv" in tables
