"""Stateful sessions: appending in parts scores as the whole session does, in memory and in the
real Redis at 127.0.0.1:6379."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from serving.app import create_app
from serving.served import ServedModel
from tests.serving.apps import REDIS_URL, http_client, make_settings
from tests.serving.bodies import histories, score_body
from tests.worlds import SmallWorld, TrainedWorld

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def long_session(world: SmallWorld) -> dict[str, Any]:
    """A returning user's session of 20+ events, as one `/v1/score` body with its history."""
    table = world.table
    chosen = table[(table["session__events"] >= 20) & (table["session__prior_sessions"] > 0)]
    sid = str(chosen["session_id"].iloc[0])
    context = tuple(world.config.events.context_columns())
    return score_body(world.world.events, sid, context, histories(table)[sid])


def _parts(body: dict[str, Any], cuts: tuple[int, ...]) -> list[dict[str, Any]]:
    """The session's events sent in parts; user, context and history go with the first only."""
    events = body["events"]
    bounds = [0, *cuts, len(events)]
    parts = [{"events": events[a:b]} for a, b in itertools.pairwise(bounds)]
    parts[0] |= {"user_id": body["user_id"], "context": body["context"], "history": body["history"]}
    return parts


async def _append_all(
    client: httpx.AsyncClient, session_id: str, parts: list[dict[str, Any]]
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for part in parts:
        response = await client.post(f"/v1/sessions/{session_id}/events", json=part)
        assert response.status_code == 200, response.text
        result = response.json()
    return result


async def test_appending_in_parts_scores_as_the_whole_session(
    client: httpx.AsyncClient, long_session: dict[str, Any]
) -> None:
    whole = (await client.post("/v1/score", json=long_session)).json()
    session_id = long_session["session_id"]
    appended = await _append_all(client, session_id, _parts(long_session, (5, 12)))
    assert appended == whole
    fetched = await client.get(f"/v1/sessions/{session_id}")
    assert fetched.status_code == 200
    assert fetched.json() == whole
    assert fetched.json()["events"] == len(long_session["events"])


async def test_each_append_returns_the_risk_so_far(
    client: httpx.AsyncClient, long_session: dict[str, Any]
) -> None:
    first = (await client.post("/v1/sessions/partial/events", json=_parts(long_session, (6,))[0])).json()
    so_far = long_session | {"session_id": "partial", "events": long_session["events"][:6]}
    assert first == (await client.post("/v1/score", json=so_far)).json()
    assert first["events"] == 6


async def test_get_options_explain_and_top(client: httpx.AsyncClient, long_session: dict[str, Any]) -> None:
    await _append_all(client, "opts", _parts(long_session, ()))
    quiet = (await client.get("/v1/sessions/opts", params={"explain": "false"})).json()
    assert quiet["drivers"] is None
    one = (await client.get("/v1/sessions/opts", params={"top": 1})).json()
    assert len(one["drivers"]) <= 1
    assert one["risk"] == quiet["risk"]


async def test_unknown_session_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/sessions/never-seen")
    assert response.status_code == 404
    assert response.json() == {"detail": "unknown or expired session 'never-seen'"}


async def test_a_session_past_its_event_limit_is_refused_whole(
    world_model: TrainedWorld, served: ServedModel, long_session: dict[str, Any]
) -> None:
    app = create_app(make_settings(str(world_model.path), max_events_per_session=15))
    app.state.holder.set(served)
    async with http_client(app) as client:
        first = await client.post("/v1/sessions/capped/events", json={"events": long_session["events"][:10]})
        assert first.status_code == 200
        over = await client.post("/v1/sessions/capped/events", json={"events": long_session["events"][10:16]})
        assert over.status_code == 422
        [error] = over.json()["detail"]
        assert error["loc"] == ["body", "events"]
        assert "has 10 events; adding 6 would exceed its limit of 15" in error["msg"]
        after = (await client.get("/v1/sessions/capped")).json()
        assert after["events"] == 10  # nothing of the refused append was kept


async def test_sessions_in_redis_are_shared_by_two_apps(
    redis_app: FastAPI, world_model: TrainedWorld, served: ServedModel, long_session: dict[str, Any]
) -> None:
    """Two apps (as two workers) on one Redis: what one appends, the other scores."""
    other = create_app(make_settings(str(world_model.path), session_store=REDIS_URL))
    other.state.holder.set(served)
    other.state.store.key_prefix = redis_app.state.store.key_prefix
    session_id = long_session["session_id"]
    parts = _parts(long_session, (8,))
    async with http_client(redis_app) as one, http_client(other) as two:
        whole = (await one.post("/v1/score", json=long_session)).json()
        await one.post(f"/v1/sessions/{session_id}/events", json=parts[0])
        last = await two.post(f"/v1/sessions/{session_id}/events", json=parts[1])
        assert last.json() == whole
        assert (await one.get(f"/v1/sessions/{session_id}")).json() == whole
    await other.state.store.close()


async def test_an_unreachable_store_is_503(
    world_model: TrainedWorld, served: ServedModel, long_session: dict[str, Any]
) -> None:
    """Redis down (nothing listens on port 1): a clear 503, never a 500 or a hang."""
    app = create_app(make_settings(str(world_model.path), session_store="redis://127.0.0.1:1/0"))
    app.state.holder.set(served)
    async with http_client(app) as client:
        response = await client.post("/v1/sessions/s/events", json={"events": long_session["events"][:2]})
        fetched = await client.get("/v1/sessions/s")
    await app.state.store.close()
    for answer in (response, fetched):
        assert answer.status_code == 503
        assert answer.json() == {"detail": "session store unavailable; retry shortly"}
