"""End to end on the real Docker engine: workloads without Kubernetes YAML (config.md, "Workloads").

A project with no manifests at all: a web workload built from a Dockerfile (busybox FROM scratch) answers on its
default port forward and live-updates; a job runs to completion; recipes build FROM local stand-in base images.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.support import docker_env, images
from tests.support.e2e import Project, get, output, poll, run_devloop
from tests.support.projects import free_port


def write_config(p: Project, workloads: dict[str, Any], **extra: Any) -> None:
    data = {"version": 1, "name": p.name, "workloads": workloads, "watch": {"debounce_ms": 50}, **extra}
    (p.root / "devloop.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def test_web_workload_from_a_dockerfile_serves_on_its_port_forward_and_live_updates(project: Project) -> None:
    port = free_port()
    images.write_busybox_context(project.root / "web", ["COPY www /www"], {"www/index.html": "v1\n"})
    write_config(
        project,
        {
            "web": {
                "type": "web",
                "build": "web",
                "port": port,
                "health": "/",
                "command": ["httpd", "-f", "-p", str(port), "-h", "/www"],
                "live_update": {"sync": [{"src": "www", "dest": "/www"}]},
            },
            "seed": {"type": "job", "image": project.ref("web"), "command": "echo seeded; cat /www/index.html"},
        },
        resources={"web": {"readiness_timeout": 30}, "seed": {"readiness_timeout": 30}},
    )
    up = project.start("up", "--no-tui")
    up.wait_line(r"^web\s+│ ready", timeout=90)
    url = f"http://127.0.0.1:{port}/"  # the default port forward: port -> port
    poll(lambda: get(url) == "v1\n", f"{url} to serve v1")
    up.wait_line(r"^seed\s+│ seeded", timeout=60)

    before = len(up.lines)
    (project.root / "web" / "www" / "index.html").write_text("v2\n")
    poll(lambda: get(url) == "v2\n", f"{url} to serve v2 after a save")
    up.wait_line(r"^web\s+│ live update of ", after=before)
    assert not [ln for ln in up.lines[before:] if re.match(r"web\s+│ building", ln)], up.text

    # the containers are labelled like any manifest's, and the Service name resolves on the project network
    app = [c for c in project.containers("web") if c.status == "running" and c.labels.get("devloop.dev/role") == "app"]
    assert app, up.text
    code, out = app[0].exec_run(["wget", "-q", "-O-", f"http://web:{port}/"])
    assert code == 0 and out.decode() == "v2\n"
    assert up.interrupt() in (0, 130)


def need_python_stand_in(client: Any) -> None:
    if not client.images.list(name="python:3.12-slim"):
        docker_env.unavailable("the python:3.12-slim stand-in is missing: run scripts/make-python-base-image")


def answers_then_restarts(project: Project, resource: str, port: int, source: Path, text: str) -> None:
    """`up` of a recipe workload whose ``source`` file (holding ``text``) makes it answer "one": it answers on
    its default port forward, and after a save that makes it answer "two", it answers that without a build."""
    up = project.start("up", "--no-tui")
    up.wait_line(rf"^{resource}\s+│ ready", timeout=180)
    url = f"http://127.0.0.1:{port}/"
    poll(lambda: get(url) == "one\n", f"{url} to answer one")
    before = len(up.lines)
    source.write_text(text.replace("'one'", "'two'"))
    poll(lambda: get(url) == "two\n", f"{url} to answer two after a save (sync + restart)", timeout=60)
    assert not [ln for ln in up.lines[before:] if re.match(rf"{resource}\s+│ building", ln)], up.text
    assert not (source.parent / "Dockerfile").exists()  # the recipe's Dockerfile is never written there
    assert up.interrupt() in (0, 130)


def test_python_recipe_builds_from_the_stand_in_and_restarts_on_save(project: Project, docker_client: Any) -> None:
    need_python_stand_in(docker_client)
    port = free_port()
    api = project.root / "api"
    api.mkdir(parents=True)
    (api / "requirements.txt").write_text("# nothing to install\n")
    server = (
        "import http.server, os\n"
        "MESSAGE = 'one'\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = (MESSAGE + '\\n').encode()\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(body)\n"
        "http.server.HTTPServer(('0.0.0.0', int(os.environ['PORT'])), H).serve_forever()\n"
    )
    (api / "app.py").write_text(server)
    write_config(
        project, {"api": {"type": "web", "build": "api", "port": port}}, resources={"api": {"readiness_timeout": 60}}
    )
    plan = run_devloop(project.root, "plan")
    assert plan.returncode == 0 and "python recipe" in plan.stdout, output(plan)

    answers_then_restarts(project, "api", port, api / "app.py", server)


def test_static_recipe_with_a_local_base(project: Project, docker_client: Any, busybox_image: str) -> None:
    port = free_port()
    site = project.root / "site"
    site.mkdir(parents=True)
    (site / "index.html").write_text("<h1>hello</h1>\n")
    write_config(
        project,
        {"site": {"type": "web", "build": "site", "port": port, "base": busybox_image}},
        resources={"site": {"readiness_timeout": 30}},
    )
    result = project.run("ci")
    assert result.returncode == 0, output(result)
    url = f"http://127.0.0.1:{port}/"
    containers = [c for c in project.containers("site") if c.labels.get("devloop.dev/role") == "app"]
    assert containers and containers[0].status == "running"
    code, out = containers[0].exec_run(["cat", "/srv/www/index.html"])
    assert code == 0 and out.decode() == "<h1>hello</h1>\n"
    code, out = containers[0].exec_run(["wget", "-q", "-O-", f"http://127.0.0.1:{port}/"])
    assert code == 0 and out.decode() == "<h1>hello</h1>\n", url
    assert sorted(p.name for p in site.iterdir()) == ["index.html"]  # nothing written into the project
    shutil.rmtree(site)


def test_node_recipe_builds_from_a_local_node_base_and_restarts_on_save(
    project: Project, docker_client: Any, tmp_path_factory: Any
) -> None:
    need_python_stand_in(docker_client)
    missing = images.node_missing()
    if missing is not None:
        docker_env.unavailable(missing)
    base = f"devloop-test/node:{docker_env.SESSION_ID}"
    if not docker_client.images.list(name=base):
        context = images.write_node_context(tmp_path_factory.mktemp("node-base"))
        docker_client.images.build(path=str(context), tag=base, labels=docker_env.session_labels(), rm=True)
    port = free_port()
    app = project.root / "app"
    app.mkdir(parents=True)
    (app / "package.json").write_text('{"name": "app", "version": "1.0.0", "scripts": {"start": "node server.js"}}\n')
    server = (
        "const http = require('http');\n"
        "const message = 'one';\n"
        "http.createServer((req, res) => res.end(message + '\\n')).listen(Number(process.env.PORT), '0.0.0.0');\n"
    )
    (app / "server.js").write_text(server)
    write_config(
        project,
        {"app": {"type": "web", "build": "app", "port": port, "base": base}},
        resources={"app": {"readiness_timeout": 60}},
    )
    answers_then_restarts(project, "app", port, app / "server.js", server)
    assert sorted(p.name for p in app.iterdir()) == ["package.json", "server.js"]


def test_a_dockerfile_created_while_up_runs_replaces_the_recipe(project: Project, busybox_image: str) -> None:
    port = free_port()
    site = project.root / "site"
    site.mkdir(parents=True)
    (site / "index.html").write_text("recipe\n")
    write_config(
        project,
        {"site": {"type": "web", "build": "site", "port": port, "base": busybox_image}},
        resources={"site": {"readiness_timeout": 30}},
    )
    up = project.start("up", "--no-tui")
    up.wait_line(r"^site\s+│ ready", timeout=90)
    url = f"http://127.0.0.1:{port}/"
    poll(lambda: get(url) == "recipe\n", f"{url} to serve the recipe's image")
    (site / "Dockerfile").write_text(
        f"FROM {busybox_image}\nCOPY index.html /www/index.html\nRUN echo dockerfile > /www/index.html\n"
        f'CMD ["httpd", "-f", "-p", "{port}", "-h", "/www"]\n'
    )
    # `base:` is for recipes only: the reload says so, and keeps everything running until it is removed
    up.wait_line(r"config not reloaded: .*workloads.site.base: applies to recipes only", timeout=60)
    write_config(project, {"site": {"type": "web", "build": "site", "port": port}})
    up.wait_line(r"config reloaded", timeout=60)
    poll(lambda: get(url) == "dockerfile\n", f"{url} to serve the image of the new Dockerfile", timeout=90)
    assert up.interrupt() in (0, 130)
