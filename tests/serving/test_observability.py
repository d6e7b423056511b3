"""`/v1/model`, probes, `/metrics` (one process and multiprocess mode), and the JSON access log."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from serving.observe import ACCESS_LOGGER, JsonFormatter
from serving.served import ServedModel
from tests.serving.apps import API_KEY, http_client, make_settings
from tests.serving.bodies import body
from tests.worlds import TrainedWorld

pytestmark = pytest.mark.anyio


async def test_model_describes_what_is_served(
    client: httpx.AsyncClient, served: ServedModel, world_model: TrainedWorld
) -> None:
    response = await client.get("/v1/model")
    assert response.status_code == 200
    info = response.json()
    model = world_model.model
    assert (info["name"], info["version"]) == (served.name, served.version)
    assert info["source"].startswith(f"sha256:{served.version.removeprefix('sha256:')}")
    assert [f["name"] for f in info["features"]] == model.manifest.names
    payment = next(f for f in info["features"] if f["name"] == "payment__errors")
    assert payment == {
        "name": "payment__errors",
        "kind": "numeric",
        "touchpoint": "payment",
        "family": "errors",
        "meaning": model.manifest.catalog["payment__errors"]["meaning"],
        "unit": "count",
    }
    assert info["context"] == ["platform", "acquisition_channel", "customer_type"]
    assert info["thresholds"] == {"medium": model.card.bands.medium, "high": model.card.bands.high}
    assert info["metrics"] == json.loads(json.dumps(dict(served.model.metrics)))
    assert info["playbook"] == {}


async def test_probes(client: httpx.AsyncClient, served: ServedModel) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "model": {"name": served.name, "version": served.version},
        "store": "ready",
    }


async def test_readyz_is_503_until_a_model_is_loaded(world_model: TrainedWorld) -> None:
    from serving.app import create_app

    app = create_app(make_settings(str(world_model.path)))
    async with http_client(app) as client:
        assert (await client.get("/healthz")).status_code == 200
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {"status": "loading", "model": None, "store": "ready"}
        async with app.router.lifespan_context(app):
            assert (await client.get("/readyz")).status_code == 200


async def test_metrics_count_requests_latency_scores_and_the_model(
    client: httpx.AsyncClient, served: ServedModel
) -> None:
    for _ in range(3):
        assert (await client.post("/v1/score", json=body())).status_code == 200
    assert (await client.post("/v1/score", json=body(surprise=1))).status_code == 422
    assert (await client.get("/v1/sessions/none")).status_code == 404
    text = (await client.get("/metrics")).text
    assert 'friction_http_requests_total{method="POST",route="/v1/score",status="200"} 3.0' in text
    assert 'friction_http_requests_total{method="POST",route="/v1/score",status="422"} 1.0' in text
    assert (
        'friction_http_requests_total{method="GET",route="/v1/sessions/{session_id}",status="404"} 1.0'
        in text
    )
    assert (
        'friction_http_request_duration_seconds_count{method="POST",route="/v1/score",status="200"} 3.0'
        in text
    )
    assert "friction_risk_score_count 3.0" in text
    assert f'friction_model_info{{name="{served.name}",version="{served.version}"}} 1.0' in text
    assert "friction_model_reload_failures_total 0.0" in text


def test_metrics_merge_workers_in_multiprocess_mode(world_model: TrainedWorld, tmp_path: Path) -> None:
    """PROMETHEUS_MULTIPROC_DIR is read when prometheus_client is imported, so each "worker" is
    a fresh interpreter: two of them score a session each, and the second one's scrape sees both."""
    folder = tmp_path / "prom"
    folder.mkdir()
    script = textwrap.dedent(
        f"""
        import asyncio, sys, httpx
        from serving.app import create_app
        from serving.settings import Settings
        from tests.serving.bodies import body

        async def main():
            app = create_app(Settings(model={str(world_model.path)!r}, api_keys={API_KEY!r}))
            transport = httpx.ASGITransport(app=app)
            headers = {{"X-API-Key": {API_KEY!r}}}
            async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=transport, base_url="http://t", headers=headers
            ) as client:
                assert (await client.post("/v1/score", json=body())).status_code == 200
                if sys.argv[1] == "scrape":
                    print((await client.get("/metrics")).text)

        asyncio.run(main())
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FRICTION_", "PROMETHEUS_"))}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    for mode in ("work", "scrape"):
        done = subprocess.run(
            [sys.executable, "-c", script, mode],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    assert 'friction_http_requests_total{method="POST",route="/v1/score",status="200"} 2.0' in done.stdout
    assert "friction_risk_score_count 2.0" in done.stdout
    assert done.stdout.count("friction_model_info{") == 1  # liveall: only live workers (pid label)


@pytest.fixture
def access_lines() -> Iterator[list[str]]:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


async def test_one_json_log_line_per_request_without_keys_or_events(
    client: httpx.AsyncClient, served: ServedModel, access_lines: list[str]
) -> None:
    secret_page = "/checkout/payment?card=4111111111111111"
    events = body()["events"]
    events[0] = events[0] | {"page": secret_page}
    response = await client.post("/v1/score", json=body(events=events))
    assert response.status_code == 200
    await client.get("/v1/model", headers={"X-API-Key": "wrong-key-but-long-enough-123"})
    assert len(access_lines) == 2
    first, second = (json.loads(line) for line in access_lines)
    assert (first["route"], first["status"], first["method"]) == ("/v1/score", 200, "POST")
    assert first["model_version"] == served.version
    assert first["latency_ms"] > 0
    assert first["request_id"] == response.headers["x-request-id"]
    assert second["status"] == 401
    logged = "\n".join(access_lines)
    for secret in (API_KEY, "wrong-key-but-long-enough-123", "4111111111111111", "page_view"):
        assert secret not in logged
