"""API keys, JSON only, body size, field limits, unknown fields, and no stack trace anywhere."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from serving.app import create_app
from serving.served import ServedModel
from tests.serving.apps import API_KEY, OTHER_KEY, http_client, make_settings
from tests.serving.bodies import body
from tests.worlds import TrainedWorld

pytestmark = pytest.mark.anyio

# -- API keys ----------------------------------------------------------------------------------


async def test_missing_key_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/score", json=body(), headers={"X-API-Key": ""})
    assert response.status_code == 401
    assert response.json() == {"detail": "missing API key: send it in the `X-API-Key` header"}
    assert response.headers["www-authenticate"] == "ApiKey"


async def test_wrong_key_is_401_and_not_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/model", headers={"X-API-Key": "wrong-key-but-long-enough-123"})
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid API key"}
    assert "wrong-key" not in response.text


async def test_every_v1_operation_needs_a_key(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Each router of /v1 must build its routes as `GuardedRoute`s: one that does not fails here."""
    operations = [
        (method.upper(), path.replace("{session_id}", "s1"))
        for path, item in app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method in item
    ]
    assert len(operations) == 5
    for method, path in operations:
        response = await client.request(method, path, json=body(), headers={"X-API-Key": ""})
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "ApiKey"


def test_the_document_says_which_operations_need_the_key(world_model: TrainedWorld) -> None:
    """The key check lives in the route class, not in a dependency: the OpenAPI document still
    declares it, as an apiKey scheme on every /v1 operation and on nothing else."""
    document = create_app(make_settings(str(world_model.path), api_key_header="X-Team-Key")).openapi()
    assert document["components"]["securitySchemes"] == {
        "APIKey": {"type": "apiKey", "in": "header", "name": "X-Team-Key"}
    }
    required = {
        (method, path): operation.get("security")
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert {key: value for key, value in required.items() if key[1].startswith("/v1/")} == {
        key: [{"APIKey": []}] for key in required if key[1].startswith("/v1/")
    }
    assert len([key for key in required if key[1].startswith("/v1/")]) == 5
    assert {key: value for key, value in required.items() if not key[1].startswith("/v1/")} == {
        ("get", "/healthz"): None,
        ("get", "/readyz"): None,
    }
    open_document = create_app(
        make_settings(str(world_model.path), auth_disabled=True, api_keys=())
    ).openapi()
    assert "securitySchemes" not in open_document["components"]
    assert all("security" not in op for item in open_document["paths"].values() for op in item.values())


async def test_every_configured_key_works(client: httpx.AsyncClient) -> None:
    for key in (API_KEY, OTHER_KEY):
        assert (await client.post("/v1/score", json=body(), headers={"X-API-Key": key})).status_code == 200


async def test_probes_need_no_key(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz"):
        assert (await client.get(path, headers={"X-API-Key": ""})).status_code == 200


async def test_auth_can_be_disabled_for_local_use(world_model: TrainedWorld, served: ServedModel) -> None:
    app = create_app(make_settings(str(world_model.path), api_keys=(), auth_disabled=True))
    app.state.holder.set(served)
    async with http_client(app) as client:
        response = await client.post("/v1/score", json=body(), headers={"X-API-Key": ""})
    assert response.status_code == 200


# -- content type and size ------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_json_only(client: httpx.AsyncClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post("/v1/score", content=json.dumps(body()).encode(), headers=headers)
    assert response.status_code == 415
    shown = content_type or "none"
    assert response.json() == {
        "detail": f"request bodies must be JSON (Content-Type: application/json), got {shown}"
    }


async def test_json_suffix_media_types_are_json(client: httpx.AsyncClient) -> None:
    headers = {"Content-Type": "application/vnd.friction+json; charset=utf-8"}
    response = await client.post("/v1/score", content=json.dumps(body()).encode(), headers=headers)
    assert response.status_code == 200


async def test_body_over_the_limit_is_413(limited: httpx.AsyncClient) -> None:
    big = body(events=body()["events"] * 30)
    response = await limited.post("/v1/score", json=big)
    assert response.status_code == 413
    assert response.json() == {"detail": "request body over the limit of 2048 bytes"}


async def test_body_limit_holds_while_streaming(limited: httpx.AsyncClient) -> None:
    """No Content-Length: the server stops reading once past the limit, not at the end."""
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(200):
            sent += 1
            yield b" " * 256

    response = await limited.post("/v1/score", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"detail": "request body over the limit of 2048 bytes"}
    assert sent < 20  # 2 KB is 8 chunks of 256 bytes; the other 180+ were never read


# -- failures ------------------------------------------------------------------------------------


async def test_unexpected_errors_are_500_without_a_trace(app: FastAPI) -> None:
    class BrokenHolder:
        @property
        def current(self) -> ServedModel:
            raise RuntimeError("secret internals at /srv/friction/model.py line 12")

    app.state.holder = BrokenHolder()
    async with http_client(app, raise_app_exceptions=False) as client:
        response = await client.post("/v1/score", json=body())
    assert response.status_code == 500
    payload = response.json()
    assert set(payload) == {"detail", "request_id"}
    assert payload["detail"] == "internal server error"
    assert len(payload["request_id"]) == 32
    assert "secret" not in response.text
    assert "Traceback" not in response.text


async def test_no_model_yet_is_503(world_model: TrainedWorld) -> None:
    app = create_app(make_settings(str(world_model.path)))  # lifespan not run: nothing loaded
    async with http_client(app) as client:
        response = await client.post("/v1/score", json=body())
    assert response.status_code == 503
    assert response.json() == {"detail": "no model loaded yet; retry shortly"}


@pytest.mark.parametrize("enabled", [True, False])
async def test_docs_can_be_switched_off(
    world_model: TrainedWorld, served: ServedModel, enabled: bool
) -> None:
    app = create_app(make_settings(str(world_model.path), docs_enabled=enabled))
    app.state.holder.set(served)
    async with http_client(app) as client:
        for path in ("/docs", "/redoc"):
            assert (await client.get(path)).status_code == (200 if enabled else 404)
