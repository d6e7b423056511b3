"""The listening socket of a multi-worker `friction serve`: one accept queue per worker.

uvicorn's workers share the parent's one listening socket and race to accept from it, and
whichever wins drains the queue: a client that opens its keep-alive connections together
(a load balancer, a connection pool) can land nearly all of them on one worker while the
others idle, and a worker holding most connections sets both the throughput and the tail
(the split each bench row saw is in its `connections_per_worker` column).

On Linux, `WorkerSocket` gives each worker its own socket on the same address
(SO_REUSEPORT), and the kernel spreads new connections over them by hash. The parent binds
one itself, never listening on it: it holds the port (and resolves port 0) for the run. It
refuses a port something already listens on, as uvicorn would, so two servers never split
one port's traffic without noticing. Elsewhere SO_REUSEPORT does not balance, and workers
keep sharing one socket.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

__all__ = ["BALANCED", "WorkerSocket", "address", "bound_socket", "worker_socket"]

BALANCED = sys.platform == "linux"


def address(host: str, port: int) -> str:
    """`host:port` as a URL writes it: an IPv6 host in brackets (`[::1]:8000`)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _open(
    family: socket.AddressFamily,
    host_port: tuple[str, int],
    *,
    reuse_port: bool,
    kind: type[socket.socket] = socket.socket,
) -> socket.socket:
    sock = kind(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(host_port)
    except OSError:
        sock.close()
        raise
    return sock


class WorkerSocket(socket.socket):
    """Bound in the parent with SO_REUSEPORT and never listened on; each process it is handed
    to (uvicorn pickles a worker's sockets into it) receives a socket of its own instead,
    bound to the same address, on which that worker listens."""

    def __reduce__(self) -> tuple[Any, ...]:
        host, port = self.getsockname()[:2]
        return _bind_in_worker, (self.family, host, port)


def _bind_in_worker(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    try:
        return _open(family, (host, port), reuse_port=True)
    except OSError as exc:
        # uvicorn's code for a worker that cannot start: its supervisor stops, not retries.
        from uvicorn.config import STARTUP_FAILURE

        # Runs while the worker unpacks its arguments, before uvicorn's logging exists.
        print(f"friction serve: worker cannot bind {address(host, port)}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(STARTUP_FAILURE) from None


def bound_socket(host: str, port: int) -> socket.socket:
    """A plain socket bound to the address (what one worker listens on); OSError when the
    address cannot be bound (in use, not local, ...). Without SO_REUSEPORT, the bind fails if
    anything listens on the port already, even another server using SO_REUSEPORT."""
    return _open(_family(host), (host, port), reuse_port=False)


def worker_socket(host: str, port: int) -> socket.socket:
    """The socket to hand uvicorn's workers (`WorkerSocket` on Linux, else a plain shared one);
    OSError as `bound_socket`."""
    probe = bound_socket(host, port)  # also turns port 0 into the port to use
    if not BALANCED:
        probe.set_inheritable(True)
        return probe
    bound = probe.getsockname()[:2]
    probe.close()
    return _open(probe.family, bound, reuse_port=True, kind=WorkerSocket)
