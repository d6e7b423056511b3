"""models: the `FrictionModel` artifact — plain files, verified before parsing, no pickle."""

from models.artifact import BASE_VALUE, FrictionModel
from models.calibrator import Calibrator
from models.card import ModelCard, RiskBands
from models.errors import FeatureMismatchError, ModelIntegrityError
from models.manifest import META_COLUMNS, FeatureManifest, FeatureSpec, feature_columns

__all__ = [
    "BASE_VALUE",
    "META_COLUMNS",
    "Calibrator",
    "FeatureManifest",
    "FeatureMismatchError",
    "FeatureSpec",
    "FrictionModel",
    "ModelCard",
    "ModelIntegrityError",
    "RiskBands",
    "feature_columns",
]
