from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.config import parse_config
from features.errors import ConfigError, DataQualityError
from pipelines.ingest import load_events

FIXTURES = Path(__file__).parents[1] / "fixtures"


def events_csv(tmp_path: Path, good: int, bad: int) -> Path:
    """`good` rows, then `bad` rows with an unparseable timestamp."""
    stamps = [f"2024-03-01T10:{i // 60:02d}:{i % 60:02d}Z" for i in range(good)] + ["never"] * bad
    frame = pd.DataFrame(
        {
            "session_id": [f"s{i % 7}" for i in range(good + bad)],
            "user_id": [f"u{i % 3}" for i in range(good + bad)],
            "timestamp": stamps,
            "event": "click",
        }
    )
    path = tmp_path / "events.csv"
    frame.to_csv(path, index=False)
    return path


def test_clean_input_gives_events_and_a_summary(tmp_path: Path) -> None:
    quarantine = tmp_path / "out" / "quarantine.parquet"
    events, summary = load_events(FIXTURES / "events.parquet", parse_config({}), quarantine)
    assert len(events) == summary.rows_kept == summary.rows_in == 8
    assert summary.rows_quarantined == 0
    assert (summary.sessions, summary.users) == (3, 2)
    assert summary.first_event == pd.Timestamp("2024-03-01T10:00:00", tz="UTC")
    assert summary.last_event == pd.Timestamp("2024-03-03T12:05:00", tz="UTC")
    assert summary.quarantine_path is None
    assert not quarantine.exists()  # nothing to set aside, no file
    assert summary.seconds > 0
    assert summary.as_rows()["rows quarantined"] == "0 (0.00%)"


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_bad_rows_are_written_with_their_reasons(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"quarantine{suffix}"
    config = parse_config({"quality": {"max_bad_row_rate": 0.05}})
    events, summary = load_events(events_csv(tmp_path, good=99, bad=1), config, target)
    assert (summary.rows_in, summary.rows_kept, summary.rows_quarantined) == (100, 99, 1)
    assert summary.quarantine_path == target
    assert summary.problems == {"unparseable timestamp": 1}
    written = pd.read_parquet(target) if suffix == ".parquet" else pd.read_csv(target)
    assert written[["source_row", "reason", "timestamp"]].values.tolist() == [
        [99, "unparseable timestamp 'never'", "never"]
    ]
    assert len(events) == 99


def test_just_under_the_limit_passes_just_over_fails_and_keeps_the_quarantine(tmp_path: Path) -> None:
    config = parse_config({"quality": {"max_bad_row_rate": 0.02}})
    load_events(events_csv(tmp_path, good=98, bad=2), config, tmp_path / "q.parquet")
    target = tmp_path / "q2.parquet"
    with pytest.raises(
        DataQualityError, match=r"3 of 100 rows are malformed \(3\.00%\).*= 2\.00%.*in .*q2\.parquet"
    ):
        load_events(events_csv(tmp_path, good=97, bad=3), config, target)
    assert len(pd.read_parquet(target)) == 3


def test_default_limit_is_one_percent(tmp_path: Path) -> None:
    with pytest.raises(DataQualityError, match=r"quality\.max_bad_row_rate = 1\.00%"):
        load_events(events_csv(tmp_path, good=98, bad=2), parse_config({}), None)


def test_no_usable_event_is_an_error_even_when_the_limit_allows_it(tmp_path: Path) -> None:
    config = parse_config({"quality": {"max_bad_row_rate": 1.0}})
    with pytest.raises(DataQualityError, match=r"no usable events in .*events\.csv \(3 rows read\)"):
        load_events(events_csv(tmp_path, good=0, bad=3), config, None)


def test_quarantine_name_is_checked_before_the_work(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"quarantine file 'q\.txt' must end in \.parquet or \.csv, not \.txt"
    ):
        load_events(FIXTURES / "events.csv", parse_config({}), tmp_path / "q.txt")


def test_presets_apply_in_the_job_step() -> None:
    events, summary = load_events(
        FIXTURES / "snowplow_atomic_events.csv", parse_config({"events": {"preset": "snowplow"}}), None
    )
    assert summary.sessions == 2
    assert events["event"].iloc[3] == "add-to-basket"
