"""The challenger gate: score champion and challenger on the challenger's holdout (the
newest sessions) and let the challenger through only if it is better by the margin.

The challenger that ships was refit on every labelled session, its holdout included, so it is
not re-scored there: its figure is the evaluated model's risk on those sessions, which never
saw them (the `HOLDOUT_RISK` column the training run stores beside the holdout rows).
The champion learnt from older data, and is re-scored."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.artifact import FrictionModel
from models.errors import FeatureMismatchError
from training.config import GateConfig
from training.metrics import binary_metrics

__all__ = ["HOLDOUT_RISK", "GateDecision", "gate", "holdout_score", "with_holdout_risk"]

HOLDOUT_RISK = "evaluated_risk"

LOWER_IS_BETTER = frozenset({"log_loss", "brier"})


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    metric: str
    challenger: float | None = None
    champion: float | None = None


def with_holdout_risk(holdout: pd.DataFrame, risk: np.ndarray) -> pd.DataFrame:
    """The holdout rows with the evaluated model's risk beside them, as the gate reads them."""
    return pd.concat([holdout, pd.DataFrame({HOLDOUT_RISK: risk}, index=holdout.index)], axis=1)


def holdout_score(model: FrictionModel, holdout: pd.DataFrame, metric: str) -> float:
    """One metric of a model's calibrated risk on labelled holdout rows (extra columns ignored)."""
    y = holdout["label"].to_numpy(dtype=np.float64)
    rows = holdout.drop(columns=[HOLDOUT_RISK], errors="ignore")
    return binary_metrics(y, model.predict_proba(rows, strict=False), top_fractions=())[metric]


def _challenger_score(challenger: FrictionModel, holdout: pd.DataFrame, metric: str) -> float:
    if HOLDOUT_RISK not in holdout.columns:  # a run from before the refit: its model never saw them
        return holdout_score(challenger, holdout, metric)
    y = holdout["label"].to_numpy(dtype=np.float64)
    risk = holdout[HOLDOUT_RISK].to_numpy(dtype=np.float64)
    return binary_metrics(y, risk, top_fractions=())[metric]


def gate(
    challenger: FrictionModel, champion: FrictionModel | None, holdout: pd.DataFrame, config: GateConfig
) -> GateDecision:
    metric = config.metric
    new = _challenger_score(challenger, holdout, metric)
    if champion is None:
        return GateDecision(True, "no champion yet: the first version becomes champion", metric, new)
    try:
        old = holdout_score(champion, holdout, metric)
    except FeatureMismatchError as exc:
        return GateDecision(
            False, f"the champion cannot score the challenger's holdout ({exc}); not comparable", metric, new
        )
    gain = old - new if metric in LOWER_IS_BETTER else new - old
    verdict = (
        f"challenger {metric} {new:.4f} vs champion {old:.4f} on {len(holdout):,} newest holdout sessions: "
        f"improvement {gain:+.4f}, margin {config.margin:.4f}"
    )
    if gain >= config.margin:
        return GateDecision(True, f"{verdict}; promoted", metric, new, old)
    return GateDecision(False, f"{verdict}; the champion stays", metric, new, old)
