"""Session state for the stateful endpoints: the events each live session has sent so far.

    open_store(None, ...)          MemoryStore: one process; LRU-bounded, TTL, max events
    open_store("redis://...", ...) RedisStore: shared by every worker; one list per session,
                                   through a blocking pool of `pool_size` connections

Both refuse an append that would take a session past `max_events` without keeping any of
it (`SessionTooLongError`), refresh a session's TTL on append, and hand back copies.
Events must be JSON-ready mappings (`model_dump(mode="json")`): Redis stores them as JSON,
and the memory store keeps the same contract so the two are interchangeable.
A Redis that cannot be reached raises `StoreUnavailableError` (a server fault, not a user's);
so does a request that waited `pool_timeout_s` for a free connection. `ready()` says whether
the store answers now (what `/readyz` reports).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from features.errors import ConfigError, FrictionError

__all__ = [
    "DEFAULT_KEY_PREFIX",
    "MemoryStore",
    "RedisStore",
    "SessionStore",
    "SessionTooLongError",
    "StoreUnavailableError",
    "open_store",
]

DEFAULT_KEY_PREFIX = "friction:session:"
MEMORY_URLS = ("", "memory", "memory://")
REDIS_SCHEMES = ("redis", "rediss", "unix")
# Bounded waits: a request must fail fast when Redis is gone, not hang the worker.
REDIS_TIMEOUT_S = 2.0
# Connections per worker; a request beyond them waits for one (up to the pool timeout).
DEFAULT_POOL_SIZE = 100
DEFAULT_POOL_TIMEOUT_S = 5.0

# KEYS[1] session list; ARGV[1] max events, ARGV[2] TTL in ms, ARGV[3..] events as JSON.
# Returns the stored length (an integer) when the append would pass the limit, appending
# nothing; otherwise the whole list after the append. Atomic: Redis runs a script alone.
_APPEND_SCRIPT = """
local have = redis.call('LLEN', KEYS[1])
if have + #ARGV - 2 > tonumber(ARGV[1]) then
  return have
end
for i = 3, #ARGV, 500 do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('LRANGE', KEYS[1], 0, -1)
"""


class SessionTooLongError(FrictionError):
    """An append would take a session past its maximum number of events."""

    def __init__(self, session_id: str, have: int, adding: int, limit: int) -> None:
        self.session_id, self.have, self.adding, self.limit = session_id, have, adding, limit
        super().__init__(
            f"session {session_id!r} has {have} events; adding {adding} would exceed its limit of "
            f"{limit} events per session (nothing was appended)"
        )


class StoreUnavailableError(RuntimeError):
    """The session store cannot be reached (the message carries no credentials)."""


class SessionStore(Protocol):
    async def append(self, session_id: str, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Append events to a session (created if new); all its events so far."""
        ...

    async def get(self, session_id: str) -> list[dict[str, Any]] | None:
        """A session's events, or None when it is unknown or expired."""
        ...

    async def ready(self) -> bool:
        """Whether the store answers now."""
        ...

    async def close(self) -> None: ...


def _check_limits(max_sessions: int, ttl_s: float, max_events: int) -> None:
    for name, value in (("max_sessions", max_sessions), ("ttl_s", ttl_s), ("max_events", max_events)):
        if not value > 0:
            raise ConfigError(f"session store: {name} must be > 0, got {value!r}")


@dataclass
class _Session:
    expires_at: float
    events: list[dict[str, Any]] = field(default_factory=list)


class MemoryStore:
    """Sessions in this process: at most `max_sessions` (the least recently used is evicted),
    each forgotten `ttl_s` after its last append. `clock` is monotonic seconds."""

    def __init__(
        self,
        *,
        max_sessions: int,
        ttl_s: float,
        max_events: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_limits(max_sessions, ttl_s, max_events)
        self.max_sessions, self.ttl_s, self.max_events, self.clock = max_sessions, ttl_s, max_events, clock
        self._sessions: OrderedDict[str, _Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def _live(self, session_id: str) -> _Session | None:
        found = self._sessions.get(session_id)
        if found is not None and found.expires_at <= self.clock():
            del self._sessions[session_id]
            return None
        return found

    # No await inside: each call runs whole on the event loop, so no lock is needed.
    async def append(self, session_id: str, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        session = self._live(session_id)
        have = len(session.events) if session else 0
        if have + len(events) > self.max_events:
            raise SessionTooLongError(session_id, have, len(events), self.max_events)
        if session is None and not events:
            return []  # as in Redis, where an empty list does not exist
        if session is None:
            session = self._sessions[session_id] = _Session(expires_at=0.0)
        session.events.extend(dict(event) for event in events)
        session.expires_at = self.clock() + self.ttl_s
        self._sessions.move_to_end(session_id)
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return [dict(event) for event in session.events]

    async def get(self, session_id: str) -> list[dict[str, Any]] | None:
        session = self._live(session_id)
        if session is None:
            return None
        self._sessions.move_to_end(session_id)
        return [dict(event) for event in session.events]

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        self._sessions.clear()


def _redacted(url: str) -> str:
    """The URL without its credentials, fit for an error message or a log."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


class RedisStore:
    """Sessions in Redis, one list per session under `key_prefix`, shared by every worker and
    process pointed at the same Redis. TTL is refreshed on append. The number of sessions is
    bounded by the TTL and Redis's own `maxmemory` policy, not by this class."""

    def __init__(
        self,
        url: str,
        *,
        ttl_s: float,
        max_events: int,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        pool_size: int = DEFAULT_POOL_SIZE,
        pool_timeout_s: float = DEFAULT_POOL_TIMEOUT_S,
    ) -> None:
        _check_limits(1, ttl_s, max_events)
        if pool_size < 1 or not pool_timeout_s > 0:
            raise ConfigError(
                f"session store: pool size must be >= 1 and pool timeout > 0 s, got {pool_size} and "
                f"{pool_timeout_s!r}"
            )
        self.ttl_ms = max(1, round(ttl_s * 1000))
        self.max_events, self.key_prefix = max_events, key_prefix
        self._where = _redacted(url)
        try:
            # Blocking: past `pool_size` busy connections a request waits for one (bounded),
            # where redis-py's default pool refuses it at once.
            pool = aioredis.BlockingConnectionPool.from_url(
                url,
                max_connections=pool_size,
                timeout=pool_timeout_s,
                socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S,
            )
        except ValueError as exc:
            raise ConfigError(f"session store URL {self._where!r} is not a valid Redis URL: {exc}") from None
        self.pool = pool
        self._redis: aioredis.Redis = aioredis.Redis.from_pool(pool)
        self._append = self._redis.register_script(_APPEND_SCRIPT)

    def key(self, session_id: str) -> str:
        return f"{self.key_prefix}{session_id}"

    def _unavailable(self, exc: Exception) -> StoreUnavailableError:
        return StoreUnavailableError(f"session store at {self._where} is unavailable: {type(exc).__name__}")

    async def append(self, session_id: str, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        encoded = [json.dumps(event, separators=(",", ":"), allow_nan=False) for event in events]
        try:
            found = await self._append(
                keys=[self.key(session_id)], args=[self.max_events, self.ttl_ms, *encoded]
            )
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise self._unavailable(exc) from None
        if isinstance(found, int):
            raise SessionTooLongError(session_id, found, len(events), self.max_events)
        return [json.loads(item) for item in found]

    async def get(self, session_id: str) -> list[dict[str, Any]] | None:
        try:
            found = await self._redis.lrange(self.key(session_id), 0, -1)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise self._unavailable(exc) from None
        # Redis keeps no empty list (an empty append creates no key): empty means unknown or expired.
        return [json.loads(item) for item in found] if found else None

    async def ready(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisConnectionError, RedisTimeoutError, OSError):
            return False

    async def delete_all(self) -> int:
        """Remove every session under this store's prefix (tests, resets); how many."""
        keys = [key async for key in self._redis.scan_iter(match=f"{self.key_prefix}*", count=500)]
        return int(await self._redis.delete(*keys)) if keys else 0

    async def close(self) -> None:
        await self._redis.aclose()


def open_store(
    url: str | None,
    *,
    max_sessions: int,
    ttl_s: float,
    max_events: int,
    key_prefix: str = DEFAULT_KEY_PREFIX,
    pool_size: int = DEFAULT_POOL_SIZE,
    pool_timeout_s: float = DEFAULT_POOL_TIMEOUT_S,
) -> SessionStore:
    """The store a URL names: None or "memory" -> `MemoryStore`; redis://, rediss://, unix:// ->
    `RedisStore` (which ignores `max_sessions`: its TTL and Redis bound the sessions; the
    pool settings are Redis's only)."""
    if url is None or url.strip() in MEMORY_URLS:
        return MemoryStore(max_sessions=max_sessions, ttl_s=ttl_s, max_events=max_events)
    scheme = urlsplit(url).scheme
    if scheme not in REDIS_SCHEMES:
        problem = f"scheme {scheme!r} is not supported" if scheme else "it has no scheme"
        raise ConfigError(
            f"session store URL {_redacted(url)!r}: {problem}; use one of "
            f"{', '.join(s + '://' for s in REDIS_SCHEMES)} or leave it unset for memory"
        )
    return RedisStore(
        url,
        ttl_s=ttl_s,
        max_events=max_events,
        key_prefix=key_prefix,
        pool_size=pool_size,
        pool_timeout_s=pool_timeout_s,
    )
