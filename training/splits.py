"""Time-ordered splits of the labelled sessions, as the served model will meet them.

    |------------------------ training period ------------------------|-- holdout (latest) --|
    |-------------- train --------------|------ validation ------|
    |-- block 0 --|-- block 1 --| ... |-- block K --|            backtests: fold k learns from
                                                                 blocks < k, is tested on block k

The holdout is the latest `holdout_fraction` of sessions; the validation slice (early stopping)
is the latest `validation_fraction` of what remains. By default a returning customer's earlier
sessions stay in training: the served model will also have seen their past, so the holdout
measures what deployment does. `holdout_user_disjoint` drops from the training period every
session of a user who appears in the holdout (a model for new customers only), and
`validation_user_disjoint` does the same between validation and train; the summary counts the
sessions given up and says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from training.errors import TrainingDataError

__all__ = ["SplitPositions", "Splits", "backtest_blocks", "split_labelled", "split_positions"]


@dataclass(frozen=True)
class SplitPositions:
    """Row positions (into the labelled, time-ordered rows) of each part, and a summary."""

    train: np.ndarray
    valid: np.ndarray
    holdout: np.ndarray
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def period(self) -> np.ndarray:
        """The training period (train and validation) in time order: what backtests split."""
        return np.sort(np.concatenate([self.train, self.valid]))


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    valid: pd.DataFrame
    holdout: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


def _without_users(rows: np.ndarray, later: np.ndarray, user: np.ndarray) -> np.ndarray:
    """Positions in `rows` whose user has no session among the positions `later`.
    `user` holds integer user codes, -1 when unknown: an unknown user is nobody else."""
    seen = np.zeros(int(user.max(initial=-1)) + 2, dtype=bool)
    seen[user[later] + 1] = True
    seen[0] = False
    kept: np.ndarray = rows[~seen[user[rows] + 1]]
    return kept


def _tail_count(n: int, fraction: float) -> int:
    return min(n - 1, max(1, math.ceil(n * fraction))) if n > 1 else 0


def _part(label: np.ndarray, rows: np.ndarray) -> dict[str, Any]:
    positives = int((label[rows] == 1).sum())
    return {
        "sessions": len(rows),
        "dissatisfied": positives,
        "positive_rate": positives / len(rows) if len(rows) else math.nan,
    }


def split_positions(
    user: np.ndarray,
    label: np.ndarray,
    holdout_fraction: float,
    validation_fraction: float,
    min_per_class: int = 1,
    validation_user_disjoint: bool = False,
    holdout_user_disjoint: bool = False,
) -> SplitPositions:
    """Split n time-ordered labelled rows given their user codes (-1: unknown) and labels."""
    n = len(user)
    n_holdout = _tail_count(n, holdout_fraction)
    holdout = np.arange(n - n_holdout, n)
    period = np.arange(n - n_holdout)
    dropped: dict[str, int] = {}
    if holdout_user_disjoint:
        kept = _without_users(period, holdout, user)
        dropped["holdout_users_in_training_period"] = len(period) - len(kept)
        period = kept
    n_valid = _tail_count(len(period), validation_fraction)
    valid = period[len(period) - n_valid :]
    train = period[: len(period) - n_valid]
    if validation_user_disjoint:
        kept = _without_users(train, valid, user)
        dropped["validation_users_in_train"] = len(train) - len(kept)
        train = kept
    for name, part in {"holdout": holdout, "validation": valid, "train": train}.items():
        positives = int((label[part] == 1).sum())
        negatives = len(part) - positives
        if min(positives, negatives) < min_per_class:
            raise TrainingDataError(
                f"the {name} split has {positives:,} dissatisfied and {negatives:,} satisfied sessions; "
                f"each split needs at least {min_per_class} of each (from {n:,} labelled sessions, "
                f"holdout_fraction {holdout_fraction}, validation_fraction {validation_fraction})"
            )
    known = user[holdout] >= 0
    past_users = np.isin(user[holdout][known], user[: n - n_holdout])
    summary: dict[str, Any] = {
        "labelled_sessions": n,
        "train_sessions": len(train),
        "validation_sessions": len(valid),
        "holdout_sessions": len(holdout),
        "dropped_sessions": sum(dropped.values()),
        "dropped": dropped,
        "holdout_user_disjoint": holdout_user_disjoint,
        # Holdout sessions whose customer was seen in the training period (returning customers).
        "holdout_returning_share": float(past_users.sum() / len(holdout)) if len(holdout) else math.nan,
        "train_positive_rate": _part(label, train)["positive_rate"],
        "holdout_positive_rate": _part(label, holdout)["positive_rate"],
        "parts": {
            "train": _part(label, train),
            "validation": _part(label, valid),
            "holdout": _part(label, holdout),
        },
    }
    return SplitPositions(train=train, valid=valid, holdout=holdout, summary=summary)


def backtest_blocks(n: int, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rolling-origin folds over n time-ordered rows cut into `folds + 1` equal blocks:
    fold k (1..folds) learns from blocks < k and is tested on block k. Each pair is
    (past positions, test positions)."""
    edges = np.linspace(0, n, folds + 2).round().astype(np.int64)
    return [(np.arange(0, edges[k]), np.arange(edges[k], edges[k + 1])) for k in range(1, folds + 1)]


def split_labelled(
    rows: pd.DataFrame,
    holdout_fraction: float,
    validation_fraction: float,
    min_per_class: int = 1,
    validation_user_disjoint: bool = False,
    holdout_user_disjoint: bool = False,
) -> Splits:
    """Split labelled sessions already sorted by session start (see `labelled_sessions`)."""
    user = pd.factorize(rows["user_id"], use_na_sentinel=True)[0]
    label = rows["label"].to_numpy(dtype=np.float64)
    at = split_positions(
        user,
        label,
        holdout_fraction,
        validation_fraction,
        min_per_class,
        validation_user_disjoint,
        holdout_user_disjoint,
    )
    holdout = rows.iloc[at.holdout]
    summary = at.summary | {
        "holdout_start": str(holdout["session_start"].min()),
        "holdout_end": str(holdout["session_start"].max()),
    }
    return Splits(rows.iloc[at.train], rows.iloc[at.valid], holdout, summary)
