"""Map the booster's raw log-odds to calibrated probabilities; saved as `calibrator.json`.

Isotonic: a step-wise-linear map kept as its threshold arrays (x = raw log-odds, y = probability),
applied with `np.interp` exactly as scikit-learn's `IsotonicRegression(out_of_bounds="clip")`.
Platt: p = sigmoid(a * raw + b), two numbers. No pickled estimator is ever stored.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["PROBABILITY_FLOOR", "Calibrator", "sigmoid"]

# Isotonic steps can reach exactly 0 or 1; keep probabilities inside (0, 1) so log loss stays finite.
PROBABILITY_FLOOR = 1e-6


def sigmoid(raw: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * np.asarray(raw, dtype=np.float64)))
    return out


class Calibrator(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["isotonic", "platt", "identity"]
    x: list[float] = []
    y: list[float] = []
    a: float = 1.0
    b: float = 0.0

    @model_validator(mode="after")
    def _consistent(self) -> Calibrator:
        if self.kind == "isotonic":
            if not self.x or len(self.x) != len(self.y):
                raise ValueError("isotonic calibrator needs equally long, non-empty `x` and `y`")
            if np.any(np.diff(self.x) < 0) or np.any(np.diff(self.y) < 0):
                raise ValueError("isotonic calibrator thresholds must be non-decreasing")
        return self

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probability for each raw log-odds value."""
        raw = np.asarray(raw, dtype=np.float64)
        if self.kind == "isotonic":
            p = np.interp(raw, np.asarray(self.x), np.asarray(self.y))
        else:
            p = sigmoid(self.a * raw + self.b)
        out: np.ndarray = np.clip(p, PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
        return out
