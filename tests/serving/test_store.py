"""Session stores: the same contract for memory and the real Redis at 127.0.0.1:6379, then what
only one of them does (LRU bound in memory; sharing between workers and atomic appends in Redis)."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest
import redis.asyncio as aioredis

from features.errors import ConfigError
from serving.store import (
    MemoryStore,
    RedisStore,
    SessionStore,
    SessionTooLongError,
    StoreUnavailableError,
    open_store,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def event(i: int, **extra: Any) -> dict[str, Any]:
    return {"event": "page_view", "timestamp": f"2026-11-23T10:00:{i:02d}Z", "n": i, **extra}


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    name = f"friction-test:{secrets.token_hex(6)}:"
    yield name
    client = aioredis.Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{name}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


StoreFactory = Callable[..., SessionStore]


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[StoreFactory]:
    opened: list[SessionStore] = []

    def make(*, max_sessions: int = 100, ttl_s: float = 60.0, max_events: int = 100) -> SessionStore:
        url = REDIS_URL if request.param == "redis" else None
        store = open_store(
            url, max_sessions=max_sessions, ttl_s=ttl_s, max_events=max_events, key_prefix=prefix
        )
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


# -- the shared contract -------------------------------------------------------------------


async def test_append_returns_every_event_so_far_and_get_reads_them(make_store: StoreFactory) -> None:
    store = make_store()
    assert await store.get("s1") is None
    assert await store.append("s1", [event(0), event(1)]) == [event(0), event(1)]
    assert await store.append("s1", [event(2)]) == [event(0), event(1), event(2)]
    assert await store.get("s1") == [event(0), event(1), event(2)]
    assert await store.get("s2") is None


async def test_results_are_copies_the_caller_may_change(make_store: StoreFactory) -> None:
    store = make_store()
    sent = [event(0, nested={"a": 1})]
    got = await store.append("s1", sent)
    sent[0]["n"] = 99
    got[0]["n"] = 98
    assert await store.get("s1") == [event(0, nested={"a": 1})]


async def test_an_append_past_the_limit_keeps_nothing_of_it(make_store: StoreFactory) -> None:
    store = make_store(max_events=5)
    await store.append("s1", [event(i) for i in range(3)])
    with pytest.raises(SessionTooLongError, match=r"'s1' has 3 events; adding 3 would exceed its limit of 5"):
        await store.append("s1", [event(i) for i in range(3, 6)])
    assert await store.get("s1") == [event(i) for i in range(3)]
    assert len(await store.append("s1", [event(3), event(4)])) == 5  # exactly the limit is allowed
    with pytest.raises(SessionTooLongError, match="limit of 5"):
        await store.append("new", [event(i) for i in range(6)])
    assert await store.get("new") is None


async def test_an_empty_append_creates_no_session(make_store: StoreFactory) -> None:
    store = make_store()
    assert await store.append("s1", []) == []
    assert await store.get("s1") is None


async def test_non_json_events_are_refused_by_redis_and_kept_as_given_in_memory(prefix: str) -> None:
    store = RedisStore(REDIS_URL, ttl_s=60, max_events=10, key_prefix=prefix)
    with pytest.raises(ValueError, match="Out of range float"):
        await store.append("s1", [{"value": float("nan")}])
    assert await store.get("s1") is None
    await store.close()


# -- memory ------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_sessions_expire_ttl_after_their_last_append() -> None:
    clock = Clock()
    store = MemoryStore(max_sessions=10, ttl_s=30, max_events=10, clock=clock)
    await store.append("s1", [event(0)])
    clock.now += 20
    await store.append("s1", [event(1)])  # refreshes the TTL
    clock.now += 20
    assert await store.get("s1") == [event(0), event(1)]
    clock.now += 10.5
    assert await store.get("s1") is None
    assert await store.append("s1", [event(2)]) == [event(2)]  # an expired session starts afresh


async def test_memory_evicts_the_least_recently_used_session() -> None:
    store = MemoryStore(max_sessions=2, ttl_s=60, max_events=10)
    await store.append("a", [event(0)])
    await store.append("b", [event(1)])
    assert await store.get("a") is not None  # `a` is now more recent than `b`
    await store.append("c", [event(2)])
    assert len(store) == 2
    assert await store.get("b") is None
    assert await store.get("a") == [event(0)]
    assert await store.get("c") == [event(2)]


@pytest.mark.parametrize(("name", "value"), [("max_sessions", 0), ("ttl_s", 0.0), ("max_events", -1)])
def test_limits_must_be_positive(name: str, value: float) -> None:
    limits: dict[str, Any] = {"max_sessions": 10, "ttl_s": 60.0, "max_events": 10, name: value}
    with pytest.raises(ConfigError, match=f"{name} must be > 0, got {value}"):
        open_store(None, **limits)


# -- Redis -------------------------------------------------------------------------------


async def test_redis_sessions_expire_and_append_refreshes_the_ttl(prefix: str) -> None:
    store = RedisStore(REDIS_URL, ttl_s=1.5, max_events=10, key_prefix=prefix)
    raw = aioredis.Redis.from_url(REDIS_URL)
    await store.append("s1", [event(0)])
    await anyio.sleep(0.9)
    appended = time.monotonic()
    await store.append("s1", [event(1)])
    ttl_ms = await raw.pttl(store.key("s1"))
    assert 1500 - (time.monotonic() - appended) * 1000 - 1 <= ttl_ms <= 1500  # refreshed, not 600 left
    await anyio.sleep(0.9)  # 1.8 s after the first append: alive only thanks to the refresh
    assert await store.get("s1") == [event(0), event(1)]
    with anyio.fail_after(5):
        while await store.get("s1") is not None:
            await anyio.sleep(0.05)
    assert time.monotonic() - appended >= 1.5
    assert await raw.exists(store.key("s1")) == 0
    await raw.aclose()
    await store.close()


async def test_two_store_objects_share_sessions_like_two_workers(prefix: str) -> None:
    worker_a = open_store(REDIS_URL, max_sessions=10, ttl_s=60, max_events=10, key_prefix=prefix)
    worker_b = open_store(REDIS_URL, max_sessions=10, ttl_s=60, max_events=10, key_prefix=prefix)
    await worker_a.append("s1", [event(0)])
    assert await worker_b.append("s1", [event(1)]) == [event(0), event(1)]
    assert await worker_a.get("s1") == [event(0), event(1)]
    await worker_a.close()
    await worker_b.close()


async def test_concurrent_appends_from_two_workers_lose_nothing(prefix: str) -> None:
    workers = [RedisStore(REDIS_URL, ttl_s=60, max_events=1000, key_prefix=prefix) for _ in range(2)]

    async def send(worker: RedisStore, first: int) -> None:
        for i in range(first, first + 25):
            await worker.append("s1", [event(i % 60, seq=i)])

    async with anyio.create_task_group() as group:
        for task in range(8):
            group.start_soon(send, workers[task % 2], task * 25)
    stored = await workers[0].get("s1")
    assert stored is not None
    assert sorted(e["seq"] for e in stored) == list(range(200))
    for worker in workers:
        await worker.close()


async def test_concurrent_appends_at_the_limit_are_all_or_nothing(prefix: str) -> None:
    workers = [RedisStore(REDIS_URL, ttl_s=60, max_events=100, key_prefix=prefix) for _ in range(2)]
    accepted, refused = [], []

    async def send(task: int) -> None:
        try:
            await workers[task % 2].append("s1", [event(0, task=task)] * 3)
            accepted.append(task)
        except SessionTooLongError:
            refused.append(task)

    async with anyio.create_task_group() as group:
        for task in range(50):
            group.start_soon(send, task)
    stored = await workers[0].get("s1")
    assert stored is not None
    assert (len(accepted), len(refused), len(stored)) == (33, 17, 99)
    # Each accepted append is whole: every task's three events, none from a refused one.
    assert sorted(e["task"] for e in stored) == sorted(t for t in accepted for _ in range(3))
    for worker in workers:
        await worker.close()


# -- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [None, "", "memory", "memory://"])
def test_no_url_or_memory_gives_the_memory_store(url: str | None) -> None:
    assert isinstance(open_store(url, max_sessions=1, ttl_s=1, max_events=1), MemoryStore)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:6379", r"scheme 'http' is not supported; use one of redis://, rediss://, unix://"),
        ("127.0.0.1:6379", r"'127.0.0.1:6379': it has no scheme; use one of redis://"),
        ("redis://127.0.0.1:notaport", r"'redis://127.0.0.1:notaport' is not a valid Redis URL"),
        ("redis://user:s3cret@127.0.0.1:notaport", r"'redis://\*\*\*@127.0.0.1:notaport' is not a valid"),
    ],
)
def test_a_bad_url_is_a_config_error_naming_it(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        open_store(url, max_sessions=1, ttl_s=1, max_events=1)
    assert "s3cret" not in str(raised.value)


async def test_an_unreachable_redis_fails_fast_without_credentials() -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    store = open_store("redis://:s3cret@127.0.0.1:1/0", max_sessions=1, ttl_s=1, max_events=1)
    with anyio.fail_after(10):
        with pytest.raises(
            StoreUnavailableError, match=r"redis://\*\*\*@127.0.0.1:1/0 is unavailable"
        ) as raised:
            await store.append("s1", [event(0)])
        with pytest.raises(StoreUnavailableError):
            await store.get("s1")
    assert "s3cret" not in str(raised.value)
    await store.close()
