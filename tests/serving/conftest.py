"""Fixtures of the serving tests: the shared small world and its model (built once per session),
and the in-process app around it (tests/serving/apps.py)."""

from __future__ import annotations

from tests.serving.apps import (  # noqa: F401
    anyio_backend,
    app,
    client,
    limited,
    redis_app,
    served,
    world_context,
)
