"""Errors of the risk API.

FrictionError (features.errors)
├── ModelLoadError          a model failed to load or its smoke score (never served)
└── NotScorableError        a session has no journey event to score (HTTP 422)
"""

from __future__ import annotations

from features.errors import FrictionError

__all__ = ["ModelLoadError", "NotScorableError"]


class ModelLoadError(FrictionError):
    """A model version cannot serve: it did not load, or failed its smoke score."""


class NotScorableError(FrictionError):
    """The session's events leave nothing to featurize (only label events, say)."""
