"""The challenger gate: re-score champion and challenger on the challenger's holdout (the
newest sessions) and let the challenger through only if it is better by the margin."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.artifact import FrictionModel
from models.errors import FeatureMismatchError
from training.config import GateConfig
from training.metrics import binary_metrics

__all__ = ["GateDecision", "gate", "holdout_score"]

LOWER_IS_BETTER = frozenset({"log_loss", "brier"})


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    metric: str
    challenger: float | None = None
    champion: float | None = None


def holdout_score(model: FrictionModel, holdout: pd.DataFrame, metric: str) -> float:
    """One metric of a model's calibrated risk on labelled holdout rows (extra columns ignored)."""
    y = holdout["label"].to_numpy(dtype=np.float64)
    return binary_metrics(y, model.predict_proba(holdout, strict=False), top_fractions=())[metric]


def gate(
    challenger: FrictionModel, champion: FrictionModel | None, holdout: pd.DataFrame, config: GateConfig
) -> GateDecision:
    metric = config.metric
    new = holdout_score(challenger, holdout, metric)
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
