"""Time-ordered, user-disjoint splits of the labelled sessions.

    |---------------- training period ----------------|--- holdout (latest) ---|
    |-------- train --------|----- validation -----|

The holdout is the latest `holdout_fraction` of sessions; the validation slice is the latest
`validation_fraction` of what remains. Sessions of users who appear in the holdout are dropped
from training and validation, so no user is both learnt from and scored on: the holdout
measures what a model does on new customers in the future, not on familiar ones in the past.
`validation_user_disjoint` does the same between validation and train.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from training.errors import TrainingDataError

__all__ = ["SplitPositions", "Splits", "split_positions", "split_sessions"]


@dataclass(frozen=True)
class SplitPositions:
    """Row positions (into the labelled, time-ordered rows) of each part, and a summary."""

    train: np.ndarray
    valid: np.ndarray
    holdout: np.ndarray
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    valid: pd.DataFrame
    holdout: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


def _without_users(rows: np.ndarray, later: np.ndarray, user: np.ndarray) -> np.ndarray:
    """Positions in `rows` whose user has no session among the positions `later`.
    `user` holds integer user codes, -1 when unknown: an unknown user is nobody else."""
    seen = np.zeros(int(user.max()) + 2, dtype=bool)
    seen[user[later] + 1] = True
    seen[0] = False
    kept: np.ndarray = rows[~seen[user[rows] + 1]]
    return kept


def _tail_count(n: int, fraction: float) -> int:
    return min(n - 1, max(1, math.ceil(n * fraction))) if n > 1 else 0


def split_positions(
    user: np.ndarray,
    label: np.ndarray,
    holdout_fraction: float,
    validation_fraction: float,
    min_per_class: int = 1,
    validation_user_disjoint: bool = False,
) -> SplitPositions:
    """Split n time-ordered labelled rows given their user codes (-1: unknown) and labels."""
    n = len(user)
    n_holdout = _tail_count(n, holdout_fraction)
    holdout = np.arange(n - n_holdout, n)
    period = _without_users(np.arange(n - n_holdout), holdout, user)
    n_valid = _tail_count(len(period), validation_fraction)
    valid = period[len(period) - n_valid :]
    train = period[: len(period) - n_valid]
    if validation_user_disjoint:
        train = _without_users(train, valid, user)
    for name, part in {"holdout": holdout, "validation": valid, "train": train}.items():
        positives = int((label[part] == 1).sum())
        negatives = len(part) - positives
        if min(positives, negatives) < min_per_class:
            raise TrainingDataError(
                f"the {name} split has {positives:,} dissatisfied and {negatives:,} satisfied sessions; "
                f"each split needs at least {min_per_class} of each (from {n:,} labelled sessions, "
                f"holdout_fraction {holdout_fraction}, validation_fraction {validation_fraction})"
            )
    summary: dict[str, Any] = {
        "labelled_sessions": n,
        "train_sessions": len(train),
        "validation_sessions": len(valid),
        "holdout_sessions": len(holdout),
        # Sessions given up to keep users disjoint (their users reappear later).
        "dropped_for_user_overlap": n - len(train) - len(valid) - len(holdout),
        "train_positive_rate": float(label[train].mean()),
        "holdout_positive_rate": float(label[holdout].mean()),
    }
    return SplitPositions(train=train, valid=valid, holdout=holdout, summary=summary)


def split_sessions(
    rows: pd.DataFrame,
    holdout_fraction: float,
    validation_fraction: float,
    min_per_class: int = 1,
    validation_user_disjoint: bool = False,
) -> Splits:
    """Split labelled sessions already sorted by session start (see `labelled_sessions`)."""
    user = pd.factorize(rows["user_id"], use_na_sentinel=True)[0]
    label = rows["label"].to_numpy(dtype=np.float64)
    at = split_positions(
        user, label, holdout_fraction, validation_fraction, min_per_class, validation_user_disjoint
    )
    holdout = rows.iloc[at.holdout]
    summary = at.summary | {
        "holdout_start": str(holdout["session_start"].min()),
        "holdout_end": str(holdout["session_start"].max()),
    }
    return Splits(rows.iloc[at.train], rows.iloc[at.valid], holdout, summary)
