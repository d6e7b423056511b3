"""Request events -> the featurizer's one-session fast path (a mapping of numpy arrays).

Every canonical column and every context column the model knows is always passed, missing
values as None/NaN: the featurizer picks signals by the columns present, so a fixed column set
gives one fixed catalog (a superset of the model's features) whatever a request leaves out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

import numpy as np

from features.schema import NUMERIC_COLUMNS
from serving.schemas.requests import EventIn, HistoryIn, StoredEvent

__all__ = [
    "EVENT_COLUMNS",
    "EventFields",
    "SessionInput",
    "event_fields",
    "from_request",
    "from_stored",
    "history_columns",
    "microseconds",
]

_TEXT = ("event", "touchpoint", "page", "target")
EVENT_COLUMNS: tuple[str, ...] = ("session_id", "user_id", "timestamp", *_TEXT, *NUMERIC_COLUMNS)
_FIELDS = ("timestamp", *_TEXT, *NUMERIC_COLUMNS)
_GETTERS = {name: attrgetter(name) for name in _FIELDS}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


@dataclass(frozen=True, eq=False)
class SessionInput:
    """One session ready for the featurizer."""

    session_id: str
    columns: dict[str, np.ndarray]
    history: dict[str, np.ndarray] | None
    n_events: int
    users: frozenset[str]  # the user ids its events carry (sessions of one user meet in history)


def microseconds(moment: datetime) -> int:
    """Epoch microseconds, exact; a naive time is taken as UTC (as batch readers do)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _US


def _timestamps(moments: Sequence[datetime]) -> np.ndarray:
    try:  # offset-aware times (the usual case): one exact subtraction each
        us = [(moment - _EPOCH) // _US for moment in moments]
    except TypeError:  # a naive time among them
        us = [microseconds(moment) for moment in moments]
    return np.array(us, dtype=np.int64).view("datetime64[us]")


EventFields = Mapping[str, Sequence[Any]]


def event_fields(events: Sequence[EventIn]) -> dict[str, list[Any]]:
    """Each field of the events (timestamp, texts, numbers) as one list in event order: what
    both the limit checks and the featurizer's columns read, extracted once."""
    return {name: list(map(getter, events)) for name, getter in _GETTERS.items()}


def _event_columns(fields: EventFields) -> dict[str, np.ndarray]:
    columns = {"timestamp": _timestamps(fields["timestamp"])}
    for name in _TEXT:
        columns[name] = np.array(fields[name], dtype=object)
    for name in NUMERIC_COLUMNS:
        columns[name] = np.array(fields[name], dtype=np.float64)  # None -> NaN
    return columns


def history_columns(user_id: str | None, history: HistoryIn | None) -> dict[str, np.ndarray] | None:
    """The featurizer's `history` frame for one user, as arrays; None without both."""
    if history is None or user_id is None:
        return None
    end = history.last_session_end
    end_us = np.array([np.iinfo(np.int64).min if end is None else microseconds(end)], dtype=np.int64)
    return {
        "user_id": np.array([user_id], dtype=object),
        "prior_sessions": np.array([float(history.prior_sessions)]),
        "last_session_end": end_us.view("datetime64[us]"),
    }


def from_request(
    session_id: str,
    user_id: str | None,
    fields: EventFields,
    context: Mapping[str, str | None],
    history: HistoryIn | None,
    context_names: Sequence[str],
) -> SessionInput:
    """A stateless request (its events as `event_fields`): the session's user and context hold
    for every event."""
    n = len(fields["timestamp"])
    columns = {
        "session_id": np.full(n, session_id, dtype=object),
        "user_id": np.full(n, user_id, dtype=object),
        **_event_columns(fields),
    }
    for name in context_names:
        columns[name] = np.full(n, context.get(name), dtype=object)
    users = frozenset(() if user_id is None else (user_id,))
    return SessionInput(session_id, columns, history_columns(user_id, history), n, users)


def from_stored(session_id: str, events: Sequence[StoredEvent], context_names: Sequence[str]) -> SessionInput:
    """A stored session: user and context per event, as batch rows carry them (the featurizer
    keeps the first value seen); the latest history sent counts."""
    n = len(events)
    columns = {
        "session_id": np.full(n, session_id, dtype=object),
        "user_id": np.array([e.user_id for e in events], dtype=object),
        **_event_columns(event_fields(events)),
    }
    for name in context_names:
        columns[name] = np.array([e.context.get(name) for e in events], dtype=object)
    histories = [e.history for e in events if e.history is not None]
    users = [e.user_id for e in events if e.user_id is not None]
    history = history_columns(users[0] if users else None, histories[-1] if histories else None)
    return SessionInput(session_id, columns, history, n, frozenset(users))
