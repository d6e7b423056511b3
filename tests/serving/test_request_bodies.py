"""Request bodies as the document declares them, timestamps refused or converted alike on
every path (text only; naive, offset and UTC times in bulk or one by one)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.serving.bodies import body, only_error

pytestmark = pytest.mark.anyio


async def test_openapi_documents_the_typed_bodies(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    for path, model in (
        ("/v1/score", "ScoreRequest"),
        ("/v1/score/batch", "BatchScoreRequest"),
        ("/v1/sessions/{session_id}/events", "AppendRequest"),
    ):
        operation = document["paths"][path]["post"]
        assert operation["requestBody"] == {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}},
        }
        assert operation["responses"]["422"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/HTTPValidationError"
        }
        assert model in schemas
    assert {"EventIn", "HistoryIn", "ValidationError", "HTTPValidationError"} <= set(schemas)
    assert schemas["EventIn"]["properties"]["timestamp"] == {
        "type": "string",
        "format": "date-time",
        "title": "Timestamp",
    }
    assert schemas["EventIn"]["additionalProperties"] is False


async def test_the_key_is_checked_before_the_body_is_read(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/score", content=b'{"session_id": ', headers={"Content-Type": "application/json", "X-API-Key": ""}
    )
    assert response.status_code == 401


@pytest.mark.parametrize("stamp", [1772445600, None, ["2026-03-02T10:00:00Z"]])
async def test_timestamps_must_be_text(client: httpx.AsyncClient, stamp: Any) -> None:
    events = [{"timestamp": stamp, "event": "page_view", "page": "/"}]
    error = only_error(await client.post("/v1/score", json=body(events=events)))
    assert error == {
        "type": "timestamp_type",
        "loc": ["body", "events", 0, "timestamp"],
        "msg": "must be an ISO 8601 timestamp, e.g. 2026-11-23T10:00:00Z "
        "(epoch numbers are refused, as JSON numbers and as text)",
    }


async def test_naive_offset_and_utc_timestamps_score_alike(client: httpx.AsyncClient) -> None:
    """A naive time is UTC; one naive event among aware ones takes the per-event path."""

    def at(*stamps: str) -> dict[str, Any]:
        events = [e | {"timestamp": s} for e, s in zip(body()["events"], stamps, strict=True)]
        return body(events=events)

    utc = at("2026-03-02T10:00:00Z", "2026-03-02T10:00:04Z", "2026-03-02T10:00:09Z")
    shifted = at("2026-03-02T12:00:00+02:00", "2026-03-02T07:00:04-03:00", "2026-03-02T10:00:09+00:00")
    mixed = at("2026-03-02T10:00:00", "2026-03-02T10:00:04Z", "2026-03-02 10:00:09")
    answers = [(await client.post("/v1/score", json=b)).json() for b in (utc, shifted, mixed)]
    assert all("risk" in a for a in answers), answers
    assert answers[1] == answers[0]
    assert answers[2] == answers[0]
