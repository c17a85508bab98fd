"""The control client against a stand-in server on a real unix socket that answers what each test scripts:
every way a running `up` can fail to answer is one sentence naming it (never a traceback)."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devloop.control.client import ControlClient
from devloop.control.paths import Endpoint
from devloop.control.protocol import ControlError, NoRunningUpError, RemoteError

Answer = Callable[[socket.socket], None]


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="dlcli-"))  # short: a socket path has a length limit
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def serve(folder: Path) -> Iterator[Callable[[Answer], ControlClient]]:
    """``serve(answer)``: a listening socket whose one connection ``answer`` handles; a client for it."""
    threads: list[threading.Thread] = []
    listeners: list[socket.socket] = []

    def start(answer: Answer, *, timeout: float = 15.0) -> ControlClient:
        endpoint = Endpoint(folder, "shop-0000")
        endpoint.token.write_text("t" * 64)
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(endpoint.socket))
        listener.listen()
        listeners.append(listener)

        def run() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.makefile("rb").readline()  # the request
                answer(conn)

        thread = threading.Thread(target=run)
        thread.start()
        threads.append(thread)
        return ControlClient(endpoint, "shop", timeout=timeout)

    yield start
    for listener in listeners:
        listener.close()
    for thread in threads:
        thread.join(10)


def test_a_socket_left_over_from_an_up_that_stopped(folder: Path) -> None:
    endpoint = Endpoint(folder, "shop-0000")
    left = socket.socket(socket.AF_UNIX)
    left.bind(str(endpoint.socket))  # bound, never listening: what a killed `up` leaves
    left.close()
    with pytest.raises(NoRunningUpError, match=r"no `devloop up` is running for project shop \(.* is left over"):
        ControlClient(endpoint, "shop").hello()


def test_a_socket_without_its_token_is_an_up_starting_or_stopped(folder: Path) -> None:
    endpoint = Endpoint(folder, "shop-0000")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(endpoint.socket))
        listener.listen()
        with pytest.raises(NoRunningUpError, match="has no token file next to it; it is starting or stopped"):
            ControlClient(endpoint, "shop").hello()


def test_an_unreadable_answer_asks_about_the_version(serve: Callable[..., ControlClient]) -> None:
    client = serve(lambda conn: conn.sendall(b"\xff not json\n"))
    with pytest.raises(ControlError, match="sent an unreadable answer; is it another devloop version"):
        client.hello()


def test_an_answer_that_is_not_ok_is_unexpected(serve: Callable[..., ControlClient]) -> None:
    client = serve(lambda conn: conn.sendall(b'{"hello":"there"}\n'))
    with pytest.raises(ControlError, match="unexpected answer from the running `devloop up`"):
        client.hello()


def test_a_refusal_carries_its_exit_code(serve: Callable[..., ControlClient]) -> None:
    client = serve(lambda conn: conn.sendall(b'{"ok":false,"error":"no resource named `x`","code":2}\n'))
    with pytest.raises(RemoteError, match="no resource named `x`") as info:
        client.hello()
    assert info.value.exit_code == 2


def test_a_connection_closed_without_an_answer(serve: Callable[..., ControlClient]) -> None:
    client = serve(lambda conn: None)
    with pytest.raises(ControlError, match="closed the connection without answering"):
        client.hello()


def test_an_up_that_does_not_answer_in_time_is_asked_whether_it_is_stuck(
    serve: Callable[..., ControlClient],
) -> None:
    done = threading.Event()
    client = serve(lambda conn: done.wait(30), timeout=0.2)
    try:
        with pytest.raises(ControlError, match=r"did not answer within 0 s; is it stuck\?"):
            client.hello()
    finally:
        done.set()


def test_a_status_without_a_snapshot(serve: Callable[..., ControlClient]) -> None:
    client = serve(lambda conn: conn.sendall(b'{"ok":true}\n'))
    with pytest.raises(ControlError, match="sent a status without a snapshot"):
        client.status()


def test_stop_local_names_what_it_stopped(serve: Callable[..., ControlClient]) -> None:
    client = serve(lambda conn: conn.sendall(b'{"ok":true,"stopped":["frontend","codegen"]}\n'))
    assert client.stop_local() == ["frontend", "codegen"]
