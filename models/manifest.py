"""The feature manifest: which columns a model reads, their kinds, and the fixed category
lists that map context values to the same codes at training and at scoring time.

The feature table (one row per session) carries the meta columns in `META_COLUMNS`; every
other column is a feature. Numeric features become float64; text and `category` columns
become LightGBM native categoricals coded by the manifest's list (unseen values -> missing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator

from features.schema import did_you_mean
from models.errors import FeatureMismatchError

__all__ = ["META_COLUMNS", "FeatureManifest", "FeatureSpec", "feature_columns"]

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

    def matrix(self, table: pd.DataFrame, strict: bool = True) -> np.ndarray:
        """The float64 design matrix LightGBM reads (column-major): numerics as they are,
        categoricals as codes."""
        self.check(table, strict=strict)
        # Column-major: pandas keeps columns contiguous and LightGBM reads this layout as is.
        out = np.empty((len(table), len(self.features)), dtype=np.float64, order="F")
        numeric = [i for i, f in enumerate(self.features) if f.kind == "numeric"]
        if numeric:
            # One block copy: far cheaper than column by column on wide tables.
            block = table[[self.features[i].name for i in numeric]]
            out[:, numeric] = block.to_numpy(dtype=np.float64, na_value=np.nan)
        for i in self.categorical_indices:
            spec = self.features[i]
            out[:, i] = self._codes(table[spec.name], spec.categories or [])
        return out

    @staticmethod
    def _codes(column: pd.Series, categories: list[str]) -> np.ndarray:
        # get_indexer: position in the fixed list, -1 for unseen or missing values.
        known = pd.Index(categories, dtype="str")
        if isinstance(column.dtype, pd.CategoricalDtype):
            # Map the few distinct categories, then gather by code (no per-row strings).
            lookup = known.get_indexer(pd.Index(column.cat.categories.astype("str")))
            own = column.cat.codes.to_numpy()
            codes = np.where(own >= 0, lookup[own], -1).astype(np.float64)
        else:
            codes = known.get_indexer(pd.Index(column.astype("str"))).astype(np.float64)
        codes[codes < 0] = np.nan
        return codes


def _observed(column: pd.Series) -> list[str]:
    """The column's distinct non-missing values as text, sorted."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        # The categories that occur, from the codes: no text per row (1 M strings per column).
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
