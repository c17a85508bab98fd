"""The web UI's page in a real headless Chromium (Debian's package, driven by Playwright) (issue 16).

- On a real `devloop up` on the Docker engine: the resources appear with their states, a line a container
  writes after the page opened appears in the log view, a failed build shows its reason at a glance, the
  Update button triggers a manual resource (observable: what it serves), and a screenshot is taken
  (``DEVLOOP_UPDATE_SCREENSHOT=1`` writes it to docs/images/web-ui.png, as README shows it).
- In process, with a log store the test fills: 20,000 lines a second for a few seconds; every line is either
  received or counted as lost, the page keeps a bounded number of line elements and stays responsive, the
  filter and following the tail work.

Without Chromium (or Playwright) these tests are skipped; with ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devloop.engine.logstore import LogStore
from devloop.engine.state import ResourceView, Snapshot, Status
from devloop.ui.web.server import WebServer
from tests.support.e2e import Project, get, poll
from tests.support.projects import free_port
from tests.support.webui import WEB_URL_LINE, chromium_page, get_json, say, write_web_project

REPO = Path(__file__).resolve().parent.parent
SCREENSHOT = REPO / "docs" / "images" / "web-ui.png"
DEADLINE_MS = 30_000  # how long the page may take to show something (a hang guard, not a measure)


def row(page: Any, name: str) -> Any:
    return page.locator(f'tr.res[data-resource="{name}"]')


def wait_status(page: Any, name: str, status: str) -> None:
    page.wait_for_selector(f'tr.res[data-resource="{name}"][data-status="{status}"]', timeout=DEADLINE_MS * 2)


def test_page_on_a_real_up(project: Project, tmp_path: Path) -> None:
    forward = free_port()
    write_web_project(project.root, project.name, forward, broken=True)
    up = project.start("up", "--no-tui", "--web-port", "0")
    found = re.search(WEB_URL_LINE, up.lines[up.wait_line(WEB_URL_LINE)])
    assert found is not None
    url, port = found.group(1), int(found.group(2))
    up.wait_line(r"^talker\s+│ ready")
    up.wait_line(r"^broken\s+│ failed")

    with chromium_page() as page:
        page.goto(url)
        # every resource, with its kind and state
        for name in ("web", "talker", "broken"):
            row(page, name).wait_for(timeout=DEADLINE_MS)
        wait_status(page, "talker", "ready")
        wait_status(page, "web", "ready")
        assert "Deployment" in row(page, "talker").inner_text()
        assert f"localhost:{forward}" in row(page, "web").inner_text()
        page.wait_for_selector("#conn.conn-live", timeout=DEADLINE_MS)

        # a line the container writes now appears in the log view
        say(project.client, project.name, "web-ui-browser-marker")
        page.wait_for_function(
            "() => document.getElementById('log-view').innerText.includes('web-ui-browser-marker')", timeout=DEADLINE_MS
        )

        # the failure's reason at a glance, as the engine has it
        broken = next(v for v in get_json(port, "/api/snapshot")["resources"] if v["name"] == "broken")
        assert broken["status"] == "failed" and broken["reason"]
        failure = page.locator('tr.failure[data-resource="broken"]')
        failure.wait_for(timeout=DEADLINE_MS)
        assert broken["reason"] in failure.inner_text()
        assert "web-ui-broken-build" in failure.inner_text()

        # the Update button applies a manual resource's waiting changes
        (project.root / "web" / "www" / "index.html").write_text("v2\n")
        wait_status(page, "web", "manual-pending")
        assert "1 changed file" in row(page, "web").inner_text()  # the engine's reason, under the state
        assert get(f"http://127.0.0.1:{forward}/") == "v1\n"
        row(page, "web").locator("button.trigger").click()
        poll(lambda: get(f"http://127.0.0.1:{forward}/") == "v2\n", "web to serve v2 after the Update button")
        wait_status(page, "web", "ready")

        # only one resource's logs, then a filter
        page.select_option("#log-resource", "talker")
        page.wait_for_function(
            "() => document.getElementById('log-view').innerText.includes('talker started')", timeout=DEADLINE_MS
        )
        assert "── ready" not in page.inner_text("#log-view") or "talker" in page.inner_text("#log-view")
        page.select_option("#log-resource", "")
        page.fill("#log-filter", "web-ui-browser-marker")
        page.wait_for_function(
            "() => document.querySelectorAll('#log-view .l').length === 1", timeout=DEADLINE_MS
        )
        page.fill("#log-filter", "")
        page.wait_for_function("() => document.querySelectorAll('#log-view .l').length > 1", timeout=DEADLINE_MS)

        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        shot = tmp_path / "web-ui.png"
        page.screenshot(path=str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if os.environ.get("DEVLOOP_UPDATE_SCREENSHOT"):
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, SCREENSHOT)
        assert page.errors == []

        # SIGTERM while the page streams: up ends its stream, stops and frees the port; the page says so
        assert up.stop(signal.SIGTERM) == 143, up.text
        page.wait_for_selector("#conn.conn-lost", timeout=DEADLINE_MS)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


# ------------------------------------------------------------------------------------------------ a flood


class Flood:
    """A web UI whose log store the test fills, and three resources."""

    def __init__(self) -> None:
        views = tuple(
            ResourceView(name=n, kind="Deployment", labels=labels, status=Status.READY, runtime="1/1 running")
            for n, labels in (("web", ()), ("api", ("backend",)), ("worker", ()))
        )
        self.snap = Snapshot("flood", "docker", "docker 20.10.24", views, version=1)
        self.store = LogStore()
        self.server = WebServer(lambda: self.snap, self.store, lambda name: None, port=0)

    def write(self, rate: int, seconds: float, resource: str = "api") -> int:
        """``rate`` lines a second for ``seconds``, in 20 ms batches; how many were written."""
        written = 0
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(rate * elapsed)
            for _ in range(due - written):
                written += 1
                self.store.append(resource, f"flood line {written} " + "x" * 60)
            time.sleep(0.02)
        return written


@pytest.fixture
def flood() -> Iterator[Flood]:
    flood = Flood()
    flood.server.start()
    try:
        yield flood
    finally:
        flood.server.close()


def test_log_view_keeps_up_with_20000_lines_a_second(flood: Flood) -> None:
    with chromium_page() as page:
        page.goto(flood.server.url)
        row(page, "api").wait_for(timeout=DEADLINE_MS)
        page.wait_for_selector("#conn.conn-live", timeout=DEADLINE_MS)
        # grouped as in the dashboard: by first label, ungrouped last
        order = page.eval_on_selector_all(
            "#rows tr", "rows => rows.map(r => r.dataset.resource || r.textContent.trim())"
        )
        assert order == ["▾ backend", "api", "▾ ungrouped", "web", "worker"]

        written: list[int] = []
        writer = threading.Thread(target=lambda: written.append(flood.write(20_000, 3.0)))
        writer.start()
        while writer.is_alive():  # the page answers while the flood lasts
            assert page.evaluate("1 + 1") == 2
            time.sleep(0.2)
        writer.join()
        flood.store.append("web", "flood-end-marker")
        total = written[0] + 1
        page.wait_for_function(
            "() => document.getElementById('log-view').innerText.includes('flood-end-marker')", timeout=DEADLINE_MS
        )
        stats = page.evaluate("window.devloopStats")
        assert stats["received"] + stats["lost"] == total, stats  # nothing is lost silently
        assert page.evaluate("document.querySelectorAll('#log-view .l').length") <= 2100  # bounded
        if stats["skipped"] or stats["lost"]:  # what was not drawn is said on the page
            assert re.search(r"[\d,]+ lines? (scrolled past|dropped)", page.inner_text("#log-note"))

        # scrolled up: the view stays put and counts the new lines; "newest" brings them
        page.eval_on_selector("#log-view", "v => { v.scrollTop = 0; v.dispatchEvent(new Event('scroll')); }")
        page.wait_for_selector("#log-tail:not([hidden])", timeout=DEADLINE_MS)
        first = page.eval_on_selector("#log-view .l", "l => l.textContent")
        flood.store.append("web", "while-reading-marker")
        page.wait_for_function(
            "() => document.getElementById('log-tail').textContent.includes('1 new line')", timeout=DEADLINE_MS
        )
        assert page.eval_on_selector("#log-view .l", "l => l.textContent") == first
        page.click("#log-tail")
        page.wait_for_function(
            "() => document.getElementById('log-view').innerText.includes('while-reading-marker')", timeout=DEADLINE_MS
        )

        # one resource's lines: its own buffer, fetched
        page.select_option("#log-resource", "web")
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('#log-view .l')).map(l => l.textContent).join('\\n')"
            ".includes('flood-end-marker')",
            timeout=DEADLINE_MS,
        )
        texts = page.eval_on_selector_all("#log-view .l", "ls => ls.map(l => l.textContent)")
        assert texts and not any("flood line" in t for t in texts)
        assert page.errors == []


def test_page_says_when_up_stopped_and_reloads_for_the_next_one() -> None:
    first = Flood()
    first.server.start()
    port = first.server.port
    second = None
    try:
        with chromium_page() as page:
            page.goto(first.server.url)
            page.wait_for_selector("#conn.conn-live", timeout=DEADLINE_MS)
            assert page.inner_text("#project") == "flood"
            first.server.close()
            page.wait_for_selector("#conn.conn-lost", timeout=DEADLINE_MS)
            assert "disconnected" in page.inner_text("#conn")

            # another `up` on the same port: the page reloads itself (its token was the old run's)
            second = Flood()
            second.snap = Snapshot("second", "docker", "docker 20.10.24", second.snap.resources, version=1)
            second.server = WebServer(lambda: second.snap, second.store, lambda name: None, port=port)
            second.server.start()
            assert second.server.port == port  # free again at once, though connections to it were just closed
            page.wait_for_function(
                "() => document.getElementById('project').textContent === 'second'", timeout=DEADLINE_MS
            )
            page.wait_for_selector("#conn.conn-live", timeout=DEADLINE_MS)
            boot = page.eval_on_selector("#boot", "b => JSON.parse(b.textContent)")
            assert boot["token"] == second.server.token
    finally:
        first.server.close()
        if second is not None:
            second.server.close()
