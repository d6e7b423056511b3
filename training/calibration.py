"""Fit the calibrator on out-of-fold raw scores (never on what it will be evaluated on).

Training hands it cross-fitted predictions that span the training range (the backtests' test
blocks), not the latest window alone: a calibrator fitted on a window inside an incident
learns the incident's base rate and applies it to calm months.

`auto` picks `none` (the booster's own sigmoid), isotonic or Platt by out-of-fold log loss
on those scores (2-fold cross-fitting), then refits the winner on all of them. Isotonic is
flexible and wins with many sessions; Platt's two parameters win when they are few. Below
`ISOTONIC_MIN_SESSIONS` isotonic is not chosen whatever its out-of-fold score: its end steps
rest on a handful of sessions and reach 0 or 1, and two folds rarely catch it (on the
simulator it scored better out of fold yet lost on the holdout).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.isotonic import IsotonicRegression

from models.calibrator import Calibrator, sigmoid
from training.metrics import log_loss

__all__ = ["ISOTONIC_MIN_SESSIONS", "choose_calibrator", "fit_identity", "fit_isotonic", "fit_platt"]

# Validation sessions `auto` needs before it may pick isotonic (see the module docstring).
ISOTONIC_MIN_SESSIONS = 5_000


def fit_identity(raw: np.ndarray, y: np.ndarray) -> Calibrator:
    """No calibration: the booster's log-loss objective already gives probabilities."""
    return Calibrator(kind="identity")


def fit_isotonic(raw: np.ndarray, y: np.ndarray) -> Calibrator:
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
    return Calibrator(kind="isotonic", x=iso.X_thresholds_.tolist(), y=iso.y_thresholds_.tolist())


def fit_platt(raw: np.ndarray, y: np.ndarray, iterations: int = 50) -> Calibrator:
    """p = sigmoid(a * raw + b) by Newton's method, with Platt's smoothed targets
    ((n+ + 1) / (n+ + 2) and 1 / (n- + 2)) so that separable scores keep finite parameters.
    Each step is halved until the log loss falls: from the identity, a full Newton step on
    overconfident scores (saturated probabilities, a near-flat Hessian) overshoots and diverges."""
    design = np.column_stack([np.asarray(raw, dtype=np.float64), np.ones(len(raw))])
    y = np.asarray(y, dtype=np.float64)
    positives = y.sum()
    y = np.where(y > 0.5, (positives + 1.0) / (positives + 2.0), 1.0 / (len(y) - positives + 2.0))
    w = np.array([1.0, 0.0])  # start at the identity: the booster's own probabilities
    loss = log_loss(y, sigmoid(design @ w))
    for _ in range(iterations):
        p = sigmoid(design @ w)
        hessian = design.T @ (design * (p * (1.0 - p))[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, design.T @ (y - p))
        for _ in range(40):
            trial = log_loss(y, sigmoid(design @ (w + step)))
            if trial <= loss:
                break
            step = step / 2.0
        else:
            break  # no step lowers the loss: converged as far as floating point goes
        w, loss = w + step, trial
        if np.max(np.abs(step)) < 1e-10:
            break
    return Calibrator(kind="platt", a=float(w[0]), b=float(w[1]))


_FITTERS = {"none": fit_identity, "isotonic": fit_isotonic, "platt": fit_platt}


def choose_calibrator(
    raw: np.ndarray, y: np.ndarray, choice: Literal["auto", "none", "isotonic", "platt"], seed: int
) -> tuple[Calibrator, dict[str, float]]:
    """The calibrator to ship, and each candidate's out-of-fold log loss (empty unless `auto`)."""
    if choice != "auto":
        return _FITTERS[choice](raw, y), {}
    fold = np.random.default_rng(seed).permutation(len(raw)) % 2
    scores: dict[str, float] = {}
    for name, fitter in _FITTERS.items():
        predicted = np.empty(len(raw))
        for k in (0, 1):
            fitted = fitter(raw[fold != k], y[fold != k])
            predicted[fold == k] = fitted.apply(raw[fold == k])
        scores[name] = log_loss(y, predicted)
    allowed = (
        scores if len(raw) >= ISOTONIC_MIN_SESSIONS else {k: v for k, v in scores.items() if k != "isotonic"}
    )
    best = min(allowed, key=lambda name: allowed[name])
    return _FITTERS[best](raw, y), scores
