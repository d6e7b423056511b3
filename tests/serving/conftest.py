"""Fixtures of the serving tests: the shared small world and its model (built once per session),
and the in-process app around it (tests/serving/apps.py)."""

from __future__ import annotations

from tests.serving.apps import anyio_backend, app, client, limited, served, world_context  # noqa: F401
