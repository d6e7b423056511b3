"""API keys and content type, checked by every `/v1` route before its handler runs: the
`/v1` routers build their routes as `GuardedRoute`s (`APIRouter(route_class=GuardedRoute)`).

A key is compared with `secrets.compare_digest` against every configured key (no early exit,
so timing says nothing about which key nearly matched). Keys are never logged nor echoed.
The checks wrap FastAPI's request handler rather than being a dependency: FastAPI solves
dependencies anew per request, at more than the checks themselves cost (serving.deps). The
route is matched first, so a refused request is still logged and counted under its route.
`document_api_key` declares the key in the OpenAPI document, as a dependency would.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine, Sequence
from email.message import Message
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status
from fastapi.routing import APIRoute

from serving import deps
from serving.settings import Settings

__all__ = ["KEY_SCHEME", "GuardedRoute", "check_api_key", "check_json", "document_api_key", "guard"]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
KEY_SCHEME = "APIKey"


def check_api_key(request: Request, settings: Settings) -> None:
    if settings.auth_disabled:
        return
    given = request.headers.get(settings.api_key_header)
    if not given:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=f"missing API key: send it in the `{settings.api_key_header}` header",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    offered = given.encode()
    matched = False
    for key in settings.key_bytes():
        matched |= secrets.compare_digest(offered, key)
    if not matched:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail="invalid API key", headers={"WWW-Authenticate": "ApiKey"}
        )


def _is_json(content_type: str) -> bool:
    if content_type == "application/json":  # what nearly every client sends: no parsing
        return True
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return (
        bool(content_type)
        and message.get_content_maintype() == "application"
        and (subtype == "json" or subtype.endswith("+json"))
    )


def check_json(request: Request) -> None:
    """Bodies must be JSON (`application/json` or `application/*+json`); else 415."""
    if request.method not in _BODY_METHODS:
        return
    raw = request.headers.get("content-type", "")
    if not _is_json(raw):
        shown = raw.split(";", 1)[0].strip()[:100] or "none"
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail=f"request bodies must be JSON (Content-Type: application/json), got {shown}",
        )


def guard(request: Request) -> None:
    """401 without a valid API key, then 415 for a body that is not JSON."""
    check_api_key(request, deps.settings(request))
    check_json(request)


class GuardedRoute(APIRoute):
    """A route whose handler runs only for requests that pass `guard` (FastAPI's documented
    hook for custom route classes); a refusal is an `HTTPException`, answered by the app's
    handlers like any other."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            guard(request)
            return await handler(request)

        return guarded


def document_api_key(app: FastAPI, header: str, guarded: Sequence[APIRouter]) -> None:
    """Declare the API key in `app`'s OpenAPI document: an apiKey scheme in `header`, required
    by every documented route of the `guarded` routers."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes[KEY_SCHEME] = {"type": "apiKey", "in": "header", "name": header}
            for router in guarded:
                for route in router.routes:
                    if isinstance(route, GuardedRoute) and route.include_in_schema:
                        for method in route.methods or ():
                            operation = schema["paths"][route.path_format][method.lower()]
                            operation["security"] = [{KEY_SCHEME: []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend it
