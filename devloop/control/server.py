"""The control endpoint a running `devloop up` serves to `devloop status`, `logs` and `trigger`.

A unix socket in a directory only its user can enter (see :mod:`devloop.control.paths`); every request must
carry the token from the file next to it. One thread accepts connections; each connection gets a short-lived
thread (at most :data:`MAX_CONNECTIONS` at once) that only reads snapshots and the log store and posts
triggers, so a slow or stuck client can never block the engine.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import fcntl
import hmac
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devloop.control import protocol
from devloop.control.paths import Endpoint, ensure_private_dir, server_endpoint
from devloop.control.protocol import ControlError, UpAlreadyRunningError
from devloop.engine.logstore import LogStore
from devloop.engine.sink import describe_state
from devloop.engine.state import Snapshot, Status
from devloop.exit_status import ExitStatus
from devloop.sockets import end_connections, peer_closed, readable

if TYPE_CHECKING:
    from devloop.engine.loop import Engine

log = logging.getLogger("devloop.control")

MAX_CONNECTIONS = 32
REQUEST_TIMEOUT = 5.0  # seconds a client may take to send its whole request line
POLL = 0.25  # how often a follower checks for a gone client or a stopping server
COALESCE = 0.05  # a follower gathers lines this long before sending them in one write
TRIGGER_POLL = 0.05
_DONE = (Status.READY, Status.COMPLETED, Status.FAILED, Status.MANUAL_PENDING)


class _Stop(Exception):
    """The client went away or the server is closing."""


class ControlServer:
    def __init__(
        self,
        project_name: str,
        config_path: Path | str,
        snapshot_fn: Callable[[], Snapshot],
        store: LogStore,
        trigger_fn: Callable[[str], None],
        *,
        stop_local_fn: Callable[[], list[str]] | None = None,
        env: Mapping[str, str] | None = None,
        tmp_root: str | None = None,
    ) -> None:
        self.project_name = project_name
        self.config_path = Path(config_path)
        self._snapshot = snapshot_fn
        self._store = store
        self._trigger = trigger_fn
        self._stop_local = stop_local_fn or (lambda: [])
        self.endpoint: Endpoint = server_endpoint(project_name, config_path, env, tmp_root=tmp_root)
        self._token = ""
        self._listener: socket.socket | None = None
        self._lock_fd: int | None = None
        self._wake_r, self._wake_w = -1, -1
        self._closing = threading.Event()
        self._accept_thread: threading.Thread | None = None
        self._conns: dict[threading.Thread, socket.socket] = {}
        self._reading: dict[threading.Thread, float] = {}  # connections still sending their request: since when
        self._conns_lock = threading.Lock()
        self._started = time.time()
        self.web_url = ""  # the web UI's address, when `up` serves one (shown by `devloop status`)

    # ------------------------------------------------------------------ lifecycle

    @property
    def socket_path(self) -> Path:
        return self.endpoint.socket

    def start(self) -> None:
        """Take the endpoint (refusing when another `up` of this project holds it) and start accepting."""
        self._take_lock()
        try:
            self._remove_files()  # a crashed `up` left them; its lock is gone, so nobody listens
            self._token = secrets.token_hex(32)
            fd = os.open(self.endpoint.token, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(self._token + "\n")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                listener.bind(os.fspath(self.endpoint.socket))
                os.chmod(self.endpoint.socket, 0o600)
                listener.listen(128)
                listener.setblocking(False)
            except OSError:
                listener.close()
                raise
            self._listener = listener
            self._wake_r, self._wake_w = os.pipe()
        except OSError as exc:
            self._cleanup_files()
            raise ControlError(
                f"cannot serve the control socket {self.endpoint.socket}: {exc.strerror or exc}; "
                "check that the folder is yours and writable."
            ) from None
        except BaseException:
            self._cleanup_files()
            raise
        self._accept_thread = threading.Thread(target=self._accept_loop, name="devloop-control", daemon=True)
        self._accept_thread.start()
        log.debug("control endpoint at %s", self.endpoint.socket)

    def close(self) -> None:
        """Stop accepting, end every connection, join the threads, remove the socket, token and lock files."""
        if self._closing.is_set():
            return
        self._closing.set()
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")
        if self._accept_thread is not None:
            self._accept_thread.join()
        end_connections(self._conns, self._conns_lock, 2 * POLL + 0.5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1
        self._cleanup_files()
        with contextlib.suppress(OSError):  # the last `up` of this user leaves no trace (other ups' files stay)
            os.rmdir(self.endpoint.directory)

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the lock and files

    def _take_lock(self) -> None:
        path = self.endpoint.lock
        for _ in range(10):
            try:
                ensure_private_dir(self.endpoint.directory)
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            except FileNotFoundError:  # another `up` just removed the empty directory: make it again
                continue
            except OSError as exc:
                raise ControlError(
                    f"cannot create the lock file {path}: {exc.strerror or exc}; check that the folder is yours."
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise UpAlreadyRunningError(self._describe_other()) from None
                raise
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a lock file its former owner unlinked while we waited for it
                self._lock_fd = fd
                return
            os.close(fd)
        raise ControlError(f"could not take the lock {path}; try again.")

    def _describe_other(self) -> str:
        """The sentence naming the other `up` (asking it who it is when it answers)."""
        who = "another `devloop up`"
        try:
            from devloop.control.client import ControlClient

            hello = ControlClient(self.endpoint, self.project_name, timeout=2.0).hello()
            started = time.strftime("%H:%M:%S", time.localtime(float(hello.get("started", 0))))
            who = f"another `devloop up` (pid {hello.get('pid')}, started at {started})"
        except Exception as exc:  # starting or stuck: the lock alone says it runs
            log.debug("asking the other up failed: %s", exc)
        return (
            f"{who} is already running for project {self.project_name} ({self.config_path}); "
            "stop it first, or talk to it with `devloop status`, `devloop logs` and `devloop trigger`."
        )

    def _remove_files(self) -> None:
        for path in (self.endpoint.socket, self.endpoint.token):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def _cleanup_files(self) -> None:
        if self._lock_fd is None:  # never started, or refused: the files are another `up`'s
            return
        self._remove_files()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.endpoint.lock)
        os.close(self._lock_fd)
        self._lock_fd = None

    # ------------------------------------------------------------------ accepting

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._closing.is_set():
            try:
                ready = readable([listener.fileno(), self._wake_r], None)
            except OSError:
                return
            if self._closing.is_set():
                return
            if listener.fileno() not in ready:
                continue
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                log.debug("accept failed: %s", exc)
                continue
            conn.setblocking(True)
            with self._conns_lock:
                busy = len(self._conns) >= MAX_CONNECTIONS and not self._evict_slowest_reader()
                if not busy:
                    thread = threading.Thread(target=self._serve, args=(conn,), name="devloop-control-conn")
                    thread.daemon = True
                    self._conns[thread] = conn
                    self._reading[thread] = time.monotonic()
            if busy:
                self._refuse(conn, "the running `devloop up` has too many open control connections; try again.")
                continue
            thread.start()

    def _evict_slowest_reader(self) -> bool:
        """All connections taken: end the one that has been sending its request the longest (a stuck or
        trickling client), so that a client that asks at once is always served. Under ``_conns_lock``."""
        if not self._reading:
            return False
        thread = min(self._reading, key=self._reading.__getitem__)
        del self._reading[thread]
        with contextlib.suppress(OSError):
            self._conns[thread].shutdown(socket.SHUT_RDWR)  # its recv returns at once and its thread ends
        return True

    def _refuse(self, conn: socket.socket, message: str, code: int = ExitStatus.ERROR) -> None:
        try:
            conn.settimeout(1.0)
            conn.sendall(protocol.encode({"ok": False, "error": message, "code": code}))
        except OSError:
            pass
        finally:
            conn.close()

    # ------------------------------------------------------------------ one connection

    def _serve(self, conn: socket.socket) -> None:
        me = threading.current_thread()
        try:
            request = self._read_request(conn)
            with self._conns_lock:
                self._reading.pop(me, None)
            if request is None:
                return
            conn.settimeout(None)
            self._dispatch(conn, request)
        except (_Stop, OSError) as exc:
            log.debug("control connection ended: %s", exc)
        except Exception:  # a bug must not take the accept loop or the engine down
            log.debug("control request failed", exc_info=True)
            with contextlib.suppress(OSError):
                self._send(conn, {"ok": False, "error": "internal error in the control endpoint", "code": 1})
        finally:
            with self._conns_lock:
                self._conns.pop(me, None)
                self._reading.pop(me, None)
            with contextlib.suppress(OSError):
                conn.close()

    def _read_request(self, conn: socket.socket) -> dict[str, Any] | None:
        """The request line, read within REQUEST_TIMEOUT as a whole (a client trickling a byte at a time does
        not hold the connection longer), checked for its protocol version and token; else None."""
        deadline = time.monotonic() + REQUEST_TIMEOUT
        data = b""
        while b"\n" not in data:
            if len(data) > protocol.MAX_REQUEST:
                self._fail(conn, "request too long")
                return None
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                conn.settimeout(left)
                chunk = conn.recv(4096)
            except TimeoutError:
                self._fail(conn, f"no complete request within {REQUEST_TIMEOUT:g} s")
                return None
            if not chunk:
                return None
            data += chunk
        try:
            request = protocol.decode(data.split(b"\n", 1)[0])
        except ValueError:
            self._fail(conn, "the request is not a JSON object")
            return None
        token = request.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self._token.encode()):
            self._fail(
                conn,
                "the running `devloop up` refused the request: missing or wrong token "
                f"(it is in {self.endpoint.token})",
            )
            return None
        version = request.get("v")
        if version != protocol.VERSION:
            self._fail(
                conn,
                f"the running `devloop up` speaks control protocol version {protocol.VERSION}, but the request "
                f"{'says ' + repr(version) if version is not None else 'names no version'}; "
                "use the same devloop for `up` and for `status`, `logs` and `trigger`",
            )
            return None
        return request

    def _send(self, conn: socket.socket, *messages: dict[str, Any]) -> None:
        conn.sendall(b"".join(protocol.encode(m) for m in messages))

    def _fail(self, conn: socket.socket, message: str, code: int = ExitStatus.ERROR) -> None:
        with contextlib.suppress(OSError):
            self._send(conn, {"ok": False, "error": message, "code": code})

    def _dispatch(self, conn: socket.socket, request: dict[str, Any]) -> None:
        op = request.get("op")
        if op == "hello":
            self._send(
                conn,
                {
                    "ok": True,
                    "pid": os.getpid(),
                    "project": self.project_name,
                    "config": str(self.config_path),
                    "started": self._started,
                },
            )
        elif op == "status":
            data = protocol.snapshot_to_dict(self._snapshot())
            data["web_url"] = self.web_url
            self._send(conn, {"ok": True, "snapshot": data})
        elif op == "logs":
            self._logs(conn, request)
        elif op == "trigger":
            self._trigger_op(conn, request)
        elif op == "stop_local":
            self._send(conn, {"ok": True, "stopped": self._stop_local()})
        else:
            self._fail(conn, f"unknown request {op!r}; is this devloop older than the running `devloop up`?")

    def _check_resource(self, conn: socket.socket, name: Any, snapshot: Snapshot) -> bool:
        names = [r.name for r in snapshot.resources]
        if isinstance(name, str) and name in names:
            return True
        text = str(name)
        close = difflib.get_close_matches(text, names, n=1)
        hint = f"did you mean `{close[0]}`?" if close else f"known resources: {', '.join(names) or 'none'}."
        message = f"the running `devloop up` of {snapshot.project} has no resource named `{text}`; {hint}"
        self._fail(conn, message, ExitStatus.USAGE)
        return False

    # ------------------------------------------------------------------ logs

    def _logs(self, conn: socket.socket, request: dict[str, Any]) -> None:
        snapshot = self._snapshot()
        resource = request.get("resource")
        if resource is not None and not self._check_resource(conn, resource, snapshot):
            return
        since_seconds = request.get("since_seconds")
        since = time.time() - float(since_seconds) if isinstance(since_seconds, int | float) else None
        names = [r.name for r in snapshot.resources]
        dropped = (
            self._store.dropped(resource) if resource is not None else sum(self._store.dropped(n) for n in [*names, ""])
        )
        dropped_before = self._store.dropped(resource) if resource is not None else 0
        mark = self._store.last_seq
        kept = [e for e in self._store.lines(resource) if e.seq <= mark]
        backlog = [e for e in kept if since is None or e.time >= since]
        head = {"ok": True, "names": names, "dropped": dropped}
        self._send_entries(conn, backlog, head)
        if not request.get("follow"):
            self._send(conn, {"end": "done"})
            return
        retained = len(kept)
        while True:
            if self._closing.is_set():
                self._send(conn, {"end": "stopped"})
                return
            if not self._store.wait(mark, POLL):
                self._check_client(conn)
                continue
            self._closing.wait(COALESCE)  # let a burst gather: one read and one write per batch
            if resource is None:  # seqs are contiguous over all resources: a gap is lines dropped unsent
                fresh, lost, newest = self._store.follow(mark)
            else:  # the store drops oldest first: drops beyond the lines already sent were never sent
                newest = self._store.last_seq
                dropped_now = self._store.dropped(resource)
                pool = [e for e in self._store.lines(resource) if e.seq <= newest]
                fresh = [e for e in pool if e.seq > mark]
                lost = max(0, dropped_now - dropped_before - retained)
                dropped_before, retained = dropped_now, len(pool)
            mark = newest
            if lost > 0:
                self._send(conn, {"dropped_here": lost})
            self._send_entries(conn, fresh)

    def _send_entries(self, conn: socket.socket, entries: list[Any], head: dict[str, Any] | None = None) -> None:
        chunk: list[bytes] = [protocol.encode(head)] if head is not None else []
        for entry in entries:
            chunk.append(protocol.encode({"log": protocol.entry_to_dict(entry)}))
            if len(chunk) >= 500:
                conn.sendall(b"".join(chunk))
                chunk = []
        if chunk:
            conn.sendall(b"".join(chunk))

    def _check_client(self, conn: socket.socket, timeout: float = 0.0) -> None:
        """Raise :class:`_Stop` when the client closed its end (readable and at EOF)."""
        if peer_closed(conn, timeout):
            raise _Stop("client disconnected")

    # ------------------------------------------------------------------ trigger

    def _trigger_op(self, conn: socket.socket, request: dict[str, Any]) -> None:
        snapshot = self._snapshot()
        name = request.get("resource")
        if not self._check_resource(conn, name, snapshot):
            return
        assert isinstance(name, str)
        before = snapshot.resource(name)
        assert before is not None
        started = time.time()
        self._trigger(name)
        self._send(conn, {"ok": True, "view": protocol.view_to_dict(before)})
        if not request.get("wait"):
            return
        last = (before.status, before.reason, before.since)
        while True:
            if self._closing.is_set():
                self._send(conn, {"end": "stopped"})
                return
            view = self._snapshot().resource(name)
            if view is None:
                self._fail(conn, f"{name} left the project while it was updating (the config changed).")
                return
            current = (view.status, view.reason, view.since)
            if current != last:
                last = current
                data = protocol.view_to_dict(view)
                if view.since >= started and view.status in _DONE:
                    self._send(conn, {"done": data, "line": describe_state(view)})
                    return
                self._send(conn, {"state": data, "line": describe_state(view)})
            self._check_client(conn, TRIGGER_POLL)


def serve_control(
    project: str, config_path: Path | str, engine: Engine, store: LogStore, *, env: Mapping[str, str] | None = None
) -> ControlServer:
    """The control endpoint of a `devloop up`, started: call ``close()`` after ``engine.run()`` returns.

    Raises :class:`UpAlreadyRunningError` (exit 1) when another `up` of the same config serves already.
    """
    server = ControlServer(
        project, config_path, engine.snapshot, store, engine.trigger, stop_local_fn=engine.stop_local, env=env
    )
    server.start()
    return server
