"""`friction train` at scale. `run(scale)` returns two rows:

- `train_synthetic`: int(1_000_000 * scale) sessions of the synthetic feature table (known
  logistic truth), read from Parquet, trained with the default config (no tuning), logged to
  an embedded MLflow store and registered: wall time, peak memory, the share of time outside
  LightGBM's own fit (loading, splitting, calibration, evaluation, baselines, logging).
- `train_simulated`: the same on int(1_000_000 * scale) sessions of the journey simulator's
  default world through the real featurizer (~200 features): ROC-AUC within 0.01 of the
  oracle and at least the logistic baseline's, ECE <= 0.02, and the backtests, cross-fit and
  refit together at most 4x the single early-stopped fit (`backtests_and_refit_vs_fit`).

The synthetic table has few features, so LightGBM's fit is short and the per-row work
around it weighs more; the simulated row is the representative one.

Peak RSS is the process's (the runner gives each module its own process), so it includes
building the data. `load_avg` is the machine's 1-minute load average before and after the
row: on a shared machine LightGBM's OpenMP threads lose most (they spin-wait for each other),
so compare `outside_fit_s` stage by stage between runs, not only the share.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from features.config import load_config
from features.featurize import featurize
from pipelines.simulator import simulate, write_world
from training.config import TrainConfig
from training.data import read_feature_table
from training.flow import train_and_track
from training.synthetic import synthetic_feature_table
from training.tracking import TrackingSettings, ensure_store
from training.train import FIT_STAGE


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def _measure(name: str, table: pd.DataFrame, truth: pd.DataFrame, folder: Path) -> dict[str, Any]:
    path = folder / f"{name}.parquet"
    table.to_parquet(path, index=False)
    sessions = len(table)
    del table
    settings = TrackingSettings(tracking_uri=None, home=folder / ".friction")
    ensure_store(settings)  # created beforehand: in steady use the store already exists
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    loaded = read_feature_table(path, columnar=True)  # as `friction train` reads it
    load_s = time.perf_counter() - started
    outcome = train_and_track(
        loaded, TrainConfig(), settings, out=folder / name, register_as=name, truth=truth, features_path=path
    )
    wall = time.perf_counter() - started
    load_after = os.getloadavg()[0]
    timings = outcome.timings
    fit = timings[f"{FIT_STAGE}_s"]
    scores = outcome.result.evaluation.table
    split = outcome.result.split_summary
    return {
        "benchmark": name,
        "sessions": sessions,
        "features": len(outcome.result.model.manifest.features),
        "train_rows": split["train_sessions"],
        "holdout_rows": split["holdout_sessions"],
        "wall_s": wall,
        "peak_rss_mb": _peak_rss_mb(),
        "lightgbm_fit_s": fit,
        "outside_fit_s": wall - fit,
        "outside_fit_share": 1.0 - fit / wall,
        "load_avg": f"{load_before:.1f}-{load_after:.1f} on {os.cpu_count()} cpus",
        "load_s": load_s,
        **{k: v for k, v in outcome.timings.items() if k not in ("total_s", f"{FIT_STAGE}_s")},
        # What honest learning adds to the one early-stopped fit (`lightgbm_fit_s`, the fit
        # `friction train` did alone before): the rolling-origin backtests, the cross-fit behind
        # the calibrator and the refit on every labelled session. Target: <= 4x.
        "backtests_and_refit_vs_fit": (timings.get("backtests_s", 0.0) + timings.get("refit_s", 0.0)) / fit,
        "backtests_crossfit_refit_vs_fit": (
            timings.get("backtests_s", 0.0) + timings.get("calibration_s", 0.0) + timings.get("refit_s", 0.0)
        )
        / fit,
        "best_iteration": outcome.result.model.card.best_iteration,
        "roc_auc": float(scores.loc["model", "roc_auc"]),
        "oracle_roc_auc": float(scores.loc["oracle", "roc_auc"]),
        "gap_to_oracle": float(scores.loc["oracle", "roc_auc"] - scores.loc["model", "roc_auc"]),
        "rule_roc_auc": float(scores.loc["rule_baseline", "roc_auc"]),
        "logreg_roc_auc": float(scores.loc["logreg", "roc_auc"]),
        "ece": float(scores.loc["model", "ece"]),
    }


def run(scale: float) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        table, truth = synthetic_feature_table(int(1_000_000 * scale), seed=7)
        rows.append(_measure("train_synthetic", table, truth, folder))
        del table, truth
        world = simulate(int(1_000_000 * scale), seed=7)
        config = load_config(write_world(world, folder / "world")["config"])
        table, truth = featurize(world.events, config).frame, world.truth
        del world
        rows.append(_measure("train_simulated", table, truth, folder))
    return rows
