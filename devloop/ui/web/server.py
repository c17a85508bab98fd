"""The web UI's HTTP server, inside the `devloop up` process (stdlib only: ``http.server``).

It reads what the dashboard and the control endpoint read — the engine's snapshots and the log store — and
sends triggers as the same intent (``engine.trigger``): there is no second state. Routes:

- ``GET /`` the page (``static/index.html`` with the run's token and the status icons), ``/app.js``,
  ``/style.css``;
- ``GET /api/snapshot`` the snapshot as `devloop status -o json` prints it, plus ``now`` (the server's clock);
- ``GET /api/logs?resource=NAME&limit=N`` the newest lines the store keeps (all resources, or one);
- ``GET /api/events`` a Server-Sent Events stream: ``hello`` (the run's id), ``snapshot`` whenever the
  snapshot changes (at most 5 a second), ``logs`` batches ``{"lines": [[seq, time, resource, text], ...],
  "lost": n}`` where ``lost`` counts the lines this client missed (it read too slowly and the store dropped
  them, or a batch was over :data:`BATCH`): a slow client gets that count, never blocks the engine;
- ``POST /api/trigger`` ``{"resource": NAME}`` with the token header: the same as `t` in the dashboard.

Every request is first checked by :func:`devloop.ui.web.guard.check` (Host, Origin, token). One thread serves
(``devloop-web``), one short-lived thread per request (``devloop-web-conn``, at most :data:`MAX_STREAMS`
event streams at once); :meth:`WebServer.close` ends them all and joins them.
"""

from __future__ import annotations

import errno
import json
import logging
import secrets
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devloop.control import protocol
from devloop.engine.logstore import LogEntry, LogStore
from devloop.engine.state import Snapshot, Status
from devloop.errors import DevloopError
from devloop.sockets import end_connections, peer_closed
from devloop.ui.render import STATUS_LOOK, clean_line
from devloop.ui.web import DEFAULT_PORT
from devloop.ui.web.guard import TOKEN_HEADER, check

log = logging.getLogger("devloop.web")

HOST = "127.0.0.1"
PORT_TRIES = 20  # the default port and the next ones, when taken
MAX_STREAMS = 16  # event streams at once (a browser tab holds one)
REQUEST_TIMEOUT = 10.0  # seconds to send a request, or to take a write of ours
MAX_BODY = 64 * 1024
POLL = 0.25  # how often a stream checks for a gone client, a stopping server, a new snapshot
COALESCE = 0.05  # a stream gathers lines this long before sending them in one event
BATCH = 5000  # lines in one event at most; more arrived meanwhile: the oldest are counted as lost
BACKLOG = 1000  # lines a new page starts with
MAX_LOGS = 5000  # lines /api/logs answers at most (a resource's whole buffer)
SNAPSHOT_EVERY = 0.2  # seconds between two snapshot events at least
KEEPALIVE = 15.0  # seconds of silence after which a stream sends a comment (proxies, dead peers)
STATIC = {
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
#: the page's icons are the dashboard's, but for glyphs that common fonts lack (a box would show instead)
WEB_ICONS = {Status.MANUAL_PENDING: "‖"}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
}


class WebError(DevloopError):
    """The web UI could not be served (no port at all on 127.0.0.1); `up` warns and goes on without it."""


class WebServer:
    def __init__(
        self,
        snapshot_fn: Callable[[], Snapshot],
        store: LogStore,
        trigger_fn: Callable[[str], None],
        *,
        port: int = DEFAULT_PORT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.snapshot = snapshot_fn
        self.store = store
        self.trigger = trigger_fn
        self.clock = clock
        self.wanted_port = port
        self.port = 0
        self.token = secrets.token_urlsafe(32)
        self.run_id = secrets.token_hex(8)  # a page that reconnects to another run reloads itself
        self.closing = threading.Event()
        self._http: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: dict[threading.Thread, socket.socket] = {}
        self._conns_lock = threading.Lock()
        self.streams = threading.BoundedSemaphore(MAX_STREAMS)  # event streams open at once
        self.files: dict[str, bytes] = {}  # static/ by name, read at start

    @property
    def served(self) -> str:
        """``127.0.0.1:PORT``: what every request's Host header must be."""
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.served}/"

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Bind the wanted port (or the next free one; 0: any) and start serving (returns at once)."""
        static = resources.files("devloop.ui.web") / "static"
        self.files = {name: (static / name).read_bytes() for name in ("index.html", "app.js", "style.css")}
        self._http = self._bind()
        self.port = self._http.server_address[1]
        self._thread = threading.Thread(target=self._serve, name="devloop-web", daemon=True)
        self._thread.start()
        log.debug("web UI at %s", self.url)

    def _bind(self) -> _HttpServer:
        """The wanted port, else the next ones, else any free port the system gives."""
        wanted = self.wanted_port
        ports = [p for p in range(wanted, wanted + PORT_TRIES) if p <= 65535] + [0] if wanted else [0]
        for port in ports:
            try:
                return _HttpServer((HOST, port), self)
            except OSError as exc:
                if port == 0 or exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                    raise WebError(
                        f"cannot serve the web UI on {HOST}:{port or 'any port'}: {exc.strerror or exc}; "
                        "devloop goes on without it (--no-web turns it off)."
                    ) from None
        raise AssertionError("unreachable: port 0 either binds or raises")

    def _serve(self) -> None:
        assert self._http is not None
        self._http.serve_forever(poll_interval=0.2)

    def close(self) -> None:
        """Stop accepting, end every stream, join every thread; safe to call twice."""
        if self.closing.is_set():
            return
        self.closing.set()
        http = self._http
        if http is None:
            return
        http.shutdown()
        if self._thread is not None:
            self._thread.join()
        end_connections(self._conns, self._conns_lock, 2 * POLL + 0.5)
        http.server_close()
        self._http = None

    def __enter__(self) -> WebServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ connection threads

    def track(self, conn: socket.socket, target: Callable[[], None]) -> None:
        """Run ``target`` (serving ``conn``) on a thread of its own that :meth:`close` joins."""

        def run() -> None:
            try:
                target()
            finally:
                with self._conns_lock:
                    self._conns.pop(thread, None)

        thread = threading.Thread(target=run, name="devloop-web-conn", daemon=True)
        with self._conns_lock:
            self._conns[thread] = conn
        thread.start()

    # ------------------------------------------------------------------ answers

    def page(self) -> bytes:
        boot = {
            "token": self.token,
            "run": self.run_id,
            "icons": {status.value: WEB_ICONS.get(status, look[0]) for status, look in STATUS_LOOK.items()},
        }
        data = json.dumps(boot).replace("<", "\\u003c")  # never closes the script element
        return self.files["index.html"].replace(b"{{BOOT}}", data.encode())

    def snapshot_data(self) -> dict[str, Any]:
        data = protocol.snapshot_to_dict(self.snapshot())
        data["web_url"] = self.url
        data["now"] = self.clock()
        return data


def entry_row(entry: LogEntry) -> list[Any]:
    """One log line as the page gets it: ``[seq, time, resource, text]``, the text made safe to show."""
    return [entry.seq, entry.time, entry.resource, clean_line(entry.text)]


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    # SO_REUSEADDR: the port of an `up` that just stopped (its connections in TIME_WAIT) is free again at once;
    # on Linux a port another socket listens on still fails to bind, so the next one is tried
    allow_reuse_address = True
    allow_reuse_port = False

    def __init__(self, address: tuple[str, int], app: WebServer) -> None:
        self.app = app
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would look the host's name up (getfqdn): a DNS query for nothing
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = HOST, self.server_address[1]

    def process_request(self, request: Any, client_address: Any) -> None:
        self.app.track(request, lambda: self.process_request_thread(request, client_address))


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive threads
    server_version = "devloop"
    sys_version = ""
    timeout = REQUEST_TIMEOUT

    @property
    def app(self) -> WebServer:
        return self.server.app

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("web: " + format, *args)

    # ------------------------------------------------------------------ methods

    def do_GET(self) -> None:
        if not self._allowed("GET"):
            return
        path, query = self._route()
        if path in ("/", "/index.html"):
            self._send(200, self.app.page(), "text/html; charset=utf-8")
        elif path in STATIC:
            name, kind = STATIC[path]
            self._send(200, self.app.files[name], kind)
        elif path == "/api/snapshot":
            self._json(200, self.app.snapshot_data())
        elif path == "/api/logs":
            self._logs(query)
        elif path == "/api/events":
            self._events()
        elif path == "/api/trigger":
            self._json(405, {"error": "use POST to trigger"}, {"Allow": "POST"})
        else:
            self._json(404, {"error": f"no such page: {path}"})

    def do_POST(self) -> None:
        if not self._allowed("POST"):
            return
        path, _ = self._route()
        if path != "/api/trigger":
            self._json(404, {"error": f"nothing to post to at {path}"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self._json(400, {"error": "expected a JSON body {\"resource\": NAME}"})
            return
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            body = None
        name = body.get("resource") if isinstance(body, dict) else None
        if not isinstance(name, str):
            self._json(400, {"error": "expected a JSON body {\"resource\": NAME}"})
            return
        view = self.app.snapshot().resource(name)
        if view is None:
            self._json(404, {"error": f"no resource named {name}"})
            return
        self.app.trigger(name)
        self._json(202, {"ok": True, "resource": name, "view": protocol.view_to_dict(view)})

    def _refuse_method(self) -> None:
        if self._allowed(self.command):
            self._json(405, {"error": f"{self.command} is not supported"}, {"Allow": "GET, POST"})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method

    # ------------------------------------------------------------------ helpers

    def _allowed(self, method: str) -> bool:
        refusal = check(
            method,
            self.headers.get("Host"),
            self.headers.get("Origin"),
            self.headers.get(TOKEN_HEADER),
            served=self.app.served,
            expected_token=self.app.token,
            fetch_site=self.headers.get("Sec-Fetch-Site"),
        )
        if refusal is None:
            return True
        log.debug("web: refused %s %s: %s", method, self.path, refusal.reason)
        self._send(refusal.status, (refusal.reason + "\n").encode(), "text/plain; charset=utf-8")
        return False

    def _route(self) -> tuple[str, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        return parts.path, parse_qs(parts.query)

    def _send(self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in {**SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        self._send(status, body, "application/json; charset=utf-8", headers)

    # ------------------------------------------------------------------ logs

    def _logs(self, query: dict[str, list[str]]) -> None:
        store = self.app.store
        resource = query["resource"][0] if query.get("resource") else None
        try:
            limit = max(1, min(MAX_LOGS, int(query["limit"][0]))) if query.get("limit") else BACKLOG
        except ValueError:
            limit = BACKLOG
        snapshot = self.app.snapshot()
        if resource is not None and snapshot.resource(resource) is None:
            self._json(404, {"error": f"no resource named {resource}"})
            return
        names = [resource] if resource is not None else [*(v.name for v in snapshot.resources), ""]
        lines = store.lines(resource, limit=limit)
        data = {
            "lines": [entry_row(e) for e in lines],
            "dropped": sum(store.dropped(n) for n in names),
            "last_seq": lines[-1].seq if lines else 0,
        }
        self._json(200, data)

    # ------------------------------------------------------------------ the event stream

    def _events(self) -> None:
        app = self.app
        if not app.streams.acquire(blocking=False):
            self._json(503, {"error": "too many open event streams; close some tabs"})
            return
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            for key, value in SECURITY_HEADERS.items():
                self.send_header(key, value)
            self.end_headers()
            self._stream()
        except OSError as exc:  # the client went away, or wrote nothing for REQUEST_TIMEOUT
            log.debug("web: event stream ended: %s", exc)
        finally:
            app.streams.release()

    def _event(self, name: str, data: Any) -> None:
        payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        self.wfile.write(f"event: {name}\ndata: {payload}\n\n".encode())

    def _stream(self) -> None:
        app, store = self.app, self.app.store
        self.wfile.write(b"retry: 1000\n\n")
        self._event("hello", {"run": app.run_id})
        snapshot = app.snapshot_data()
        version = snapshot["version"]
        self._event("snapshot", snapshot)
        backlog, older, mark = store.follow(0, BACKLOG)
        self._event("logs", {"lines": [entry_row(e) for e in backlog], "older": older})
        sent = shown = time.monotonic()
        while not app.closing.is_set():
            fresh = store.wait(mark, POLL)
            if fresh:
                app.closing.wait(COALESCE)  # let a burst gather: one read and one write per batch
            elif peer_closed(self.connection):
                return
            now = time.monotonic()
            if app.snapshot().version != version and now - shown >= SNAPSHOT_EVERY:
                snapshot = app.snapshot_data()
                version, shown = snapshot["version"], now
                self._event("snapshot", snapshot)
                sent = now
            if fresh:
                entries, lost, mark = store.follow(mark, BATCH)
                self._event("logs", {"lines": [entry_row(e) for e in entries], "lost": lost})
                sent = now
            elif now - sent >= KEEPALIVE:
                self.wfile.write(b": keep-alive\n\n")
                sent = now


def serve_web(
    snapshot_fn: Callable[[], Snapshot], store: LogStore, trigger_fn: Callable[[str], None], *, port: int
) -> WebServer:
    """The web UI of a `devloop up`, started: call ``close()`` when `up` stops."""
    server = WebServer(snapshot_fn, store, trigger_fn, port=port)
    server.start()
    return server
