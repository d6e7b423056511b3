"""The design matrix of each split, gathered straight from the feature table.

`FeatureManifest.matrix` defines the values LightGBM reads; building it whole and then taking
rows copies every value twice and holds a full-table float64 matrix (1.6 GB at 1 M sessions
x 200 features). Here each column is read in place and its rows scattered into every part
at once: the same values (a test holds it to `manifest.matrix`), one pass, parts-sized memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from models.manifest import FeatureManifest

__all__ = ["design_parts"]


def _numeric(column: pd.Series) -> np.ndarray:
    if column.dtype == np.float64:
        values: np.ndarray = column.to_numpy()  # a view: no copy, NaN already marks missing
        return values
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def design_parts(
    manifest: FeatureManifest, table: pd.DataFrame, parts: Sequence[np.ndarray], strict: bool = True
) -> list[np.ndarray]:
    """`manifest.matrix(table)[part]` for each array of row positions in `parts` (column-major)."""
    manifest.check(table, strict=strict)
    outs = [np.empty((len(part), len(manifest.features)), dtype=np.float64, order="F") for part in parts]
    categorical = manifest.categorical_indices
    # The few context columns: coded by the manifest itself, whole table at once.
    codes = (
        FeatureManifest(features=[manifest.features[i] for i in categorical]).matrix(table, strict=False)
        if categorical
        else None
    )
    for j, spec in enumerate(manifest.features):
        if codes is not None and spec.kind == "categorical":
            column = codes[:, categorical.index(j)]
        else:
            column = _numeric(table[spec.name])
        for out, part in zip(outs, parts, strict=True):
            # mode="clip" writes straight into `out` (the default "raise" buffers a copy); the
            # positions come from the table itself, so none is out of range.
            np.take(column, part, out=out[:, j], mode="clip")
    return outs
