"""A model ready to serve (`ServedModel`): loaded, its featurizer compiled, its design matrix
and driver words prepared once.

`DesignMatrix` is the API's shortcut around building a pandas feature table per request; it
gathers the same float64 values and category codes `FeatureManifest.matrix` produces, and every
model is checked to agree with it on its smoke session before it may serve (serving.loader).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from features.catalog import Catalog
from features.featurize import FeatureSet, Featurizer
from models.artifact import FrictionModel
from models.errors import FeatureMismatchError
from models.explain import NON_TOUCHPOINT_SCOPES, family_of, scope_of
from models.manifest import FeatureManifest
from serving.playbook import Playbook
from serving.single_row import RowPredictor

__all__ = ["DesignMatrix", "FeatureWords", "ServedModel", "feature_words", "words"]


class DesignMatrix:
    """Gathers a `FeatureSet` (of one fixed catalog) into the model's design matrix."""

    def __init__(self, manifest: FeatureManifest, catalog: Catalog) -> None:
        numeric = {entry.name: i for i, entry in enumerate(catalog.numeric)}
        categorical = {entry.name for entry in catalog.categorical}
        if missing := [n for n in manifest.names if n not in numeric and n not in categorical]:
            raise FeatureMismatchError(
                f"the model reads {len(missing)} feature(s) its featurizer does not produce from "
                f"events, e.g. `{missing[0]}`"
            )
        self.width = len(manifest.features)
        self.numeric_at = np.array(
            [i for i, f in enumerate(manifest.features) if f.kind == "numeric"], np.intp
        )
        self.numeric_from = np.array([numeric[manifest.features[i].name] for i in self.numeric_at], np.intp)
        # Categorical: feature position, context key, category -> code (unseen -> missing).
        self.codes = [
            (i, f.name, {c: float(k) for k, c in enumerate(f.categories or [])})
            for i, f in enumerate(manifest.features)
            if f.kind == "categorical"
        ]

    def __call__(self, features: FeatureSet) -> np.ndarray:
        out = np.empty((len(features), self.width), dtype=np.float64)
        out[:, self.numeric_at] = features.values[:, self.numeric_from]
        for i, name, lookup in self.codes:
            values = features.context[name]
            out[:, i] = [np.nan if v is None else lookup.get(str(v), np.nan) for v in values]
        return out


@dataclass(frozen=True)
class FeatureWords:
    """What a driver says about one of the model's features, looked up once per model."""

    name: str
    entry: Mapping[str, Any]  # its catalog entry (meaning, unit, ...), empty when unknown
    touchpoint: str | None  # None for session, funnel and context features
    family: str
    action: str | None  # the playbook's action for a driver of this feature
    categorical: bool


@dataclass(frozen=True, eq=False)
class ServedModel:
    """A model ready to serve: loaded, its featurizer compiled, its playbook validated."""

    model: FrictionModel
    name: str
    version: str
    source: str
    loaded_at: datetime
    featurizer: Featurizer
    context_names: tuple[str, ...]
    design: DesignMatrix
    names: tuple[str, ...]  # the model's features, in manifest order
    playbook: Playbook
    scopes: dict[str, str]
    families: dict[str, str]
    words: tuple[FeatureWords, ...]  # per feature, in manifest order
    raw_row: RowPredictor  # one design row -> raw log-odds (shape (1,))
    contrib_row: RowPredictor  # one design row -> TreeSHAP contributions, then the base value


def feature_words(
    model: FrictionModel, playbook: Playbook, scopes: Mapping[str, str], families: Mapping[str, str]
) -> tuple[FeatureWords, ...]:
    out = []
    for spec in model.manifest.features:
        scope = scopes[spec.name]
        touchpoint = None if scope in NON_TOUCHPOINT_SCOPES else scope
        family = families[spec.name]
        out.append(
            FeatureWords(
                name=spec.name,
                entry=dict(model.manifest.catalog.get(spec.name, {})),
                touchpoint=touchpoint,
                family=family,
                action=playbook.action(touchpoint, family),
                categorical=spec.kind == "categorical",
            )
        )
    return tuple(out)


def words(model: FrictionModel) -> tuple[dict[str, str], dict[str, str]]:
    """(feature -> scope, feature -> family), from the model's catalog."""
    return scope_of(model), family_of(model)
