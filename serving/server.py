"""`friction serve`: check the settings and the model, then run the risk API under uvicorn.

Every worker builds the same `Settings` from `FRICTION_*` environment variables, so the
flags are handed down as environment, not as arguments: uvicorn starts each worker with
the import string `serving.app:create_app` and calls it with no argument. With more than
one worker, Prometheus metrics go through a multiprocess directory made for this run, and
each worker accepts connections on its own socket (serving.listener).
SIGTERM or Ctrl-C stops accepting connections and lets in-flight requests finish (up to
`graceful_timeout_s`).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from features.errors import FrictionError
from models.registry import MLFLOW_SAFE_ENVIRONMENT
from serving.listener import address, bound_socket, worker_socket

if TYPE_CHECKING:
    import socket
    from pathlib import Path

    import uvicorn

    from models.signing import Verifier
    from serving.settings import Settings

__all__ = ["APP_FACTORY", "ServeOptions", "check_model", "serve", "worker_environment"]

APP_FACTORY = "serving.app:create_app"
PROMETHEUS_DIR = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class ServeOptions:
    model: str
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    reload_interval_s: float | None = None  # None: the app's default
    session_store: str | None = None  # None: the app's default (FRICTION_SESSION_STORE or memory)
    auth_disabled: bool = False
    graceful_timeout_s: int = 30
    log_level: str = "info"


def worker_environment(options: ServeOptions) -> dict[str, str]:
    """The `FRICTION_*` variables that carry the flags to every worker; flags left unset keep
    whatever the environment already says."""
    env = {"FRICTION_MODEL": options.model, **MLFLOW_SAFE_ENVIRONMENT}
    if options.reload_interval_s is not None:
        env["FRICTION_RELOAD_INTERVAL_S"] = repr(float(options.reload_interval_s))
    if options.session_store is not None:
        env["FRICTION_SESSION_STORE"] = options.session_store
    if options.auth_disabled:
        env["FRICTION_AUTH_DISABLED"] = "true"
    return env


def check_model(model: str, verifier: Verifier | None = None, playbook_path: Path | None = None) -> None:
    """Load the model once here (its signature checked by `verifier`) and the playbook that
    replaces its own (`FRICTION_PLAYBOOK_PATH`), so a bad reference, an unsigned model or an
    unreadable playbook fails as one line before any worker starts."""
    from models.registry import load_model
    from serving.playbook import load_playbook

    try:
        loaded = load_model(model, verifier=verifier)
    except FrictionError:
        raise
    except OSError as exc:
        raise FrictionError(f"model {model!r} cannot be read: {exc}") from None
    except Exception as exc:
        from mlflow.exceptions import MlflowException  # imported already when it was raised

        if isinstance(exc, MlflowException):
            raise FrictionError(f"model {model!r} cannot be loaded from MLflow: {exc.message}") from None
        raise
    loaded.featurizer()  # the API featurizes raw events: a model without its config cannot serve
    try:
        load_playbook(loaded, playbook_path)
    except FrictionError as exc:
        raise FrictionError(f"FRICTION_PLAYBOOK_PATH: {exc}") from None


@contextmanager
def _metrics_directory(processes: bool) -> Iterator[None]:
    """A fresh Prometheus multiprocess directory for a run in worker processes (unless one is
    given)."""
    if not processes or os.environ.get(PROMETHEUS_DIR):
        yield
        return
    folder = tempfile.mkdtemp(prefix="friction-metrics-")
    os.environ[PROMETHEUS_DIR] = folder
    try:
        yield
    finally:
        os.environ.pop(PROMETHEUS_DIR, None)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _metrics_listener(settings: Settings) -> Iterator[None]:
    """With `metrics_port`: Prometheus's own HTTP server, in this (supervising) process, merging
    the workers' files; the API's port then has no /metrics."""
    if settings.metrics_port is None:
        yield
        return
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=os.environ[PROMETHEUS_DIR])  # type: ignore[no-untyped-call]
    try:
        server, thread = start_http_server(settings.metrics_port, settings.metrics_host, registry=registry)
    except OSError as exc:
        where = address(settings.metrics_host, settings.metrics_port)
        raise FrictionError(
            f"cannot serve metrics on {where} (FRICTION_METRICS_PORT): {exc.strerror}"
        ) from None
    try:
        yield
    finally:
        server.shutdown()
        thread.join(timeout=5)


def _stop_signals_end_cleanly() -> None:
    """uvicorn re-raises SIGTERM/SIGINT once its graceful shutdown is done, to the handler that
    was there before it; a no-op one here makes an orderly stop exit 0 instead of dying of it."""
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, lambda number, frame: None)


def _validate(options: ServeOptions) -> ServeOptions:
    """The options, checked; an IPv6 host may come as a URL writes it (`[::1]`)."""
    if options.workers < 1:
        raise FrictionError(f"--workers must be >= 1, got {options.workers}")
    if options.reload_interval_s is not None and options.reload_interval_s < 0:
        raise FrictionError(
            f"--reload-interval must be >= 0 seconds (0: never), got {options.reload_interval_s}"
        )
    if options.graceful_timeout_s <= 0:
        raise FrictionError(f"--graceful-timeout must be > 0 seconds, got {options.graceful_timeout_s}")
    host = options.host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:  # the socket API would take it for every interface: say so instead
        raise FrictionError("--host is empty: give an address (0.0.0.0 or :: listens on every interface)")
    return replace(options, host=host)


def serve(options: ServeOptions) -> None:
    """Check the settings and the model, export the settings, and run uvicorn until SIGTERM/SIGINT."""
    import uvicorn

    from serving.settings import load_settings

    options = _validate(options)
    os.environ.update(worker_environment(options))
    settings = load_settings()  # what every worker will build: refuse a bad one here, once (ConfigError)
    pending: list[str] = []  # the unsigned-model warning, logged once the checks pass (errors: one line)
    check_model(options.model, settings.verifier(warn=pending.append), settings.playbook_path)
    for message in pending:
        logging.getLogger("friction.serving").warning(message)
    _stop_signals_end_cleanly()
    config = uvicorn.Config(
        APP_FACTORY,
        factory=True,
        host=options.host,
        port=options.port,
        workers=options.workers,
        timeout_graceful_shutdown=options.graceful_timeout_s,
        log_level=options.log_level,
        access_log=False,  # the app logs each request itself, as JSON without keys or events
        server_header=False,
        proxy_headers=False,
    )
    # Bound here, before any worker loads the model: a port in use is one line, at once.
    try:
        one = options.workers == 1 and settings.metrics_port is None
        listening = (bound_socket if one else worker_socket)(options.host, options.port)
    except OSError as exc:
        where = address(options.host, options.port)
        raise FrictionError(f"cannot listen on {where}: {exc.strerror}") from None
    running = address(*listening.getsockname()[:2])
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on http://%s, %d worker(s) (Press CTRL+C to quit)", running, options.workers
    )
    # A separate metrics listener reads the workers' files: even one worker runs as a process.
    processes = options.workers > 1 or settings.metrics_port is not None
    try:
        with _metrics_directory(processes), _metrics_listener(settings):
            if processes:
                _run_workers(config, listening)
            else:
                _run_one(config, listening)
    finally:
        listening.close()


def _run_one(config: uvicorn.Config, listening: socket.socket) -> None:
    """One worker, in this process (what `uvicorn.run` does, on the socket bound here)."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    server = uvicorn.Server(config)
    server.run(sockets=[listening])
    if not server.started:  # the app's startup failed; uvicorn has logged why
        raise SystemExit(STARTUP_FAILURE)


def _run_workers(config: uvicorn.Config, listening: socket.socket) -> None:
    """uvicorn's supervisor (restarts, graceful stop) over workers that each accept on their
    own socket (serving.listener), not racing for one."""
    from uvicorn.supervisors import Multiprocess

    Multiprocess(config, sockets=[listening]).run()
