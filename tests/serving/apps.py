"""In-process app fixtures: settings for the world model, the model prepared once per test
session, and a fresh app (its own metrics and memory store) per test."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from serving.app import create_app
from serving.loader import load_served
from serving.served import ServedModel
from serving.settings import Settings
from serving.store import RedisStore
from tests.worlds import SmallWorld, TrainedWorld

__all__ = [
    "API_KEY",
    "anyio_backend",
    "app",
    "client",
    "http_client",
    "limited",
    "make_settings",
    "served",
    "world_context",
]

API_KEY = "serving-test-key-0123456789"
OTHER_KEY = "another-serving-key-abcdefgh"


def make_settings(model: str, **changes: object) -> Settings:
    values: dict[str, object] = {
        "model": model,
        "api_keys": (SecretStr(API_KEY), SecretStr(OTHER_KEY)),
        "reload_interval_s": 0.0,
        "freeze_heap": False,  # a full collection per app start would slow the suite down
    }
    return Settings.model_validate(values | changes)


@pytest.fixture(scope="session")
def served(world_model: TrainedWorld) -> ServedModel:
    return load_served(str(world_model.path), None)


@pytest.fixture(scope="session")
def world_context(world: SmallWorld) -> tuple[str, ...]:
    return tuple(world.config.events.context_columns())


@pytest.fixture
def app(world_model: TrainedWorld, served: ServedModel) -> FastAPI:
    app = create_app(make_settings(str(world_model.path)))
    app.state.holder.set(served)  # loaded once per test session; the lifespan keeps it
    return app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def http_client(app: FastAPI, **options: object) -> httpx.AsyncClient:
    """An httpx client calling `app` in-process (httpx's ASGI transport; no network)."""
    transport = httpx.ASGITransport(app=app, **options)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://api.test", headers={"X-API-Key": API_KEY})


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running (startup and shutdown as under uvicorn)."""
    async with app.router.lifespan_context(app), http_client(app) as test_client:
        yield test_client


@pytest.fixture
async def limited(world_model: TrainedWorld, served: ServedModel) -> AsyncIterator[httpx.AsyncClient]:
    """An app with small limits: 5 events, 32 characters, 2 sessions a batch, 2 KB bodies."""
    settings = make_settings(
        str(world_model.path),
        max_events_per_session=5,
        max_string_length=32,
        max_batch_sessions=2,
        max_body_bytes=2048,
    )
    app = create_app(settings)
    app.state.holder.set(served)
    async with http_client(app) as client:
        yield client


# The Redis every development and CI machine runs; each test uses keys of its own.
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis_app(world_model: TrainedWorld, served: ServedModel) -> AsyncIterator[FastAPI]:
    app = create_app(make_settings(str(world_model.path), session_store=REDIS_URL))
    app.state.holder.set(served)
    store = app.state.store
    assert isinstance(store, RedisStore)
    store.key_prefix = f"friction-test:{secrets.token_hex(6)}:"
    yield app
    await store.delete_all()
    await store.close()
