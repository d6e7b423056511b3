"""The risk API: `create_app(settings)` builds it; uvicorn calls it as a factory
(`uvicorn serving.app:create_app --factory`), once per worker.

Nothing happens at import. `create_app` reads the environment only when no settings are
passed, turns MLflow's unsafe switches off, and wires settings, metrics, the model holder and
the session store onto `app.state` (routes reach them through `serving.deps`). The lifespan
loads the model (startup fails with a one-line reason if it cannot serve), starts the reload
poller, and on shutdown stops it and closes the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from serving.batcher import ScoreBatcher
from serving.body_limit import BodyLimit
from serving.handlers import install_error_handlers
from serving.heap import freeze_heap, thaw_heap
from serving.loader import ModelHolder, harden_mlflow, load_served
from serving.metrics import Metrics
from serving.observe import RequestObserver, configure_logging
from serving.routes import health, model, score, sessions
from serving.schemas.responses import ErrorOut, ServerErrorOut
from serving.security import document_api_key
from serving.settings import Settings, load_settings
from serving.store import open_store

__all__ = ["create_app"]

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing or invalid API key"},
    413: {"model": ErrorOut, "description": "request body over the size limit"},
    415: {"model": ErrorOut, "description": "request body is not JSON"},
    500: {"model": ServerErrorOut, "description": "unexpected error (no details; see the server log)"},
    503: {"model": ErrorOut, "description": "no model loaded yet, or the session store is unavailable"},
}

log = logging.getLogger("friction.serving")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings if settings is not None else load_settings()
    harden_mlflow()
    configure_logging()
    metrics = Metrics()
    # One verifier per worker: without a signing key it warns once, not at every reload.
    verifier = settings.verifier(warn=log.warning)
    holder = ModelHolder(
        settings.model, settings.playbook_path, metrics, freeze_heap=settings.freeze_heap, verifier=verifier
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if holder.current is None:
            served = await asyncio.to_thread(
                load_served, settings.model, settings.playbook_path, None, verifier
            )
            holder.set(served)
            log.info("model loaded", extra={"fields": {"model": served.name, "version": served.version}})
        if settings.freeze_heap:
            freeze_heap()
        poller = None
        if settings.reload_interval_s > 0:
            poller = asyncio.create_task(holder.poll(settings.reload_interval_s))
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            await app.state.store.close()
            metrics.close()
            if settings.freeze_heap:
                thaw_heap()

    docs = settings.docs_enabled
    app = FastAPI(
        title="Friction risk API",
        summary="Real-time dissatisfaction risk of a live session, and the touchpoints driving it.",
        version="1",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs or settings.openapi_enabled else None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.holder = holder
    app.state.batcher = ScoreBatcher(metrics, settings.score_batch)
    app.state.store = open_store(
        settings.session_store,
        max_sessions=settings.max_sessions,
        ttl_s=settings.session_ttl_s,
        max_events=settings.max_events_per_session,
        pool_size=settings.redis_pool_size,
        pool_timeout_s=settings.redis_pool_timeout_s,
    )
    guarded = (score.router, sessions.router, model.router)
    for router in guarded:
        app.include_router(router, responses=ERROR_RESPONSES)  # GuardedRoute: API key, JSON only
    app.include_router(health.router)
    if not settings.auth_disabled:
        document_api_key(app, settings.api_key_header, guarded)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        RequestObserver,
        metrics=metrics,
        model_version=lambda: holder.current.version if holder.current else None,
    )
    return app
