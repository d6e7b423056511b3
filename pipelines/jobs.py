"""The jobs behind the CLI commands: each reads its inputs, runs one step, writes its
outputs atomically and prints a short summary."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from features.config import FrictionConfig, load_config
from features.coverage import measure_coverage
from features.featurize import Featurizer
from models.signing import SigningSettings, load_signing
from pipelines.console import print_summary, print_warnings, step
from pipelines.feature_table import check_built_with, check_table
from pipelines.features_job import FeaturesSummary, run_features
from pipelines.ingest import IngestSummary, default_quarantine_path, load_events
from pipelines.preflight import check_lightgbm_params, check_model_name
from pipelines.progress import TerminalProgress
from pipelines.simulate import check_world_names, profile_named, simulate, write_world
from pipelines.streaming import DEFAULT_MEMORY_BUDGET_MB
from training.config import train_config_from
from training.data import read_feature_table
from training.evaluate import Evaluation
from training.flow import TrainOutcome, train_and_track
from training.tracking import PromotionDecision, TrackingSettings, promote

__all__ = [
    "default_quarantine_path",
    "run_demo",
    "run_features_job",
    "run_promote",
    "run_retrain",
    "run_simulate",
    "run_train",
    "run_validate",
]


def run_simulate(
    sessions: int | None, seed: int, out: Path, profile: str = "default", vocabulary: str = "default"
) -> dict[str, Path]:
    """Simulate and write a world; `sessions` None: the profile's default."""
    started = time.perf_counter()
    check_world_names(profile, vocabulary)  # before the spinner, so a bad name is the only output
    count = profile_named(profile).default_sessions if sessions is None else sessions
    with step(f"Simulating {count:,} sessions ({profile} profile, {vocabulary} vocabulary)"):
        world = simulate(count, seed=seed, profile=profile, vocabulary=vocabulary)
    with step("Writing the world"):
        paths = write_world(world, out)
    print_summary(
        "friction simulate",
        {
            "profile": profile,
            "vocabulary": vocabulary,
            "sessions": world.truth.shape[0],
            "users": int(world.events["user_id"].nunique()),
            "events": world.events.shape[0],
            "survey responses": world.surveys.shape[0],
            "dissatisfied (truth)": f"{world.truth['y'].mean():.1%}",
            "seconds": time.perf_counter() - started,
            **{f"wrote {name}": str(path) for name, path in paths.items()},
        },
    )
    return paths


def run_validate(config_path: Path, events_path: Path, quarantine: Path | None = None) -> IngestSummary:
    config = load_config(config_path)
    Featurizer(config)  # what `features` refuses in the config (taxonomy, label touchpoint), refused here too
    target = quarantine or default_quarantine_path(events_path)
    with step(f"Reading and validating {events_path}"):
        events, summary = load_events(events_path, config, quarantine_path=target)
        coverage = measure_coverage(events, config)
    del events
    print_summary("friction validate", summary.as_rows() | coverage.as_rows())
    print_warnings(coverage.warnings())
    return summary


def run_features_job(
    config_path: Path,
    events_path: Path,
    out: Path,
    engine: str = "local",
    spark_master: str | None = None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
) -> FeaturesSummary:
    config = load_config(config_path)
    with TerminalProgress() as progress:  # a bar per stage and partition, on a terminal only
        summary = run_features(
            config,
            events_path,
            out,
            default_quarantine_path(events_path),
            engine,
            spark_master,
            memory_budget_mb=memory_budget_mb,
            progress=progress,
        )
    print_summary("friction features", summary.as_rows())
    print_warnings(summary.coverage.warnings() if summary.coverage is not None else [])
    return summary


def _catalog(features_path: Path) -> list[dict[str, object]] | None:
    manifest = features_path.with_suffix(".manifest.json")
    if not manifest.exists():
        return None
    records: list[dict[str, object]] = json.loads(manifest.read_text())["features"]
    return records


def print_metrics(outcome: TrainOutcome) -> None:
    """The holdout table (each figure with its 95 % interval and the backtests' mean +- sd), the
    model next to its baselines, then what each split holds and what training warns about."""
    evaluation = outcome.result.evaluation
    frame = evaluation.table
    columns = [c for c in ("roc_auc", "pr_auc", "brier", "ece", "sessions") if c in frame.columns]
    table = Table(
        title="holdout evaluation: value [95 % interval] (backtests mean +- sd)", title_justify="left"
    )
    table.add_column("scorer", style="bold", no_wrap=True)
    for column in columns:
        table.add_column(column, justify="right")
    for scorer, row in frame.iterrows():
        table.add_row(str(scorer), *(_figure(evaluation, str(scorer), c, row[c]) for c in columns))
    Console().print(table)
    metrics = outcome.result.model.metrics
    lines = [_split_line(outcome.result.split_summary), f"rule baseline: {metrics['rule_baseline_uses']}"]
    Console().print("\n".join(lines), soft_wrap=True, markup=False, highlight=False)
    said = (metrics.get("uncertainty_note"), (metrics.get("drift") or {}).get("warning"))
    print_warnings([str(text) for text in said if text])


def _figure(evaluation: Evaluation, scorer: str, metric: str, value: object) -> str:
    if pd.isna(value):  # type: ignore[call-overload]
        return ""
    text = f"{value:.4g}"
    if (interval := evaluation.intervals.get(scorer, {}).get(metric)) is not None:
        text += f" [{interval[0]:.3g}, {interval[1]:.3g}]"
    if (spread := evaluation.backtest.get(scorer, {}).get(metric)) is not None:
        sd = spread["sd"]
        text += f" ({spread['mean']:.3g}" + ("" if pd.isna(sd) else f" +- {sd:.2g}") + ")"
    return text


def _split_line(summary: dict[str, Any]) -> str:
    parts = summary["parts"]
    held = ", ".join(
        f"{name} {part['sessions']:,} sessions ({part['dissatisfied']:,} dissatisfied)"
        for name, part in parts.items()
    )
    dropped = summary["dropped"]
    why = (
        "; dropped " + ", ".join(f"{n:,} ({reason.replace('_', ' ')})" for reason, n in dropped.items())
        if dropped
        else "; nothing dropped"
    )
    return f"splits: {held}{why}"


def run_train(
    features_path: Path,
    out: Path | None,
    register: str | None,
    tune: int | None,
    settings: TrackingSettings | None = None,
    truth: pd.DataFrame | None = None,
    config: FrictionConfig | None = None,
    config_source: str = "config",
    signing: SigningSettings | None = None,
) -> TrainOutcome:
    """Train on a feature table; with `config` (the one the table was built with, checked) the
    model carries it and can score raw events, and its `[train]` table (from `config_source`,
    named in errors) sets the training. The model is signed when `signing` (by default the
    `FRICTION_*` environment) holds a signing key."""
    # Validated first: a bad [train] table or signing key fails before the feature table is read.
    train_config = train_config_from(config.train, config_source) if config is not None else None
    if register is not None:
        check_model_name(register)
    if train_config is not None:
        check_lightgbm_params(train_config, config_source)
    signer = (signing or load_signing()).signer()
    check_table(features_path)
    table = read_feature_table(features_path, columnar=True)
    if config is not None:
        check_built_with(table, config, source=str(features_path))
    settings = settings or TrackingSettings()
    with step("Training"):
        outcome = train_and_track(
            table,
            train_config,
            settings=settings,
            out=out,
            register_as=register,
            tune_trials=tune,
            features_path=features_path,
            catalog=_catalog(features_path),
            truth=truth,
            featurizer_config=config,
            signer=signer,
        )
    print_metrics(outcome)
    rows: dict[str, object] = {"tracking": settings.uri(), "run": outcome.run_id}
    if outcome.model_dir is not None:
        rows["wrote model"] = str(outcome.model_dir)
    rows["signed"] = f"{signer.algorithm} key {signer.key_id}" if signer is not None else "no"
    if outcome.version is not None:
        rows["registered"] = f"{register} v{outcome.version}"
    print_summary("friction train", rows)
    return outcome


def run_promote(name: str, settings: TrackingSettings | None = None) -> PromotionDecision:
    check_model_name(name, "--name")
    decision = promote(name, settings or TrackingSettings())
    Console().print(decision.message())
    return decision


def run_retrain(config_path: Path, events_path: Path, name: str, out: Path) -> PromotionDecision:
    """features -> train -> register -> promote: the scheduled retraining flow."""
    features_path = out / "features.parquet"
    check_model_name(name, "--name")
    config = load_config(config_path)
    # A bad [train] table fails before featurizing.
    check_lightgbm_params(train_config_from(config.train, str(config_path)), str(config_path))
    run_features_job(config_path, events_path, features_path)
    run_train(
        features_path, out / "model", register=name, tune=None, config=config, config_source=str(config_path)
    )
    return run_promote(name)


def run_demo(out: Path, sessions: int, seed: int) -> None:
    """simulate -> validate -> features -> train -> register -> promote, on embedded defaults."""
    paths = run_simulate(sessions=sessions, seed=seed, out=out)
    run_validate(paths["config"], paths["events"])
    features_path = out / "features.parquet"
    run_features_job(paths["config"], paths["events"], features_path)
    settings = TrackingSettings(home=out / "mlflow")
    truth = pd.read_parquet(paths["truth"])
    trained = run_train(
        features_path,
        out / "model",
        register="friction-demo",
        tune=None,
        settings=settings,
        truth=truth,
        config=load_config(paths["config"]),
    )
    run_promote("friction-demo", settings)
    Console().print(
        f"MLflow UI on the demo's store: mlflow ui --backend-store-uri {settings.uri()}"
        f" --default-artifact-root {settings.artifact_root()}"
    )
    # Last, so the demo ends with the report's path and its top three moments of truth; logged
    # to the training run, so the report travels with the model in MLflow.
    from pipelines.reporting import run_report

    model_ref = f"runs:/{trained.run_id}/model" if trained.run_id else str(out / "model")
    run_report(model_ref, features_path, out / "report", events_path=paths["events"], settings=settings)
