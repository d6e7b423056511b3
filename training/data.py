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

__all__ = [
    "REQUIRED_META",
    "labelled_order",
    "labelled_sessions",
    "read_feature_table",
    "table_digest",
]

# What training reads besides the features (the full meta list is models.META_COLUMNS).
REQUIRED_META: tuple[str, ...] = ("session_id", "user_id", "session_start", "label", "label_known")


def labelled_order(table: pd.DataFrame) -> np.ndarray:
    """Positions of the rows with a known 0/1 label, ordered by session start (then id)."""
    # Hints come from the other columns: `label_known` is no spelling of a missing `label`.
    present = [str(c) for c in table.columns if c not in REQUIRED_META]
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
    when = when[positions]
    by_start = np.argsort(when, kind="stable")
    # Session ids break ties only; comparing strings is the slow part, so only tied rows do.
    ordered = when[by_start]
    tied = np.zeros(len(by_start), dtype=bool)
    tied[1:] = ordered[1:] == ordered[:-1]
    tied[:-1] |= tied[1:]
    if tied.any():
        rows = by_start[tied]  # runs of equal starts, in start order: sorting them in place keeps the runs
        ids = table["session_id"].iloc[positions[rows]].to_numpy()
        keys = pd.DataFrame({"start": ordered[tied], "id": ids})
        by_start[tied] = rows[keys.sort_values(["start", "id"], kind="stable").index.to_numpy()]
    order: np.ndarray = positions[by_start]
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


def read_feature_table(path: Path, *, columnar: bool = False) -> pd.DataFrame:
    """Read a feature table (Parquet); a missing or unreadable file is a user error.

    `columnar`: one block per column, for readers that take the table column by column, as
    training does. pandas' default consolidates the ~200 float columns into one 2-D block: a full
    copy that was 3/4 of the read at 1 M sessions, but it makes `FeatureManifest.matrix` (one
    `to_numpy` over all features) ~5x faster than on separate blocks. `self_destruct` frees each
    Arrow column as soon as it is converted (lower peak memory)."""
    options = {"split_blocks": True, "self_destruct": True} if columnar else None
    try:
        return pd.read_parquet(path, engine="pyarrow", to_pandas_kwargs=options)
    except FileNotFoundError:
        raise FrictionError(f"feature table not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise FrictionError(f"cannot read the feature table {path}: {exc}") from None
