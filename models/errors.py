"""Errors about a `FrictionModel` artifact, both user errors shown as one line.

FrictionError (features.errors)
├── ModelIntegrityError   a model directory fails its sha256 manifest (names the file)
├── RegistryError         a model reference names no model (unknown model, alias or version)
└── SchemaError
    └── FeatureMismatchError   a feature table does not match the model's manifest
"""

from __future__ import annotations

from features.errors import FrictionError, SchemaError

__all__ = ["FeatureMismatchError", "ModelIntegrityError", "RegistryError"]


class ModelIntegrityError(FrictionError):
    """A file of a model directory is missing, extra, or differs from its recorded hash."""


class RegistryError(FrictionError):
    """A registered model, version or alias that was asked for does not exist."""


class FeatureMismatchError(SchemaError):
    """The feature table was built for another model (other columns, or wrong types)."""
