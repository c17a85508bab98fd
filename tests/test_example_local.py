"""examples/local end to end on the real Docker engine: a local codegen cmd the image build waits for, a web
workload (the Python recipe, FROM the local python:3.12-slim stand-in) and a host-side frontend serve that starts
once the API is ready; a save of the generator's input reaches the frontend; Ctrl-C stops the local processes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.support import docker_env
from tests.support.e2e import Project, get, output, poll, processes_mentioning, run_devloop
from tests.support.projects import free_port

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "local"


def test_the_local_example_generates_serves_and_follows_a_save(project: Project, docker_client: Any) -> None:
    if not docker_client.images.list(name="python:3.12-slim"):
        docker_env.unavailable("the python:3.12-slim stand-in is missing: run scripts/make-python-base-image")
    shutil.copytree(EXAMPLE, project.root, ignore=shutil.ignore_patterns("messages.py", "__pycache__"))
    config = yaml.safe_load((project.root / "devloop.yaml").read_text())
    api_port, front_port = free_port(), free_port()
    # a unique project name and free local ports on a shared machine
    config["name"] = project.name
    config["resources"]["api"].update(port_forwards=[f"{api_port}:8000"], readiness_timeout=120)
    frontend = config["local"]["frontend"]
    frontend["env"] = {"PORT": str(front_port), "API_URL": f"http://127.0.0.1:{api_port}/"}
    frontend["readiness"] = {"http": f"http://127.0.0.1:{front_port}/healthz"}
    (project.root / "devloop.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    plan = run_devloop(project.root, "plan")
    assert plan.returncode == 0, output(plan)
    assert "codegen  (local: runs on this machine" in plan.stdout

    up = project.start("up", "--no-tui")
    up.wait_line(r"^frontend\s+│ ready", timeout=180)
    url = f"http://127.0.0.1:{front_port}/"
    assert get(url) == "frontend shows: Hello from the generated code\n", up.text

    (project.root / "messages.txt").write_text("Bonjour\n")
    poll(lambda: get(url) == "frontend shows: Bonjour\n", f"{url} to show the regenerated greeting", timeout=90)
    assert up.interrupt() in (0, 130)
    assert get(url) is None, "the frontend stops with devloop"
    assert processes_mentioning("frontend/serve.py") == {}
