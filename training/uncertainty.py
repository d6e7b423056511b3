"""How sure a metric is: bootstrap intervals on the holdout, mean and spread over backtests.

A few thousand labelled sessions hold a few hundred dissatisfied ones, and a ROC AUC on 80
positives moves by several points from one sample to the next. Every headline metric is
therefore reported as its holdout value with a percentile bootstrap 95 % interval (sessions
resampled with replacement, the scorer's ranking reused: a resample sorts integers, not scores)
and, when backtests ran, as the mean and standard deviation over the folds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from training.metrics import binary_metrics, descending, top_fraction_key

__all__ = ["FEW_POSITIVES", "bootstrap_intervals", "fold_summary", "headline_metrics"]

# Below this many dissatisfied holdout sessions the figures are called uncertain out loud.
FEW_POSITIVES = 200


def headline_metrics(top_fractions: Sequence[float], probability: bool = True) -> list[str]:
    """The metrics every report leads with, in display order."""
    names = ["roc_auc", "pr_auc", *(["brier", "ece"] if probability else [])]
    for fraction in top_fractions:
        key = top_fraction_key(fraction)
        names += [f"precision_at_{key}", f"recall_at_{key}"]
    return names


def bootstrap_intervals(
    y: np.ndarray,
    score: np.ndarray,
    probability: bool,
    top_fractions: Sequence[float],
    ece_bins: int,
    seed: int,
    rounds: int,
    level: float = 0.95,
) -> dict[str, tuple[float, float]]:
    """Percentile interval of each headline metric over `rounds` resamples of the sessions
    (rows with a non-finite score are left out first). Empty when `rounds` is 0."""
    keep = np.isfinite(score)
    y, score = np.asarray(y, dtype=np.float64)[keep], np.asarray(score, dtype=np.float64)[keep]
    names = headline_metrics(top_fractions, probability)
    if rounds <= 0 or len(y) == 0:
        return {}
    order = descending(score)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    rng = np.random.default_rng(seed)
    draws = np.full((rounds, len(names)), np.nan)
    for r in range(rounds):
        sample = rng.integers(0, len(y), len(y))
        # The resample in descending score order: sort its ranks, not its scores.
        ranked = order[np.sort(rank[sample])]
        metrics = binary_metrics(
            y[ranked],
            score[ranked],
            probability,
            top_fractions,
            ece_bins,
            seed,
            order=np.arange(len(ranked)),
        )
        draws[r] = [metrics[name] for name in names]
    tail = (1.0 - level) / 2.0 * 100.0
    out: dict[str, tuple[float, float]] = {}
    for j, name in enumerate(names):
        column = draws[:, j][np.isfinite(draws[:, j])]
        if len(column):
            low, high = np.percentile(column, [tail, 100.0 - tail])
            out[name] = (float(low), float(high))
    return out


def fold_summary(folds: Sequence[Mapping[str, float]], names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation of each metric over the folds that have it."""
    out: dict[str, dict[str, float]] = {}
    for name in names:
        values = np.array([fold[name] for fold in folds if name in fold and math.isfinite(fold[name])])
        if len(values):
            sd = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            out[name] = {"mean": float(values.mean()), "sd": sd, "folds": float(len(values))}
    return out
