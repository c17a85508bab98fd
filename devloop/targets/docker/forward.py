"""Port forwards: a local TCP listener relaying every connection to the resource's current ready pod.

The target pod is resolved per connection, so a forward keeps working across redeploys. The pod
is reached at its IP address on the project network, which the host can route to on Linux engines;
Docker Desktop would need published ports instead. When nothing answers there, the connection is made
inside the pod's network namespace to its 127.0.0.1, as ``kubectl port-forward`` does (see
:mod:`devloop.targets.docker.netns`); where that is impossible, ``on_problem`` is told once, naming the
pod, port and bind address. One thread accepts, one thread per connection relays both directions;
:meth:`PortForward.close` closes every socket and joins every thread.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from devloop.errors import DeployError
from devloop.targets.docker import netns

CONNECT_WAIT = 10.0  # seconds a connection waits for a ready pod (e.g. during a redeploy)


@dataclass(frozen=True)
class Upstream:
    """Where a connection goes: the pod's address, and its sandbox's host PID when devloop can see it."""

    ip: str
    port: int
    pod: str = ""
    pid: int | None = None


Resolver = Callable[[], Upstream | None]


class PortForward:
    def __init__(
        self,
        resolve: Resolver,
        local: int,
        host: str = "127.0.0.1",
        label: str = "",
        on_problem: Callable[[str], None] | None = None,
    ) -> None:
        self.resolve = resolve
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

    def _upstream(self) -> socket.socket | None:
        deadline = time.monotonic() + CONNECT_WAIT
        target: Upstream | None = None
        while not self._closed.is_set():
            target = None
            with contextlib.suppress(Exception):
                target = self.resolve()
            if target is not None:
                try:
                    return socket.create_connection((target.ip, target.port), timeout=2)
                except ConnectionRefusedError:
                    inside = self._inside(target)
                    if inside is not None:
                        return inside
                except OSError:
                    pass
            if time.monotonic() >= deadline:
                if target is not None and target.pid is None:
                    self._tell(
                        f"nothing answers on port {target.port} of pod {target.pod} at {target.ip}; if the server "
                        "listens on the pod's 127.0.0.1 only, devloop cannot reach it from here (the engine runs "
                        "elsewhere, or devloop may not enter the pod's network namespace): make it listen on 0.0.0.0"
                    )
                return None
            self._closed.wait(0.2)
        return None

    def _inside(self, target: Upstream) -> socket.socket | None:
        """Connect to the pod's 127.0.0.1 from inside its network namespace (None: not possible or refused)."""
        if target.pid is None:
            return None
        try:
            return netns.connect_inside(target.pid, target.port)
        except ConnectionRefusedError:
            return None  # nothing listens at all yet: the caller keeps waiting
        except OSError as exc:
            bound = netns.listeners(target.pid, target.port)
            where = f"on {', '.join(bound)}" if bound else "on the pod's loopback (or not at all)"
            self._tell(
                f"the server of pod {target.pod} listens on port {target.port} {where} only, and devloop cannot "
                f"enter the pod's network namespace to reach it ({exc.strerror or exc}; it needs root on the "
                "engine's machine): make it listen on 0.0.0.0"
            )
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
