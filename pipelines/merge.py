"""Merge feature tables, each sorted by session id, into one Parquet file in session id order.

The file is exactly what the in-memory engine writes (`write_parquet(Featurizer(...).frame)`):
the same rows in the same order, the same Arrow schema and pandas metadata, and context
columns as `category` over the sorted categories of the whole table.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.progress import Progress
from pipelines.writers import atomic_path

__all__ = ["arrow_table", "merge_by_session"]


def arrow_table(frame: pd.DataFrame, schema: pa.Schema | None = None) -> pa.Table:
    """A frame as an Arrow table without its index, as `pipelines.writers.write_parquet` makes it."""
    with warnings.catch_warnings():
        # As in pipelines/writers.py: pyarrow reads tz-aware columns through a pandas 3.1
        # deprecated path; the written type stays timestamp[us, tz=UTC].
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray that drops timezone")
        return pa.Table.from_pandas(frame, preserve_index=False, schema=schema)


class _Cursor:
    """Reads one partition's output front to back, `take(n)` rows at a time."""

    def __init__(self, path: Path, rows: int) -> None:
        self._batches = pq.ParquetFile(path).iter_batches(batch_size=rows)
        self._held: list[pa.Table] = []
        self._count = 0

    def take(self, n: int) -> pa.Table:
        while self._count < n:
            batch = next(self._batches)  # the ids said these rows exist
            self._held.append(pa.Table.from_batches([batch]))
            self._count += batch.num_rows
        held = pa.concat_tables(self._held)
        self._held, self._count = [held.slice(n)], self._count - n
        return held.slice(0, n)


def merge_by_session(
    files: Sequence[tuple[Path, int]],
    categories: Mapping[str, list[str]],
    target: Path,
    rows: int,
    output_rows: int,
    progress: Progress,
) -> dict[str, str]:
    """Merge Parquet `files` (path, rows; each sorted by session id, context columns as text)
    into `target` in session id order; returns the table's dtypes.

    `categories` are the sorted values of each context column over all files; `rows` is how
    many rows a file is read at a time, `output_rows` the size of the written row groups.

    The order comes from the session ids alone (~50 bytes per session held): output rows
    `[k, k + output_rows)` then take a contiguous run from each partition, read front to
    back. The schema (with its pandas metadata) is the one pandas gives the table in its
    final form, so reading the file back yields exactly the in-memory engine's frame.
    """
    empty = pq.read_table(files[0][0]).schema.empty_table().to_pandas()
    final = _final_form(empty, {name: pd.Index(c, dtype="str") for name, c in categories.items()})
    schema = arrow_table(final).schema
    dictionaries = {
        name: pa.array(c, type=schema.field(name).type.value_type) for name, c in categories.items()
    }
    ids = pa.chunked_array([pq.read_table(path, columns=["session_id"]).column(0) for path, _ in files])
    source = np.repeat(np.arange(len(files)), [n for _, n in files])
    # Arrow orders text by its UTF-8 bytes, which is code point order: Python's, the featurizer's.
    source = source[pc.sort_indices(ids).to_numpy()]
    del ids
    cursors = [_Cursor(path, rows) for path, _ in files]
    with atomic_path(target) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for start in range(0, len(source), output_rows):
            chunk_source = source[start : start + output_rows]
            counts = np.bincount(chunk_source, minlength=len(files))
            pieces = [cursors[p].take(int(n)) for p, n in enumerate(counts.tolist()) if n]
            # Pieces come partition by partition; each output row's place among them:
            by_source = np.argsort(chunk_source, kind="stable")
            place = np.empty_like(by_source)
            place[by_source] = np.arange(len(by_source))
            table = pa.concat_tables(pieces).take(place)
            _write_group(writer, table, schema, dictionaries)
            progress.advance(table.num_rows)
            del pieces, table
            pa.default_memory_pool().release_unused()
    return {str(name): str(dtype) for name, dtype in final.dtypes.items()}


def _write_group(
    writer: pq.ParquetWriter, table: pa.Table, schema: pa.Schema, dictionaries: dict[str, pa.Array]
) -> None:
    """Rows in their final order as one row group; context columns dictionary-encoded."""
    columns = [
        _encode(table.column(f.name), dictionaries[f.name], f.type)
        if f.name in dictionaries
        else table.column(f.name)
        for f in schema
    ]
    writer.write_table(pa.Table.from_arrays(columns, schema=schema), row_group_size=table.num_rows)


def _encode(values: pa.ChunkedArray, dictionary: pa.Array, kind: pa.DictionaryType) -> pa.Array:
    """Text as a dictionary column over the whole table's sorted categories (pandas' `category`)."""
    codes = pc.index_in(values, value_set=dictionary).cast(kind.index_type)
    return pa.DictionaryArray.from_arrays(codes.combine_chunks(), dictionary)


def _final_form(frame: pd.DataFrame, categories: Mapping[str, pd.Index]) -> pd.DataFrame:
    """Context as `category` over the whole table's categories, as `Featurizer(...).frame` has it."""
    context = {
        name: pd.Categorical(frame[name].to_numpy(dtype=object), categories=categories[name])
        for name in categories
    }
    return frame.assign(**context) if context else frame
