"""What the API exposes beyond scoring: /metrics behind the key or on its own port, no CDN
pages by default, no filesystem path in /v1/model, and one rule for timestamps."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.artifact import HASHES_FILE
from serving.app import create_app
from serving.served import ServedModel
from tests.serving.apps import API_KEY, http_client, make_settings
from tests.serving.bodies import body, only_error
from tests.serving.processes import free_port, request_json, serving_process
from tests.worlds import TrainedWorld

pytestmark = pytest.mark.anyio

# -- /metrics ------------------------------------------------------------------------------------


async def _get(world_model: TrainedWorld, served: ServedModel, path: str, key: str, **changes: Any) -> int:
    app = create_app(make_settings(str(world_model.path), **changes))
    app.state.holder.set(served)
    async with http_client(app) as client:
        return (await client.get(path, headers={"X-API-Key": key})).status_code


async def test_metrics_need_the_api_key_by_default(world_model: TrainedWorld, served: ServedModel) -> None:
    assert await _get(world_model, served, "/metrics", "") == 401
    assert await _get(world_model, served, "/metrics", "wrong-key-but-long-enough-123") == 401
    assert await _get(world_model, served, "/metrics", API_KEY) == 200
    assert await _get(world_model, served, "/metrics", "", metrics_auth=False) == 200


async def test_metrics_leave_the_api_port_when_they_have_their_own(
    world_model: TrainedWorld, served: ServedModel
) -> None:
    assert await _get(world_model, served, "/metrics", API_KEY, metrics_port=9464) == 404


@pytest.mark.slow
def test_metrics_port_serves_prometheus_without_the_api_key(
    world_model: TrainedWorld, tmp_path: Path
) -> None:
    port = free_port()
    with serving_process(
        str(world_model.path), tmp_path / "serve", env={"FRICTION_METRICS_PORT": str(port)}
    ) as server:
        assert request_json(f"{server.url}/v1/score", body())[0] == 200
        deadline = time.monotonic() + 10
        while True:  # the request is counted once its response has gone out
            status, text = request_json(f"http://127.0.0.1:{port}/metrics", key=None)
            if status != 200 or "/v1/score" in str(text) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status == 200
        assert 'friction_http_requests_total{method="POST",route="/v1/score",status="200"} 1.0' in str(text)
        assert "friction_model_info{" in str(text)
        assert request_json(f"{server.url}/metrics")[0] == 404


# -- /docs ---------------------------------------------------------------------------------------


async def test_cdn_pages_are_off_by_default_and_the_schema_stays(
    world_model: TrainedWorld, served: ServedModel
) -> None:
    for path in ("/docs", "/redoc"):
        assert await _get(world_model, served, path, "") == 404
        assert await _get(world_model, served, path, "", docs_enabled=True) == 200
    assert await _get(world_model, served, "/openapi.json", "") == 200
    assert await _get(world_model, served, "/openapi.json", "", openapi_enabled=False) == 404


# -- /v1/model -----------------------------------------------------------------------------------


async def test_model_source_is_a_digest_not_a_path(
    client: httpx.AsyncClient, world_model: TrainedWorld
) -> None:
    info = (await client.get("/v1/model")).json()
    digest = hashlib.sha256((world_model.path / HASHES_FILE).read_bytes()).hexdigest()
    assert info["source"] == f"sha256:{digest}"
    assert str(world_model.path.parent) not in (await client.get("/v1/model")).text


# -- timestamps ----------------------------------------------------------------------------------


def _with_time(stamp: object) -> dict[str, Any]:
    return body(events=[{"timestamp": stamp, "event": "page_view", "page": "/"}])


@pytest.mark.parametrize("stamp", [1772445600, 1772445600000, "1772445600", "1772445600000", "1772445600.5"])
async def test_epoch_numbers_are_refused_as_numbers_and_as_text(
    client: httpx.AsyncClient, stamp: object
) -> None:
    error = only_error(await client.post("/v1/score", json=_with_time(stamp)))
    assert error["loc"] == ["body", "events", 0, "timestamp"]
    assert "epoch numbers are refused, as JSON numbers and as text" in error["msg"]


@pytest.mark.parametrize(
    "stamp", ["0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "9999-12-31T23:59:59Z", "later"]
)
async def test_times_far_outside_any_model_are_refused_naming_the_value(
    client: httpx.AsyncClient, stamp: str
) -> None:
    if stamp == "later":
        stamp = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    score = _with_time(stamp)
    append = {k: v for k, v in score.items() if k != "session_id"}
    for path, sent in (("/v1/score", score), ("/v1/sessions/s-range/events", append)):
        error = only_error(await client.post(path, json=sent))
        assert error["loc"] == ["body", "events", 0, "timestamp"]
        assert error["type"] == "timestamp_range"
        shown = datetime.fromisoformat(stamp).isoformat()
        assert error["msg"].startswith(
            f"{shown}: timestamps must lie between 2000-01-01T00:00:00+00:00 and 86400 s"
        )


async def test_a_time_within_a_day_ahead_and_a_naive_time_are_accepted(client: httpx.AsyncClient) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await client.post("/v1/score", json=_with_time(soon))).status_code == 200
    assert (await client.post("/v1/score", json=_with_time("2026-03-02T10:00:00"))).status_code == 200


async def test_a_history_end_out_of_range_is_refused(client: httpx.AsyncClient) -> None:
    history = {"prior_sessions": 2, "last_session_end": "0001-01-01T00:00:00Z"}
    error = only_error(await client.post("/v1/score", json=body(history=history)))
    assert error["loc"] == ["body", "history", "last_session_end"]
    assert error["type"] == "timestamp_range"


async def test_the_range_comes_from_the_settings(world_model: TrainedWorld, served: ServedModel) -> None:
    app = create_app(make_settings(str(world_model.path), earliest_timestamp="2026-03-03T00:00:00Z"))
    app.state.holder.set(served)
    async with http_client(app) as client:
        response = await client.post("/v1/score", json=body())
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [e["loc"] for e in errors] == [["body", "events", i, "timestamp"] for i in range(3)]
    assert errors[0]["msg"].startswith("2026-03-02T10:00:00+00:00: timestamps must lie between 2026-03-03")
