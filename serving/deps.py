"""What routes receive: the settings, the served model, the session store, the metrics.

All of it lives on `app.state` (set by `create_app` and its lifespan); routes only ever see
it through these functions, so tests swap any of them with `app.dependency_overrides`.
Every dependency is `async def`: FastAPI runs a plain `def` dependency in the thread pool,
a hop that costs more than the lookup itself. None depends on another where it can read
`app.state` itself: FastAPI's bookkeeping costs about 10 us per dependency solved.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, HTTPException, Request, status

from serving.batcher import ScoreBatcher
from serving.loader import ModelHolder
from serving.metrics import Metrics
from serving.served import ServedModel
from serving.settings import Settings
from serving.store import SessionStore

__all__ = [
    "BatcherDep",
    "HolderDep",
    "MetricsDep",
    "ServedDep",
    "SettingsDep",
    "StoreDep",
    "get_batcher",
    "get_holder",
    "get_metrics",
    "get_served",
    "get_settings",
    "get_store",
]


async def get_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


async def get_metrics(request: Request) -> Metrics:
    return cast(Metrics, request.app.state.metrics)


async def get_batcher(request: Request) -> ScoreBatcher:
    return cast(ScoreBatcher, request.app.state.batcher)


async def get_holder(request: Request) -> ModelHolder:
    return cast(ModelHolder, request.app.state.holder)


async def get_served(request: Request) -> ServedModel:
    """The model serving now, read once per request (a reload mid-request changes nothing)."""
    # Straight from the app state, not through `get_holder`: one dependency less per request.
    served = cast(ModelHolder, request.app.state.holder).current
    if served is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="no model loaded yet; retry shortly")
    return served


async def get_store(request: Request) -> SessionStore:
    store = getattr(request.app.state, "store", None)
    if store is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="session store not open yet")
    return cast(SessionStore, store)


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
BatcherDep = Annotated[ScoreBatcher, Depends(get_batcher)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
ServedDep = Annotated[ServedModel, Depends(get_served)]
StoreDep = Annotated[SessionStore, Depends(get_store)]
