"""The labelled sessions of a feature table, checked once before anything is fitted."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import FrictionError, SchemaError
from features.schema import did_you_mean
from training.errors import TrainingDataError

__all__ = ["REQUIRED_META", "labelled_order", "labelled_sessions", "read_feature_table", "table_digest"]

# What training reads besides the features (the full meta list is models.META_COLUMNS).
REQUIRED_META: tuple[str, ...] = ("session_id", "user_id", "session_start", "label", "label_known")


def labelled_order(table: pd.DataFrame) -> np.ndarray:
    """Positions of the rows with a known 0/1 label, ordered by session start (then id)."""
    present = [str(c) for c in table.columns]
    for name in REQUIRED_META:
        if name not in table.columns:
            raise SchemaError(
                f"the feature table has no `{name}` column{did_you_mean(name, present)}; "
                f"training needs {', '.join(REQUIRED_META)}"
            )
    label = table["label"].to_numpy(dtype=np.float64, na_value=np.nan)
    known = table["label_known"].fillna(False).to_numpy(dtype=bool) & ~np.isnan(label)
    if not known.any():
        raise TrainingDataError(
            f"no labelled sessions: all {len(table):,} sessions have label_known = false; "
            "check the [label] section of the config"
        )
    values = label[known]
    if bad := sorted(set(np.unique(values).tolist()) - {0.0, 1.0}):
        raise TrainingDataError(f"`label` must be 0 or 1; found {bad[:5]}")
    if np.unique(values).size < 2:
        raise TrainingDataError(
            f"all {len(values):,} labelled sessions have label {int(values[0])}; a model needs both classes "
            "(0 = satisfied, 1 = dissatisfied)"
        )
    positions = np.flatnonzero(known)
    start = table["session_start"]
    # Integer microseconds: tz-aware columns would otherwise become arrays of Timestamp objects.
    when = start.array.asi8 if pd.api.types.is_datetime64_any_dtype(start.dtype) else start.to_numpy()
    keys = pd.DataFrame({"start": when[positions], "id": table["session_id"].to_numpy()[positions]})
    order: np.ndarray = positions[keys.sort_values(["start", "id"], kind="stable").index.to_numpy()]
    return order


def labelled_sessions(table: pd.DataFrame) -> pd.DataFrame:
    """The rows with a known 0/1 label, sorted by session start (then id, for ties)."""
    return table.iloc[labelled_order(table)]


def table_digest(table: pd.DataFrame) -> str:
    """sha256 over every row's values plus the column names and dtypes (row order matters)."""
    hasher = hashlib.sha256()
    hasher.update(json.dumps([[str(c), str(t)] for c, t in table.dtypes.items()]).encode())
    hasher.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    return hasher.hexdigest()


def read_feature_table(path: Path) -> pd.DataFrame:
    """Read a feature table (Parquet); a missing or unreadable file is a user error."""
    try:
        return pd.read_parquet(path)
    except FileNotFoundError:
        raise FrictionError(f"feature table not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise FrictionError(f"cannot read the feature table {path}: {exc}") from None
