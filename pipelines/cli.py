"""The `friction` command line. Each command parses flags and calls one job; user errors
(`FrictionError`) end as one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from typer.core import TyperGroup

from features.errors import FrictionError

if TYPE_CHECKING:
    from models.signing import Verifier

__all__ = ["app", "main"]


class _OneLineErrors(TyperGroup):
    """Usage errors (a missing file, an out-of-range or unknown flag, a missing option) as one
    line on stderr and exit code 2, like every other user error, instead of Typer's usage box."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode or not argv:  # `friction` alone shows its help, as before
            return super().main(argv, prog_name, complete_var, standalone_mode, windows_expand_args, **extra)
        try:
            code = super().main(argv, prog_name, complete_var, False, windows_expand_args, **extra)
        except typer.TyperException as exc:
            ctx: typer.Context | None = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "friction"
            typer.echo(f"{where}: error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(USER_ERROR)
        except typer.Abort:
            typer.echo("Aborted.", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    name="friction",
    cls=_OneLineErrors,
    help="Predict customer dissatisfaction from behavioural clickstreams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

P = ParamSpec("P")
R = TypeVar("R")

USER_ERROR = 2


class Engine(StrEnum):
    local = "local"
    spark = "spark"


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a `FrictionError` into one line on stderr and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except FrictionError as exc:
            typer.echo(f"friction {command.__name__}: error: {exc}", err=True)
            raise typer.Exit(USER_ERROR) from None

    return wrapper


def _verifier(pending: list[str]) -> Verifier:
    """The signature check for the models a command loads: refuses unsigned or altered models
    when a key is configured; else its one warning goes to `pending`, shown by `_warn` once the
    command has succeeded (a user error stays one line)."""
    from models.signing import load_signing

    return load_signing().verifier(warn=pending.append)


def _warn(command: str, pending: list[str]) -> None:
    for message in pending:
        typer.echo(f"friction {command}: warning: {message}", err=True)


ConfigOpt = Annotated[Path, typer.Option("--config", help="friction.toml", exists=True, dir_okay=False)]
EventsOpt = Annotated[
    Path,
    typer.Option(
        "--events",
        help="Events: CSV, TSV, JSON Lines or Parquet (gzip or not), a file or a folder of shards",
        exists=True,
    ),
]
FeaturesOpt = Annotated[Path, typer.Option("--features", help="Feature table (Parquet)", exists=True)]
ModelOpt = Annotated[str, typer.Option("--model", help="Model directory, runs:/... or models:/NAME@alias")]
EngineOpt = Annotated[Engine, typer.Option("--engine", help="Where the job runs")]


@app.command()
@user_errors
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Output folder", file_okay=False)],
    sessions: Annotated[
        int | None,
        typer.Option(
            "--sessions", min=1, help="Sessions to simulate (default: the profile's, 20,000 or 3,000)"
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same bytes)")] = 0,
    profile: Annotated[
        str,
        typer.Option(
            "--profile",
            help="default: every column, 4 weeks; small-shop: core columns only, 12 weeks, "
            "returning users, a drifting base rate and a 3-week payment incident",
        ),
    ] = "default",
    vocabulary: Annotated[
        str,
        typer.Option(
            "--vocabulary",
            help="default: the familiar event names; alt: the same world in unfamiliar event names, "
            "no page column, a config that maps columns only",
        ),
    ] = "default",
) -> None:
    """Write a simulated world: events, surveys, ground truth, world.json and a ready friction.toml."""
    from pipelines.jobs import run_simulate

    run_simulate(sessions=sessions, seed=seed, out=out, profile=profile, vocabulary=vocabulary)


@app.command()
@user_errors
def init(
    events: EventsOpt,
    out: Annotated[Path, typer.Option("--out", help="The friction.toml to write")] = Path("friction.toml"),
    preset: Annotated[
        str,
        typer.Option("--preset", help="auto (detected from the columns), custom, ga4, snowplow or segment"),
    ] = "auto",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out file")] = False,
) -> None:
    """Draft a commented friction.toml from the data: columns, taxonomy, errors, label."""
    from pipelines.init_job import run_init

    run_init(events, out, preset=preset, force=force)


@app.command()
@user_errors
def validate(
    config: ConfigOpt,
    events: EventsOpt,
    quarantine: Annotated[
        Path | None, typer.Option("--quarantine", help="Where bad rows go (default: beside the events)")
    ] = None,
) -> None:
    """Read events, check them against the contract, quarantine malformed rows."""
    from pipelines.jobs import run_validate
    from pipelines.targets import check_targets

    check_targets({"--quarantine": quarantine}, {"--events": events, "--config": config})
    run_validate(config_path=config, events_path=events, quarantine=quarantine)


@app.command()
@user_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Output folder", file_okay=False)] = Path("demo-output"),
    sessions: Annotated[int, typer.Option("--sessions", min=1)] = 20_000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """The main job end to end on embedded defaults, on a simulated world."""
    from pipelines.jobs import run_demo

    run_demo(out=out, sessions=sessions, seed=seed)


@app.command()
@user_errors
def features(
    config: ConfigOpt,
    events: EventsOpt,
    out: Annotated[Path, typer.Option("--out", help="FEATURES.parquet", dir_okay=False)],
    engine: EngineOpt = Engine.local,
    spark_master: Annotated[str | None, typer.Option("--spark-master", help="Spark master URL")] = None,
    memory_budget: Annotated[
        int,
        typer.Option(
            "--memory-budget",
            min=64,
            help="MB the local engine may use; larger inputs are streamed in partitions",
        ),
    ] = 2048,  # pipelines.streaming.DEFAULT_MEMORY_BUDGET_MB (not imported: the CLI starts fast)
) -> None:
    """Turn events into one row of moment features per session."""
    from pipelines.jobs import run_features_job
    from pipelines.targets import check_targets

    check_targets({"--out": out}, {"--events": events, "--config": config})
    run_features_job(
        config, events, out, engine=engine.value, spark_master=spark_master, memory_budget_mb=memory_budget
    )


@app.command()
@user_errors
def train(
    config: ConfigOpt,
    features: FeaturesOpt,
    out: Annotated[Path | None, typer.Option("--out", help="Model directory")] = None,
    register: Annotated[str | None, typer.Option("--register", help="Register as this model name")] = None,
    tune: Annotated[int | None, typer.Option("--tune", min=1, help="Tuning trials")] = None,
) -> None:
    """Train a calibrated LightGBM friction model, tracked in MLflow."""
    from features.config import load_config
    from pipelines.jobs import run_train
    from pipelines.targets import check_targets

    check_targets({"--out": out}, {"--features": features, "--config": config}, folders=True)
    # Loaded first: a broken config fails before any time is spent on training.
    run_train(
        features_path=features,
        out=out,
        register=register,
        tune=tune,
        config=load_config(config),
        config_source=str(config),
    )


@app.command()
@user_errors
def report(
    model: ModelOpt,
    features: FeaturesOpt,
    out: Annotated[Path, typer.Option("--out", help="Report folder", file_okay=False)],
    events: Annotated[
        Path | None,
        typer.Option("--events", help="Events, for the true journey map and timelines", exists=True),
    ] = None,
    incident_z: Annotated[
        float, typer.Option("--incident-z", min=0.5, help="Robust z from which a day is flagged")
    ] = 5.0,  # ReportConfig's default
) -> None:
    """Write the analyst report: moments of truth, journey map, trends, segments."""
    from models.report import ReportConfig
    from pipelines.reporting import run_report
    from pipelines.targets import check_targets

    check_targets({"--out": out}, {"--features": features, "--events": events}, folders=True)
    pending: list[str] = []
    run_report(
        model,
        features,
        out,
        events_path=events,
        config=ReportConfig(incident_z=incident_z),
        verifier=_verifier(pending),
    )
    _warn("report", pending)


@app.command()
@user_errors
def whatif(
    model: ModelOpt,
    features: FeaturesOpt,
    scope: Annotated[
        str,
        typer.Option(
            "--scope", help="TOUCHPOINT, FAMILY or TOUCHPOINT,FAMILY: the friction to remove (payment,errors)"
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for the tables", file_okay=False)],
    draws: Annotated[
        int, typer.Option("--draws", min=0, help="Bootstrap draws over sessions for the 95 % interval")
    ] = 1_000,
) -> None:
    """Dissatisfied sessions avoided if a scope's friction were removed, per day and segment too."""
    from pipelines.targets import check_targets
    from pipelines.whatif import run_whatif

    check_targets({"--out": out}, {"--features": features}, folders=True)
    pending: list[str] = []
    run_whatif(model, features, scope, out, draws=draws, verifier=_verifier(pending))
    _warn("whatif", pending)


@app.command()
@user_errors
def score(
    model: ModelOpt,
    out: Annotated[Path, typer.Option("--out", help="SCORES.parquet", dir_okay=False)],
    events: Annotated[
        Path | None,
        typer.Option("--events", help="Raw events (featurized with the model's config)", exists=True),
    ] = None,
    features: Annotated[
        Path | None, typer.Option("--features", help="Feature table (Parquet)", exists=True)
    ] = None,
    engine: EngineOpt = Engine.local,
    explain: Annotated[bool, typer.Option("--explain", help="Add drivers and contributions")] = False,
    top: Annotated[
        int, typer.Option("--top", min=1, help="Drivers per session with --explain (1 to 50)")
    ] = 3,
    spark_master: Annotated[str | None, typer.Option("--spark-master", help="Spark master URL")] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="friction.toml overriding the model's featurizer config", exists=True),
    ] = None,
) -> None:
    """Score sessions in batch: calibrated risk, band and (with --explain) drivers."""
    from features.config import load_config
    from models.registry import load_model
    from pipelines.console import print_summary, step
    from pipelines.jobs import default_quarantine_path
    from pipelines.scoring import run_score
    from pipelines.targets import check_targets

    check_targets({"--out": out}, {"--events": events, "--features": features, "--config": config})
    chosen = load_config(config) if config is not None else None
    pending: list[str] = []
    verifier = _verifier(pending)
    with step(f"Scoring with {model} ({engine.value} engine)"):
        summary = run_score(
            load_model(model, verifier=verifier),
            out,
            events=events,
            features=features,
            explain=explain,
            top=top,
            engine=engine.value,
            spark_master=spark_master,
            config=chosen,
            quarantine=default_quarantine_path(events) if events is not None else None,
        )
    print_summary("friction score", summary.as_rows())
    _warn("score", pending)


@app.command()
@user_errors
def promote(name: Annotated[str, typer.Option("--name", help="Registered model name")]) -> None:
    """Move the `champion` alias to the newest version if it beats the champion."""
    from pipelines.jobs import run_promote

    run_promote(name)


@app.command()
@user_errors
def retrain(
    config: ConfigOpt,
    events: EventsOpt,
    name: Annotated[str, typer.Option("--name", help="Registered model name")],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the features and the model", file_okay=False)
    ] = Path("retrain-output"),
) -> None:
    """Features -> train -> register -> promote, for scheduled use."""
    from pipelines.jobs import run_retrain
    from pipelines.targets import check_targets

    inputs = {"--events": events, "--config": config}
    check_targets({"--out": out / "features.parquet"}, inputs)
    check_targets({"--out": out / "model"}, inputs, folders=True)
    run_retrain(config_path=config, events_path=events, name=name, out=out)


@app.command()
@user_errors
def serve(
    model: ModelOpt,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (IPv6: ::1 or [::1]; 0.0.0.0: all interfaces)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1)] = 1,
    reload_interval: Annotated[
        float | None,
        typer.Option("--reload-interval", min=0, help="Seconds between polls of the model alias (0: never)"),
    ] = None,
    session_store: Annotated[
        str | None,
        typer.Option("--session-store", help="redis://HOST:PORT/DB to share sessions (default: memory)"),
    ] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Serve without API keys (local use only)")
    ] = False,
    graceful_timeout: Annotated[
        int, typer.Option("--graceful-timeout", min=1, help="Seconds in-flight requests get at shutdown")
    ] = 30,
) -> None:
    """Serve the risk API (FastAPI, uvicorn). API keys come from FRICTION_API_KEYS (or a file)."""
    from serving.server import ServeOptions
    from serving.server import serve as run_server

    run_server(
        ServeOptions(
            model=model,
            host=host,
            port=port,
            workers=workers,
            reload_interval_s=reload_interval,
            session_store=session_store,
            auth_disabled=no_auth,
            graceful_timeout_s=graceful_timeout,
        )
    )


def main() -> None:
    app(prog_name="friction")


if __name__ == "__main__":
    main()
