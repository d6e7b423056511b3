"""Training errors, user errors shown as one line.

FrictionError (features.errors)
├── TrainingDataError   the feature table cannot be trained on (no labels, one class, too few rows)
└── RegistryError       the MLflow registry cannot do what was asked (unknown model, no version)
"""

from __future__ import annotations

from features.errors import FrictionError

__all__ = ["RegistryError", "TrainingDataError"]


class TrainingDataError(FrictionError):
    """The labelled sessions cannot support a fit and an honest evaluation."""


class RegistryError(FrictionError):
    """A registered model, version or alias that was asked for does not exist."""
