"""Sessions scored together (serving.batcher, `score_each`) get exactly the numbers and the
errors they get alone, and concurrent requests do share featurizer calls."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from features.errors import DataQualityError
from serving.app import create_app
from serving.batcher import ScoreBatcher
from serving.columns import SessionInput, event_fields, from_request
from serving.errors import NotScorableError
from serving.metrics import Metrics
from serving.schemas.requests import ScoreRequest
from serving.served import ServedModel
from serving.session_scores import score_each, shared_calls
from tests.serving.apps import http_client, make_settings
from tests.serving.bodies import histories, score_body
from tests.worlds import SmallWorld, TrainedWorld

pytestmark = pytest.mark.anyio

SESSIONS = 24


@pytest.fixture(scope="module")
def bodies(world: SmallWorld) -> list[dict[str, Any]]:
    """Score bodies of sessions of distinct users, returning ones (with history) among them."""
    table = world.table.drop_duplicates("user_id", keep="last")
    history = histories(world.table)
    returning = table.loc[table["session__prior_sessions"] > 0, "session_id"].head(SESSIONS // 2)
    others = table.loc[table["session__prior_sessions"] == 0, "session_id"].head(SESSIONS // 2)
    context = tuple(world.config.events.context_columns())
    chosen = [*returning.tolist(), *others.tolist()]
    assert len(chosen) == SESSIONS
    return [score_body(world.world.events, sid, context, history[sid]) for sid in chosen]


def _input(served: ServedModel, body: dict[str, Any]) -> SessionInput:
    request = ScoreRequest.model_validate(body)
    fields = event_fields(request.events)
    return from_request(
        request.session_id, request.user_id, fields, request.context, request.history, served.context_names
    )


def _alone(served: ServedModel, sessions: list[SessionInput]) -> list[Any]:
    return [score_each(served, [s], [True], [3])[0] for s in sessions]


def test_sessions_scored_together_equal_each_alone(served: ServedModel, bodies: list[dict[str, Any]]) -> None:
    sessions = [_input(served, b) for b in bodies]
    together = score_each(served, sessions, [True] * len(sessions), [3] * len(sessions))
    assert len(shared_calls(sessions, 64)) == 1  # distinct sessions and users: one call
    assert together == _alone(served, sessions)  # raw, risk, band, drivers: all equal exactly


def test_sessions_that_would_meet_in_one_call_are_kept_apart(
    served: ServedModel, bodies: list[dict[str, Any]]
) -> None:
    first, second = bodies[0], bodies[1]
    # The same session twice, another session under the first one's id, and a session of the
    # first one's user with a history of its own: in one call each would change the others.
    same_user = second | {"session_id": "same-user", "user_id": first["user_id"]}
    renamed = second | {"session_id": first["session_id"], "user_id": "someone-else"}
    chosen = [first, first, renamed, same_user, second]
    sessions = [_input(served, b) for b in chosen]
    assert shared_calls(sessions, 64) == [[0, 4], [1], [2, 3]]
    assert shared_calls(sessions, 1) == [[0], [1], [2], [3], [4]]
    together = score_each(served, sessions, [True] * 5, [3] * 5)
    assert together == _alone(served, sessions)
    assert together[0] == together[1]


def test_a_session_that_cannot_be_scored_fails_alone(
    served: ServedModel, bodies: list[dict[str, Any]]
) -> None:
    sessions = [_input(served, b) for b in bodies[:4]]
    label_only = _input(served, bodies[4] | {"session_id": "labels", "events": [
        {"timestamp": "2026-03-02T10:00:00Z", "event": event} for event in served.featurizer.label_events_
    ]})  # fmt: skip
    broken = dataclasses.replace(sessions[1], session_id="broken")
    broken.columns["event"] = [None] * broken.n_events
    mixed = [sessions[0], label_only, broken, *sessions[2:]]
    outcomes = score_each(served, mixed, [True] * 6, [3] * 6)
    assert isinstance(outcomes[1], NotScorableError)
    assert "'labels' has no journey event" in str(outcomes[1])
    assert isinstance(outcomes[2], DataQualityError)
    assert "column `event` is empty" in str(outcomes[2])
    good = [outcomes[0], *outcomes[3:]]
    assert good == _alone(served, [sessions[0], *sessions[2:]])


async def test_queued_sessions_are_scored_in_one_turn_by_the_model_each_read(
    served: ServedModel, bodies: list[dict[str, Any]]
) -> None:
    sessions = [_input(served, b) for b in bodies[:6]]
    other = dataclasses.replace(served, version="sha256:other")  # a reload mid-queue
    metrics = Metrics()
    batcher = ScoreBatcher(metrics, limit=4)
    models = [served, other, served, served, served, served]
    tasks = [asyncio.create_task(batcher.score(m, s, True, 3)) for m, s in zip(models, sessions, strict=True)]
    await asyncio.sleep(0)  # every task queues its session
    tasks[2].cancel()  # a client gone before its turn: not scored, the others are
    await asyncio.sleep(0)
    answers = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(answers[2], asyncio.CancelledError)
    expected = _alone(served, sessions)
    assert [a for i, a in enumerate(answers) if i != 2] == [e for i, e in enumerate(expected) if i != 2]
    # At most four per turn: first [0, 1, 3] (2 sessions of one model, 1 of the other), then [4, 5].
    sizes = {s.labels["le"]: s.value for s in _samples(metrics, "friction_score_batch_sessions_bucket")}
    assert sizes["1.0"] == 1  # cumulative buckets: one call of 1 session,
    assert sizes["2.0"] == 3  # two of 2
    assert _samples(metrics, "friction_score_batch_sessions_count")[0].value == 3


async def test_sessions_that_keep_arriving_join_the_waiting_call(
    served: ServedModel, bodies: list[dict[str, Any]]
) -> None:
    sessions = [_input(served, b) for b in bodies[:4]]
    metrics = Metrics()
    batcher = ScoreBatcher(metrics, limit=32)
    first = asyncio.create_task(batcher.score(served, sessions[0], False, 3))
    await asyncio.sleep(0)  # the first session waits; the rest arrive on the loop's next turn
    later = [asyncio.create_task(batcher.score(served, s, False, 3)) for s in sessions[1:]]
    answers = await asyncio.gather(first, *later)
    assert answers == [score_each(served, [s], [False], [3])[0] for s in sessions]
    assert _samples(metrics, "friction_score_batch_sessions_count")[0].value == 1
    assert _samples(metrics, "friction_score_batch_sessions_sum")[0].value == 4


def _samples(metrics: Metrics, name: str) -> list[Any]:
    return [s for family in metrics.registry.collect() for s in family.samples if s.name == name]


async def _concurrently(app: FastAPI, bodies: list[dict[str, Any]]) -> tuple[list[httpx.Response], float]:
    async with app.router.lifespan_context(app), http_client(app) as client:
        answers = await asyncio.gather(*(client.post("/v1/score", json=b) for b in bodies))
        calls = _samples(app.state.metrics, "friction_score_batch_sessions_count")[0].value
    return list(answers), calls


@pytest.mark.parametrize("limit", [32, 1])
async def test_concurrent_requests_share_featurizer_calls(
    world_model: TrainedWorld, served: ServedModel, bodies: list[dict[str, Any]], limit: int
) -> None:
    chosen = [*bodies[:12], bodies[0] | {"events": []}, bodies[1] | {"session_id": "labels", "events": [
        {"timestamp": "2026-03-02T10:00:00Z", "event": event} for event in served.featurizer.label_events_
    ]}]  # fmt: skip
    app = create_app(make_settings(str(world_model.path), score_batch=limit))
    app.state.holder.set(served)
    answers, calls = await _concurrently(app, chosen)
    assert [a.status_code for a in answers] == [200] * 12 + [422, 422]
    assert "has no journey event" in answers[-1].text
    expected = _alone(served, [_input(served, b) for b in chosen[:12]])
    assert [a.json()["risk"] for a in answers[:12]] == [e.risk for e in expected]
    assert [len(a.json()["drivers"]) for a in answers[:12]] == [len(e.drivers) for e in expected]
    if limit == 1:
        assert calls == 13  # one call per session that reached the featurizer
    else:
        assert calls < 13, "concurrent requests were scored one by one"
