"""Stateful sessions: `POST /v1/sessions/{id}/events` appends and scores, `GET /v1/sessions/{id}`
scores what was sent so far. Events live in the session store (memory or Redis), each with
the user and context its request carried, as a batch job would read them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import TypeAdapter

from serving import deps
from serving.batcher import ScoreBatcher
from serving.columns import event_fields, from_stored
from serving.limits import check_session
from serving.present import score_out
from serving.schemas.requests import MAX_TOP, AppendRequest, StoredEvent
from serving.schemas.responses import ErrorOut, ScoreOut
from serving.security import GuardedRoute
from serving.served import ServedModel
from serving.settings import MAX_STRING_CEILING

__all__ = ["router"]

router = APIRouter(prefix="/v1/sessions", tags=["sessions"], route_class=GuardedRoute)

SessionId = Annotated[str, Path(min_length=1, max_length=MAX_STRING_CEILING)]
_STORED = TypeAdapter(list[StoredEvent])


async def _score(
    served: ServedModel,
    session_id: str,
    stored: list[dict[str, object]],
    explain: bool,
    top: int,
    batcher: ScoreBatcher,
) -> ScoreOut:
    events = _STORED.validate_python(stored, strict=False)  # our own JSON records: text timestamps
    session = from_stored(session_id, events, served.context_names)
    scored = await batcher.score(served, session, explain, top)
    return score_out(served, scored, batcher.metrics)


@router.post("/{session_id}/events")
async def append_events(session_id: SessionId, body: AppendRequest, request: Request) -> ScoreOut:
    """Append events to a session (created on first use) and return its current risk."""
    served, settings, store = deps.served(request), deps.settings(request), deps.store(request)
    check_session(
        settings,
        served.context_names,
        session_id=session_id,
        user_id=body.user_id,
        fields=event_fields(body.events),
        context=body.context,
        history=body.history,
    )
    records = [
        StoredEvent(
            **event.model_dump(),
            user_id=body.user_id,
            context=body.context,
            history=body.history if i == 0 else None,
        ).model_dump(mode="json", exclude_none=True)
        for i, event in enumerate(body.events)
    ]
    stored = await store.append(session_id, records)
    top = body.top or settings.top_drivers
    return await _score(served, session_id, stored, body.explain, top, deps.batcher(request))


@router.get(
    "/{session_id}",
    responses={status.HTTP_404_NOT_FOUND: {"model": ErrorOut, "description": "unknown or expired session"}},
)
async def get_session(
    session_id: SessionId,
    request: Request,
    explain: bool = True,
    top: Annotated[int | None, Query(ge=1, le=MAX_TOP)] = None,
) -> ScoreOut:
    """The current risk of a session from the events appended so far (404 when unknown or expired)."""
    served, settings, store = deps.served(request), deps.settings(request), deps.store(request)
    if len(session_id) > settings.max_string_length:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="unknown session")
    stored = await store.get(session_id)
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown or expired session {session_id!r}")
    top = top or settings.top_drivers
    return await _score(served, session_id, stored, explain, top, deps.batcher(request))
