"""Error responses: JSON always, never a stack trace, never the input echoed back.

422 keeps FastAPI's shape (`detail`: a list of `type`, `loc`, `msg`) without `input`, so a
body is never reflected; an unexpected error is a 500 with a generic message and the request
id (the traceback goes to the server log only).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from features.errors import FrictionError
from serving.errors import NotScorableError
from serving.store import SessionTooLongError, StoreUnavailableError

__all__ = ["install_error_handlers"]

log = logging.getLogger("friction.serving")


def _invalid(loc: tuple[str | int, ...], kind: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"detail": [{"type": kind, "loc": list(loc), "msg": message}]},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = [
        {"type": e.get("type", "invalid"), "loc": list(e.get("loc", ())), "msg": str(e.get("msg", "invalid"))}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _too_long(request: Request, exc: Exception) -> JSONResponse:
    return _invalid(("body", "events"), "too_long", str(exc))


async def _not_scorable(request: Request, exc: Exception) -> JSONResponse:
    return _invalid(("body", "events"), "not_scorable", str(exc))


async def _user_error(request: Request, exc: Exception) -> JSONResponse:
    return _invalid(("body",), "invalid", str(exc))


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("session store unavailable", extra={"fields": {"reason": str(exc)}})
    return JSONResponse(
        {"detail": "session store unavailable; retry shortly"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
    )


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    log.error("unhandled error", exc_info=exc, extra={"fields": {"request_id": request_id}})
    return JSONResponse(
        {"detail": "internal server error", "request_id": request_id},
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(SessionTooLongError, _too_long)
    app.add_exception_handler(NotScorableError, _not_scorable)
    app.add_exception_handler(FrictionError, _user_error)
    app.add_exception_handler(StoreUnavailableError, _unavailable)
    app.add_exception_handler(Exception, _internal)
