"""Run `friction serve` as a real process on a free loopback port (tests and the serving bench).

`serving_process(...)` starts it in its own session with a clean `FRICTION_*` environment,
waits (bounded) until `/readyz` answers 200, yields a `ServerProcess`, and stops it with
SIGTERM (SIGKILL to the group if it hangs). Plain Python, no pytest: the bench uses it too.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["API_KEY", "ServerProcess", "free_port", "request_json", "serving_process", "session_bodies"]

API_KEY = "test-key-0123456789abcdef"  # long enough for the settings' minimum
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:]

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM (uvicorn's graceful shutdown), then SIGKILL to the group; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
        return int(self.process.returncode)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def request_json(
    url: str, body: Any = None, *, key: str | None = API_KEY, timeout: float = 10.0
) -> tuple[int, Any]:
    """(status, parsed JSON or text) of a GET (no body) or a JSON POST."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if key:
        headers["X-API-Key"] = key
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def _environment(overrides: Mapping[str, str]) -> dict[str, str]:
    # Nothing of the caller's FRICTION_/MLflow/Prometheus setup leaks into the server under test.
    skip = ("FRICTION_", "MLFLOW_", "PROMETHEUS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    return env | {"FRICTION_API_KEYS": API_KEY} | dict(overrides)


def _ready(url: str, needed: int) -> bool:
    # With several workers each answers on its own: ask a few times, on new connections.
    for _ in range(needed):
        try:
            status, _body = request_json(f"{url}/readyz", key=None, timeout=2.0)
        except OSError:
            return False
        if status != 200:
            return False
    return True


@contextmanager
def serving_process(
    model: str,
    folder: Path,
    *,
    workers: int = 1,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    ready_timeout: float = READY_TIMEOUT_S,
) -> Iterator[ServerProcess]:
    """`friction serve --model MODEL` on a free port until the block ends."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"serve-{port}.log"
    command = [
        sys.executable, "-m", "pipelines.cli", "serve", "--model", model,
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), *args,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_environment(env or {}),
            cwd=folder,
            start_new_session=True,
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + ready_timeout
        while not _ready(server.url, needed=3 * workers):
            if process.poll() is not None or time.monotonic() > deadline:
                state = f"exited {process.returncode}" if process.poll() is not None else "timed out"
                raise RuntimeError(
                    f"friction serve not ready ({state}) after {ready_timeout:.0f} s:\n{server.log()}"
                )
            time.sleep(0.2)
        yield server
    finally:
        server.stop()


TEXT_FIELDS = ("event", "page", "target", "touchpoint")
NUMBER_FIELDS = ("x", "y", "load_ms", "value")


def _event(record: Mapping[str, Any]) -> dict[str, Any]:
    import pandas as pd

    event: dict[str, Any] = {"timestamp": record["timestamp"].isoformat()}
    present = {k: v for k, v in record.items() if k in TEXT_FIELDS + NUMBER_FIELDS and not pd.isna(v)}
    return event | {k: (str(v) if k in TEXT_FIELDS else float(v)) for k, v in present.items()}


def session_bodies(
    events: Any, context: Sequence[str], *, length: int | None = None, limit: int = 50, explain: bool = True
) -> list[dict[str, Any]]:
    """`POST /v1/score` bodies from simulated events (a frame sorted by session and time): the
    first `length` events of up to `limit` sessions that have that many (all events when None)."""
    sizes = events.groupby("session_id", sort=False, observed=True).size()
    chosen = sizes[sizes >= (length or 1)].index[:limit]
    bodies = []
    for session_id, rows in events[events["session_id"].isin(chosen)].groupby("session_id", sort=False):
        kept = rows.head(length) if length else rows
        first = kept.iloc[0]
        bodies.append(
            {
                "session_id": str(session_id),
                "user_id": str(first["user_id"]),
                "context": {name: str(first[name]) for name in context},
                "events": [_event(record) for record in kept.to_dict("records")],
                "explain": explain,
            }
        )
    return bodies
