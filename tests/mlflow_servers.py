"""Session-scoped fixtures that run real `mlflow server` processes on 127.0.0.1.

    mlflow_sqlite_server     backend: SQLite file in a temp dir
    mlflow_postgres_server   backend: a fresh database `friction_test_<random>` on the
                             PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth),
                             dropped at teardown
    mlflow_server            parametrized over both (request.param: "sqlite" | "postgresql")

Each yields an `MlflowServer` (its `uri`); artifacts are proxied by the server into a temp
dir. Start-up is bounded (`START_TIMEOUT_S`); the server's log is shown if it fails.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "MlflowServer",
    "mlflow_postgres_server",
    "mlflow_server",
    "mlflow_sqlite_server",
    "running_server",
]

START_TIMEOUT_S = 120.0
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"


@dataclass(frozen=True)
class MlflowServer:
    uri: str
    backend: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthy(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    # The server forks workers into its own session: end that process group, then reap.
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


@contextmanager
def running_server(backend_uri: str, backend: str, folder: Path) -> Iterator[MlflowServer]:
    """An `mlflow server` on a free loopback port for the duration of the block."""
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    log_path = folder / "server.log"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend_uri,
        "--artifacts-destination", str(folder / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=folder, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(uri):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(
                    f"mlflow server ({backend}) did not start within {START_TIMEOUT_S:.0f} s:\n{tail}"
                )
            time.sleep(0.5)
        yield MlflowServer(uri=uri, backend=backend)
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def mlflow_sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    folder = tmp_path_factory.mktemp("mlflow-sqlite")
    with running_server(f"sqlite:///{folder / 'mlflow.db'}", "sqlite", folder) as server:
        yield server


@pytest.fixture(scope="session")
def mlflow_postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    import psycopg

    name = f"friction_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(
            "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True, connect_timeout=5
        )
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at 127.0.0.1:5432 (start it, e.g. as .ci/run does): {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            with running_server(
                f"{POSTGRES}/{name}", "postgresql", tmp_path_factory.mktemp("mlflow-pg")
            ) as server:
                yield server
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def mlflow_server(request: pytest.FixtureRequest) -> MlflowServer:
    fixture = "mlflow_sqlite_server" if request.param == "sqlite" else "mlflow_postgres_server"
    server: MlflowServer = request.getfixturevalue(fixture)
    return server
