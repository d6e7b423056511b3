"""Real exports read as their vendors write them (issue 18, point 5; issue 20, items 7, 8, 17).

Each test starts from a fixture shaped as the vendor's export (tests/fixtures/) and goes
through the readers, `validate` and `features` as a new user would.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from features.config import EventsConfig, parse_config
from features.errors import DataQualityError
from features.events import READ_ERROR_COLUMN, normalize_events
from features.featurize import featurize
from pipelines.cli import app
from pipelines.features_job import run_features
from pipelines.ingest import EventStream, load_events
from pipelines.readers import iter_event_batches, read_events
from pipelines.streaming import plan_memory

FIXTURES = Path(__file__).parents[1] / "fixtures"
GA4 = FIXTURES / "ga4_ecommerce_export.jsonl"
runner = CliRunner()


def ga4_lines() -> list[str]:
    return GA4.read_text().splitlines()


def big_ga4_export(tmp_path: Path, name: str = "events-000000000000.json") -> Path:
    """Over one Arrow block (1 MiB): `items` empty in the first blocks, filled later, as in a
    day of GA4 rows where e-commerce events come after the page views."""
    lines = ga4_lines()
    without_items = [line for line in lines if '"items": [{' not in line]
    with_items = [line for line in lines if '"items": [{' in line]
    path = tmp_path / name
    path.write_text("\n".join(without_items * 250 + with_items * 30) + "\n")
    assert path.stat().st_size > 1 << 20
    return path


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "friction.toml"
    path.write_text(text)
    return path


def cli(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


# --- 1. GA4 JSON: Arrow's type inference must neither crash nor depend on thread timing.


def test_a_ga4_export_arrow_cannot_type_is_read_whole_and_the_same_every_time(tmp_path: Path) -> None:
    path = big_ga4_export(tmp_path)
    first = read_events(path)
    for _ in range(3):
        pd.testing.assert_frame_equal(read_events(path), first)
    # Typed by Arrow, blocks joined with widened types: `items` is a list of records throughout.
    assert isinstance(first["items"].dtype, pd.ArrowDtype)
    assert first["items"].iloc[-1][0]["item_id"] == "9180"
    result = normalize_events(first, EventsConfig(preset="ga4"))
    assert result.summary.rows_quarantined == 0
    lines = len(path.read_text().splitlines())
    assert result.summary.rows_kept + result.summary.rows_unidentifiable == lines
    batches = [normalize_events(b, EventsConfig(preset="ga4")).events for b in iter_event_batches(path, 700)]
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), result.events, check_like=True)


def test_validate_and_features_on_a_ga4_export_both_succeed(tmp_path: Path) -> None:
    path = big_ga4_export(tmp_path)
    config = write_config(tmp_path, '[events]\npreset = "ga4"\n')
    code, output = cli("validate", "--config", config, "--events", path)
    assert code == 0, output
    code, output = cli("features", "--config", config, "--events", path, "--out", tmp_path / "f.parquet")
    assert code == 0, output


# --- 2. Rows without a session id: gap sessions within their user, in validate and features.


def test_ga4_rows_without_ga_session_id_get_gap_sessions_within_their_user() -> None:
    events, summary = load_events(GA4, parse_config({"events": {"preset": "ga4"}}), None)
    assert summary.rows_without_session == 2  # the two rows sent before ga_session_id was set
    table = featurize(events, parse_config({"events": {"preset": "ga4"}})).frame
    user = "6071523.3391860000"
    assert table["session_id"].tolist() == [f"{user}-1604192073", f"{user}:1604199273036492"]
    assert table["user_id"].tolist() == [user, user]


def test_a_ga4_app_export_without_any_ga_session_id_gets_gap_sessions(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in ga4_lines()]
    for row in rows:
        row["event_params"] = [
            p for p in row["event_params"] if p["key"] not in ("ga_session_id", "ga_session_number")
        ]
    path = tmp_path / "app.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    config = write_config(tmp_path, '[events]\npreset = "ga4"\n')
    out = tmp_path / "f.parquet"
    code, output = cli("features", "--config", config, "--events", path, "--out", out)
    assert code == 0, output
    # 00:54 to 00:56 then 2 h later: two sessions by the 30-minute gap.
    assert len(pd.read_parquet(out)) == 2


def test_snowplow_rows_without_domain_sessionid_agree_in_validate_and_features(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[events]\npreset = "snowplow"\n')
    events = FIXTURES / "snowplow_enriched.tsv"
    code, output = cli("validate", "--config", config, "--events", events, "--quarantine", tmp_path / "q.csv")
    assert code == 0, output
    assert "rows without session id" in output
    code, output = cli("features", "--config", config, "--events", events, "--out", tmp_path / "f.parquet")
    assert code == 0, output
    sessions = pd.read_parquet(tmp_path / "f.parquet")["session_id"].tolist()
    assert sessions == [
        "9c65e7f3-1b1c-4e35-9a8f-3a3c1e1f0b7d",  # the mobile row's client_session entity
        "bc2e92ec-6c2d-4c9a-8c3d-1f2e3a4b5c6d:1709305200000000",  # no session anywhere: from the gap
        "c6ef3124-b53a-4b13-a233-0088f79dcbcb",
    ]


# --- 3. Rows with neither id are unidentifiable, not malformed.


def test_consent_mode_pings_are_counted_apart_and_do_not_fail_the_export(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in ga4_lines()]
    ping = rows[-1]
    assert "user_pseudo_id" not in ping  # the fixture's consent-mode ping
    path = tmp_path / "ga4.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [*rows[:-1], *[ping] * 2]) + "\n")  # 2 of 16 rows: 12 %
    quarantine = tmp_path / "q.csv"
    _, summary = load_events(path, parse_config({"events": {"preset": "ga4"}}), quarantine)
    assert (summary.rows_in, summary.rows_kept, summary.rows_quarantined) == (16, 14, 0)
    assert summary.rows_unidentifiable == 2
    assert summary.as_rows()["rows unidentifiable"] == "2 (12.50%): no user or session id"
    kept = pd.read_csv(quarantine)
    assert kept["reason"].tolist() == ["unidentifiable: no session_id and no user_id"] * 2
    assert kept["source_row"].tolist() == [14, 15]


def test_an_export_of_only_unidentifiable_rows_says_so(tmp_path: Path) -> None:
    path = tmp_path / "pings.jsonl"
    ping = json.loads(ga4_lines()[-1]) | {"user_pseudo_id": None}  # the id column exists, empty
    path.write_text(json.dumps(ping) + "\n")
    with pytest.raises(DataQualityError, match=r"no usable events .*1 rows read, 1 of them with neither"):
        load_events(path, parse_config({"events": {"preset": "ga4"}}), None)


# --- 4. and 5. BigQuery's CSV: its timestamp form, and newlines inside quoted fields.


def test_a_bigquery_csv_reads_its_timestamps_and_keeps_quoted_newlines_in_one_record() -> None:
    config = EventsConfig(
        session_id="ga_session_id", user_id="user_pseudo_id", timestamp="event_ts", event="event_name"
    )
    raw = read_events(FIXTURES / "bigquery_query_export.csv")
    assert len(raw) == 5
    assert raw["page_title"].iloc[2] == "Google Tee\nMen's\r\nSale"
    result = normalize_events(raw, config)
    assert result.summary.rows_quarantined == 0
    assert result.events["timestamp"].tolist()[:2] == [
        pd.Timestamp("2020-11-01 00:54:33.036492", tz="UTC"),
        pd.Timestamp("2020-11-01 00:54:36", tz="UTC"),
    ]
    batches = pd.concat(iter_event_batches(FIXTURES / "bigquery_query_export.csv", 2))
    assert batches["page_title"].tolist() == raw["page_title"].tolist()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2020-11-01 00:54:33.036492 UTC", "2020-11-01 00:54:33.036492"),  # BigQuery CSV
        ("1604192073036492", "2020-11-01 00:54:33.036492"),  # GA4 event_timestamp
        ("2020-11-01T00:54:33.036Z", "2020-11-01 00:54:33.036"),  # Segment
        ("2020-11-01T01:54:33+01:00", "2020-11-01 00:54:33"),  # Segment, with an offset
        ("2020-11-01 00:54:33.036", "2020-11-01 00:54:33.036"),  # Snowplow
        ("Sun, 01 Nov 2020 00:54:33 GMT", "2020-11-01 00:54:33"),  # RFC 2822 (HTTP logs)
    ],
)
def test_vendor_timestamp_forms(given: str, expected: str) -> None:
    raw = pd.DataFrame({"session_id": ["s"], "timestamp": [given], "event": ["click"]}, dtype="str")
    events = normalize_events(raw, EventsConfig()).events
    assert events["timestamp"].iloc[0] == pd.Timestamp(expected, tz="UTC")


# --- 6. The format comes from the content: shard names, folders, S3 objects, TSV.


def test_bigquery_shards_read_by_content_alone_in_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    lines = ga4_lines()
    with gzip.open(folder / "events-000000000000.json.gz", "wt") as out:
        out.write("\n".join(lines[:8]) + "\n")
    (folder / "events-000000000001.json").write_text("\n".join(lines[8:]) + "\n")
    (folder / "_SUCCESS").write_text("")
    whole = read_events(folder)
    assert whole.index.equals(pd.RangeIndex(len(lines)))
    config = EventsConfig(preset="ga4")
    pd.testing.assert_frame_equal(
        normalize_events(whole, config).events, normalize_events(read_events(GA4), config).events
    )
    batches = list(iter_event_batches(folder, 5))
    assert pd.concat(batches).index.equals(pd.RangeIndex(len(lines)))


def test_segment_s3_objects_are_gzip_json_lines_whatever_their_name(tmp_path: Path) -> None:
    obj = tmp_path / "1701620297000.8d5163c9.gz"
    with gzip.open(obj, "wb") as out:
        out.write((FIXTURES / "segment_track_calls.jsonl").read_bytes())
    config = EventsConfig(preset="segment")
    pd.testing.assert_frame_equal(
        normalize_events(read_events(obj), config).events,
        normalize_events(read_events(FIXTURES / "segment_track_calls.jsonl"), config).events,
    )


def test_a_tsv_reads_like_the_csv(tmp_path: Path) -> None:
    frame = pd.read_csv(FIXTURES / "events.csv", dtype="str", keep_default_na=False)
    frame.to_csv(tmp_path / "events.tsv", sep="\t", index=False)
    config = EventsConfig(context=["platform"])
    pd.testing.assert_frame_equal(
        normalize_events(read_events(tmp_path / "events.tsv"), config).events,
        normalize_events(read_events(FIXTURES / "events.csv"), config).events,
    )


def test_snowplow_enriched_tsv_without_a_header_is_named_by_the_documented_order() -> None:
    raw = read_events(FIXTURES / "snowplow_enriched.tsv")
    assert len(raw.columns) == 131
    assert raw["domain_sessionid"].iloc[0] == "c6ef3124-b53a-4b13-a233-0088f79dcbcb"
    assert raw["event_name"].tolist()[:2] == ["page_view", "page_view"]
    assert json.loads(raw["unstruct_event"].iloc[2])["data"]["data"] == {"type": "add_to_cart"}


# --- Issue 20: a deep JSON row, a corrupt Parquet input, a row that is not UTF-8.


def test_a_json_row_nested_1500_levels_deep_is_quarantined(tmp_path: Path) -> None:
    deep = '{"a": ' * 1500 + "1" + "}" * 1500
    good = '{"session_id": "s", "timestamp": 1709287200, "event": "click", "d": "text"}'
    bad = '{"session_id": "s", "timestamp": 1709287201, "event": "click", "d": ' + deep + "}"
    for name, lines in {"typed.jsonl": [bad, good], "untyped.jsonl": [good, bad]}.items():
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n")
        raw = read_events(path)
        errors = raw[READ_ERROR_COLUMN].dropna().tolist()
        assert len(errors) == 1, name
        assert "nested deeper than 100 levels" in errors[0]
        result = normalize_events(raw, EventsConfig())
        assert (result.summary.rows_kept, result.summary.rows_quarantined) == (1, 1)


@pytest.mark.parametrize("damage", ["empty", "truncated", "corrupt part"])
def test_features_on_a_broken_parquet_input_is_one_line(tmp_path: Path, damage: str) -> None:
    table = pq.read_table(FIXTURES / "events.parquet")
    if damage == "corrupt part":
        target = tmp_path / "parts"
        target.mkdir()
        pq.write_table(table, target / "part-00000.parquet")
        pq.write_table(table, target / "part-00001.parquet")
        broken = target / "part-00001.parquet"
        broken.write_bytes(broken.read_bytes()[:-40])
    else:
        target = tmp_path / "events.parquet"
        pq.write_table(table, target)
        target.write_bytes(b"" if damage == "empty" else target.read_bytes()[:200])
    with pytest.raises(DataQualityError):
        plan_memory(target)
    config = write_config(tmp_path, "[events]\n")
    code, output = cli("features", "--config", config, "--events", target, "--out", tmp_path / "f.parquet")
    assert code == 2, output
    assert len(output.strip().splitlines()) == 1
    assert "Traceback" not in output


def test_one_csv_row_that_is_not_utf8_is_quarantined_alone(tmp_path: Path) -> None:
    good = (FIXTURES / "events.csv").read_bytes().splitlines()
    bad = good[2].replace(b"#buy", b"#b\xffy")
    path = tmp_path / "events.csv"
    path.write_bytes(b"\n".join([*good[:2], bad, *good[3:]]) + b"\n")
    for frames in ([read_events(path)], list(iter_event_batches(path, 3))):
        result = [normalize_events(f, EventsConfig()) for f in frames]
        kept = sum(r.summary.rows_kept for r in result)
        quarantine = pd.concat([r.quarantine for r in result])
        assert (kept, len(quarantine)) == (7, 1)
        assert quarantine["reason"].iloc[0] == "record 2: column `target` is not valid UTF-8"
        assert quarantine["target"].iloc[0] == "#b\ufffdy"


def test_a_parquet_folder_of_shards_is_read_by_content_and_names_do_not_matter(tmp_path: Path) -> None:
    folder = tmp_path / "warehouse"
    shutil.copytree(FIXTURES / "events_parquet_dir", folder)
    (folder / "part-00000.parquet").rename(folder / "000000_0")
    pq.write_table(pa.table({"x": pa.array([], pa.int64())}), folder / ".hidden.parquet")
    assert len(read_events(folder)) == 8


# --- A label event that never occurs is said by validate, with the rate.


def test_validate_says_at_once_that_the_label_events_never_occur(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, '[events]\npreset = "ga4"\n'
    )  # the default label: support_chat, complaint
    code, output = cli("validate", "--config", config, "--events", GA4, "--quarantine", tmp_path / "q.csv")
    assert code == 0, output
    line = next(line for line in output.splitlines() if line.startswith("warning:"))
    assert line.startswith(
        "warning: the label events never occur: `support_chat`, `complaint` in 0 of 2 sessions"
    )
    assert "(label rate 0.0%)" in line
    assert "its most frequent: page_view" in line
    assert output.count("label rate") == 2  # the summary's row, and the warning
    config = write_config(tmp_path, '[events]\npreset = "ga4"\n[label]\nevents = ["purchase"]\n')
    code, output = cli("validate", "--config", config, "--events", GA4, "--quarantine", tmp_path / "q.csv")
    assert code == 0, output
    assert "warning:" not in output
    assert "50.0% of sessions (1 of 2)" in output
    assert output.count("label rate") == 1


def test_gap_sessions_for_rows_without_a_session_id_are_the_same_when_streamed(tmp_path: Path) -> None:
    config = parse_config({"events": {"preset": "ga4"}, "label": {"events": ["purchase"]}})
    tables = {}
    for streaming in (False, True):
        out = tmp_path / f"streamed-{streaming}.parquet"
        run_features(config, GA4, out, tmp_path / "q.parquet", streaming=streaming)
        tables[streaming] = pd.read_parquet(out)
    pd.testing.assert_frame_equal(tables[True], tables[False])
    assert len(tables[True]) == 2


def test_one_json_line_that_is_not_utf8_is_quarantined_alone(tmp_path: Path) -> None:
    lines = (FIXTURES / "events.jsonl").read_bytes().splitlines()
    lines[1] = lines[1].replace(b"#buy", b"#b\xffy")
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = normalize_events(read_events(path), EventsConfig())
    assert (result.summary.rows_kept, result.summary.rows_quarantined) == (7, 1)
    assert result.quarantine["reason"].iloc[0].startswith("line 2: not valid UTF-8: ")


def test_validate_refuses_what_features_refuses_in_the_config(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[label]\nkind = "absence"\nreached = "chart"\nevents = ["purchase"]\n')
    events = FIXTURES / "events.csv"
    for command in (["validate"], ["features", "--out", tmp_path / "f.parquet"]):
        code, output = cli(*command, "--config", config, "--events", events)
        assert code == 2, output
        assert "label.reached: unknown touchpoint `chart` (did you mean `cart`?)" in output


def test_streamed_ingest_counts_unidentifiable_rows_apart_too(tmp_path: Path) -> None:
    config = parse_config({"events": {"preset": "ga4"}})
    _, whole = load_events(GA4, config, tmp_path / "whole.csv")
    stream = EventStream(GA4, config, tmp_path / "streamed.csv", batch_rows=4)
    kept = sum(len(batch) for batch in stream)
    streamed = stream.finish()
    counts = ("rows_in", "rows_kept", "rows_quarantined", "rows_unidentifiable", "rows_without_session")
    assert [getattr(streamed, c) for c in counts] == [getattr(whole, c) for c in counts] == [15, 14, 0, 1, 2]
    assert kept == 14
    # A JSON batch has the keys of its own lines: compare what every quarantine has.
    shown = ["source_row", "reason", "event_name", "event_timestamp"]
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "streamed.csv")[shown], pd.read_csv(tmp_path / "whole.csv")[shown]
    )
