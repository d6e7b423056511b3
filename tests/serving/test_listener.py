"""serving.listener: each worker of `friction serve` gets its own socket on the server's address
(SO_REUSEPORT), and the address is refused when something already listens on it."""

from __future__ import annotations

import pickle
import socket
from collections.abc import Iterator

import pytest
from uvicorn.config import STARTUP_FAILURE

from serving.listener import BALANCED, WorkerSocket, worker_socket

pytestmark = pytest.mark.skipif(not BALANCED, reason="SO_REUSEPORT balances connections on Linux only")


@pytest.fixture
def held() -> Iterator[socket.socket]:
    sock = worker_socket("127.0.0.1", 0)
    yield sock
    sock.close()


def _in_worker(sock: socket.socket) -> socket.socket:
    """What a worker process receives: uvicorn hands its sockets over by pickling them."""
    received: socket.socket = pickle.loads(pickle.dumps(sock))
    return received


def test_port_0_becomes_one_port_held_by_a_socket_that_does_not_listen(held: socket.socket) -> None:
    assert isinstance(held, WorkerSocket)
    port = held.getsockname()[1]
    assert port > 0
    assert held.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
    with pytest.raises(ConnectionRefusedError):  # bound, not listening: no connection lands on it
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_each_worker_receives_its_own_socket_and_connections_spread_over_them(held: socket.socket) -> None:
    workers = [_in_worker(held) for _ in range(2)]
    try:
        assert all(type(w) is socket.socket for w in workers)
        assert {w.getsockname() for w in workers} == {held.getsockname()}
        assert len({held.fileno(), *(w.fileno() for w in workers)}) == 3
        for worker in workers:
            worker.listen(128)
            worker.setblocking(False)
        clients = [socket.create_connection(held.getsockname(), timeout=5) for _ in range(64)]
        accepted = [0, 0]
        for i, worker in enumerate(workers):
            while True:
                try:
                    connection, _ = worker.accept()
                except BlockingIOError:
                    break
                connection.close()
                accepted[i] += 1
        for client in clients:
            client.close()
    finally:
        for worker in workers:
            worker.close()
    # One shared accept queue lets one worker take them all; the kernel's hash spreads them
    # (all 64 on one socket: probability 2**-63).
    assert sum(accepted) == 64
    assert min(accepted) > 0, accepted


def test_an_address_something_listens_on_is_refused() -> None:
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # even a reuse-port listener
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        with pytest.raises(OSError, match="in use"):
            worker_socket("127.0.0.1", other.getsockname()[1])


def test_a_worker_that_cannot_bind_exits_as_a_failed_start(
    held: socket.socket, capsys: pytest.CaptureFixture[str]
) -> None:
    port = held.getsockname()[1]
    payload = pickle.dumps(held)
    held.close()  # the port is free again: something else takes it before the worker binds
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen(1)
        with pytest.raises(SystemExit) as exited:
            pickle.loads(payload)
    assert exited.value.code == STARTUP_FAILURE
    assert f"worker cannot bind 127.0.0.1:{port}" in capsys.readouterr().err
