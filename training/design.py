"""The design matrix of each split, gathered straight from the feature table.

`FeatureManifest.matrix` defines the values LightGBM reads; building it whole and then taking
rows copies every value twice and holds a full-table float64 matrix (1.6 GB at 1 M sessions
x 200 features). Here each column is read in place and its rows scattered into every part
at once: the same values (a test holds it to `manifest.matrix`), one pass, parts-sized memory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from models.manifest import FeatureManifest

__all__ = ["design_parts", "rows_frame"]


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
    codes = FeatureManifest(features=[manifest.features[i] for i in categorical]).matrix(table, strict=False)
    code_of = {j: k for k, j in enumerate(categorical)}
    columns = [
        codes[:, code_of[j]] if j in code_of else _numeric(table[spec.name])
        for j, spec in enumerate(manifest.features)
    ]

    def gather(share: range) -> None:
        for j in share:
            for out, part in zip(outs, parts, strict=True):
                # mode="clip" writes straight into `out` (the default "raise" buffers a copy); the
                # positions come from the table itself, so none is out of range.
                np.take(columns[j], part, out=out[:, j], mode="clip")

    # Columns are gathered on every core: np.take releases the GIL, and most of the time is the
    # first touch of the parts' fresh memory, which threads fault in side by side (1 M sessions,
    # 2 cores: 2.2-3.4 s -> 1.0-1.7 s). Each thread writes its own columns.
    workers = min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(gather, [range(w, len(columns), workers) for w in range(workers)]))
    return outs


def rows_frame(
    table: pd.DataFrame, at: np.ndarray, manifest: FeatureManifest, matrix: np.ndarray
) -> pd.DataFrame:
    """`table.iloc[at]`, given `matrix` = `design_parts(manifest, table, [at])[0]`: its float64
    features are views of the matrix's columns (the same values; at 1 M sessions the holdout's
    were 320 MB copied a second time), every other column is taken from the table."""
    shared = {spec.name: j for j, spec in enumerate(manifest.features) if spec.kind == "numeric"}
    columns: dict[str, object] = {}
    for name, dtype in table.dtypes.items():
        j = shared.get(str(name))
        view = j is not None and dtype == np.float64
        columns[str(name)] = matrix[:, j] if view else table[name].array.take(at)
    # copy=False: one block per column, the views kept as they are (no consolidation copy).
    return pd.DataFrame(columns, index=table.index[at], copy=False)
