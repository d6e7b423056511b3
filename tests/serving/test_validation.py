"""Field validation: unknown fields, string and event limits, context keys, malformed values;
every failure a 422 naming the field, without echoing the input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.serving.bodies import body, only_error

pytestmark = pytest.mark.anyio


async def test_unknown_fields_are_refused(client: httpx.AsyncClient) -> None:
    error = only_error(await client.post("/v1/score", json=body(surprise=1)))
    assert error["loc"] == ["body", "surprise"]
    assert error["type"] == "extra_forbidden"
    events = body()["events"]
    events[1] = events[1] | {"colour": "red"}
    error = only_error(await client.post("/v1/score", json=body(events=events)))
    assert error["loc"] == ["body", "events", 1, "colour"]


async def test_long_strings_are_422_naming_the_field(limited: httpx.AsyncClient) -> None:
    events = body()["events"]
    events[2] = events[2] | {"page": "/" + "p" * 40}
    error = only_error(await limited.post("/v1/score", json=body(events=events)))
    assert error == {
        "type": "string_too_long",
        "loc": ["body", "events", 2, "page"],
        "msg": "String should have at most 32 characters",
    }
    error = only_error(await limited.post("/v1/score", json=body(session_id="s" * 33)))
    assert error["loc"] == ["body", "session_id"]
    path = "/v1/sessions/abc/events"
    error = only_error(await limited.post(path, json={"events": body()["events"], "user_id": "u" * 33}))
    assert error["loc"] == ["body", "user_id"]


async def test_strings_past_the_hard_ceiling_are_422(client: httpx.AsyncClient) -> None:
    error = only_error(await client.post("/v1/score", json=body(session_id="s" * 5000)))
    assert error["loc"] == ["body", "session_id"]
    assert error["type"] == "string_too_long"


async def test_too_many_events_is_422(limited: httpx.AsyncClient) -> None:
    events = [body()["events"][0] | {"timestamp": f"2026-03-02T10:00:0{i}Z"} for i in range(6)]
    error = only_error(await limited.post("/v1/score", json=body(events=events)))
    assert error == {
        "type": "too_long",
        "loc": ["body", "events"],
        "msg": "at most 5 events per session, got 6",
    }


async def test_unknown_context_key_names_the_allowed_ones(client: httpx.AsyncClient) -> None:
    error = only_error(await client.post("/v1/score", json=body(context={"platfrom": "ios"})))
    assert error["loc"] == ["body", "context", "platfrom"]
    assert error["msg"] == (
        "unknown context key (did you mean `platform`?); the model knows: "
        "platform, acquisition_channel, customer_type"
    )


async def test_history_needs_a_user(client: httpx.AsyncClient) -> None:
    error = only_error(await client.post("/v1/score", json=body(user_id=None, history={"prior_sessions": 2})))
    assert error["loc"] == ["body", "history"]


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"events": []}, ["body", "events"]),
        ({"events": [{"timestamp": "yesterday", "event": "click"}]}, ["body", "events", 0, "timestamp"]),
        ({"events": [{"timestamp": "2026-03-02T10:00:00Z", "event": ""}]}, ["body", "events", 0, "event"]),
        ({"top": 0}, ["body", "top"]),
        # No coercion: each value must have the JSON type the document states.
        ({"events": [{"timestamp": 1772445600, "event": "click"}]}, ["body", "events", 0, "timestamp"]),
        (
            {"events": [{"timestamp": "2026-03-02T10:00:00Z", "event": "click", "x": False}]},
            ["body", "events", 0, "x"],
        ),
        (
            {"events": [{"timestamp": "2026-03-02T10:00:00Z", "event": "e", "load_ms": "9"}]},
            ["body", "events", 0, "load_ms"],
        ),
        ({"explain": "yes"}, ["body", "explain"]),
        ({"top": "2"}, ["body", "top"]),
        ({"history": {"prior_sessions": 1.5}}, ["body", "history", "prior_sessions"]),
    ],
)
async def test_malformed_values_are_422(
    client: httpx.AsyncClient, change: dict[str, Any], loc: list[Any]
) -> None:
    error = only_error(await client.post("/v1/score", json=body(**change)))
    assert error["loc"] == loc


async def test_invalid_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/score", content=b'{"session_id": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


async def test_a_session_of_label_events_only_is_422(client: httpx.AsyncClient) -> None:
    events = [{"timestamp": "2026-03-02T10:00:00Z", "event": "complaint"}]
    error = only_error(await client.post("/v1/score", json=body(events=events)))
    assert error["type"] == "not_scorable"
    assert error["loc"] == ["body", "events"]
    assert "no journey event to score" in error["msg"]


async def test_batch_limits(limited: httpx.AsyncClient) -> None:
    three = {"sessions": [body(session_id=f"s{i}") for i in range(3)]}
    error = only_error(await limited.post("/v1/score/batch", json=three))
    assert error == {
        "type": "too_long",
        "loc": ["body", "sessions"],
        "msg": "at most 2 sessions per batch, got 3",
    }
    twice = {"sessions": [body(), body()]}
    error = only_error(await limited.post("/v1/score/batch", json=twice))
    assert error["loc"] == ["body", "sessions", 1, "session_id"]
    events = body()["events"]
    events[0] = events[0] | {"page": "x" * 40}
    nested = {"sessions": [body(session_id="a"), body(session_id="b", events=events)]}
    error = only_error(await limited.post("/v1/score/batch", json=nested))
    assert error["loc"] == ["body", "sessions", 1, "events", 0, "page"]
