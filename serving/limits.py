"""The limits the settings choose (below the schemas' hard ceilings), and the model-specific
checks a static schema cannot make (context keys). Each failure is a 422 naming the field,
in FastAPI's own error format."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi.exceptions import RequestValidationError

from features.schema import did_you_mean
from serving.columns import EventFields, microseconds
from serving.schemas.requests import HistoryIn
from serving.settings import Settings

__all__ = ["check_session", "invalid"]

Loc = tuple[str | int, ...]
_EVENT_TEXT = ("event", "touchpoint", "page", "target")


def _error(loc: Loc, kind: str, message: str) -> dict[str, Any]:
    return {"type": kind, "loc": ("body", *loc), "msg": message, "input": None}


def invalid(loc: Loc, kind: str, message: str) -> RequestValidationError:
    """A 422 for the body field at `loc`."""
    return RequestValidationError([_error(loc, kind, message)])


def _longest(texts: Sequence[str | None]) -> int:
    return max(map(len, filter(None, texts)), default=0)  # no Python loop per event


def _long_strings(
    loc: Loc, user_id: str | None, fields: EventFields, context: Mapping[str, str | None], limit: int
) -> Iterator[dict[str, Any]]:
    message = f"String should have at most {limit} characters"
    if user_id is not None and len(user_id) > limit:
        yield _error((*loc, "user_id"), "string_too_long", message)
    for key, value in context.items():
        if len(key) > limit or (value is not None and len(value) > limit):
            yield _error((*loc, "context", key), "string_too_long", message)
    if max(_longest(fields[name]) for name in _EVENT_TEXT) <= limit:
        return
    for i in range(len(fields["event"])):
        for name in _EVENT_TEXT:
            text = fields[name][i]
            if text is not None and len(text) > limit:
                yield _error((*loc, "events", i, name), "string_too_long", message)


def _out_of_range(
    loc: Loc, fields: EventFields, history: HistoryIn | None, earliest: int, latest: int, rule: str
) -> Iterator[dict[str, Any]]:
    """Times outside [earliest, latest] (epoch us): a 0001 or 9999 date, or a wrong clock."""
    stamps = fields["timestamp"]
    try:  # offset-aware times (the usual case): compared as they are, no loop in Python
        lo, hi = microseconds(min(stamps)), microseconds(max(stamps))
    except TypeError:  # a naive time among them (taken as UTC)
        lo, hi = min(map(microseconds, stamps)), max(map(microseconds, stamps))
    if lo < earliest or hi > latest:
        for i, stamp in enumerate(stamps):
            if not earliest <= microseconds(stamp) <= latest:
                yield _error(
                    (*loc, "events", i, "timestamp"), "timestamp_range", f"{stamp.isoformat()}: {rule}"
                )
    end = history.last_session_end if history is not None else None
    if end is not None and not earliest <= microseconds(end) <= latest:
        yield _error((*loc, "history", "last_session_end"), "timestamp_range", f"{end.isoformat()}: {rule}")


def check_session(
    settings: Settings,
    context_names: Sequence[str],
    *,
    loc: Loc = (),
    session_id: str | None,
    user_id: str | None,
    fields: EventFields,
    context: Mapping[str, str | None],
    history: HistoryIn | None,
) -> None:
    """Raise one `RequestValidationError` listing every limit the request passes; `fields` are
    the events' `serving.columns.event_fields`."""
    n_events = len(fields["event"])
    errors = []
    limit = settings.max_string_length
    if session_id is not None and len(session_id) > limit:
        errors.append(
            _error((*loc, "session_id"), "string_too_long", f"String should have at most {limit} characters")
        )
    if n_events > settings.max_events_per_session:
        errors.append(
            _error(
                (*loc, "events"),
                "too_long",
                f"at most {settings.max_events_per_session} events per session, got {n_events}",
            )
        )
    errors += list(_long_strings(loc, user_id, fields, context, limit))
    earliest = microseconds(settings.earliest_timestamp)
    latest = microseconds(datetime.now(UTC)) + int(settings.max_future_s * 1e6)
    rule = (
        f"timestamps must lie between {settings.earliest_timestamp.isoformat()} and "
        f"{settings.max_future_s:g} s past the server's clock"
    )
    errors += list(_out_of_range(loc, fields, history, earliest, latest, rule))
    for key in context:
        if key not in context_names:
            hint = did_you_mean(key, context_names)
            allowed = ", ".join(context_names) or "none"
            errors.append(
                _error(
                    (*loc, "context", key),
                    "unknown_context",
                    f"unknown context key{hint}; the model knows: {allowed}",
                )
            )
    if history is not None and user_id is None:
        errors.append(_error((*loc, "history"), "missing_user", "a history needs the session's `user_id`"))
    if errors:
        raise RequestValidationError(errors)
