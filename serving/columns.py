"""Request events -> the featurizer's columns: plain lists per session, arrays per call.

Every canonical column and every context column the model knows is always passed, missing
values as None/NaN: the featurizer picks signals by the columns present, so a fixed column set
gives one fixed catalog (a superset of the model's features) whatever a request leaves out.
A session keeps its columns as lists (timestamps as epoch microseconds); `stacked` turns the
sessions of one featurizer call into one array per column, so the numpy calls are paid once
per call, not per session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain
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
    "stacked",
]

_TEXT = ("event", "touchpoint", "page", "target")
EVENT_COLUMNS: tuple[str, ...] = ("session_id", "user_id", "timestamp", *_TEXT, *NUMERIC_COLUMNS)
_FIELDS = ("timestamp", *_TEXT, *NUMERIC_COLUMNS)
_GETTERS = {name: attrgetter(name) for name in _FIELDS}
_NUMERIC = frozenset(NUMERIC_COLUMNS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


@dataclass(frozen=True, eq=False)
class SessionInput:
    """One session ready for the featurizer."""

    session_id: str
    columns: dict[str, Sequence[Any]]  # per column, a value per event; timestamps in epoch us
    history: dict[str, np.ndarray] | None
    n_events: int
    users: frozenset[str]  # the user ids its events carry (sessions of one user meet in history)


def microseconds(moment: datetime) -> int:
    """Epoch microseconds, exact; a naive time is taken as UTC (as batch readers do)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _US


def _microseconds(moments: Sequence[datetime]) -> list[int]:
    try:  # offset-aware times (the usual case): one exact subtraction each
        return [(moment - _EPOCH) // _US for moment in moments]
    except TypeError:  # a naive time among them
        return [microseconds(moment) for moment in moments]


def _array(name: str, values: Sequence[Any]) -> np.ndarray:
    if name == "timestamp":
        return np.array(values, dtype=np.int64).view("datetime64[us]")
    return np.array(values, dtype=np.float64 if name in _NUMERIC else object)  # None -> NaN


def stacked(sessions: Sequence[SessionInput]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """The columns (and histories) of sessions with the same columns, as one batch of events."""
    lists = sessions[0].columns
    if len(sessions) > 1:
        lists = {name: list(chain.from_iterable(s.columns[name] for s in sessions)) for name in lists}
    columns = {name: _array(name, values) for name, values in lists.items()}
    histories = [s.history for s in sessions if s.history is not None]
    if len(histories) <= 1:
        return columns, histories[0] if histories else None
    return columns, {name: np.concatenate([h[name] for h in histories]) for name in histories[0]}


EventFields = Mapping[str, Sequence[Any]]


def event_fields(events: Sequence[EventIn]) -> dict[str, list[Any]]:
    """Each field of the events (timestamp, texts, numbers) as one list in event order: what
    both the limit checks and the featurizer's columns read, extracted once."""
    return {name: list(map(getter, events)) for name, getter in _GETTERS.items()}


def _event_columns(fields: EventFields) -> dict[str, Sequence[Any]]:
    # The field lists themselves (nothing mutates them): no copy per request.
    return {"timestamp": _microseconds(fields["timestamp"])} | {
        name: fields[name] for name in (*_TEXT, *NUMERIC_COLUMNS)
    }


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
    columns: dict[str, Sequence[Any]] = {
        "session_id": [session_id] * n,
        "user_id": [user_id] * n,
        **_event_columns(fields),
    }
    for name in context_names:
        columns[name] = [context.get(name)] * n
    users = frozenset(() if user_id is None else (user_id,))
    return SessionInput(session_id, columns, history_columns(user_id, history), n, users)


def from_stored(session_id: str, events: Sequence[StoredEvent], context_names: Sequence[str]) -> SessionInput:
    """A stored session: user and context per event, as batch rows carry them (the featurizer
    keeps the first value seen); the latest history sent counts."""
    n = len(events)
    columns: dict[str, Sequence[Any]] = {
        "session_id": [session_id] * n,
        "user_id": [e.user_id for e in events],
        **_event_columns(event_fields(events)),
    }
    for name in context_names:
        columns[name] = [e.context.get(name) for e in events]
    histories = [e.history for e in events if e.history is not None]
    users = [e.user_id for e in events if e.user_id is not None]
    history = history_columns(users[0] if users else None, histories[-1] if histories else None)
    return SessionInput(session_id, columns, history, n, frozenset(users))
