"""examples/workloads end to end on the real Docker engine: no Kubernetes YAML, no Dockerfile (the Python recipe,
FROM the local python:3.12-slim stand-in), served through a port forward, live-updated on a save."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.support import docker_env
from tests.support.e2e import Project, get, output, poll, run_devloop
from tests.support.projects import free_port

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "workloads"


def test_the_workloads_example_runs_and_live_updates(project: Project, docker_client: Any) -> None:
    if not docker_client.images.list(name="python:3.12-slim"):
        docker_env.unavailable("the python:3.12-slim stand-in is missing: run scripts/make-python-base-image")
    shutil.copytree(EXAMPLE, project.root)
    config = yaml.safe_load((project.root / "devloop.yaml").read_text())
    port = free_port()
    # a unique project name (so the workload's image is <name>/web) and a free local port on a shared machine
    config["name"] = project.name
    config["resources"] = {"web": {"port_forwards": [f"{port}:8000"], "readiness_timeout": 120}}
    (project.root / "devloop.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    plan = run_devloop(project.root, "plan")
    assert plan.returncode == 0, output(plan)
    assert "python recipe" in plan.stdout

    up = project.start("up", "--no-tui")
    up.wait_line(r"^web\s+│ ready", timeout=180)
    url = f"http://127.0.0.1:{port}/"
    poll(lambda: get(url) == "Hello, devloop!\n", f"{url} to greet")
    up.wait_line(r"^hello-once\s+│ the job ran", timeout=60)

    (project.root / "web" / "greeting.txt").write_text("Bonjour\n")
    poll(lambda: get(url) == "Bonjour, devloop!\n", f"{url} to greet in French after a save", timeout=60)
    assert not (project.root / "web" / "Dockerfile").exists()
    assert up.interrupt() in (0, 130)
