"""API keys and content type: one `guard` dependency on the `/v1` routes.

A key is compared with `secrets.compare_digest` against every configured key (no early exit,
so timing says nothing about which key nearly matched). Keys are never logged nor echoed.
Both checks run in one dependency: FastAPI's cost per dependency is about that of the checks.
"""

from __future__ import annotations

import secrets
from email.message import Message

from fastapi import HTTPException, Request, status

from serving.deps import get_settings
from serving.settings import Settings

__all__ = ["check_api_key", "check_json", "guard"]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


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


async def guard(request: Request) -> None:
    """401 without a valid API key, then 415 for a body that is not JSON."""
    # The settings straight from the app state: a sub-dependency would be one more solve.
    check_api_key(request, await get_settings(request))
    check_json(request)
