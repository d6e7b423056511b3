"""Run `friction serve` as a real process on a free loopback port (tests and the serving bench).

`serving_process(...)` starts it in its own session with a clean `FRICTION_*` environment,
waits (bounded) until `/readyz` answers 200 (and, with several workers on Linux, until every
worker listens), yields a `ServerProcess`, and stops it with SIGTERM (SIGKILL to the group if
it hangs). Plain Python, no pytest: the bench uses it too.
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

__all__ = [
    "API_KEY",
    "ServerProcess",
    "connections_per_process",
    "free_port",
    "listening_sockets",
    "request_json",
    "serving_process",
    "session_bodies",
]

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


def _tcp_sockets(port: int) -> list[tuple[str, int]]:
    """(state, inode) of the TCP sockets on local `port`, from Linux's tables."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)  # the header
            for row in rows:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    found.append((fields[3], int(fields[9])))
    return found


def listening_sockets(port: int) -> int:
    """Sockets listening on `port` (Linux): one per worker of a multi-worker `friction serve`
    (serving.listener)."""
    return sum(state == "0A" for state, _ in _tcp_sockets(port))


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def connections_per_process(root: int, port: int) -> list[int]:
    """Established connections on local `port` held by each process under `root` that holds
    any (Linux), most first: how a server's workers share its clients."""
    established = {inode for state, inode in _tcp_sockets(port) if state == "01"}
    counts = []
    for pid in _descendants(root):
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        held = sum(link.startswith("socket:[") and int(link[8:-1]) in established for link in links)
        if held:
            counts.append(held)
    return sorted(counts, reverse=True)


def _all_listening(port: int, workers: int) -> bool:
    # A worker listens once its app has started; until then connections go to the others.
    return workers == 1 or sys.platform != "linux" or listening_sockets(port) >= workers


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
        while not (_ready(server.url, needed=3 * workers) and _all_listening(port, workers)):
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
