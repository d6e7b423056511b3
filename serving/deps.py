"""What routes read: the settings, the served model, the batcher, the session store, the metrics.

All of it lives on `app.state` (set by `create_app` and its lifespan); routes reach it only
through these functions, called first thing in the route. Not FastAPI dependencies
(`Depends`): FastAPI solves those anew for every request, and on `/v1/score` that solving
cost more than the 5 % of a request's CPU the team allows a convention (bench figures in
the commit that made the change, 5bff4ee). Tests
change what routes see through the app's state (`app.state.holder`, `app.state.store`),
never through module globals.
"""

from __future__ import annotations

from typing import cast

from fastapi import HTTPException, Request, status

from serving.batcher import ScoreBatcher
from serving.loader import ModelHolder
from serving.metrics import Metrics
from serving.served import ServedModel
from serving.settings import Settings
from serving.store import SessionStore

__all__ = ["batcher", "holder", "metrics", "served", "settings", "store"]


def settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def metrics(request: Request) -> Metrics:
    return cast(Metrics, request.app.state.metrics)


def batcher(request: Request) -> ScoreBatcher:
    return cast(ScoreBatcher, request.app.state.batcher)


def holder(request: Request) -> ModelHolder:
    return cast(ModelHolder, request.app.state.holder)


def served(request: Request) -> ServedModel:
    """The model serving now, read once per request (a reload mid-request changes nothing)."""
    current = holder(request).current
    if current is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="no model loaded yet; retry shortly")
    return current


def store(request: Request) -> SessionStore:
    found = getattr(request.app.state, "store", None)
    if found is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="session store not open yet")
    return cast(SessionStore, found)
