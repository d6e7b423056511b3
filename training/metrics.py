"""Binary metrics on held-out sessions: ranking (any score) and probability (calibrated risk).

ECE is the expected calibration error over `bins` equal-width probability bins: the
session-weighted mean of |observed rate - mean predicted risk| per bin.
Precision/recall at top f: the f share of sessions with the highest score, ties broken by a
seeded shuffle so that coarse scores (the rule baseline) are not flattered by row order.
ROC-AUC and PR-AUC (average precision) are scikit-learn's definitions, computed from one sort
per scorer that every segment reuses (tests hold them equal to scikit-learn's functions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "binary_metrics",
    "descending",
    "expected_calibration_error",
    "log_loss",
    "ranking_scores",
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


def descending(score: np.ndarray) -> np.ndarray:
    """Positions that sort `score` from highest to lowest (tied scores in any order)."""
    order: np.ndarray = np.argsort(score)[::-1]
    return order


def ranking_scores(y_desc: np.ndarray, score_desc: np.ndarray) -> tuple[float, float]:
    """(ROC-AUC, average precision) of labels and scores sorted by descending score, computed
    as scikit-learn's `roc_auc_score` and `average_precision_score` do (tied scores form one
    threshold), from one sort the caller can reuse for every segment; needs both classes."""
    y_desc = np.asarray(y_desc, dtype=np.float64)
    # The last row of each run of equal scores: the thresholds.
    last = np.append(np.flatnonzero(np.diff(score_desc)), len(score_desc) - 1)
    tps = np.cumsum(y_desc)[last]
    fps = (last + 1.0) - tps
    tpr, fpr = tps / tps[-1], fps / fps[-1]
    # Trapezoids between consecutive (fpr, tpr) points, from (0, 0).
    roc_auc = float(np.sum(np.diff(fpr, prepend=0.0) * (tpr + np.append(0.0, tpr[:-1]))) / 2.0)
    # Sum over thresholds of (recall gained) x (precision there).
    average_precision = float(np.sum(np.diff(tpr, prepend=0.0) * (tps / (last + 1.0))))
    return roc_auc, average_precision


def binary_metrics(
    y: np.ndarray,
    score: np.ndarray,
    probability: bool = True,
    top_fractions: Sequence[float] = (0.05, 0.10),
    ece_bins: int = 15,
    seed: int = 0,
    order: np.ndarray | None = None,
) -> dict[str, float]:
    """Ranking metrics for any score; Brier, log loss and ECE only when `score` is a probability.
    `order`: `descending(score)`, when the caller already has it."""
    y = np.asarray(y, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    both = 0 < y.sum() < len(y)
    roc_auc = pr_auc = math.nan
    if both:
        order = descending(score) if order is None else order
        roc_auc, pr_auc = ranking_scores(y[order], score[order])
    out: dict[str, float] = {
        "sessions": float(len(y)),
        "positive_rate": float(y.mean()) if len(y) else math.nan,
        "roc_auc": roc_auc,
        "pr_auc": pr_auc,
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
