"""PNG plots of a training run (ROC, precision-recall, calibration, feature importance).

Figures are drawn on matplotlib's Agg canvas directly: no pyplot, no global backend switch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from training.evaluate import MODEL
from training.train import TrainResult

__all__ = ["write_plots"]

_CURVES = ("model", "logreg", "rule_baseline", "oracle")


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _thinned(x: np.ndarray, y: np.ndarray, points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """At most `points` evenly spaced vertices of a curve, both ends kept: a 600-pixel plot
    cannot show more, and drawing 200 k-vertex curves took seconds at 1 M sessions."""
    if len(x) <= points:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, points).round().astype(np.int64))
    return x[keep], y[keep]


def _scored(result: TrainResult, name: str) -> tuple[np.ndarray, np.ndarray]:
    y = result.holdout["label"].to_numpy(dtype=np.float64)
    score = result.holdout_scores[name]
    keep = np.isfinite(score)
    return y[keep], score[keep]


def _metric(result: TrainResult, scorer: str, metric: str) -> float:
    return float(np.asarray(result.evaluation.table.loc[scorer, metric], dtype=np.float64))


def _roc(result: TrainResult, path: Path) -> Path:
    figure = Figure(figsize=(5.5, 5))
    ax = figure.add_subplot()
    for name in (n for n in _CURVES if n in result.holdout_scores):
        fpr, tpr, _ = roc_curve(*_scored(result, name))
        auc = _metric(result, name, "roc_auc")
        ax.plot(*_thinned(fpr, tpr), label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC on the holdout")
    ax.legend(loc="lower right")
    return _save(figure, path)


def _pr(result: TrainResult, path: Path) -> Path:
    figure = Figure(figsize=(5.5, 5))
    ax = figure.add_subplot()
    for name in (n for n in _CURVES if n in result.holdout_scores):
        precision, recall, _ = precision_recall_curve(*_scored(result, name))
        ap = _metric(result, name, "pr_auc")
        ax.plot(*_thinned(recall, precision), label=f"{name} (AP {ap:.3f})")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall on the holdout")
    ax.legend(loc="upper right")
    return _save(figure, path)


def _calibration(result: TrainResult, path: Path, bins: int = 15) -> Path:
    figure = Figure(figsize=(5.5, 5))
    ax = figure.add_subplot()
    for name in (n for n in (MODEL, "uncalibrated", "oracle") if n in result.holdout_scores):
        y, p = _scored(result, name)
        index = np.minimum((p * bins).astype(np.int64), bins - 1)
        count = np.bincount(index, minlength=bins)
        used = count > 0
        mean_p = np.bincount(index, weights=p, minlength=bins)[used] / count[used]
        rate = np.bincount(index, weights=y, minlength=bins)[used] / count[used]
        ece = _metric(result, name, "ece")
        ax.plot(mean_p, rate, marker="o", label=f"{name} (ECE {ece:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="mean predicted risk", ylabel="observed dissatisfaction rate", title="Calibration")
    ax.legend(loc="upper left")
    return _save(figure, path)


def _importance(result: TrainResult, path: Path, top: int = 25) -> Path:
    shown = result.importance.head(top).iloc[::-1]
    figure = Figure(figsize=(6.5, 0.25 * len(shown) + 1.2))
    ax = figure.add_subplot()
    ax.barh(shown["feature"], shown["gain"])
    ax.set(xlabel="total gain", title="Feature importance (LightGBM gain)")
    return _save(figure, path)


def write_plots(result: TrainResult, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [
        _roc(result, folder / "roc.png"),
        _pr(result, folder / "precision_recall.png"),
        _calibration(result, folder / "calibration.png"),
        _importance(result, folder / "feature_importance.png"),
    ]
