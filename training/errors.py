"""Training errors, user errors shown as one line.

FrictionError (features.errors)
├── TrainingDataError   the feature table cannot be trained on (no labels, one class, too few rows)
└── RegistryError       (models.errors) the MLflow registry cannot do what was asked
"""

from __future__ import annotations

from features.errors import FrictionError
from models.errors import RegistryError

__all__ = ["RegistryError", "TrainingDataError"]


class TrainingDataError(FrictionError):
    """The labelled sessions cannot support a fit and an honest evaluation."""
