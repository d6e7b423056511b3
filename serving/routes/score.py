"""`POST /v1/score` (one session's events so far) and `POST /v1/score/batch`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from serving import deps
from serving.columns import SessionInput, event_fields, from_request
from serving.limits import check_session, invalid
from serving.metrics import Metrics
from serving.present import score_out
from serving.schemas.requests import BatchScoreRequest, ScoreRequest
from serving.schemas.responses import BatchScoreOut, ScoreOut
from serving.security import GuardedRoute
from serving.served import ServedModel
from serving.session_scores import score_sessions
from serving.settings import Settings

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["score"], route_class=GuardedRoute)


def _session(
    body: ScoreRequest, served: ServedModel, settings: Settings, loc: tuple[str | int, ...]
) -> SessionInput:
    fields = event_fields(body.events)
    check_session(
        settings,
        served.context_names,
        loc=loc,
        session_id=body.session_id,
        user_id=body.user_id,
        fields=fields,
        context=body.context,
        history=body.history,
    )
    return from_request(
        body.session_id, body.user_id, fields, body.context, body.history, served.context_names
    )


# `async def`: scoring one session costs less CPU than a hop to the thread pool would add;
# the event loop runs it, with the sessions of the requests that arrived with this one
# (serving.batcher).
@router.post("/score")
async def score(body: ScoreRequest, request: Request) -> ScoreOut:
    """Calibrated risk, band and top drivers (with playbook actions) of one session so far."""
    served, settings, batcher = deps.served(request), deps.settings(request), deps.batcher(request)
    session = _session(body, served, settings, ())
    scored = await batcher.score(served, session, body.explain, body.top or settings.top_drivers)
    return score_out(served, scored, batcher.metrics)


@router.post("/score/batch")
async def score_batch(body: BatchScoreRequest, request: Request) -> BatchScoreOut:
    """Several sessions in one call, each scored exactly as `/v1/score` would (results in order)."""
    served, settings, metrics = deps.served(request), deps.settings(request), deps.metrics(request)
    # A batch may take long enough to deserve the thread pool.
    return await run_in_threadpool(_score_batch, body, served, settings, metrics)


def _score_batch(
    body: BatchScoreRequest, served: ServedModel, settings: Settings, metrics: Metrics
) -> BatchScoreOut:
    count, limit = len(body.sessions), settings.max_batch_sessions
    if count > limit:
        raise invalid(("sessions",), "too_long", f"at most {limit} sessions per batch, got {count}")
    seen: dict[str, int] = {}
    for i, item in enumerate(body.sessions):
        if item.session_id in seen:
            first = seen[item.session_id]
            message = f"session_id repeats sessions[{first}]; send each session once"
            raise invalid(("sessions", i, "session_id"), "duplicate", message)
        seen[item.session_id] = i
    sessions = [_session(item, served, settings, ("sessions", i)) for i, item in enumerate(body.sessions)]
    explain = [item.explain for item in body.sessions]
    tops = [item.top or settings.top_drivers for item in body.sessions]
    scored = score_sessions(served, sessions, explain, tops)
    return BatchScoreOut(results=[score_out(served, one, metrics) for one in scored])
