"""Read raw events from CSV, Parquet and JSON Lines, plain or gzip, whole or in batches.

Values come back as they are in the file (CSV fields as text), so the adapter can
quarantine a bad value instead of the reader failing on it. Nested records become dotted
columns (`context.page.path`); lists stay lists (Arrow-backed). A row the parser cannot read
(a CSV line with the wrong number of fields, a JSON line that is not an object) is kept as a
row with `READ_ERROR_COLUMN` saying why and `RAW_LINE_COLUMN` holding its text: the adapter
quarantines it. Rows are numbered from 0 in file order by the frame's index; in batches
the numbering continues from one batch to the next.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as pa_ds
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from features.errors import ConfigError, DataQualityError
from features.events import RAW_LINE_COLUMN, READ_ERROR_COLUMN

__all__ = ["SUPPORTED_SUFFIXES", "estimate_rows", "event_format", "iter_event_batches", "read_events"]

Format = Literal["csv", "parquet", "jsonl"]
SUPPORTED_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson": "jsonl",
    ".ndjson.gz": "jsonl",
}
_SHOWN = 200  # characters of an unreadable line quoted in its reason
# Bytes per row assumed when a text file's rows are not counted: below most real event rows
# (60-300 bytes in plain text, ~5-10x less gzipped), so row counts are overestimated, not under.
_TEXT_BYTES_PER_ROW = 50
_GZIP_BYTES_PER_ROW = 8


def event_format(path: Path) -> Format:
    """The format of an events file from its name; a directory is a Parquet dataset."""
    if not path.exists():
        raise ConfigError(f"events not found: {path}")
    if path.is_dir():
        return "parquet"
    name = path.name.lower()
    for suffix, fmt in sorted(SUPPORTED_SUFFIXES.items(), key=lambda item: -len(item[0])):
        if name.endswith(suffix):
            return fmt
    suffix = "".join(path.suffixes[-2:]) or "(none)"
    raise ConfigError(
        f"unsupported events file {path.name!r} (extension {suffix}); supported: "
        f"{', '.join(SUPPORTED_SUFFIXES)}, or a directory of .parquet files"
    )


def read_events(path: Path) -> pd.DataFrame:
    """The whole file as a raw events frame."""
    fmt = event_format(path)
    try:
        if fmt == "parquet":
            return _frame(_parquet(path).to_table(), 0)
        if fmt == "csv":
            return _read_csv(path)
        return _read_jsonl(path)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise DataQualityError(f"cannot read events from {path}: {exc}") from None


def estimate_rows(path: Path) -> int:
    """Rows in an events file without reading it: exact for Parquet (from its metadata), an
    upper-leaning guess from the size for text."""
    if event_format(path) == "parquet":
        return int(_parquet(path).count_rows())
    per_row = _GZIP_BYTES_PER_ROW if path.name.lower().endswith(".gz") else _TEXT_BYTES_PER_ROW
    return max(1, path.stat().st_size // per_row)


def iter_event_batches(path: Path, batch_rows: int = 1_000_000) -> Iterator[pd.DataFrame]:
    """Raw events frames of at most `batch_rows` rows, for inputs larger than memory.

    Batches cut across sessions: a consumer that needs whole sessions regroups them. A JSON
    Lines batch has the keys its own lines have, so an optional column can be absent from one.
    """
    if batch_rows < 1:
        raise ConfigError(f"batch_rows must be at least 1, got {batch_rows}")
    fmt = event_format(path)
    if fmt == "parquet":
        batches: Iterable[pa.RecordBatch | pa.Table] = _parquet_batches(path, batch_rows)
    elif fmt == "csv":
        batches = _csv_batches(path)
    else:
        yield from _jsonl_batches(path, batch_rows)
        return
    try:
        yield from _rebatch(batches, batch_rows)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise DataQualityError(f"cannot read events from {path}: {exc}") from None


def _rebatch(batches: Iterable[pa.RecordBatch | pa.Table], batch_rows: int) -> Iterator[pd.DataFrame]:
    pending: list[pa.Table] = []
    held = offset = 0
    for batch in batches:
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        pending.append(table)
        held += table.num_rows
        while held >= batch_rows:
            whole = pa.concat_tables(pending, promote_options="default")
            yield _frame(whole.slice(0, batch_rows), offset)
            offset += batch_rows
            pending, held = [whole.slice(batch_rows)], held - batch_rows
    if held:
        yield _frame(pa.concat_tables(pending, promote_options="default"), offset)


def _parquet_batches(path: Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """A Parquet file or folder in batches, file by file, one row group decoded at a time.

    The dataset scanner reads ahead (on a 5 M-row file, ~2x this memory); it is kept only for
    folders whose hive partition keys (`day=.../`) become columns.
    """
    dataset = _parquet(path)
    if set(dataset.schema.names) - set(pq.read_schema(dataset.files[0]).names):
        yield from dataset.to_batches(batch_size=batch_rows, batch_readahead=0, fragment_readahead=0)
        return
    for file in dataset.files:
        yield from pq.ParquetFile(file).iter_batches(batch_size=batch_rows)


def _parquet(path: Path) -> pa_ds.Dataset:
    dataset = pa_ds.dataset(path, format="parquet", partitioning="hive")
    if path.is_dir() and not dataset.files:
        raise ConfigError(f"no .parquet files in the directory {path}")
    return dataset


def _frame(table: pa.Table, offset: int) -> pd.DataFrame:
    """Arrow -> pandas: structs flattened to dotted columns, lists kept as Arrow lists."""
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    frame: pd.DataFrame = table.to_pandas(types_mapper=_nested_as_arrow)
    frame.index = pd.RangeIndex(offset, offset + len(frame))
    return frame


def _nested_as_arrow(data_type: pa.DataType) -> pd.ArrowDtype | None:
    return pd.ArrowDtype(data_type) if pa.types.is_nested(data_type) else None


# --- CSV: every field as text; rows with the wrong number of fields are kept as read errors.


def _csv_header(path: Path) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise DataQualityError(f"{path} is empty: a CSV of events needs a header line")
    return header


def _csv_options(path: Path, bad: list[Any], threads: bool = True) -> dict[str, Any]:
    names = _csv_header(path)
    return {
        "read_options": pa_csv.ReadOptions(column_names=names, skip_rows=1, use_threads=threads),
        "parse_options": pa_csv.ParseOptions(invalid_row_handler=_keep_aside(bad)),
        "convert_options": pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
    }


def _keep_aside(bad: list[Any]) -> Any:
    def handler(row: Any) -> str:
        bad.append(row)
        return "skip"

    return handler


def _read_csv(path: Path) -> pd.DataFrame:
    bad: list[Any] = []
    table = pa_csv.read_csv(path, **_csv_options(path, bad))
    if bad:  # rare: read again on one thread, which knows each bad row's line number
        bad.clear()
        table = pa_csv.read_csv(path, **_csv_options(path, bad, threads=False))
    return _frame(_with_unreadable(table, bad), 0)


def _csv_batches(path: Path) -> Iterator[pa.Table]:
    bad: list[Any] = []
    reader = pa_csv.open_csv(path, **_csv_options(path, bad, threads=False))
    for batch in reader:
        yield _with_unreadable(pa.Table.from_batches([batch]), bad)
        bad.clear()
    if bad:
        yield _with_unreadable(reader.schema.empty_table(), bad)


def _with_unreadable(table: pa.Table, bad: list[Any]) -> pa.Table:
    """Append the rows the CSV parser skipped, as read errors with their text."""
    if not bad:
        return table
    errors = [
        f"line {row.number if row.number is not None else '?'}: {row.actual_columns} fields "
        f"where the header has {row.expected_columns}"
        for row in bad
    ]
    unread = pa.table({READ_ERROR_COLUMN: errors, RAW_LINE_COLUMN: [row.text for row in bad]})
    return pa.concat_tables([table, unread], promote_options="default")


# --- JSON Lines: Arrow's reader, and a line by line fallback when a line is malformed.


def _read_jsonl(path: Path) -> pd.DataFrame:
    try:
        return _frame(pa_json.read_json(path), 0)
    except pa.ArrowInvalid:  # a malformed line, or a field whose type changes: find the culprits
        with _open_binary(path) as handle:
            return _parse_lines(handle.read().splitlines(), first_line=1, offset=0)


def _jsonl_batches(path: Path, batch_rows: int) -> Iterator[pd.DataFrame]:
    chunk: list[bytes] = []
    rows = offset = 0
    first_line = 1
    try:
        with _open_binary(path) as handle:
            for line_no, line in enumerate(handle, start=1):
                chunk.append(line)
                rows += bool(line.strip())
                if rows == batch_rows:
                    frame = _parse_chunk(chunk, first_line, offset)
                    yield frame
                    offset, first_line, chunk, rows = offset + len(frame), line_no + 1, [], 0
    except (OSError, UnicodeDecodeError) as exc:
        raise DataQualityError(f"cannot read events from {path}: {exc}") from None
    if rows:
        yield _parse_chunk(chunk, first_line, offset)


def _parse_chunk(lines: list[bytes], first_line: int, offset: int) -> pd.DataFrame:
    try:
        return _frame(pa_json.read_json(io.BytesIO(b"".join(lines))), offset)
    except pa.ArrowInvalid:
        return _parse_lines([line.rstrip(b"\r\n") for line in lines], first_line, offset)


def _parse_lines(lines: list[bytes], first_line: int, offset: int) -> pd.DataFrame:
    """Parse JSON objects one line at a time; a bad line becomes a read-error row."""
    records: list[dict[str, Any]] = []
    errors: list[str | None] = []
    texts: list[str | None] = []
    for line_no, line in enumerate(lines, start=first_line):
        if not line.strip():
            continue
        text = line.decode("utf-8", errors="replace")
        try:
            record = json.loads(text)
            problem = None if isinstance(record, dict) else f"a JSON {type(record).__name__}, not an object"
        except json.JSONDecodeError as exc:
            record, problem = None, f"not valid JSON ({exc.msg} at column {exc.colno})"
        records.append(record if problem is None else {})
        errors.append(None if problem is None else f"line {line_no}: {problem}: {text[:_SHOWN]}")
        texts.append(None if problem is None else text)
    frame = pd.json_normalize(records, sep=".") if records else pd.DataFrame()
    if any(e is not None for e in errors):
        frame[READ_ERROR_COLUMN] = pd.Series(errors, dtype="str")
        frame[RAW_LINE_COLUMN] = pd.Series(texts, dtype="str")
    frame.index = pd.RangeIndex(offset, offset + len(frame))
    return frame


def _open_binary(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")
