"""Probes without an API key: `/healthz` (the process answers), `/readyz` (a model is loaded
and the session store answers: 503 until then); and `/metrics` (Prometheus text), which needs
the API key unless `metrics_auth` is off, and is absent here when `metrics_port` serves it."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse

from serving import deps
from serving.metrics import CONTENT_TYPE
from serving.schemas.responses import HealthOut, ModelRef, ReadyOut
from serving.security import check_api_key

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut)
async def healthz() -> HealthOut:
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    response_model=ReadyOut,
    responses={
        status.HTTP_503_SERVICE_UNAVAILABLE: {
            "model": ReadyOut,
            "description": "no model loaded yet, or the session store does not answer",
        }
    },
)
async def readyz(request: Request) -> ReadyOut | JSONResponse:
    served = deps.holder(request).current
    store = "ready" if await deps.store(request).ready() else "unavailable"
    model = None if served is None else ModelRef(name=served.name, version=served.version)
    if served is None or store != "ready":
        body = ReadyOut(status="loading" if served is None else "unavailable", model=model, store=store)
        return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return ReadyOut(status="ready", model=model, store=store)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    settings = deps.settings(request)
    if settings.metrics_port is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Not Found")
    if settings.metrics_auth:
        check_api_key(request, settings)
    return Response(deps.metrics(request).exposition(), media_type=CONTENT_TYPE)
