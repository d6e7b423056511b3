"""`friction serve` as a real process (uvicorn, 2 workers, loopback): hot reload of an MLflow
alias under continuous traffic, a broken version that never serves, sessions shared by the
workers through the real Redis, graceful shutdown of an in-flight request, and the one-line
errors before any worker starts."""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from features.errors import FrictionError
from serving.server import check_model
from serving.store import DEFAULT_KEY_PREFIX
from tests.serving.apps import REDIS_URL
from tests.serving.processes import (
    API_KEY,
    ServerProcess,
    listening_sockets,
    request_json,
    serving_process,
    session_bodies,
)
from tests.worlds import SmallWorld, TrainedWorld, train_world_model
from training.config import LightGBMParams, TrainConfig
from training.tracking import CHAMPION, MODEL_ARTIFACT, TrackingSettings, ensure_store, register

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

NAME = "friction-serve-test"
RELOAD_INTERVAL_S = 0.5
WAIT_S = 90.0


@pytest.fixture(scope="module")
def bodies(world: SmallWorld) -> list[dict[str, Any]]:
    context = world.config.events.context_columns()
    return session_bodies(world.world.events, context, length=20, limit=12, explain=True)


@pytest.fixture(scope="module")
def second_model(world: SmallWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another model of the same world (different trees): what a retrain would register."""
    lightgbm = LightGBMParams(learning_rate=0.2, num_leaves=7, min_child_samples=40, num_threads=1)
    config = TrainConfig(lightgbm=lightgbm, early_stopping_rounds=10)
    return train_world_model(world, tmp_path_factory.mktemp("second-model") / "model", config).path


def _broken_copy(model_dir: Path, folder: Path) -> Path:
    """The model with one byte of its LightGBM file changed: its sha256 no longer matches."""
    broken = folder / "broken-model"
    shutil.copytree(model_dir, broken)
    text = (broken / "model.txt").read_bytes()
    (broken / "model.txt").write_bytes(text.replace(b"\n", b"\n\n", 1))
    return broken


class Registry:
    """An embedded MLflow store (SQLite file) the test and the server process share."""

    def __init__(self, home: Path) -> None:
        from mlflow import MlflowClient

        self.home = home
        self.settings = TrackingSettings(tracking_uri=None, home=home)
        self.experiment = ensure_store(self.settings)
        self.client = MlflowClient(tracking_uri=self.settings.uri(), registry_uri=self.settings.uri())

    def add(self, model_dir: Path) -> str:
        run_id = str(self.client.create_run(self.experiment).info.run_id)
        self.client.log_artifacts(run_id, str(model_dir), MODEL_ARTIFACT)
        self.client.set_terminated(run_id, "FINISHED")
        return str(register(run_id, NAME, self.settings))

    def crown(self, version: str) -> None:
        self.client.set_registered_model_alias(NAME, CHAMPION, version)


@dataclass
class Traffic:
    """A client thread scoring sessions back to back; every answer recorded."""

    url: str
    bodies: list[dict[str, Any]]
    answers: list[tuple[int, str | None]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        # A new connection per request, so both workers get traffic (a kept-alive one sticks to one).
        no_keep_alive = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(
            base_url=self.url, headers={"X-API-Key": API_KEY}, timeout=15.0, limits=no_keep_alive
        ) as client:
            i = 0
            while not self.stop.is_set():
                try:
                    response = client.post("/v1/score", json=self.bodies[i % len(self.bodies)])
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                finally:
                    i += 1
                version = response.json()["model"]["version"] if response.status_code == 200 else None
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code}: {response.text[:300]}")
                self.answers.append((response.status_code, version))

    def versions(self) -> list[str | None]:
        return [version for _, version in list(self.answers)]

    def wait(self, done: Any, what: str, server: ServerProcess) -> None:
        deadline = time.monotonic() + WAIT_S
        while not done(self.versions()):
            if time.monotonic() > deadline or server.process.poll() is not None:
                seen = sorted({v for v in self.versions() if v})
                pytest.fail(f"{what} not seen within {WAIT_S:.0f} s (versions {seen}):\n{server.log()}")
            time.sleep(0.1)


@contextmanager
def traffic(url: str, bodies: list[dict[str, Any]]) -> Iterator[Traffic]:
    running = Traffic(url, bodies)
    thread = threading.Thread(target=running.run, name="traffic", daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.stop.set()
        thread.join(timeout=30)


def _reload_failures(url: str) -> float:
    status, text = request_json(f"{url}/metrics", key=API_KEY)
    assert status == 200, text
    found = re.search(r"^friction_model_reload_failures_total (\S+)$", str(text), re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _tail_is(version: str, count: int) -> Any:
    return lambda seen: len(seen) >= count and all(v == version for v in seen[-count:])


# -- hot reload ----------------------------------------------------------------------------


def test_alias_moves_under_traffic_without_a_failed_request_and_a_broken_version_never_serves(
    world_model: TrainedWorld, second_model: Path, bodies: list[dict[str, Any]], tmp_path: Path
) -> None:
    registry = Registry(tmp_path / ".friction")
    registry.crown(registry.add(world_model.path))
    env = {"FRICTION_HOME": str(registry.home)}
    args = ["--reload-interval", str(RELOAD_INTERVAL_S)]
    with (
        serving_process(
            f"models:/{NAME}@{CHAMPION}", tmp_path / "serve", workers=2, args=args, env=env
        ) as server,
        traffic(server.url, bodies) as client,
    ):
        client.wait(_tail_is("1", 20), "version 1 served", server)
        registry.crown(registry.add(second_model))
        client.wait(_tail_is("2", 40), "version 2 served by both workers", server)

        broken = registry.add(_broken_copy(second_model, tmp_path))
        assert broken == "3"
        failures_before = _reload_failures(server.url)
        registry.crown(broken)
        deadline = time.monotonic() + WAIT_S
        while _reload_failures(server.url) < failures_before + 2:  # tried (and refused) twice at least
            assert time.monotonic() < deadline, f"no reload failure counted:\n{server.log()}"
            time.sleep(0.2)
        served_before = len(client.versions())
        time.sleep(4 * RELOAD_INTERVAL_S)  # several more polls of the broken version
        client.wait(lambda seen: len(seen) >= served_before + 20, "traffic after the failure", server)
        models = [request_json(f"{server.url}/v1/model") for _ in range(6)]  # new connections: both workers

    assert client.failures == [], client.failures[:5]
    versions = client.versions()
    assert set(versions) == {"1", "2"}, sorted(set(map(str, versions)))
    assert versions[-20:] == ["2"] * 20  # still version 2 after the broken version 3
    assert {(status, model["name"], model["version"]) for status, model in models} == {(200, NAME, "2")}


# -- sessions shared by workers through Redis ------------------------------------------------


def test_two_workers_share_sessions_through_redis(
    world_model: TrainedWorld, bodies: list[dict[str, Any]], tmp_path: Path
) -> None:
    import redis

    body = bodies[1] | {"session_id": f"test-{secrets.token_hex(8)}"}  # the id does not change a score
    key = f"{DEFAULT_KEY_PREFIX}{body['session_id']}"
    args = ["--session-store", REDIS_URL]
    client = redis.Redis.from_url(REDIS_URL)
    try:
        with serving_process(str(world_model.path), tmp_path, workers=2, args=args) as server:
            status, whole = request_json(f"{server.url}/v1/score", body)
            assert status == 200, whole
            session = f"{server.url}/v1/sessions/{body['session_id']}"
            first = {"user_id": body["user_id"], "context": body["context"]}
            # One event per request, each on a new connection, whichever worker takes it.
            for i, event in enumerate(body["events"]):
                status, answer = request_json(
                    f"{session}/events", (first if i == 0 else {}) | {"events": [event]}
                )
                assert status == 200, answer
                assert answer["events"] == i + 1
            status, stored = request_json(session)
            in_redis = client.llen(key)
    finally:
        client.delete(key)
        client.close()
    assert in_redis == len(body["events"])
    assert status == 200, stored
    assert stored["events"] == len(body["events"])
    assert stored["risk"] == pytest.approx(whole["risk"], rel=0, abs=1e-12)


# -- graceful shutdown ---------------------------------------------------------------------


def _headers_only(body: bytes, port: int) -> socket.socket:
    """A slow client: the request's headers, asking to be told (100 Continue) before the body."""
    head = (
        f"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"X-API-Key: {API_KEY}\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection.sendall(head)
    return connection


def _read_until_blank_line(connection: socket.socket) -> bytes:
    seen = b""
    while b"\r\n\r\n" not in seen and (chunk := connection.recv(1)):
        seen += chunk
    return seen


def _read_all(connection: socket.socket) -> bytes:
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_an_in_flight_request_finish_then_exits_0(
    world_model: TrainedWorld, bodies: list[dict[str, Any]], tmp_path: Path, workers: int
) -> None:
    body = json.dumps(bodies[0]).encode()
    with serving_process(str(world_model.path), tmp_path, workers=workers) as server:
        port = int(server.url.rsplit(":", 1)[1])
        if sys.platform == "linux":  # each worker accepts on its own socket (serving.listener)
            assert listening_sockets(port) == workers
        connection = _headers_only(body, port)
        # The app is now reading the body: the request is in flight when SIGTERM comes.
        assert _read_until_blank_line(connection).startswith(b"HTTP/1.1 100"), server.log()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(1.5)
        assert server.process.poll() is None, "the server exited with a request in flight"
        connection.sendall(body)
        answer = _read_all(connection)
        connection.close()
        exit_code = server.process.wait(timeout=30)
    status_line, _, payload = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 200"), answer[:500]
    scored = json.loads(payload.partition(b"\r\n\r\n")[2])
    assert scored["session_id"] == bodies[0]["session_id"]
    assert 0.0 <= scored["risk"] <= 1.0
    assert exit_code == 0, server.log()


# -- errors before any worker starts ---------------------------------------------------------


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pipelines.cli", "serve", "--port", "1", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)


def test_models_that_cannot_serve_are_refused_before_any_worker_starts(
    world_model: TrainedWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = dataclasses.replace(world_model.model, featurizer_config=None).save(tmp_path / "bare")
    cases = {
        str(tmp_path / "missing"): "not a model directory",
        str(bare): "featurizer",
        str(_broken_copy(world_model.path, tmp_path)): "differs from its sha256",
        "models:/nobody@champion": "nobody",
    }
    monkeypatch.setenv("FRICTION_HOME", str(tmp_path / ".friction"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for model, reason in cases.items():
        with pytest.raises(FrictionError, match=reason):
            check_model(model)
    check_model(str(world_model.path))


def test_a_model_that_cannot_serve_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = _serve("--model", str(tmp_path / "missing"), "--no-auth", env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"friction serve: error: {tmp_path / 'missing'}: not a model directory"
    ]


@pytest.mark.parametrize(
    ("workers", "host", "shown"),
    [
        (1, "127.0.0.1", "127.0.0.1"),
        (2, "127.0.0.1", "127.0.0.1"),
        (2, "::1", "[::1]"),
        (1, "[::1]", "[::1]"),  # as a URL writes it
    ],
)
def test_a_port_in_use_is_one_line_and_exit_2(
    world_model: TrainedWorld, workers: int, host: str, shown: str
) -> None:
    bound = host.strip("[]")
    with socket.socket(socket.AF_INET6 if ":" in bound else socket.AF_INET) as other:
        try:
            other.bind((bound, 0))
        except OSError as exc:
            pytest.skip(f"cannot bind {bound} here: {exc.strerror}")
        other.listen(1)
        port = other.getsockname()[1]
        command = [
            sys.executable, "-m", "pipelines.cli", "serve", "--model", str(world_model.path), "--no-auth",
            "--host", host, "--port", str(port), "--workers", str(workers),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"friction serve: error: cannot listen on {shown}:{port}: Address already in use"
    )


def test_an_empty_host_is_refused_not_taken_for_every_interface(world_model: TrainedWorld) -> None:
    done = _serve("--model", str(world_model.path), "--no-auth", "--host", " ", env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "friction serve: error: --host is empty: give an address (0.0.0.0 or :: listens on every interface)"
    ]


def test_no_api_key_is_refused_unless_auth_is_disabled_explicitly(world_model: TrainedWorld) -> None:
    done = _serve("--model", str(world_model.path), env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert "no API key configured" in done.stderr
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
