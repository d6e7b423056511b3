"""The first step of every job: read the events, normalize them, set the bad rows aside.

The quarantine file is written before the bad-row limit is enforced, so a failed run still
leaves the rows and their reasons to look at.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.config import FrictionConfig
from features.errors import ConfigError, DataQualityError
from features.events import check_bad_row_rate, normalize_events
from pipelines.readers import read_events
from pipelines.writers import write_parquet, write_text

__all__ = ["IngestSummary", "load_events", "write_quarantine"]


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
    if summary.rows_quarantined and quarantine_path is not None:
        written = write_quarantine(normalized.quarantine, quarantine_path)
    check_bad_row_rate(summary, config.quality.max_bad_row_rate, quarantine=str(written) if written else None)
    if not summary.rows_kept:
        raise DataQualityError(f"no usable events in {path} ({summary.rows_in:,} rows read)")
    stamps = events["timestamp"]
    return events, IngestSummary(
        source=path,
        rows_in=summary.rows_in,
        rows_kept=summary.rows_kept,
        rows_quarantined=summary.rows_quarantined,
        sessions=int(events["session_id"].nunique()) if "session_id" in events else None,
        users=int(events["user_id"].nunique()) if "user_id" in events else None,
        first_event=stamps.min(),
        last_event=stamps.max(),
        quarantine_path=written,
        seconds=time.perf_counter() - started,
        problems=dict(summary.problems),
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
