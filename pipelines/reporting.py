"""`friction report`: a model and a feature table (and optionally the events) -> the analyst
report folder (`report.html` + `tables/`), written atomically, and logged to the model's MLflow
run when the model came from MLflow (`runs:/...` or `models:/NAME@alias`)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console

from features.errors import FrictionError
from models.artifact import FrictionModel
from models.registry import TrackingSettings, load_model, mlflow_client, model_version
from models.report import HTML_FILE, TABLES_DIR, Report, ReportConfig, build_report, write_report_files
from models.signing import Verifier
from pipelines.console import print_summary, step
from pipelines.feature_table import check_table
from pipelines.ingest import default_quarantine_path, load_events
from pipelines.writers import scratch_folder
from training.data import read_feature_table

__all__ = ["REPORT_ARTIFACT", "ReportOutcome", "log_report", "replace_folder", "run_report", "write_report"]

REPORT_ARTIFACT = "report"


@dataclass(frozen=True)
class ReportOutcome:
    folder: Path
    report: Report
    run_id: str | None  # the MLflow run the report was logged to

    @property
    def html(self) -> Path:
        return self.folder / HTML_FILE


def _is_report_folder(path: Path) -> bool:
    return path.is_dir() and ((path / HTML_FILE).is_file() or not any(path.iterdir()))


def _check_target(out: Path) -> None:
    if out.exists() and not _is_report_folder(out):
        raise FrictionError(
            f"refusing to write the report into {out}: it exists and is neither empty nor a report "
            f"folder (no {HTML_FILE}); choose another --out"
        )


def write_report(report: Report, out: Path) -> Path:
    """Write the folder beside `out`, then rename it into place (an old report is replaced whole)."""
    out = Path(out)
    _check_target(out)
    return replace_folder(out, lambda staging: write_report_files(report, staging))


def replace_folder(out: Path, fill: Callable[[Path], object]) -> Path:
    """`fill` a new folder beside `out`, then rename it into place: an old `out` is replaced
    whole, and kept as it was if anything fails."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = scratch_folder(out)  # named for this process: a killed run's is removed by the next
    retired = None
    try:
        fill(staging)
        if out.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, retired / out.name)
        os.replace(staging, out)
    except BaseException:
        if retired is not None and not out.exists():
            os.replace(retired / out.name, out)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
    return out


def _run_id(model_ref: str, settings: TrackingSettings) -> str | None:
    """The MLflow run behind `runs:/RUN_ID/...` or a `models:/...` version; None for a directory."""
    if model_ref.startswith("runs:/"):
        run_id = model_ref.removeprefix("runs:/").strip("/").split("/", 1)[0]
        return run_id or None
    if model_ref.startswith("models:/"):
        version = model_version(mlflow_client(settings), model_ref)
        return str(version.run_id) if version.run_id else None
    return None


def log_report(folder: Path, run_id: str, settings: TrackingSettings) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.uri(), registry_uri=settings.uri())
    client.log_artifacts(run_id, str(folder), REPORT_ARTIFACT)


def _events(model: FrictionModel, events_path: Path) -> pd.DataFrame:
    if model.featurizer_config is None:
        raise FrictionError(
            "--events needs a model that carries its featurizer config (trained with `friction train "
            "--config`); this one does not: run the report without --events"
        )
    events, _ = load_events(events_path, model.featurizer_config, default_quarantine_path(events_path))
    return events


def run_report(
    model_ref: str,
    features_path: Path,
    out: Path,
    events_path: Path | None = None,
    settings: TrackingSettings | None = None,
    config: ReportConfig | None = None,
    verifier: Verifier | None = None,
) -> ReportOutcome:
    started = time.perf_counter()
    _check_target(Path(out))  # before the work, not after it
    settings = settings or TrackingSettings()
    with step(f"Loading the model {model_ref}"):
        model = load_model(model_ref, settings, verifier)
        run_id = _run_id(model_ref, settings)
    # Column blocks, each Arrow column freed once converted: about 2/3 of the default read's peak;
    # the report copies features block by block (50 k rows), so no consolidated block is needed.
    check_table(Path(features_path))
    table = read_feature_table(features_path, columnar=True)
    events = None
    if events_path is not None:
        with step(f"Reading the events {events_path}"):
            events = _events(model, events_path)
    with step(f"Explaining {len(table):,} sessions"):
        report = build_report(model, table, events, config)
    write_report(report, out)
    if run_id is not None:
        with step(f"Logging the report to MLflow run {run_id}"):
            log_report(out, run_id, settings)
    top = report.top_moments(3)
    rows: dict[str, object] = {
        "sessions": len(table),
        "journey map from": "events" if report.journey_from_events else "feature table (no --events)",
        "flagged days": len(report.tables["incidents"]),
        "tables (CSV, JSON)": str(out / TABLES_DIR),
        "seconds": time.perf_counter() - started,
    }
    if run_id is not None:
        rows["logged to run"] = f"{run_id} ({REPORT_ARTIFACT}/)"
    print_summary("friction report", rows)
    # Unwrapped lines, last: what a person (or `make demo`) reads and copies.
    plain = Console(soft_wrap=True, highlight=False)
    plain.print(f"Report: {out / HTML_FILE}")
    plain.print(f"Top moments of truth: {', '.join(top) or 'none (no touchpoint raises the risk)'}")
    return ReportOutcome(out, report, run_id)
