"""The holdout evaluation: one table of scorers x metrics, and the same per segment.

Scorers: `model` (calibrated), `uncalibrated` (the booster's own sigmoid, to show what
calibration changed), `logreg`, `rule_baseline` (a ranking, not a probability) and, when the
truth is known, `oracle`. A scorer with NaN for some sessions (an oracle missing ids) is
evaluated on the sessions it scores; its `sessions` column says how many.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from training.metrics import binary_metrics, descending
from training.uncertainty import FEW_POSITIVES, bootstrap_intervals, fold_summary, headline_metrics

__all__ = ["MODEL", "UNCALIBRATED", "Evaluation", "Scorer", "evaluate"]

MODEL = "model"
UNCALIBRATED = "uncalibrated"
MISSING_SEGMENT = "(missing)"
# The featurizer names context features `context__<column>`; a segment may be given either way.
CONTEXT_PREFIX = "context__"


@dataclass(frozen=True)
class Scorer:
    scores: np.ndarray
    probability: bool = True


@dataclass(frozen=True)
class Evaluation:
    table: pd.DataFrame  # index: scorer; columns: metrics
    segments: pd.DataFrame  # columns: segment, value, scorer, metrics...
    extras: Mapping[str, Any]
    # scorer -> headline metric -> (low, high): bootstrap 95 % interval on the holdout.
    intervals: Mapping[str, Mapping[str, tuple[float, float]]] = field(default_factory=dict)
    # scorer -> headline metric -> {"mean", "sd", "folds"} over the backtests.
    backtest: Mapping[str, Mapping[str, Mapping[str, float]]] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        """`metrics.json`: the model's metrics flat, `<scorer>_<metric>` for the others (and
        `_ci_low`, `_ci_high`, `_backtest_mean`, `_backtest_sd` beside each headline metric),
        then the full table, the intervals, the backtests and the segments."""
        flat: dict[str, Any] = {}
        for scorer, row in self.table.iterrows():
            prefix = "" if scorer == MODEL else f"{scorer}_"
            flat |= {f"{prefix}{metric}": _number(value) for metric, value in row.items() if pd.notna(value)}
            for metric, (low, high) in self.intervals.get(str(scorer), {}).items():
                flat |= {f"{prefix}{metric}_ci_low": low, f"{prefix}{metric}_ci_high": high}
            for metric, spread in self.backtest.get(str(scorer), {}).items():
                flat[f"{prefix}{metric}_backtest_mean"] = spread["mean"]
                if math.isfinite(spread["sd"]):
                    flat[f"{prefix}{metric}_backtest_sd"] = spread["sd"]
        return {
            **flat,
            **dict(self.extras),
            "intervals": {s: {m: list(v) for m, v in i.items()} for s, i in self.intervals.items()},
            "backtest": {s: {m: dict(v) for m, v in b.items()} for s, b in self.backtest.items()},
            "table": {
                str(s): {str(m): _number(v) for m, v in row.items() if pd.notna(v)}
                for s, row in self.table.iterrows()
            },
            "segments": [
                {str(k): _number(v) for k, v in r.items()} for r in self.segments.to_dict("records")
            ],
        }


def _number(value: Any) -> Any:
    return (
        float(value) if isinstance(value, int | float | np.number) and not isinstance(value, bool) else value
    )


def _segment_column(holdout: pd.DataFrame, segment: str) -> str | None:
    for name in (segment, f"{CONTEXT_PREFIX}{segment}"):
        if name in holdout.columns:
            return name
    return None


def _metrics_for(
    y: np.ndarray,
    scorer: Scorer,
    order: np.ndarray,
    mask: np.ndarray,
    fractions: Sequence[float],
    bins: int,
    seed: int,
) -> dict[str, float]:
    """Metrics on the rows of `mask` that the scorer scores; `order` ranks all rows by score."""
    keep = mask & np.isfinite(scorer.scores)
    # The kept rows in score order, as positions in the kept arrays: a subsequence of the
    # scorer's one sort stays sorted, so no segment sorts again.
    position = np.cumsum(keep) - 1
    ranked = position[order[keep[order]]]
    return binary_metrics(
        y[keep], scorer.scores[keep], scorer.probability, fractions, bins, seed, order=ranked
    )


def evaluate(
    holdout: pd.DataFrame,
    scorers: Mapping[str, Scorer],
    segments: Sequence[str] = (),
    top_fractions: Sequence[float] = (0.05, 0.10),
    ece_bins: int = 15,
    seed: int = 0,
    extras: Mapping[str, Any] | None = None,
    *,
    bootstrap_rounds: int = 0,
    backtest: Sequence[Mapping[str, Mapping[str, float]]] = (),
) -> Evaluation:
    """The holdout table and segments; with `bootstrap_rounds`, each scorer's headline metrics
    get a 95 % interval; `backtest`: per fold, scorer -> metrics, summarised as mean and sd."""
    y = holdout["label"].to_numpy(dtype=np.float64)
    everyone = np.ones(len(y), dtype=bool)
    orders = {name: descending(scorer.scores) for name, scorer in scorers.items()}
    table = pd.DataFrame(
        {
            name: _metrics_for(y, s, orders[name], everyone, top_fractions, ece_bins, seed)
            for name, s in scorers.items()
        }
    ).T
    rows = []
    for segment in segments:
        column = _segment_column(holdout, segment)
        if column is None:
            continue
        codes, names = pd.factorize(holdout[column].astype("str"), sort=True, use_na_sentinel=True)
        for code, value in [*enumerate(names), *([(-1, MISSING_SEGMENT)] if (codes < 0).any() else [])]:
            mask = codes == code
            for name, scorer in scorers.items():
                if name == UNCALIBRATED:
                    continue  # the model's own ranking; its calibration is shown overall
                metrics = _metrics_for(y, scorer, orders[name], mask, top_fractions, ece_bins, seed)
                rows.append({"segment": segment, "value": str(value), "scorer": name, **metrics})
    intervals = {
        name: bootstrap_intervals(y, s.scores, s.probability, top_fractions, ece_bins, seed, bootstrap_rounds)
        for name, s in scorers.items()
        if name != UNCALIBRATED
    }
    spread = {
        name: fold_summary(
            [fold[name] for fold in backtest if name in fold], headline_metrics(top_fractions, s.probability)
        )
        for name, s in scorers.items()
        if any(name in fold for fold in backtest)
    }
    out = dict(extras or {})
    roc_auc = float(table["roc_auc"].get(MODEL, math.nan)) if "roc_auc" in table.columns else math.nan
    if note := uncertainty_note(y, intervals.get(MODEL, {}), roc_auc):
        out["uncertainty_note"] = note
    return Evaluation(table, pd.DataFrame(rows), out, intervals, spread)


def uncertainty_note(
    y: np.ndarray, intervals: Mapping[str, tuple[float, float]], roc_auc: float
) -> str | None:
    """One line when the holdout has too few dissatisfied sessions for figures to be firm."""
    positives = int(np.sum(y))
    if positives >= FEW_POSITIVES:
        return None
    low, high = intervals.get("roc_auc", (math.nan, math.nan))
    interval = f", 95 % interval {low:.3f}-{high:.3f}" if math.isfinite(low) else ""
    return (
        f"only {positives} dissatisfied sessions in the holdout (under {FEW_POSITIVES}): the figures are "
        f"uncertain (ROC AUC {roc_auc:.3f}{interval})"
    )
