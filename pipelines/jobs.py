"""The jobs behind the CLI commands: each reads its inputs, runs one step, writes its
outputs atomically and prints a short summary."""

from __future__ import annotations

import time
from pathlib import Path

from features.config import load_config
from pipelines.console import print_summary, step
from pipelines.ingest import IngestSummary, load_events
from pipelines.simulate import simulate, write_world

__all__ = ["default_quarantine_path", "run_demo", "run_simulate", "run_validate"]


def default_quarantine_path(events_path: Path) -> Path:
    name = events_path.name.split(".")[0] or "events"
    return events_path.parent / f"{name}.quarantine.parquet"


def run_simulate(sessions: int, seed: int, out: Path) -> dict[str, Path]:
    started = time.perf_counter()
    with step(f"Simulating {sessions:,} sessions"):
        world = simulate(sessions, seed=seed)
    with step("Writing the world"):
        paths = write_world(world, out)
    print_summary(
        "friction simulate",
        {
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
    target = quarantine or default_quarantine_path(events_path)
    with step(f"Reading and validating {events_path}"):
        _, summary = load_events(events_path, config, quarantine_path=target)
    print_summary("friction validate", summary.as_rows())
    return summary


def run_demo(out: Path, sessions: int, seed: int) -> None:
    paths = run_simulate(sessions=sessions, seed=seed, out=out)
    run_validate(paths["config"], paths["events"])
