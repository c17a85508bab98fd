"""The web UI's HTTP API against a real `devloop up` on the Docker engine (issue 16).

One `up` of a project with a manual-trigger `web` (httpd serving synced files) and a `talker` (prints what the
test tells it to): the snapshot as JSON, a line the container writes arriving on the event stream, a trigger
refused without the token or from a foreign origin and applied with it (observable: what `web` serves), a
foreign Host refused, GETs that change nothing, the address in `devloop status`, the next free port.
"""

from __future__ import annotations

import json
import re
import socket
import time
from typing import Any

import pytest

from tests.support.e2e import Project, get, output, poll, run_devloop
from tests.support.projects import free_port
from tests.support.webui import (
    WEB_URL_LINE,
    EventStream,
    get_json,
    page_token,
    request,
    say,
    write_web_project,
)


def status_of(port: int, name: str) -> dict[str, Any]:
    snapshot = get_json(port, "/api/snapshot")
    view = next(v for v in snapshot["resources"] if v["name"] == name)
    assert isinstance(view, dict)
    return view


def test_api_of_a_real_up(project: Project) -> None:
    forward = free_port()
    write_web_project(project.root, project.name, forward)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    busy_port = taken.getsockname()[1]
    try:
        up = project.start("up", "--no-tui", "--web-port", str(busy_port))
        at = up.wait_line(WEB_URL_LINE)
    finally:
        taken.close()
    found = re.search(WEB_URL_LINE, up.lines[at])
    assert found is not None
    url, port = found.group(1), int(found.group(2))
    assert port != busy_port, "the taken port was not skipped"
    up.wait_line(r"^web\s+│ ready")
    up.wait_line(r"^talker\s+│ ready")
    site = f"http://127.0.0.1:{forward}/"
    poll(lambda: get(site) == "v1\n", "web to serve v1")

    # the snapshot, as `devloop status -o json` has it, plus the address
    snapshot = get_json(port, "/api/snapshot")
    assert snapshot["project"] == project.name and snapshot["target"] == "docker"
    assert {v["name"]: v["kind"] for v in snapshot["resources"]} == {"web": "Deployment", "talker": "Deployment"}
    assert snapshot["web_url"] == url
    web = status_of(port, "web")
    assert web["status"] == "ready" and web["manual"] is True
    assert web["port_forwards"] == [f"http://localhost:{forward}"]
    status = run_devloop(project.root, "status")
    assert status.returncode == 0 and f"web UI {url}" in status.stdout.splitlines()[0], output(status)
    status_json = run_devloop(project.root, "status", "-o", "json")
    assert json.loads(status_json.stdout)["web_url"] == url, output(status_json)

    # a line the container writes after the stream opened arrives on it
    stream = EventStream(port)
    try:
        say(project.client, project.name, "web-ui-marker-1")
        line = stream.wait_line(r"^web-ui-marker-1$", time.monotonic() + 30)
        assert line[2] == "talker"
    finally:
        stream.close()
    logs = get_json(port, "/api/logs?resource=talker")
    assert "talker started" in [row[3] for row in logs["lines"]]

    # a foreign Host is refused (DNS rebinding), whatever the route
    for path in ("/", "/api/snapshot", "/api/events"):
        code, text = request(port, "GET", path, headers={"Host": f"attacker.example:{port}"})
        assert code in (403, 421), (path, code, text)
    code, _ = request(port, "GET", "/", headers={"Host": f"localhost:{port}"})
    assert code in (403, 421)

    # files change: web (manual) waits for a trigger
    (project.root / "web" / "www" / "index.html").write_text("v2\n")
    poll(lambda: status_of(port, "web")["status"] == "manual-pending", "web to wait for a trigger")

    # GETs, a POST without the token, with a wrong one, from a foreign origin, with a foreign Host: nothing changes
    token = page_token(port)
    for path in ("/", "/api/snapshot", "/api/logs", "/api/trigger", "/api/trigger?resource=web", "/app.js"):
        code, _ = request(port, "GET", path)
        assert code in (200, 404, 405), (path, code)
    refused = [
        {},
        {"X-Devloop-Token": "not-the-token"},
        {"X-Devloop-Token": token, "Origin": "http://attacker.example"},
        {"X-Devloop-Token": token, "Origin": "null"},
        {"X-Devloop-Token": token, "Host": "attacker.example"},
        {"X-Devloop-Token": token, "Sec-Fetch-Site": "cross-site"},
    ]
    for headers in refused:
        code, text = request(port, "POST", "/api/trigger", body={"resource": "web"}, headers=headers)
        assert code in (403, 421), (headers, code, text)
    time.sleep(1.0)  # give a wrongly accepted trigger time to show (a hang guard would not catch it)
    assert status_of(port, "web")["status"] == "manual-pending"
    assert get(site) == "v1\n"

    # an unknown resource is a 404; the token from the page, same origin: applied
    code, _ = request(port, "POST", "/api/trigger", body={"resource": "nope"}, headers={"X-Devloop-Token": token})
    assert code == 404
    code, text = request(
        port,
        "POST",
        "/api/trigger",
        body={"resource": "web"},
        headers={"X-Devloop-Token": token, "Origin": f"http://127.0.0.1:{port}"},
    )
    assert code == 202, text
    poll(lambda: get(site) == "v2\n", "web to serve v2 after the trigger")
    poll(lambda: status_of(port, "web")["status"] == "ready", "web to be ready again")

    assert up.interrupt() == 130, up.text
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_no_web(project: Project) -> None:
    write_web_project(project.root, project.name, free_port())
    up = project.start("up", "--no-tui", "--no-web")
    up.wait_line(r"^talker\s+│ ready")
    assert not re.search(WEB_URL_LINE, up.text), up.text
    status = run_devloop(project.root, "status", "-o", "json")
    assert json.loads(status.stdout)["web_url"] == "", output(status)
    assert "web UI" not in run_devloop(project.root, "status").stdout
    assert up.interrupt() == 130, up.text
