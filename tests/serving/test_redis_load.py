"""The Redis session store under load (the real Redis at 127.0.0.1:6379): concurrent appends
past the pool's size wait for a connection instead of failing, and `/readyz` reports the store."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter

import anyio
import pytest
from fastapi import FastAPI

from serving.app import create_app
from serving.served import ServedModel
from serving.settings import load_settings
from serving.store import RedisStore
from tests.serving.apps import API_KEY, REDIS_URL, http_client, make_settings
from tests.serving.bodies import body
from tests.worlds import TrainedWorld

CONCURRENT = 300
pytestmark = pytest.mark.anyio


async def test_300_concurrent_appends_all_succeed(redis_app: FastAPI) -> None:
    appended = {k: v for k, v in body().items() if k != "session_id"} | {"explain": False}
    async with redis_app.router.lifespan_context(redis_app), http_client(redis_app) as client:
        started = time.monotonic()
        with anyio.fail_after(120):
            answers = await asyncio.gather(
                *(client.post(f"/v1/sessions/load-{i}/events", json=appended) for i in range(CONCURRENT))
            )
        seconds = time.monotonic() - started
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {200: CONCURRENT}, (statuses, answers[-1].text, seconds)


async def test_a_small_pool_waits_instead_of_refusing(world_model: TrainedWorld, served: ServedModel) -> None:
    app = create_app(make_settings(str(world_model.path), session_store=REDIS_URL, redis_pool_size=2))
    app.state.holder.set(served)
    store = app.state.store
    assert isinstance(store, RedisStore)
    store.key_prefix = f"friction-test:{secrets.token_hex(6)}:"
    assert store.pool.max_connections == 2
    try:
        with anyio.fail_after(60):
            found = await asyncio.gather(*(store.append(f"s{i}", [{"n": i}]) for i in range(50)))
        assert found == [[{"n": i}] for i in range(50)]
    finally:
        await store.delete_all()
        await store.close()


def test_the_pool_size_comes_from_the_environment(
    world_model: TrainedWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRICTION_REDIS_POOL_SIZE", "7")
    settings = load_settings(model=str(world_model.path), api_keys=API_KEY, session_store=REDIS_URL)
    assert settings.redis_pool_size == 7
    app = create_app(settings)
    assert app.state.store.pool.max_connections == 7
    anyio.run(app.state.store.close)


async def test_readyz_reports_an_unreachable_store(world_model: TrainedWorld, served: ServedModel) -> None:
    down = create_app(make_settings(str(world_model.path), session_store="redis://127.0.0.1:1/0"))
    up = create_app(make_settings(str(world_model.path), session_store=REDIS_URL))
    for app in (down, up):
        app.state.holder.set(served)
    async with http_client(down) as client:
        with anyio.fail_after(10):
            response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "model": {"name": served.name, "version": served.version},
        "store": "unavailable",
    }
    async with http_client(up) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["store"] == "ready"
    for app in (down, up):
        await app.state.store.close()
