"""Helpers for the web UI's tests: a project with a talking container, HTTP and event-stream clients that set
any header (Host, Origin, the token), and headless Chromium (Debian's package) driven by Playwright.

The project (:func:`write_web_project`) has three resources:

- ``web``: busybox httpd serving ``www/`` through a port forward, ``trigger: manual``, files synced into it;
- ``talker``: a container that prints ``talker started`` and then whatever a test writes into its ``/tmp/say``
  (:func:`say`), so a test decides when a log line is written;
- ``broken`` (with ``broken=True``): an image whose build fails with ``web-ui-broken-build`` on stderr.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support import docker_env
from tests.support.projects import Image, container, deployment, httpd, write_project

CHROMIUM = "/usr/bin/chromium"
#: Chromium as root in a container: no sandbox, no GPU, nothing that calls home.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TALK = (
    "echo talker started; "
    "while true; do if [ -f /tmp/say ]; then cat /tmp/say; rm -f /tmp/say; fi; sleep 0.2; done"
)
WEB_URL_LINE = r"web UI: (http://127\.0\.0\.1:(\d+)/)"


def write_web_project(root: Path, name: str, forward_port: int, *, broken: bool = False) -> Path:
    images = [
        Image(
            "web",
            f"{name}/web",
            lines=["COPY www /www"],
            files={"www/index.html": "v1\n"},
            settings={"live_update": {"sync": [{"src": "www", "dest": "/www"}]}},
        ),
        Image("talker", f"{name}/talker", lines=["RUN mkdir -p /tmp && chmod 1777 /tmp"]),
    ]
    objects = [
        deployment("web", [httpd("web", f"{name}/web")]),
        deployment("talker", [container("talker", f"{name}/talker", ["sh", "-c", TALK])]),
    ]
    resources: dict[str, dict[str, Any]] = {
        "web": {"trigger": "manual", "port_forwards": [f"{forward_port}:8080"], "readiness_timeout": 30},
        "talker": {"readiness_timeout": 30},
    }
    if broken:
        images.append(Image("broken", f"{name}/broken", lines=["RUN echo web-ui-broken-build >&2 && exit 7"]))
        objects.append(deployment("broken", [container("broken", f"{name}/broken", ["sleep", "3600"])]))
        resources["broken"] = {"readiness_timeout": 30}
    return write_project(root, name, objects=objects, images=images, resources=resources)


def say(client: Any, project: str, text: str) -> None:
    """Make the talker container print ``text`` (one line) on its stdout."""
    found = client.containers.list(
        filters={"label": [f"devloop.dev/project={project}", "devloop.dev/resource=talker", "devloop.dev/role=app"]}
    )
    assert len(found) == 1, f"expected one running talker container, found {len(found)}"
    code, out = found[0].exec_run(["sh", "-c", f"echo '{text}' > /tmp/say.new && mv /tmp/say.new /tmp/say"])
    assert code == 0, out


# ------------------------------------------------------------------------------------------------ HTTP


def request(
    port: int,
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    """One request to 127.0.0.1:``port`` with exactly these headers (Host defaults to the served address)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        data = json.dumps(body).encode() if body is not None else None
        sent = {"Host": f"127.0.0.1:{port}", **(headers or {})}
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=sent)
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


def get_json(port: int, path: str) -> Any:
    status, text = request(port, "GET", path)
    assert status == 200, f"GET {path}: {status} {text}"
    return json.loads(text)


def page_token(port: int) -> str:
    """The run's token, as the page embeds it."""
    status, html = request(port, "GET", "/")
    assert status == 200, html
    boot = re.search(r'<script type="application/json" id="boot">(.*?)</script>', html, re.S)
    assert boot is not None, html
    token: str = json.loads(boot.group(1))["token"]
    return token


class EventStream:
    """``GET /api/events`` read event by event (``name``, parsed data)."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.sendall(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        self.reader = self.sock.makefile("rb")
        status = self.reader.readline().decode()
        assert " 200 " in status, status
        while self.reader.readline() not in (b"\r\n", b"\n", b""):
            pass

    def events(self) -> Iterator[tuple[str, Any]]:
        name, data = "message", ""
        for raw in self.reader:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
            elif line == "" and data:
                yield name, json.loads(data)
                name, data = "message", ""

    def wait_line(self, pattern: str, deadline: float) -> list[Any]:
        """The first log line (``[seq, time, resource, text]``) whose text matches ``pattern``."""
        regex = re.compile(pattern)
        for name, data in self.events():
            if name == "logs":
                for line in data["lines"]:
                    if regex.search(line[3]):
                        return list(line)
            if time.monotonic() > deadline:
                break
        raise AssertionError(f"no log line matching {pattern!r} on the event stream")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.reader.close()
            self.sock.close()


# ------------------------------------------------------------------------------------------------ the browser


@contextlib.contextmanager
def chromium_page(width: int = 1280, height: int = 820) -> Iterator[Any]:
    """A Playwright page in a fresh headless Chromium (Debian's ``/usr/bin/chromium``; never a downloaded
    browser), under the page's own Content-Security-Policy: wait with ``"() => ..."`` functions, not expression
    strings (those need eval). ``page.errors`` collects uncaught exceptions and console errors. Skipped when
    Chromium or Playwright is missing — a failure with ``CI=true``."""
    if not os.access(CHROMIUM, os.X_OK):
        docker_env.unavailable(f"{CHROMIUM} is missing: run scripts/setup-system (Debian's chromium package)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        docker_env.unavailable("the playwright package is missing: pip install -e '.[test]'")
    profile = tempfile.mkdtemp(prefix="web-ui-chromium-")
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_FLAGS,
                viewport={"width": width, "height": height},

            )
            try:
                page = browser.pages[0] if browser.pages else browser.new_page()
                errors: list[str] = []  # uncaught exceptions and console errors (a CSP violation is one)
                page.on("pageerror", lambda error: errors.append(str(error)))
                page.on("console", lambda message: message.type == "error" and errors.append(message.text))
                page.errors = errors
                yield page
            finally:
                browser.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
