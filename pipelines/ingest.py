"""The first step of every job: read the events, normalize them, set the bad rows aside.

The quarantine file is written before the bad-row limit is enforced, so a failed run still
leaves the rows and their reasons to look at.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.config import FrictionConfig
from features.errors import ConfigError, DataQualityError
from features.events import NormalizeSummary, check_bad_row_rate, normalize_events
from pipelines.readers import iter_event_batches, read_events
from pipelines.writers import write_parquet, write_text

__all__ = ["EventStream", "IngestSummary", "default_quarantine_path", "load_events", "write_quarantine"]


def default_quarantine_path(events_path: Path) -> Path:
    """Where an events file's bad rows go unless told otherwise: beside it, `NAME.quarantine.parquet`."""
    name = events_path.name.split(".")[0] or "events"
    return events_path.parent / f"{name}.quarantine.parquet"


@dataclass(frozen=True)
class IngestSummary:
    source: Path
    rows_in: int
    rows_kept: int
    rows_quarantined: int
    sessions: int | None  # distinct session ids; None when sessions are derived later
    users: int | None
    first_event: pd.Timestamp | None
    last_event: pd.Timestamp | None
    quarantine_path: Path | None  # None when no row was set aside (or none was asked for)
    seconds: float
    problems: dict[str, int] = field(default_factory=dict)
    # Rows with neither id: in the quarantine file too, but not in the bad-row rate.
    rows_unidentifiable: int = 0
    rows_without_session: int = 0  # kept rows whose sessions are derived from the gap in their user

    @property
    def bad_row_rate(self) -> float:
        return self.rows_quarantined / self.rows_in if self.rows_in else 0.0

    def as_rows(self) -> dict[str, Any]:
        """What a job prints: label -> value."""
        rows: dict[str, Any] = {
            "events file": str(self.source),
            "rows read": self.rows_in,
            "rows kept": self.rows_kept,
            "rows quarantined": f"{self.rows_quarantined:,} ({self.bad_row_rate:.2%})",
        }
        rows |= {f"  {problem}": count for problem, count in self.problems.items()}
        if self.rows_unidentifiable:
            share = self.rows_unidentifiable / self.rows_in
            rows["rows unidentifiable"] = f"{self.rows_unidentifiable:,} ({share:.2%}): no user or session id"
        if self.rows_without_session:
            rows["rows without session id"] = f"{self.rows_without_session:,}: gap sessions within their user"
        if self.sessions is not None:
            rows["sessions"] = self.sessions
        if self.users is not None:
            rows["users"] = self.users
        if self.first_event is not None:
            rows["time span"] = f"{self.first_event} .. {self.last_event}"
        if self.quarantine_path is not None:
            rows["quarantine"] = str(self.quarantine_path)
        rows["seconds"] = self.seconds
        return rows


def load_events(
    path: Path, config: FrictionConfig, quarantine_path: Path | None
) -> tuple[pd.DataFrame, IngestSummary]:
    """Canonical events from a file; bad rows go to `quarantine_path` (Parquet or CSV).

    Raises `DataQualityError` past `quality.max_bad_row_rate`, or when no row is usable.
    """
    started = time.perf_counter()
    if quarantine_path is not None:
        _quarantine_format(quarantine_path)  # a bad name fails before the work, not after
    normalized = normalize_events(read_events(path), config.events)
    events, summary = normalized.events, normalized.summary
    written = None
    if len(normalized.quarantine) and quarantine_path is not None:
        written = write_quarantine(normalized.quarantine, quarantine_path)
    check_bad_row_rate(summary, config.quality.max_bad_row_rate, quarantine=str(written) if written else None)
    if not summary.rows_kept:
        raise DataQualityError(f"no usable events in {path} ({_unusable(summary)})")
    stamps = events["timestamp"]
    without_session = _without_session(events)
    return events, IngestSummary(
        source=path,
        rows_in=summary.rows_in,
        rows_kept=summary.rows_kept,
        rows_quarantined=summary.rows_quarantined,
        sessions=(
            int(events["session_id"].nunique()) if "session_id" in events and not without_session else None
        ),
        users=int(events["user_id"].nunique()) if "user_id" in events else None,
        first_event=stamps.min(),
        last_event=stamps.max(),
        quarantine_path=written,
        seconds=time.perf_counter() - started,
        problems=dict(summary.problems),
        rows_unidentifiable=summary.rows_unidentifiable,
        rows_without_session=without_session,
    )


def _without_session(events: pd.DataFrame) -> int:
    """Kept rows without a session id (they have a user id: sessions are derived for them)."""
    if "session_id" not in events or "user_id" not in events:
        return 0
    return int(events["session_id"].isna().sum())


def _unusable(summary: NormalizeSummary) -> str:
    said = f"{summary.rows_in:,} rows read"
    if summary.rows_unidentifiable:
        said += f", {summary.rows_unidentifiable:,} of them with neither a user nor a session id"
    return said


class EventStream:
    """Canonical events batch by batch, for inputs larger than memory; `finish()` then
    writes the quarantine and enforces the bad-row limit exactly as `load_events` does.

    The quarantined rows (at most the bad-row limit's share of the input) are held until
    the end: their file is written once, and only then can the limit fail the run.
    """

    def __init__(
        self, path: Path, config: FrictionConfig, quarantine_path: Path | None, batch_rows: int
    ) -> None:
        if quarantine_path is not None:
            _quarantine_format(quarantine_path)
        self.path, self.config, self.batch_rows = path, config, batch_rows
        self.quarantine_path = quarantine_path
        self._quarantine: list[pd.DataFrame] = []
        self._rows_in = self._rows_kept = self._unidentifiable = self._without_session = 0
        self._problems: Counter[str] = Counter()
        self._first: pd.Timestamp | None = None
        self._last: pd.Timestamp | None = None
        self._started = time.perf_counter()

    def __iter__(self) -> Iterator[pd.DataFrame]:
        """Each batch's kept rows (canonical columns; a JSON Lines batch may lack optional ones)."""
        for raw in iter_event_batches(self.path, self.batch_rows):
            normalized = normalize_events(raw, self.config.events)
            summary, events = normalized.summary, normalized.events
            self._rows_in += summary.rows_in
            self._rows_kept += summary.rows_kept
            self._unidentifiable += summary.rows_unidentifiable
            self._without_session += _without_session(events)
            self._problems.update(summary.problems)
            if len(normalized.quarantine):
                self._quarantine.append(normalized.quarantine)
            if len(events):
                low, high = events["timestamp"].min(), events["timestamp"].max()
                self._first = low if self._first is None else min(self._first, low)
                self._last = high if self._last is None else max(self._last, high)
                yield events

    @property
    def rows_in(self) -> int:
        return self._rows_in

    def finish(self) -> IngestSummary:
        """Write the quarantine, enforce the bad-row limit; sessions and users are left to the engine."""
        set_aside = sum(len(q) for q in self._quarantine)
        summary = NormalizeSummary(
            self._rows_in,
            self._rows_kept,
            set_aside - self._unidentifiable,
            dict(self._problems),
            rows_unidentifiable=self._unidentifiable,
        )
        written = None
        if set_aside and self.quarantine_path is not None:
            written = write_quarantine(pd.concat(self._quarantine, ignore_index=True), self.quarantine_path)
        self._quarantine = []
        check_bad_row_rate(
            summary, self.config.quality.max_bad_row_rate, quarantine=str(written) if written else None
        )
        if not summary.rows_kept:
            raise DataQualityError(f"no usable events in {self.path} ({_unusable(summary)})")
        return IngestSummary(
            source=self.path,
            rows_in=summary.rows_in,
            rows_kept=summary.rows_kept,
            rows_quarantined=summary.rows_quarantined,
            sessions=None,
            users=None,
            first_event=self._first,
            last_event=self._last,
            quarantine_path=written,
            seconds=time.perf_counter() - self._started,
            problems=dict(summary.problems),
            rows_unidentifiable=summary.rows_unidentifiable,
            rows_without_session=self._without_session,
        )


def write_quarantine(quarantine: pd.DataFrame, target: Path) -> Path:
    """Write the quarantined rows atomically, as Parquet or CSV after the target's name."""
    if _quarantine_format(target) == "csv":
        return write_text(quarantine.to_csv(index=False), target)
    return write_parquet(quarantine, target)


def _quarantine_format(target: Path) -> str:
    suffix = target.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ConfigError(
            f"quarantine file {target.name!r} must end in .parquet or .csv, not {suffix or '(none)'}"
        )
    return suffix.removeprefix(".")
