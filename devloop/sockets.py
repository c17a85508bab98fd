"""Small socket helpers shared by the servers a running `devloop up` holds (control endpoint, web UI)."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Mapping


def readable(fds: list[int], timeout: float | None) -> set[int]:
    """The fds among ``fds`` that are readable (or hung up) within ``timeout`` seconds (None: wait)."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    events = poller.poll(None if timeout is None else int(timeout * 1000))
    return {fd for fd, _ in events}


def peer_closed(conn: socket.socket, timeout: float = 0.0) -> bool:
    """True when the other end of ``conn`` closed it (readable and at EOF) within ``timeout`` seconds.

    For connections on which the client sends nothing more after its request: whatever it did send is
    read and ignored."""
    if not readable([conn.fileno()], timeout):
        return False
    try:
        if not conn.recv(1, socket.MSG_PEEK):
            return True
        conn.recv(4096)
    except (BlockingIOError, TimeoutError, InterruptedError):
        return False
    except OSError:  # reset
        return True
    return False


def end_connections(conns: Mapping[threading.Thread, socket.socket], lock: threading.Lock, grace: float) -> None:
    """Join the threads serving ``conns`` (thread -> its connection; read under ``lock``, the threads remove
    themselves). They get ``grace`` seconds to end on their own (they watch their server's closing flag); the
    connections still open then are shut down, which unblocks a thread stuck writing to a client that does
    not read, and their threads joined."""
    with lock:
        threads = list(conns)
    deadline = time.monotonic() + grace
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        stuck = list(conns.items())
    for _, conn in stuck:
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)
    for thread, _ in stuck:
        thread.join()
