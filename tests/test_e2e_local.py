"""End to end: local resources (`local:` in devloop.yaml) with a real `devloop up`/`ci` on the docker target.

The commands run on this machine (the test's own Python serves HTTP); what they do is observed through the files
they write, what they serve, and /proc once devloop stopped.
"""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.e2e import (
    Project,
    get,
    output,
    poll,
    processes_mentioning,
    session_members,
    summary,
)
from tests.support.projects import Image, deployment, free_port, httpd, service

#: a tiny HTTP server: answers every GET with the text src/msg.txt held when it started (so new content proves a
#: restart), and prints a line per start
SERVER = """\
import http.server, pathlib, sys
body = pathlib.Path("src/msg.txt").read_bytes()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
print("serving", body.decode().strip(), flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def python() -> str:
    import sys

    return sys.executable


def local_project(p: Project, local: dict[str, Any], **config: Any) -> Project:
    """A project with the given `local:` resources, the server script and src/msg.txt (no cluster objects unless
    ``objects`` is given)."""
    (p.root / "src").mkdir(parents=True, exist_ok=True)
    (p.root / "src" / "msg.txt").write_text("one\n")
    (p.root / "server.py").write_text(SERVER)
    config.setdefault("objects", [])
    return p.write(local=local, **config)


def lines_of(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_up_runs_cmd_and_serve_again_on_deps_change_and_ctrl_c_stops_them(project: Project) -> None:
    port = free_port()
    local_project(
        project,
        {
            "gen": {"cmd": "cat src/msg.txt > gen.txt && echo ran >> runs.log", "deps": ["src"]},
            "site": {
                "serve": f"{python()} server.py {port}",
                "deps": ["src/*.txt"],
                "readiness": {"http": f"http://127.0.0.1:{port}/"},
            },
        },
    )
    url = f"http://127.0.0.1:{port}/"
    up = project.start("up")
    up.wait_line(r"^site\s+│ ready")
    up.wait_line(r"^gen\s+│ ready")
    assert (project.root / "gen.txt").read_text() == "one\n"
    assert get(url) == "one\n"

    (project.root / "src" / "msg.txt").write_text("two\n")
    poll(lambda: (project.root / "gen.txt").read_text() == "two\n", "cmd to run again on the deps change")
    poll(lambda: get(url) == "two\n", "serve to be restarted on the deps change")
    assert lines_of(project.root / "runs.log") == 2, up.text

    server = processes_mentioning(f"server.py {port}")
    assert server, "the serve process runs"
    code = up.interrupt()
    assert code == 130, up.text
    assert processes_mentioning(f"server.py {port}") == {}, "serve must stop with devloop"
    assert session_members(up.proc.pid) == {}
    assert get(url) is None


def test_ci_orders_local_and_cluster_resources_both_ways(project: Project) -> None:
    """A local cmd generates the file an image build copies (the image waits for it); a local serve starts only
    once the cluster resource is ready (depends_on both ways)."""
    port = free_port()
    ref = project.ref("web")
    local_project(
        project,
        {
            "codegen": {"cmd": "cat src/msg.txt > web/www/index.html && echo generated", "deps": ["src"]},
            "site": {"serve": f"{python()} server.py {port}", "readiness": {"tcp": port}},
        },
        objects=[deployment("web", [httpd("web", ref)]), service("web", 8080)],
        images=[Image("web", ref, lines=["COPY www /www"], files={"www/index.html": "not generated\n"})],
        resources={
            "web": {"depends_on": ["codegen"], "readiness_timeout": 60},
            "site": {"depends_on": ["web"], "labels": ["frontend"]},
        },
    )
    result = project.run("ci")
    assert result.returncode == 0, output(result)
    text = summary(result)
    for name in ("codegen", "web", "site"):
        assert re.search(rf"^\s+{name}\s+ready", text, re.M), output(result)
    (app,) = [c for c in project.containers("web") if c.labels.get("devloop.dev/container") == "web"]
    _, body = app.exec_run(["cat", "/www/index.html"])
    assert body.decode() == "one\n", "the image was built before codegen wrote the file"
    # the serve started after web was ready, and ci stopped it on the way out
    out = result.stdout
    assert out.find("serving one") > out.find("web"), output(result)
    assert processes_mentioning(f"server.py {port}") == {}


def test_failing_cmd_fails_ci_with_its_last_lines(project: Project) -> None:
    local_project(project, {"check": {"cmd": "echo first words; echo the last words >&2; exit 3"}})
    result = project.run("ci")
    assert result.returncode == 1, output(result)
    assert "resource check failed: cmd `" in result.stderr and "exited with 3" in result.stderr, output(result)
    assert "the last words" in result.stderr, output(result)


@pytest.mark.parametrize("readiness", [True, False], ids=["with-readiness", "without-readiness"])
def test_serve_exit_fails_ci(project: Project, readiness: bool) -> None:
    serve: dict[str, Any] = {"serve": "echo cannot bind; exit 4"}
    if readiness:
        serve["readiness"] = {"tcp": free_port()}
    local_project(project, {"srv": serve})
    result = project.run("ci", "--timeout", "60")
    assert result.returncode == 1, output(result)
    assert "exited with 4" in result.stderr and "cannot bind" in result.stderr, output(result)


def test_cmd_writing_into_its_own_deps_does_not_loop_and_sigterm_stops_serve(project: Project) -> None:
    port = free_port()
    local_project(
        project,
        {
            "stamp": {"cmd": "echo ran >> runs.log && date +%s%N > src/stamp.txt", "deps": ["src"]},
            "site": {"serve": f"{python()} server.py {port}", "readiness": {"http": f"http://127.0.0.1:{port}/"}},
        },
    )
    runs = project.root / "runs.log"
    up = project.start("up")
    up.wait_line(r"^stamp\s+│ ready")
    up.wait_line(r"^site\s+│ ready")
    # a user's save re-runs it; what the cmd writes itself is at most followed once, then ignored
    (project.root / "src" / "msg.txt").write_text("two\n")
    poll(lambda: lines_of(runs) >= 2, "the cmd to run on the user's change")
    settled = lines_of(runs)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # a loop would keep adding runs
        time.sleep(0.5)
        if lines_of(runs) != settled:
            settled, deadline = lines_of(runs), time.monotonic() + 5
            assert settled <= 5, f"the cmd keeps running on its own writes:\n{up.text}"

    code = up.stop(signal.SIGTERM)
    assert code in (0, 143), up.text
    assert processes_mentioning(f"server.py {port}") == {}, "serve must stop with devloop"


def test_manual_trigger_local_resource_waits_for_trigger(project: Project) -> None:
    local_project(
        project,
        {"gen": {"cmd": "cat src/msg.txt > gen.txt", "deps": ["src"]}},
        resources={"gen": {"trigger": "manual"}},
    )
    up = project.start("up")
    up.wait_line(r"^gen\s+│ ready")
    (project.root / "src" / "msg.txt").write_text("two\n")
    up.wait_line(r"^gen\s+│ manual-pending|changed file")
    assert (project.root / "gen.txt").read_text() == "one\n"
    trigger = project.run("trigger", "gen")
    assert trigger.returncode == 0, output(trigger)
    poll(lambda: (project.root / "gen.txt").read_text() == "two\n", "the triggered cmd to run")
    up.interrupt()


def test_down_stops_the_serve_of_a_running_up_until_a_trigger(project: Project) -> None:
    port = free_port()
    local_project(
        project,
        {"site": {"serve": f"{python()} server.py {port}", "readiness": {"http": f"http://127.0.0.1:{port}/"}}},
    )
    url = f"http://127.0.0.1:{port}/"
    up = project.start("up")
    up.wait_line(r"^site\s+│ ready")
    status = project.run("status", "-o", "json")
    assert status.returncode == 0, output(status)
    (site,) = [r for r in json.loads(status.stdout)["resources"] if r["name"] == "site"]
    assert (site["kind"], site["status"]) == ("local", "ready"), site
    down = project.run("down")
    assert down.returncode == 0, output(down)
    assert "stopped the local resources of the running `devloop up`: site" in down.stdout, output(down)
    poll(lambda: not processes_mentioning(f"server.py {port}"), "the serve to stop")
    assert get(url) is None
    up.wait_line(r"^site\s+│ pending \(stopped by `devloop down`")
    assert up.proc.poll() is None, "up keeps running"
    trigger = project.run("trigger", "site")
    assert trigger.returncode == 0, output(trigger)
    poll(lambda: get(url) == "one\n", "the triggered serve to answer")
    assert up.interrupt() == 130
    assert processes_mentioning(f"server.py {port}") == {}


def test_editing_local_in_devloop_yaml_reruns_it_and_removing_it_stops_it(project: Project) -> None:
    port = free_port()
    serve = {"serve": f"{python()} server.py {port}", "readiness": {"tcp": port}}
    local_project(project, {"gen": {"cmd": "echo one > out.txt"}, "site": serve})
    up = project.start("up")
    up.wait_line(r"^site\s+│ ready")
    poll(lambda: (project.root / "out.txt").read_text() == "one\n", "the first cmd")
    project.write(objects=[], local={"gen": {"cmd": "echo two > out.txt"}})
    poll(lambda: (project.root / "out.txt").read_text() == "two\n", "the edited cmd to run")
    poll(lambda: not processes_mentioning(f"server.py {port}"), "the removed serve to stop")
    up.wait_line(r"site left devloop.yaml: stopped it")
    assert up.interrupt() == 130
