"""Does a feature table come from this config? Checked before training a model that will
carry the config to featurize raw events at scoring time: a mismatch would score silently wrong."""

from __future__ import annotations

import pandas as pd

from features.config import CANONICAL_COLUMNS, FrictionConfig
from features.errors import ConfigError
from features.featurize import Featurizer
from models.manifest import feature_columns

__all__ = ["check_built_with"]

_SHOWN = 5
CONTEXT_PREFIX = "context__"


def _listed(names: list[str]) -> str:
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def check_built_with(table: pd.DataFrame, config: FrictionConfig, source: str = "the feature table") -> None:
    """Raise `ConfigError` unless every feature of `table` is one `config` produces and every
    touchpoint of its taxonomy has its columns (signals skipped for absent inputs may be missing)."""
    features = feature_columns(table)
    # Context features are `context__<column>`; the catalog is planned from the input columns.
    context = [name.removeprefix(CONTEXT_PREFIX) for name in features if name.startswith(CONTEXT_PREFIX)]
    featurizer = Featurizer(config)
    produced = set(featurizer.catalog([*CANONICAL_COLUMNS, *context]).names)
    if unknown := [name for name in features if name not in produced]:
        raise ConfigError(
            f"{source} has features this config does not produce ({_listed(unknown)}); "
            "it was built with another config: rebuild it with `friction features --config` on this one"
        )
    touchpoints = featurizer.taxonomy_.touchpoints
    if missing := [tp for tp in touchpoints if f"{tp}__visits" not in table.columns]:
        raise ConfigError(
            f"{source} lacks the touchpoint(s) {_listed(missing)} of this config's taxonomy; "
            "it was built with another config: rebuild it with `friction features --config` on this one"
        )
