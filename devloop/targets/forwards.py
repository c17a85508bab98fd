"""Port forwards, shared by the docker and kubernetes targets.

:class:`RelayForward` is a local TCP listener relaying every connection to an upstream socket that each target
opens its own way (:meth:`RelayForward._upstream`: a pod's IP on docker, the API's ``pods/portforward`` on
Kubernetes), re-resolved for every connection so that a forward follows redeploys. One thread accepts, one thread
per connection relays both directions; :meth:`RelayForward.close` closes every socket and joins every thread.

:class:`OpenForwards` is what a target keeps of the forwards it has open: each handle the engine gets removes
itself when closed, and the target closes whatever is left at teardown.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Protocol

from devloop.errors import DeployError

CONNECT_WAIT = 10.0  # seconds a connection waits for a ready pod (e.g. during a redeploy)


class RelayForward:
    """A listener on ``host:local``; subclasses say how a connection reaches its upstream (:meth:`_connect_once`)."""

    def __init__(
        self,
        local: int,
        host: str = "127.0.0.1",
        label: str = "",
        on_problem: Callable[[str], None] | None = None,
    ) -> None:
        self.local = local
        self.host = host
        self.label = label
        self._on_problem = on_problem
        self._told: set[str] = set()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._listener.bind((host, local))
            self._listener.listen(64)
        except OSError as exc:
            self._listener.close()
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise DeployError(
                    f"port forward {label + ' ' if label else ''}cannot listen on {host}:{local}: the port is "
                    f"{'already in use' if exc.errno == errno.EADDRINUSE else 'not allowed'}; stop what uses it "
                    "or choose another local port in port_forwards (LOCAL:CONTAINER)."
                ) from exc
            raise DeployError(f"port forward cannot listen on {host}:{local}: {exc.strerror or exc}.") from exc
        self._listener.settimeout(0.5)
        self._acceptor = threading.Thread(target=self._accept, name=f"devloop-forward-{local}", daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            thread = threading.Thread(
                target=self._serve, args=(client,), name=f"devloop-forward-{self.local}-c", daemon=True
            )
            with self._lock:
                if self._closed.is_set():
                    client.close()
                    return
                self._sockets.add(client)
                self._threads.add(thread)
            thread.start()

    def _connect_once(self) -> socket.socket | None:
        """One attempt at an upstream connection (None: not now, try again until :data:`CONNECT_WAIT`)."""
        raise NotImplementedError

    def _gave_up(self) -> None:
        """Called when no upstream answered within :data:`CONNECT_WAIT`."""

    def _upstream(self) -> socket.socket | None:
        deadline = time.monotonic() + CONNECT_WAIT
        while not self._closed.is_set():
            sock = self._connect_once()
            if sock is not None:
                return sock
            if time.monotonic() >= deadline:
                self._gave_up()
                return None
            self._closed.wait(0.2)
        return None

    def _tell(self, text: str) -> None:
        message = f"port forward {self.label}: {text}" if self.label else f"port forward: {text}"
        if message in self._told or self._on_problem is None:
            return
        self._told.add(message)
        self._on_problem(message)

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            upstream = self._upstream()
            if upstream is None:
                return
            upstream.settimeout(None)
            with self._lock:
                self._sockets.add(upstream)
            self._relay(client, upstream)
        finally:
            for s in (client, upstream):
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.close()
                    with self._lock:
                        self._sockets.discard(s)
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        peer = {a: b, b: a}
        open_reads = {a, b}
        with selectors.DefaultSelector() as sel:
            sel.register(a, selectors.EVENT_READ)
            sel.register(b, selectors.EVENT_READ)
            while open_reads and not self._closed.is_set():
                for key, _ in sel.select(timeout=0.5):
                    src = key.fileobj
                    assert isinstance(src, socket.socket)
                    try:
                        data = src.recv(65536)
                    except OSError:
                        return
                    if not data:
                        sel.unregister(src)
                        open_reads.discard(src)
                        if src is b:  # the server is done: so is the connection
                            return
                        with contextlib.suppress(OSError):
                            peer[src].shutdown(socket.SHUT_WR)
                        continue
                    try:
                        peer[src].sendall(data)
                    except OSError:
                        return

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self._acceptor.join(timeout=5)
        with self._lock:
            sockets = list(self._sockets)
            threads = list(self._threads)
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()
        for t in threads:
            t.join(timeout=5)


class Forward(Protocol):
    local: int

    def close(self) -> None: ...


class ForwardHandle:
    """What ``Target.port_forward`` returns: closing it stops the forward and forgets it."""

    def __init__(self, forward: Forward, owner: OpenForwards) -> None:
        self._forward = forward
        self._owner = owner
        self.local = forward.local

    def close(self) -> None:
        self._forward.close()
        self._owner.forget(self._forward)


class OpenForwards:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: list[Forward] = []

    def add(self, forward: Forward) -> ForwardHandle:
        with self._lock:
            self._open.append(forward)
        return ForwardHandle(forward, self)

    def forget(self, forward: Forward) -> None:
        with self._lock:
            if forward in self._open:
                self._open.remove(forward)

    def close_all(self) -> None:
        with self._lock:
            forwards, self._open = self._open, []
        for forward in forwards:
            forward.close()
