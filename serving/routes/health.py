"""Probes and metrics, without an API key: `/healthz` (the process answers), `/readyz` (a model
is loaded: 503 until then), `/metrics` (Prometheus text)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from serving import deps
from serving.metrics import CONTENT_TYPE
from serving.schemas.responses import HealthOut, ModelRef, ReadyOut

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut)
async def healthz() -> HealthOut:
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    response_model=ReadyOut,
    responses={
        status.HTTP_503_SERVICE_UNAVAILABLE: {"model": ReadyOut, "description": "no model loaded yet"}
    },
)
async def readyz(request: Request) -> ReadyOut | JSONResponse:
    served = deps.holder(request).current
    if served is None:
        body = ReadyOut(status="loading", model=None)
        return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    return ReadyOut(status="ready", model=ModelRef(name=served.name, version=served.version))


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(deps.metrics(request).exposition(), media_type=CONTENT_TYPE)
