"""The canonical event contract: column names, their types, and name hints.

Every adapter maps raw data onto these columns; everything downstream reads only them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "CORE_COLUMNS",
    "NUMERIC_COLUMNS",
    "OPTIONAL_COLUMNS",
    "STRING_COLUMNS",
    "TIMESTAMP_DTYPE",
    "did_you_mean",
]

# session_id or user_id may be absent (sessions are then derived), not both.
CORE_COLUMNS: tuple[str, ...] = ("session_id", "user_id", "timestamp", "event")
STRING_COLUMNS: tuple[str, ...] = ("session_id", "user_id", "event", "touchpoint", "page", "target")
NUMERIC_COLUMNS: tuple[str, ...] = ("x", "y", "load_ms", "value")
OPTIONAL_COLUMNS: tuple[str, ...] = ("touchpoint", "page", "target", *NUMERIC_COLUMNS)
# Microseconds: the finest unit the supported inputs carry (epoch us, ISO strings).
TIMESTAMP_DTYPE = "datetime64[us, UTC]"


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A ' (did you mean `x`?)' hint for a misspelt name, or '' when nothing is close."""
    pool = list(candidates)
    lowered = {c.lower(): c for c in pool}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean `{lowered[close[0]]}`?)" if close else ""
