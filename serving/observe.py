"""Structured JSON logs and per-request metrics.

`RequestObserver` (pure ASGI, outermost but for Starlette's error middleware) gives every
request an id (`X-Request-ID` header, and `request.state.request_id` for the error handler),
then writes one JSON line per request — route template, method, status, latency, model
version — and counts it in Prometheus. It never reads headers, query strings or bodies, so
API keys and raw events cannot reach a log.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.metrics import Metrics

__all__ = ["ACCESS_LOGGER", "JsonFormatter", "RequestObserver", "configure_logging"]

ACCESS_LOGGER = "friction.serving.access"
LOGGER = "friction.serving"
UNMATCHED = "unmatched"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line |= getattr(record, "fields", {})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the API's loggers (once; an embedding app may have its own)."""
    logger = logging.getLogger(LOGGER)
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


class RequestObserver:
    def __init__(self, app: ASGIApp, metrics: Metrics, model_version: Callable[[], str | None]) -> None:
        self.app, self.metrics, self.model_version = app, metrics, model_version
        self.log = logging.getLogger(ACCESS_LOGGER)
        # Request ids need to be unique, not secret: a generator seeded once per worker spares
        # the system call `uuid4` makes for every request.
        self.ids = random.Random()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"{self.ids.getrandbits(128):032x}"
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500  # what the client gets if the app raises before responding
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", UNMATCHED)
            self.metrics.observe_request(route, scope["method"], status, seconds)
            if self.log.isEnabledFor(logging.INFO):
                self._log(request_id, scope["method"], route, status, seconds)

    def _log(self, request_id: str, method: str, route: str, status: int, seconds: float) -> None:
        fields = {
            "request_id": request_id,
            "method": method,
            "route": route,
            "status": status,
            "latency_ms": round(seconds * 1000.0, 3),
            "model_version": self.model_version(),
        }
        # `makeRecord` + `handle` is what `Logger.info` does, minus its walk up the call stack
        # to find the caller: always this line here.
        record = self.log.makeRecord(
            self.log.name, logging.INFO, __file__, 0, "request", (), None, "_log", {"fields": fields}
        )
        self.log.handle(record)
