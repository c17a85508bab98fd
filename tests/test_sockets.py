"""devloop/sockets.py on real sockets: telling a client that hung up (or reset) from one that sent more, and
ending the connection threads of a server that stops, including one stuck on a client that never sends."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from devloop.sockets import end_connections, peer_closed, readable


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(server side, client side) of a real loopback TCP connection."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    try:
        yield server, client
    finally:
        server.close()
        client.close()


def test_a_quiet_client_is_not_closed_and_what_it_sends_is_read_and_ignored(
    tcp_pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = tcp_pair
    assert not peer_closed(server)
    client.sendall(b"more")
    assert peer_closed(server, timeout=5.0) is False
    server.setblocking(False)
    with pytest.raises(BlockingIOError):  # the bytes were consumed
        server.recv(16)


def test_a_client_that_hung_up_is_closed(tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = tcp_pair
    client.close()
    assert peer_closed(server, timeout=5.0) is True


def test_a_client_that_reset_the_connection_is_closed(tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = tcp_pair
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends a reset
    client.close()
    assert readable([server.fileno()], 5.0) == {server.fileno()}
    assert peer_closed(server) is True


def test_end_connections_waits_for_threads_that_end_and_shuts_down_the_stuck_ones() -> None:
    lock = threading.Lock()
    conns: dict[threading.Thread, socket.socket] = {}
    pairs = [socket.socketpair() for _ in range(2)]
    received: list[bytes] = []

    def serve(conn: socket.socket) -> None:
        received.append(conn.recv(16))  # the stuck one returns only when its connection is shut down
        with lock:
            del conns[threading.current_thread()]

    for server_side, _ in pairs:
        thread = threading.Thread(target=serve, args=(server_side,))
        conns[thread] = server_side
    threads = list(conns)
    for thread in threads:
        thread.start()
    pairs[0][1].sendall(b"bye")  # the first client says something: its thread ends on its own
    try:
        for _ in range(1000):  # up to 10 s on a loaded machine
            if received:
                break
            threading.Event().wait(0.01)
        end_connections(conns, lock, grace=0.2)
        assert not any(thread.is_alive() for thread in threads)
        assert conns == {}
        assert sorted(received) == [b"", b"bye"]
    finally:
        for a, b in pairs:
            a.close()
            b.close()
