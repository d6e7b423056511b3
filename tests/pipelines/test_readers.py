from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from features.config import EventsConfig
from features.errors import ConfigError, DataQualityError
from features.events import RAW_LINE_COLUMN, READ_ERROR_COLUMN, normalize_events
from pipelines.readers import event_format, iter_event_batches, read_events

FIXTURES = Path(__file__).parents[1] / "fixtures"
SAME_EVENTS = [
    "events.csv",
    "events.csv.gz",
    "events.jsonl",
    "events.jsonl.gz",
    "events.ndjson",
    "events.parquet",
    "events_parquet_dir",
]
CONFIG = EventsConfig(context=["platform"])


def canonical(path: Path) -> pd.DataFrame:
    result = normalize_events(read_events(path), CONFIG)
    assert result.summary.rows_quarantined == 0
    return result.events


@pytest.mark.parametrize("name", SAME_EVENTS[1:])
def test_every_format_gives_the_same_canonical_events(name: str) -> None:
    pd.testing.assert_frame_equal(canonical(FIXTURES / name), canonical(FIXTURES / "events.csv"))


def test_the_custom_events_read_as_expected() -> None:
    events = canonical(FIXTURES / "events.csv")
    assert len(events) == 8
    assert events["timestamp"].iloc[2] == pd.Timestamp("2024-03-01T10:00:07", tz="UTC")  # +01:00 converted
    assert events.iloc[1][["event", "target", "x", "y"]].tolist() == ["click", "#buy", 310.0, 220.0]
    assert events["load_ms"].iloc[4] == 4200.0


def test_csv_values_stay_text() -> None:
    raw = read_events(FIXTURES / "events.csv")
    assert all(isinstance(dtype, pd.StringDtype) for dtype in raw.dtypes)
    assert raw["x"].iloc[0] == ""  # empty stays empty: the adapter decides it is missing
    assert raw.index.equals(pd.RangeIndex(8))


def test_nested_json_becomes_dotted_columns() -> None:
    raw = read_events(FIXTURES / "segment_track_calls.jsonl")
    assert {"context.page.path", "context.library.name", "properties.session_id"} <= set(raw.columns)
    ga4 = read_events(FIXTURES / "ga4_bigquery_export.jsonl")
    assert {"device.category", "device.web_info.browser", "traffic_source.medium"} <= set(ga4.columns)
    assert isinstance(ga4["event_params"].dtype, pd.ArrowDtype)


def test_malformed_json_lines_become_read_error_rows() -> None:
    raw = read_events(FIXTURES / "events_malformed.jsonl")
    assert len(raw) == 5  # the blank line is not a row
    errors = raw[READ_ERROR_COLUMN]
    assert errors.iloc[1].startswith("line 2: not valid JSON (Expecting value at column 82)")
    assert errors.iloc[3].startswith("line 5: a JSON list, not an object")
    assert raw[RAW_LINE_COLUMN].iloc[3] == '["not", "an", "object"]'
    result = normalize_events(raw, EventsConfig())
    assert result.quarantine["source_row"].tolist() == [1, 2, 3]
    assert result.quarantine["reason"].iloc[1] == "non-numeric x 'twelve'"
    assert result.events["timestamp"].iloc[1] == pd.Timestamp(1709287300, unit="s", tz="UTC")


def test_csv_rows_with_the_wrong_field_count_become_read_error_rows() -> None:
    raw = read_events(FIXTURES / "events_ragged.csv")
    assert raw[READ_ERROR_COLUMN].dropna().tolist() == [
        "line 3: 3 fields where the header has 4",
        "line 5: 5 fields where the header has 4",
    ]
    result = normalize_events(raw, EventsConfig())
    assert result.summary.rows_kept == 3
    assert result.events["event"].iloc[1] == "click, twice"  # quoted commas are fine
    assert result.quarantine["raw_line"].tolist() == [
        "s1,2024-03-01T10:00:05Z,click",
        "s2,2024-03-01T10:00:07Z,click,12,extra",
    ]


def test_unreadable_content_is_named_with_the_supported_formats(tmp_path: Path) -> None:
    binary = tmp_path / "events.bin"
    binary.write_bytes(b"\x00\x01\x02 not events")
    with pytest.raises(ConfigError, match=r"cannot tell the format of .*events\.bin .*supported: CSV, TSV"):
        read_events(binary)
    array = tmp_path / "events.json"
    array.write_text('[{"event": "click"}]')
    with pytest.raises(ConfigError, match=r"holds a JSON array; events in JSON must be JSON Lines"):
        event_format(array)


def test_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"events not found: .*nothing\.csv"):
        read_events(tmp_path / "nothing.csv")
    empty = tmp_path / "parts"
    empty.mkdir()
    (empty / "_SUCCESS").write_text("")
    with pytest.raises(ConfigError, match=r"no event files in the directory .*parts"):
        read_events(empty)


def test_empty_and_corrupt_files_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataQualityError, match=r"empty\.csv is empty \(0 bytes\): there are no events"):
        read_events(tmp_path / "empty.csv")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataQualityError, match=r"cannot read events from .*broken\.parquet"):
        read_events(tmp_path / "broken.parquet")
    (tmp_path / "broken.jsonl.gz").write_bytes(b"\x1f\x8bnot gzip")
    with pytest.raises(DataQualityError, match=r"cannot read events from .*broken\.jsonl\.gz"):
        read_events(tmp_path / "broken.jsonl.gz")


def test_header_only_csv_reads_as_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "header.csv.gz"
    with gzip.open(path, "wt") as out:
        out.write("session_id,timestamp,event\n")
    raw = read_events(path)
    assert raw.columns.tolist() == ["session_id", "timestamp", "event"]
    assert raw.empty


@pytest.mark.parametrize(
    "name", ["events.csv", "events.csv.gz", "events.parquet", "events_parquet_dir", "events.jsonl"]
)
@pytest.mark.parametrize("batch_rows", [1, 3, 100])
def test_batches_cover_the_file_in_order(name: str, batch_rows: int) -> None:
    batches = list(iter_event_batches(FIXTURES / name, batch_rows))
    assert [len(b) for b in batches[:-1]] == [batch_rows] * (len(batches) - 1)
    assert 0 < len(batches[-1]) <= batch_rows
    whole = pd.concat(batches)
    assert whole.index.equals(pd.RangeIndex(8))  # row numbers continue across batches
    events = pd.concat([normalize_events(b, CONFIG).events for b in batches], ignore_index=True)
    # A JSON batch has only the keys its lines have: columns may come in another order.
    pd.testing.assert_frame_equal(events, canonical(FIXTURES / name), check_like=True)


@pytest.mark.parametrize("name", ["events_malformed.jsonl", "events_ragged.csv"])
def test_batches_keep_unreadable_rows_too(name: str) -> None:
    whole = read_events(FIXTURES / name)
    batches = list(iter_event_batches(FIXTURES / name, 2))
    assert sum(len(b) for b in batches) == len(whole)
    bad = [e for b in batches if READ_ERROR_COLUMN in b for e in b[READ_ERROR_COLUMN].dropna()]
    assert bad == whole[READ_ERROR_COLUMN].dropna().tolist()
    quarantined = [q for b in batches for q in normalize_events(b, EventsConfig()).quarantine["source_row"]]
    assert len(quarantined) == len(normalize_events(whole, EventsConfig()).quarantine)


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="batch_rows must be at least 1, got 0"):
        next(iter_event_batches(FIXTURES / "events.csv", 0))
