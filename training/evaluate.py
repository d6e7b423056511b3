"""The holdout evaluation: one table of scorers x metrics, and the same per segment.

Scorers: `model` (calibrated), `uncalibrated` (the booster's own sigmoid, to show what
calibration changed), `logreg`, `rule_baseline` (a ranking, not a probability) and, when the
truth is known, `oracle`. A scorer with NaN for some sessions (an oracle missing ids) is
evaluated on the sessions it scores; its `sessions` column says how many.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from training.metrics import binary_metrics, descending

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

    def metrics(self) -> dict[str, Any]:
        """`metrics.json`: the model's metrics flat, `<scorer>_<metric>` for the others,
        then the full table and the segments."""
        flat: dict[str, Any] = {}
        for scorer, row in self.table.iterrows():
            prefix = "" if scorer == MODEL else f"{scorer}_"
            flat |= {f"{prefix}{metric}": _number(value) for metric, value in row.items() if pd.notna(value)}
        return {
            **flat,
            **dict(self.extras),
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
) -> Evaluation:
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
    return Evaluation(table=table, segments=pd.DataFrame(rows), extras=dict(extras or {}))
