"""Binary metrics on held-out sessions: ranking (any score) and probability (calibrated risk).

ECE is the expected calibration error over `bins` equal-width probability bins: the
session-weighted mean of |observed rate - mean predicted risk| per bin.
Precision/recall at top f: the f share of sessions with the highest score, ties broken by a
seeded shuffle so that coarse scores (the rule baseline) are not flattered by row order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = [
    "binary_metrics",
    "expected_calibration_error",
    "log_loss",
    "top_fraction_key",
    "top_fraction_scores",
]

_EPS = 1e-15


def top_fraction_key(fraction: float) -> str:
    return f"{fraction * 100:g}pct"


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    y, p = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    index = np.minimum((p * bins).astype(np.int64), bins - 1)
    count = np.bincount(index, minlength=bins)
    gap = np.abs(
        np.bincount(index, weights=y, minlength=bins) - np.bincount(index, weights=p, minlength=bins)
    )
    # Sum over bins of |sum(y) - sum(p)| / n == weighted mean of per-bin |rate - mean risk|.
    return float(gap[count > 0].sum() / max(len(y), 1))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def top_fraction_scores(
    y: np.ndarray, score: np.ndarray, fraction: float, seed: int = 0
) -> tuple[float, float]:
    """(precision, recall) among the `fraction` of sessions with the highest score."""
    y, score = np.asarray(y, dtype=np.float64), np.asarray(score, dtype=np.float64)
    n = len(y)
    if n == 0:
        return math.nan, math.nan
    k = max(1, math.ceil(fraction * n))
    cutoff = np.partition(score, n - k)[n - k]  # the k-th highest score, in linear time
    above = score > cutoff
    tied = np.flatnonzero(score == cutoff)
    chosen = np.random.default_rng(seed).permutation(tied)[: k - int(above.sum())]
    hits = float(y[above].sum() + y[chosen].sum())
    positives = float(y.sum())
    return hits / k, (hits / positives if positives > 0 else math.nan)


def binary_metrics(
    y: np.ndarray,
    score: np.ndarray,
    probability: bool = True,
    top_fractions: Sequence[float] = (0.05, 0.10),
    ece_bins: int = 15,
    seed: int = 0,
) -> dict[str, float]:
    """Ranking metrics for any score; Brier, log loss and ECE only when `score` is a probability."""
    y = np.asarray(y, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    both = 0 < y.sum() < len(y)
    out: dict[str, float] = {
        "sessions": float(len(y)),
        "positive_rate": float(y.mean()) if len(y) else math.nan,
        "roc_auc": float(roc_auc_score(y, score)) if both else math.nan,
        "pr_auc": float(average_precision_score(y, score)) if both else math.nan,
    }
    if probability:
        out["brier"] = float(np.mean((score - y) ** 2))
        out["log_loss"] = log_loss(y, score)
        out["ece"] = expected_calibration_error(y, score, ece_bins)
        out["mean_risk"] = float(score.mean())
    for fraction in top_fractions:
        precision, recall = top_fraction_scores(y, score, fraction, seed)
        key = top_fraction_key(fraction)
        out[f"precision_at_{key}"] = precision
        out[f"recall_at_{key}"] = recall
    return out
