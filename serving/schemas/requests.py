"""Request bodies. Unknown fields are refused (`extra="forbid"`); every string and list has a
hard ceiling here (so in the OpenAPI document), and `serving.limits` applies the lower limits
the settings choose."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetPydanticSchema, WithJsonSchema
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from serving.settings import MAX_BATCH_CEILING, MAX_EVENTS_CEILING, MAX_STRING_CEILING

__all__ = ["AppendRequest", "BatchScoreRequest", "EventIn", "HistoryIn", "ScoreRequest", "StoredEvent"]


_NOT_TEXT = (
    "must be an ISO 8601 timestamp, e.g. 2026-11-23T10:00:00Z "
    "(epoch numbers are refused, as JSON numbers and as text)"
)
# ISO 8601 starts with the date; pydantic alone would read "1700000000" as epoch seconds.
_ISO_DATE_START = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
_ISO = re.compile(_ISO_DATE_START)


def _text_or_moment(value: object) -> object:
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO.match(value)):
        return value
    raise PydanticCustomError("timestamp_type", _NOT_TEXT)


def _moment_schema(source: type[Any], handler: GetCoreSchemaHandler) -> CoreSchema:
    """One rule for timestamps: ISO 8601 text only. Epoch numbers are refused whether they come
    as JSON numbers or as numeric text (seconds or milliseconds? the API does not guess).

    From JSON (request bodies) the text check is pydantic's own string check, chained before its
    datetime parsing: no Python call per event. From Python (the session store's records, the
    smoke session) text or datetime objects pass through a plain check first."""
    moment = handler(source)
    text = core_schema.custom_error_schema(
        core_schema.str_schema(pattern=_ISO_DATE_START),
        custom_error_type="timestamp_type",
        custom_error_message=_NOT_TEXT,
    )
    return core_schema.json_or_python_schema(
        json_schema=core_schema.chain_schema([text, moment]),
        python_schema=core_schema.no_info_before_validator_function(_text_or_moment, moment),
    )


# Numbers, booleans and counts are strict: `false` is no number and `"1"` no count, so a body
# is accepted only if it is what the OpenAPI document says (JSON integers are numbers).
Text = Annotated[str, Field(min_length=1, max_length=MAX_STRING_CEILING)]
OptionalText = Annotated[str | None, Field(default=None, max_length=MAX_STRING_CEILING)]
Finite = Annotated[float | None, Field(default=None, allow_inf_nan=False, strict=True)]
Moment = Annotated[
    datetime,
    GetPydanticSchema(_moment_schema),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Flag = Annotated[bool, Field(strict=True)]
MAX_CONTEXT_KEYS = 64
MAX_TOP = 20


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HistoryIn(_Body):
    """The user's sessions before this one (what batch jobs derive from earlier sessions)."""

    prior_sessions: int = Field(ge=0, le=10_000_000, strict=True)
    last_session_end: Moment | None = None


class EventIn(_Body):
    """One event of the canonical contract (features/schema.py); context goes on the request."""

    # ISO 8601 (RFC 3339) text; a time without offset is taken as UTC.
    timestamp: Moment
    event: Text
    touchpoint: OptionalText = None
    page: OptionalText = None
    target: OptionalText = None
    x: Finite = None
    y: Finite = None
    load_ms: Annotated[float | None, Field(default=None, ge=0, allow_inf_nan=False, strict=True)] = None
    value: Finite = None


class StoredEvent(EventIn):
    """What the session store keeps per event: the event plus the request's user and context,
    exactly the rows a batch job would read for this session."""

    user_id: OptionalText = None
    context: dict[str, str | None] = Field(default_factory=dict)
    # Set on the first event of an append that sent a history; the latest one counts.
    history: HistoryIn | None = None


Context = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=MAX_STRING_CEILING)], str | None],
    Field(default_factory=dict, max_length=MAX_CONTEXT_KEYS),
]


class _Scoring(_Body):
    user_id: OptionalText = None
    # Session context (platform, channel, ...): the model's context columns, by name.
    context: Context
    history: HistoryIn | None = None
    explain: Flag = True
    # Drivers to return; the server's `top_drivers` when absent.
    top: int | None = Field(default=None, ge=1, le=MAX_TOP, strict=True)


class ScoreRequest(_Scoring):
    session_id: Text
    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS_CEILING)


class BatchScoreRequest(_Body):
    sessions: list[ScoreRequest] = Field(min_length=1, max_length=MAX_BATCH_CEILING)


class AppendRequest(_Scoring):
    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS_CEILING)
