"""Drift said out loud: the label rate and the risk per calendar week, training range vs holdout.

A model learnt in one regime and judged in another (an incident in training, a calm holdout,
a season) can look worse or better than it is. The weekly table shows it, and a holdout whose
base rate differs from the training range's by more than `RATE_RATIO` either way gets a
warning in the CLI summary, the metrics and the report.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["RATE_RATIO", "drift_summary", "weekly_table"]

RATE_RATIO = 1.5


def weekly_table(start: pd.Series, label: np.ndarray, risk: np.ndarray, part: np.ndarray) -> pd.DataFrame:
    """One row per (part, calendar week starting Monday): sessions, label rate and the risk's
    mean, median and 90th percentile."""
    when = pd.to_datetime(start, utc=True)
    week = (when.dt.tz_localize(None).dt.normalize() - pd.to_timedelta(when.dt.day_of_week, unit="D")).dt.date
    frame = pd.DataFrame(
        {"part": part, "week": week.to_numpy(), "label": label, "risk": risk}, index=np.arange(len(label))
    )
    grouped = frame.groupby(["part", "week"], sort=True)
    table = grouped.agg(
        sessions=("label", "size"),
        positive_rate=("label", "mean"),
        mean_risk=("risk", "mean"),
        risk_p50=("risk", "median"),
        risk_p90=("risk", lambda r: float(np.quantile(r, 0.9))),
    ).reset_index()
    table["week"] = table["week"].astype(str)
    return table.sort_values(["week", "part"], ignore_index=True)


def drift_summary(training_label: np.ndarray, holdout_label: np.ndarray) -> dict[str, Any]:
    """The two base rates, their ratio, and a warning when it passes `RATE_RATIO` either way."""
    train_rate = float(np.mean(training_label)) if len(training_label) else math.nan
    holdout_rate = float(np.mean(holdout_label)) if len(holdout_label) else math.nan
    ratio = holdout_rate / train_rate if train_rate > 0 else math.nan
    warning = None
    if math.isfinite(ratio) and (ratio > RATE_RATIO or ratio < 1.0 / RATE_RATIO):
        warning = (
            f"the holdout's dissatisfaction rate ({holdout_rate:.1%}) is {ratio:.2f}x the training "
            f"range's ({train_rate:.1%}): the data drifted, so holdout figures describe a different "
            "regime than the one learnt (see the weekly table)"
        )
    return {
        "training_positive_rate": train_rate,
        "holdout_positive_rate": holdout_rate,
        "holdout_to_training_rate": ratio,
        "warning": warning,
    }
