"""Read raw events from CSV, TSV, Parquet and JSON Lines, plain or gzip, whole or in batches.

The format comes from the content (pipelines/formats.py): a file, or a folder of shards
in one format. Values come back as they are in the file (CSV fields as text), so the
adapter can quarantine a bad value instead of the reader failing on it. Nested records
become dotted columns (`context.page.path`); lists stay lists (Arrow-backed). A row the
parser cannot read (a CSV line with the wrong number of fields or with bytes that are not
UTF-8, a JSON line that is not an object or is nested too deep) is kept as a row with
`READ_ERROR_COLUMN` saying why and `RAW_LINE_COLUMN` holding its text: the adapter
quarantines it. Any other failure to read is one `DataQualityError` naming the input.
Rows are numbered from 0 in input order by the frame's index; in batches, and across the
shards of a folder, the numbering continues.

JSON Lines are read by Arrow in blocks of whole lines, each typed on its own in one pass,
then joined with their types widened (`items` empty in one block and filled in the next
becomes a list of records): no result depends on thread timing or on which block comes
first. A block Arrow cannot read is parsed line by line.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.dataset as pa_ds
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from features.errors import ConfigError, DataQualityError
from features.events import RAW_LINE_COLUMN, READ_ERROR_COLUMN
from pipelines.formats import SNOWPLOW_ENRICHED_COLUMNS, Format, Source, detect_source, is_gzip

__all__ = ["estimate_rows", "event_format", "iter_event_batches", "read_events"]

_SHOWN = 200  # characters of an unreadable line quoted in its reason
# Deeper JSON than this is refused row by row: pandas and Python's json recurse per level.
MAX_JSON_DEPTH = 100
# JSON Lines are typed block by block: each block in one Arrow pass (its types from all its lines).
JSON_BLOCK_BYTES = 1 << 22
# Bytes per row assumed when a text file's rows are not counted: below most real event rows
# (60-300 bytes in plain text, ~5-10x less gzipped), so row counts are overestimated, not under.
_TEXT_BYTES_PER_ROW = 50
_GZIP_BYTES_PER_ROW = 8
# Every way reading a file can fail on its content: one line to the user, never a traceback.
_READ_ERRORS = (pa.ArrowException, OSError, EOFError, UnicodeDecodeError, zlib.error, csv.Error)


def event_format(path: Path) -> Format:
    """The format of an events file or folder of shards, from their content."""
    return detect_source(path).format


def read_events(path: Path) -> pd.DataFrame:
    """The whole input as a raw events frame."""
    source = detect_source(path)
    try:
        if source.format == "parquet":
            return _frame(_parquet(source).to_table(), 0)
        frames: list[pd.DataFrame] = []
        offset = 0
        for file in source.files:
            frame = _read_text(file, source.format, offset)
            offset += len(frame)
            frames.append(frame)
    except _READ_ERRORS as exc:
        raise DataQualityError(f"cannot read events from {path}: {_one_line(exc)}") from None
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames)


def estimate_rows(path: Path) -> int:
    """Rows in an events input without reading it: exact for Parquet (from its metadata), an
    upper-leaning guess from the size for text."""
    source = detect_source(path)
    if source.format == "parquet":
        try:
            return int(_parquet(source).count_rows())
        except _READ_ERRORS as exc:
            raise DataQualityError(f"cannot read events from {path}: {_one_line(exc)}") from None
    rows = 0
    for file in source.files:
        per_row = _GZIP_BYTES_PER_ROW if is_gzip(file) else _TEXT_BYTES_PER_ROW
        rows += file.stat().st_size // per_row
    return max(1, rows)


def iter_event_batches(path: Path, batch_rows: int = 1_000_000) -> Iterator[pd.DataFrame]:
    """Raw events frames of at most `batch_rows` rows, for inputs larger than memory.

    Batches cut across sessions: a consumer that needs whole sessions regroups them. A JSON
    Lines batch has the keys its own lines have, so an optional column can be absent from one.
    A folder's shards are read one after the other (a batch never spans two text shards).
    """
    if batch_rows < 1:
        raise ConfigError(f"batch_rows must be at least 1, got {batch_rows}")
    source = detect_source(path)
    try:
        if source.format == "parquet":
            yield from _rebatch(_parquet_batches(source, batch_rows), batch_rows, 0)
            return
        offset = 0
        for file in source.files:
            if source.format == "jsonl":
                batches: Iterator[pd.DataFrame] = _jsonl_batches(file, batch_rows, offset)
            else:
                batches = _rebatch(_csv_batches(file, source.format), batch_rows, offset)
            for frame in batches:
                offset += len(frame)
                yield frame
    except _READ_ERRORS as exc:
        raise DataQualityError(f"cannot read events from {path}: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _read_text(file: Path, fmt: Format, offset: int) -> pd.DataFrame:
    if fmt == "jsonl":
        return _read_jsonl(file, offset)
    return _read_csv(file, fmt, offset)


def _rebatch(
    batches: Iterable[pa.RecordBatch | pa.Table], batch_rows: int, offset: int
) -> Iterator[pd.DataFrame]:
    pending: list[pa.Table] = []
    held = 0
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


def _parquet_batches(source: Source, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """A Parquet file or folder in batches, file by file, one row group decoded at a time.

    The dataset scanner reads ahead (on a 5 M-row file, ~2x this memory); it is kept only for
    folders whose hive partition keys (`day=.../`) become columns.
    """
    dataset = _parquet(source)
    if set(dataset.schema.names) - set(pq.read_schema(dataset.files[0]).names):
        yield from dataset.to_batches(batch_size=batch_rows, batch_readahead=0, fragment_readahead=0)
        return
    for file in dataset.files:
        yield from pq.ParquetFile(file).iter_batches(batch_size=batch_rows)


def _parquet(source: Source) -> pa_ds.Dataset:
    if not source.is_folder:
        return pa_ds.dataset(source.path, format="parquet")
    return pa_ds.dataset(
        [str(file) for file in source.files],
        format="parquet",
        partitioning="hive",
        partition_base_dir=str(source.path),
    )


def _frame(table: pa.Table, offset: int) -> pd.DataFrame:
    """Arrow -> pandas: structs flattened to dotted columns, lists kept as Arrow lists."""
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    frame: pd.DataFrame = table.to_pandas(types_mapper=_nested_as_arrow)
    frame.index = pd.RangeIndex(offset, offset + len(frame))
    return frame


def _nested_as_arrow(data_type: pa.DataType) -> pd.ArrowDtype | None:
    return pd.ArrowDtype(data_type) if pa.types.is_nested(data_type) else None


def _input(file: Path) -> pa.NativeFile:
    """The file's bytes, unzipped when its content is gzip (whatever its name)."""
    return pa.input_stream(str(file), compression="gzip" if is_gzip(file) else None)


def _open_binary(file: Path) -> io.BufferedIOBase:
    return gzip.open(file, "rb") if is_gzip(file) else open(file, "rb")


# --- CSV and TSV: every field as text; rows with the wrong number of fields, or with bytes
# that are not UTF-8, are kept as read errors. Quoted fields may hold newlines.


def _delimited_options(file: Path, fmt: Format, bad: list[Any], threads: bool = True) -> dict[str, Any]:
    delimiter = "\t" if fmt in ("tsv", "snowplow_tsv") else ","
    if fmt == "snowplow_tsv":  # no header, no quoting: enrich strips tabs and newlines from values
        names = _snowplow_names(file)
        read = pa_csv.ReadOptions(column_names=names, use_threads=threads)
        parse = pa_csv.ParseOptions(
            delimiter=delimiter, quote_char=False, invalid_row_handler=_keep_aside(bad)
        )
    else:
        names = _header(file, delimiter)
        read = pa_csv.ReadOptions(column_names=names, skip_rows=1, use_threads=threads)
        parse = pa_csv.ParseOptions(
            delimiter=delimiter, newlines_in_values=True, invalid_row_handler=_keep_aside(bad)
        )
    return {
        "read_options": read,
        "parse_options": parse,
        # Bytes first: a value that is not UTF-8 fails its row, not the whole file (`_decoded`).
        "convert_options": pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.binary())),
    }


def _header(file: Path, delimiter: str) -> list[str]:
    with _open_binary(file) as raw:
        lines = (line.decode("utf-8-sig" if i == 0 else "utf-8") for i, line in enumerate(raw))
        header = next(csv.reader(lines, delimiter=delimiter), None)
    if not header:
        raise DataQualityError(f"{file} has no header line: a CSV of events needs one")
    return header


def _snowplow_names(file: Path) -> list[str]:
    with _open_binary(file) as handle:
        fields = handle.readline().rstrip(b"\r\n").count(b"\t") + 1
    extra = [f"field_{i + 1}" for i in range(len(SNOWPLOW_ENRICHED_COLUMNS), fields)]
    return [*SNOWPLOW_ENRICHED_COLUMNS[:fields], *extra]


def _keep_aside(bad: list[Any]) -> Any:
    def handler(row: Any) -> str:
        bad.append(row)
        return "skip"

    return handler


def _read_csv(file: Path, fmt: Format, offset: int) -> pd.DataFrame:
    bad: list[Any] = []
    with _input(file) as stream:
        table = pa_csv.read_csv(stream, **_delimited_options(file, fmt, bad))
    if bad:  # rare: read again on one thread, which knows each bad row's line number
        bad.clear()
        with _input(file) as stream:
            table = pa_csv.read_csv(stream, **_delimited_options(file, fmt, bad, threads=False))
    return _frame(_with_unreadable(_decoded(table, 0), bad), offset)


def _csv_batches(file: Path, fmt: Format) -> Iterator[pa.Table]:
    bad: list[Any] = []
    first = 0
    with _input(file) as stream:
        reader = pa_csv.open_csv(stream, **_delimited_options(file, fmt, bad, threads=False))
        for batch in reader:
            yield _with_unreadable(_decoded(pa.Table.from_batches([batch]), first), bad)
            first += batch.num_rows
            bad.clear()
        if bad:
            yield _with_unreadable(_decoded(reader.schema.empty_table(), first), bad)


def _decoded(table: pa.Table, first: int) -> pa.Table:
    """Byte columns as text. A value that is not UTF-8 makes its row a read error; its
    values are kept with U+FFFD in place of the bad bytes, so the quarantine shows them."""
    columns: list[pa.Array | pa.ChunkedArray] = []
    reasons: dict[int, str] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        try:
            columns.append(pc.cast(column, pa.string()))
        except pa.ArrowInvalid:  # rare: find the bad values in Python, in this column only
            texts: list[str | None] = []
            for row, value in enumerate(column.to_pylist()):
                try:
                    texts.append(None if value is None else value.decode("utf-8"))
                except UnicodeDecodeError:
                    texts.append(value.decode("utf-8", errors="replace"))
                    reasons.setdefault(row, f"record {first + row + 1}: column `{name}` is not valid UTF-8")
            columns.append(pa.chunked_array([pa.array(texts, pa.string())]))
    decoded = pa.table(columns, names=table.column_names)
    if not reasons:
        return decoded
    errors = np.full(table.num_rows, None, dtype=object)
    errors[list(reasons)] = list(reasons.values())
    return decoded.append_column(READ_ERROR_COLUMN, pa.array(errors, pa.string())).append_column(
        RAW_LINE_COLUMN, pa.nulls(table.num_rows, pa.string())
    )


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


# --- JSON Lines: Arrow's reader, one block at a time, and a line by line parser for a block
# Arrow cannot read (a malformed line, a line nested too deep, bytes that are not UTF-8).


def _read_jsonl(file: Path, offset: int) -> pd.DataFrame:
    with _open_binary(file) as handle:
        return _parse_json(_json_blocks(handle), offset)


def _jsonl_batches(file: Path, batch_rows: int, offset: int) -> Iterator[pd.DataFrame]:
    chunk: list[bytes] = []
    rows = 0
    first_line = 1
    with _open_binary(file) as handle:
        for line_no, line in enumerate(handle, start=1):
            chunk.append(line)
            rows += bool(line.strip())
            if rows == batch_rows:
                frame = _parse_chunk(chunk, first_line, offset)
                yield frame
                offset, first_line, chunk, rows = offset + len(frame), line_no + 1, [], 0
    if rows:
        yield _parse_chunk(chunk, first_line, offset)


def _parse_chunk(lines: list[bytes], first_line: int, offset: int) -> pd.DataFrame:
    data = io.BytesIO(b"".join(lines))
    return _parse_json(((first + first_line - 1, block) for first, block in _json_blocks(data)), offset)


def _json_blocks(handle: io.BufferedIOBase) -> Iterator[tuple[int, bytes]]:
    """(number of its first line, bytes) of whole lines, about `JSON_BLOCK_BYTES` at a time."""
    first_line = 1
    while block := handle.read(JSON_BLOCK_BYTES):
        if not block.endswith(b"\n"):
            block += handle.readline()
        yield first_line, block
        first_line += block.count(b"\n")


def _parse_json(blocks: Iterable[tuple[int, bytes]], offset: int) -> pd.DataFrame:
    """Each block typed on its own by Arrow (so nothing depends on block order or threads),
    then joined with types widened where blocks differ: `items` empty in one block and
    records in another is a list of records. A block Arrow cannot read is parsed line by
    line; types no widening can join (a text field that is a number elsewhere) are left to
    pandas."""
    parts = [_parse_block(block, first_line) for first_line, block in blocks]
    tables = [part for part in parts if isinstance(part, pa.Table)]
    if len(tables) == len(parts):
        try:
            return (
                _frame(pa.concat_tables(tables, promote_options="permissive"), offset)
                if tables
                else _empty(offset)
            )
        except pa.ArrowException:
            pass
    frames = [_frame(part, 0) if isinstance(part, pa.Table) else part for part in parts]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame.index = pd.RangeIndex(offset, offset + len(frame))
    return frame


def _empty(offset: int) -> pd.DataFrame:
    return pd.DataFrame(index=pd.RangeIndex(offset, offset))


def _parse_block(block: bytes, first_line: int) -> pa.Table | pd.DataFrame:
    try:
        return _arrow_json(block)
    except pa.ArrowException:
        return _parse_lines(block.splitlines(), first_line, 0)


def _arrow_json(block: bytes) -> pa.Table:
    """One block, typed by Arrow in one pass over all its lines."""
    options = pa_json.ReadOptions(use_threads=False, block_size=len(block) + 1)
    table = pa_json.read_json(io.BytesIO(block), read_options=options)
    if _type_depth(table.schema) > MAX_JSON_DEPTH:  # the line parser finds the deep rows
        raise pa.ArrowInvalid(f"records nested deeper than {MAX_JSON_DEPTH} levels")
    table.validate(full=True)  # Arrow keeps bytes that are not UTF-8 as text: the line parser finds them
    return table


def _type_depth(schema: pa.Schema) -> int:
    """Nesting depth of an Arrow schema, without recursion."""
    deepest, stack = 0, [(field.type, 1) for field in schema]
    while stack:
        kind, level = stack.pop()
        deepest = max(deepest, level)
        if level <= MAX_JSON_DEPTH:
            stack.extend((kind.field(i).type, level + 1) for i in range(kind.num_fields))
    return deepest


def _parse_lines(lines: list[bytes], first_line: int, offset: int) -> pd.DataFrame:
    """Parse JSON objects one line at a time; a bad line becomes a read-error row."""
    records: list[dict[str, Any]] = []
    errors: list[str | None] = []
    texts: list[str | None] = []
    for line_no, line in enumerate(lines, start=first_line):
        if not line.strip():
            continue
        text = line.decode("utf-8", errors="replace")
        record: Any
        problem: str | None
        if "\ufffd" in text and not _is_utf8(line):
            record, problem = None, "not valid UTF-8"
        else:
            record, problem = _parse_line(text)
        records.append(record if problem is None else {})
        errors.append(None if problem is None else f"line {line_no}: {problem}: {text[:_SHOWN]}")
        texts.append(None if problem is None else text)
    frame = pd.json_normalize(records, sep=".") if records else pd.DataFrame()
    if any(e is not None for e in errors):
        frame[READ_ERROR_COLUMN] = pd.Series(errors, dtype="str")
        frame[RAW_LINE_COLUMN] = pd.Series(texts, dtype="str")
    frame.index = pd.RangeIndex(offset, offset + len(frame))
    return frame


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _parse_line(text: str) -> tuple[Any, str | None]:
    """(the line's object, None) or (None, why it is not a usable object)."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return None, f"nested deeper than {MAX_JSON_DEPTH} levels"
    if not isinstance(record, dict):
        return None, f"a JSON {type(record).__name__}, not an object"
    if _depth(record) > MAX_JSON_DEPTH:
        return None, f"nested deeper than {MAX_JSON_DEPTH} levels"
    return record, None


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_JSON_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest
