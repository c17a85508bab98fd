"""The web UI's server in process, over real HTTP on loopback, with a log store and snapshots made by the test:
which requests are refused (Host, Origin, token), that GET never triggers, that a slow event-stream client is
told how many lines it missed (and never blocks the writer), the next free port, and a clean stop."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from devloop.commands.status import render as status_render
from devloop.engine.logstore import LogStore
from devloop.engine.state import ResourceView, Snapshot, Status
from devloop.ui.render import UiState, render_lines
from devloop.ui.web import server as web_server
from devloop.ui.web.guard import check
from devloop.ui.web.server import WebServer
from tests.support import webui
from tests.support.docker_env import Snapshot as LeakSnapshot
from tests.support.webui import EventStream, page_token, request

SERVED = "127.0.0.1:10350"
TOKEN = "t0ken"


def snapshot(*names: str, version: int = 1) -> Snapshot:
    views = tuple(ResourceView(name=n, kind="Deployment", labels=(), status=Status.READY) for n in names)
    return Snapshot("shop", "docker", "docker 20.10.24", views, version=version)


class Fake:
    """What `up` hands the server: snapshots, the log store, the trigger intent."""

    def __init__(self) -> None:
        self.snap = snapshot("web", "api")
        self.store = LogStore(per_resource=1000)
        self.triggered: list[str] = []

    def server(self, port: int = 0) -> WebServer:
        return WebServer(lambda: self.snap, self.store, self.triggered.append, port=port)


@pytest.fixture
def fake() -> Fake:
    return Fake()


@pytest.fixture
def served(fake: Fake, no_leaks: LeakSnapshot) -> Iterator[WebServer]:
    server = fake.server()
    server.start()
    try:
        yield server
    finally:
        server.close()


# ------------------------------------------------------------------------------------------------ the guard


def test_guard_host_must_be_exactly_the_served_address() -> None:
    assert check("GET", SERVED, None, None, served=SERVED, expected_token=TOKEN) is None
    for host in (None, "attacker.example", "localhost:10350", "127.0.0.1", "127.0.0.1:10351", "[::1]:10350"):
        refusal = check("GET", host, None, None, served=SERVED, expected_token=TOKEN)
        assert refusal is not None and refusal.status == 421 and SERVED in refusal.reason


def test_guard_post_needs_the_token_and_the_same_origin() -> None:
    def post(origin: str | None, token: str | None, site: str | None = None) -> int | None:
        refusal = check("POST", SERVED, origin, token, served=SERVED, expected_token=TOKEN, fetch_site=site)
        return None if refusal is None else refusal.status

    assert post(f"http://{SERVED}", TOKEN, "same-origin") is None
    assert post(None, TOKEN) is None  # not a browser (curl): the token is enough
    assert post(f"http://{SERVED}", None) == 403
    assert post(f"http://{SERVED}", "wrong") == 403
    assert post("http://attacker.example", TOKEN) == 403
    assert post("null", TOKEN) == 403
    assert post(f"https://{SERVED}", TOKEN) == 403
    assert post(f"http://{SERVED}", TOKEN, "cross-site") == 403
    assert post(f"http://{SERVED}", TOKEN, "same-site") == 403


# ------------------------------------------------------------------------------------------------ requests


def test_page_api_and_trigger(fake: Fake, served: WebServer) -> None:
    port = served.port
    status, html = request(port, "GET", "/")
    assert status == 200 and '<script src="/app.js"' in html
    token = page_token(port)
    assert token == served.token
    assert request(port, "GET", "/app.js")[0] == 200 and request(port, "GET", "/style.css")[0] == 200
    assert request(port, "GET", "/nothing")[0] == 404

    assert port >= 1024, "port 0 means any free port the system gives, not the ports from 0 on"
    data = json.loads(request(port, "GET", "/api/snapshot")[1])
    assert [v["name"] for v in data["resources"]] == ["web", "api"]
    assert data["web_url"] == served.url == f"http://127.0.0.1:{port}/"

    fake.store.append("web", "\x1b[31mred\x1b[0m line")
    fake.store.append("api", "other")
    logs = json.loads(request(port, "GET", "/api/logs?resource=web")[1])
    assert [row[2:] for row in logs["lines"]] == [["web", "red line"]]  # escape sequences removed
    assert request(port, "GET", "/api/logs?resource=nope")[0] == 404

    # GET, HEAD-like and other methods never trigger
    for method, path in (("GET", "/api/trigger"), ("GET", "/api/trigger?resource=web"), ("PUT", "/api/trigger")):
        assert request(port, method, path, headers={"X-Devloop-Token": token})[0] in (404, 405)
    assert fake.triggered == []

    origin = {"Origin": f"http://127.0.0.1:{port}"}
    assert request(port, "POST", "/api/trigger", body={"resource": "web"}, headers=origin)[0] == 403
    with_token = {**origin, "X-Devloop-Token": token}
    assert request(port, "POST", "/api/trigger", body={"resource": "nope"}, headers=with_token)[0] == 404
    assert request(port, "POST", "/api/trigger", body=["web"], headers=with_token)[0] == 400
    status, text = request(port, "POST", "/api/trigger", body={"resource": "web"}, headers=with_token)
    assert status == 202, text
    assert fake.triggered == ["web"]
    refused = {**with_token, "Host": "attacker.example"}
    assert request(port, "POST", "/api/trigger", body={"resource": "web"}, headers=refused)[0] == 421
    assert fake.triggered == ["web"]


def test_taken_port_moves_to_the_next_free_one(fake: Fake, no_leaks: LeakSnapshot) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        server = fake.server(port)
        server.start()
        try:
            assert server.port != port and port < server.port < port + 20
            assert request(server.port, "GET", "/api/snapshot")[0] == 200
        finally:
            server.close()


def test_when_the_next_ports_are_taken_too_any_free_port_serves(
    fake: Fake, no_leaks: LeakSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_server, "PORT_TRIES", 3)
    held: list[socket.socket] = []
    try:
        base = None
        while base is None:  # three consecutive ports this test holds
            first = socket.socket()
            first.bind(("127.0.0.1", 0))
            start = first.getsockname()[1]
            group = [first]
            for port in (start + 1, start + 2):
                sock = socket.socket()
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    sock.close()
                    break
                group.append(sock)
            held += group
            if len(group) == 3:
                base = start
        for sock in held:
            sock.listen(1)
        server = fake.server(base)
        server.start()
        try:
            assert server.port not in (base, base + 1, base + 2)
            assert request(server.port, "GET", "/api/snapshot")[0] == 200
        finally:
            server.close()
    finally:
        for sock in held:
            sock.close()


# ------------------------------------------------------------------------------------------------ the stream


def test_stream_sends_snapshots_and_lines(fake: Fake, served: WebServer) -> None:
    fake.store.append("web", "before")
    stream = EventStream(served.port)
    try:
        events = stream.events()
        assert next(events) == ("hello", {"run": served.run_id})
        name, data = next(events)
        assert name == "snapshot" and data["version"] == 1
        name, data = next(events)
        assert name == "logs" and [row[3] for row in data["lines"]] == ["before"]
        fake.snap = snapshot("web", "api", "new", version=2)
        fake.store.append("new", "after")
        seen_snapshot = seen_line = False
        for name, data in events:
            seen_snapshot |= name == "snapshot" and [v["name"] for v in data["resources"]][-1] == "new"
            seen_line |= name == "logs" and ["new", "after"] in [row[2:] for row in data["lines"]]
            if seen_snapshot and seen_line:
                break
    finally:
        stream.close()


def test_slow_stream_client_is_told_what_it_missed_and_never_blocks_the_writer(
    fake: Fake, served: WebServer
) -> None:
    stream = EventStream(served.port)
    try:
        events = stream.events()
        for _ in range(3):  # hello, snapshot, backlog
            next(events)
        # the client reads nothing while 60,000 lines are written: the writer finishes regardless
        total = 60_000
        for i in range(total):
            fake.store.append("web" if i % 2 else "api", f"line {i} " + "x" * 80)
        received = lost = 0
        for name, data in events:
            if name != "logs":
                continue
            received += len(data["lines"])
            lost += data.get("lost", 0)
            if data["lines"] and data["lines"][-1][0] == fake.store.last_seq:
                break
        assert lost > 0, "the store keeps 2,000 lines: most were missed, and the client must be told"
        assert received + lost == total  # every line either arrived or was counted
    finally:
        stream.close()


def test_close_ends_streams_of_clients_that_do_not_read(fake: Fake, no_leaks: LeakSnapshot) -> None:
    server = fake.server()
    server.start()
    stuck = [EventStream(server.port) for _ in range(3)]
    writer = threading.Thread(target=lambda: [fake.store.append("web", "y" * 200) for _ in range(20_000)])
    writer.start()
    writer.join()
    time.sleep(0.2)  # let the streams fill the sockets' buffers
    server.close()
    for stream in stuck:
        stream.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


# ------------------------------------------------------------------------------------------------ the address elsewhere


def test_dashboard_header_and_status_show_the_address() -> None:
    snap = snapshot("web")
    url = "http://127.0.0.1:10350/"
    lines = [line.plain for line in render_lines(snap, [], UiState(), 80, 20, now=0.0, web_url=url)]
    assert any(url in line for line in lines[:2]), lines[:2]
    assert url in status_render(snap, now=0.0, web_url=url)[0]
    assert "web UI" not in status_render(snap, now=0.0)[0]


def test_browser_tests_fail_in_ci_when_chromium_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webui, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium is missing"), webui.chromium_page():
        pass
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception), webui.chromium_page():
        pass
