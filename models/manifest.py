"""The feature manifest: which columns a model reads, their kinds, and the fixed category
lists that map context values to the same codes at training and at scoring time.

The feature table (one row per session) carries the meta columns in `META_COLUMNS`; every
other column is a feature. Numeric features become float64; text and `category` columns
become LightGBM native categoricals coded by the manifest's list (unseen values -> missing).

`Design` builds the design matrix LightGBM reads, from a feature table or straight from the
featurizer's arrays (`FeatureSet`, what the API holds): one coding for both, so a session gets
the same matrix row whichever way it arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator

from features.catalog import Catalog
from features.featurize import FeatureSet
from features.schema import did_you_mean
from models.errors import FeatureMismatchError

__all__ = [
    "META_COLUMNS",
    "NON_TOUCHPOINT_SCOPES",
    "Design",
    "FeatureManifest",
    "FeatureSpec",
    "FeatureWords",
    "feature_columns",
]

# The one list of non-feature columns of a feature table (contract with the featurizer).
META_COLUMNS: tuple[str, ...] = (
    "session_id",
    "user_id",
    "session_start",
    "session_end",
    "label",
    "label_known",
)

Kind = Literal["numeric", "categorical"]
# Scopes of the features that belong to no touchpoint, in the order they are reported.
NON_TOUCHPOINT_SCOPES: tuple[str, ...] = ("session", "funnel", "context")


def feature_columns(table: pd.DataFrame) -> list[str]:
    """Every column of a feature table that is not a meta column, in table order."""
    return [str(c) for c in table.columns if c not in META_COLUMNS]


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not isinstance(series.dtype, pd.CategoricalDtype)


class FeatureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Kind
    # Only for categoricals: code i means categories[i]; anything else is missing.
    categories: list[str] | None = None


class FeatureManifest(BaseModel):
    """The model's input contract, saved as `features.json`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: list[FeatureSpec]
    # Feature catalog entries (meaning, unit, touchpoint) for the features, when known.
    catalog: dict[str, dict[str, Any]] = {}

    @model_validator(mode="after")
    def _unique_names(self) -> FeatureManifest:
        names = self.names
        if len(set(names)) != len(names):
            raise ValueError("feature names must be unique")
        return self

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical(self) -> list[str]:
        return [f.name for f in self.features if f.kind == "categorical"]

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, f in enumerate(self.features) if f.kind == "categorical"]

    def words(self) -> FeatureWords:
        """Each feature's scope, family and catalog entry (what drivers and reports say)."""
        categorical = set(self.categorical)
        scopes, families, entries = {}, {}, {}
        for name in self.names:
            entry = self.catalog.get(name, {})
            touchpoint = entry.get("touchpoint")
            if touchpoint:
                scopes[name] = str(touchpoint)
            elif "__" in name:
                scopes[name] = name.split("__", 1)[0]
            else:
                scopes[name] = "context" if name in categorical else "session"
            families[name] = str(entry.get("family") or name.split("__", 1)[-1])
            entries[name] = entry
        return FeatureWords(np.asarray(self.names, dtype=object), scopes, families, entries)

    @classmethod
    def from_table(
        cls,
        table: pd.DataFrame,
        names: Sequence[str] | None = None,
        catalog: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]] | None = None,
    ) -> FeatureManifest:
        """Infer kinds and freeze category lists (sorted observed values) from a training table.
        `catalog`: entries by feature name, or records with a `name` (`Catalog.to_records()`)."""
        chosen = list(names) if names is not None else feature_columns(table)
        if not chosen:
            raise FeatureMismatchError("the feature table has no feature columns, only meta columns")
        _require_columns(table, chosen)
        specs = []
        for name in chosen:
            column = table[name]
            if _is_numeric(column) or pd.api.types.is_bool_dtype(column.dtype):
                specs.append(FeatureSpec(name=name, kind="numeric"))
            else:
                specs.append(FeatureSpec(name=name, kind="categorical", categories=_observed(column)))
        by_name = _catalog_by_name(catalog)
        entries = {n: by_name[n] for n in chosen if n in by_name}
        return cls(features=specs, catalog=entries)

    def check(self, table: pd.DataFrame, strict: bool = True) -> None:
        """Refuse a table that lacks a feature or, when strict, has features the model does not know."""
        _require_columns(table, self.names)
        if strict:
            known = set(self.names)
            extra = [c for c in feature_columns(table) if c not in known]
            if extra:
                raise FeatureMismatchError(
                    f"the feature table has {len(extra)} feature column(s) this model does not know: "
                    f"{_listing(extra)}; was it built with another config? The model reads: "
                    f"{_listing(self.names)}"
                )
        for spec in self.features:
            column = table[spec.name]
            if spec.kind == "numeric" and not (
                _is_numeric(column) or pd.api.types.is_bool_dtype(column.dtype) or column.isna().all()
            ):
                raise FeatureMismatchError(
                    f"feature `{spec.name}` must be numeric, got dtype {column.dtype}; "
                    "was the table built with another config?"
                )

    def matrix(self, table: pd.DataFrame | FeatureSet, strict: bool = True) -> np.ndarray:
        """The float64 design matrix LightGBM reads: numerics as they are, categoricals as codes
        (see `Design`; a model keeps its own compiled one, `FrictionModel.design`)."""
        return Design(self)(table, strict=strict)


@dataclass(frozen=True, eq=False)
class FeatureWords:
    """A model's features in words, by feature name.

    scope: the catalog's touchpoint; else the name's part before `__` (`<scope>__<family>`);
    a name without one is `context` when categorical, `session` otherwise. family: the
    catalog's, else the name's part after `__`. entry: the catalog entry (meaning, unit, ...),
    empty when unknown."""

    names: np.ndarray  # object: the feature names in manifest order (for gathers by position)
    scopes: dict[str, str]
    families: dict[str, str]
    entries: dict[str, dict[str, Any]]

    def touchpoint(self, name: str) -> str | None:
        """The feature's touchpoint; None for session, funnel and context features."""
        scope = self.scopes[name]
        return None if scope in NON_TOUCHPOINT_SCOPES else scope


class Design:
    """A manifest compiled once into what building its design matrix needs: where each
    feature goes, and each categorical's category -> code lookup (unseen or missing -> NaN)."""

    def __init__(self, manifest: FeatureManifest) -> None:
        self.manifest = manifest
        features = manifest.features
        self.numeric = [i for i, f in enumerate(features) if f.kind == "numeric"]
        self.numeric_names = [features[i].name for i in self.numeric]
        self.lookups = [
            (i, f.name, {c: float(k) for k, c in enumerate(f.categories or [])})
            for i, f in enumerate(features)
            if f.kind == "categorical"
        ]
        # The numeric columns of the last FeatureSet catalog seen (a featurizer reuses one).
        self._catalog: Catalog | None = None
        self._gather = np.zeros(0, dtype=np.intp)

    def __call__(self, features: pd.DataFrame | FeatureSet, strict: bool = True) -> np.ndarray:
        """The matrix of a feature table (checked against the manifest; `strict` refuses extra
        feature columns) or of a `FeatureSet` (its catalog must hold every feature)."""
        # Column-major: pandas keeps columns contiguous and LightGBM reads this layout as is.
        out = np.empty((len(features), len(self.manifest.features)), dtype=np.float64, order="F")
        if isinstance(features, FeatureSet):
            out[:, self.numeric] = features.values[:, self._columns_of(features.catalog)]
            for i, name, lookup in self.lookups:
                out[:, i] = _codes(features.context[name], lookup)
            return out
        self.manifest.check(features, strict=strict)
        if self.numeric:
            # One block copy: far cheaper than column by column on wide tables.
            block = features[self.numeric_names]
            out[:, self.numeric] = block.to_numpy(dtype=np.float64, na_value=np.nan)
        for i, name, lookup in self.lookups:
            out[:, i] = _codes(features[name], lookup)
        return out

    def _columns_of(self, catalog: Catalog) -> np.ndarray:
        """Where each numeric feature sits in a FeatureSet's values of this catalog."""
        if catalog is not self._catalog:
            at = {entry.name: i for i, entry in enumerate(catalog.numeric)}
            categorical = {entry.name for entry in catalog.categorical}
            names = self.manifest.names
            if missing := [n for n in names if n not in at and n not in categorical]:
                raise FeatureMismatchError(
                    f"the model reads {len(missing)} feature(s) its featurizer does not produce "
                    f"from events, e.g. `{missing[0]}`"
                )
            self._gather = np.array([at[n] for n in self.numeric_names], dtype=np.intp)
            self._catalog = catalog
        return self._gather


# Up to this many values are looked up one by one; more are factorized first.
_ONE_BY_ONE = 64


def _codes(values: pd.Series | np.ndarray, lookup: Mapping[str, float]) -> np.ndarray:
    """Each value's code in a categorical's lookup, by its text; NaN when missing or unseen.
    A `category` column maps its few categories then gathers by code (no text per row)."""
    distinct: Iterable[Any]
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        codes, distinct = values.cat.codes.to_numpy(), values.cat.categories
    elif len(values) > _ONE_BY_ONE:
        codes, distinct = pd.factorize(np.asarray(values, dtype=object))
    else:
        return np.array(
            [np.nan if pd.isna(v) else lookup.get(str(v), np.nan) for v in values], dtype=np.float64
        )
    # Code -1 (missing) picks the trailing NaN.
    mapped = np.array([*(lookup.get(str(c), np.nan) for c in distinct), np.nan], dtype=np.float64)
    out: np.ndarray = mapped[codes]
    return out


def _observed(column: pd.Series) -> list[str]:
    """The column's distinct non-missing values as text, sorted."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        # The categories that occur, from the codes: no text per row of a large table.
        codes = column.cat.codes.to_numpy()
        column = pd.Series(column.cat.categories[np.unique(codes[codes >= 0])])
    return sorted(column.dropna().astype(str).unique().tolist())


def _catalog_by_name(
    catalog: Mapping[str, Mapping[str, Any]] | Iterable[Mapping[str, Any]] | None,
) -> dict[str, dict[str, Any]]:
    if catalog is None:
        return {}
    if isinstance(catalog, Mapping):
        return {str(name): dict(entry) for name, entry in catalog.items()}
    return {str(entry["name"]): dict(entry) for entry in catalog}


def _listing(names: Iterable[str], limit: int = 8) -> str:
    items = [f"`{n}`" for n in names]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _require_columns(table: pd.DataFrame, names: Sequence[str]) -> None:
    present = [str(c) for c in table.columns]
    missing = [n for n in names if n not in set(present)]
    if missing:
        hint = did_you_mean(missing[0], present)
        raise FeatureMismatchError(
            f"the feature table lacks {len(missing)} feature column(s) the model needs: "
            f"{_listing(missing)}{hint}; was it built with another config?"
        )
