"""The real dashboard in a real terminal, in tmux windows of fixed size read with capture-pane:

- tests/support/dashboard_app.py (the real engine and Dashboard on a fake target and builder: fast, with a
  failing resource, a manual one and port forwards): keys, a resize to 80x24, q exits 0 with the terminal
  restored;
- the real `devloop up --tui` on the real Docker engine (two busybox resources): ready on screen, j/k, enter,
  t (an update seen going through its steps back to ready), q exits 0, terminal restored, workloads running.

Skips with the reason when tmux is missing (scripts/setup-system installs it); with CI=true it fails instead.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from tests.support import docker_env, images
from tests.support.projects import Image, container, deployment, write_project

REPO = Path(__file__).resolve().parent.parent


class Tmux:
    """One private tmux server (its own socket), one session; :meth:`close` kills only that server."""

    def __init__(self, tmux: str, socket: Path) -> None:
        self.tmux = tmux
        self.socket = socket

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [self.tmux, "-S", str(self.socket), *args], capture_output=True, text=True, timeout=30, check=False
        )
        if done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self, command: str, width: int, height: int) -> None:
        # no user config; the window keeps the size we give it (no client ever attaches to resize it)
        config = self.socket.with_suffix(".conf")
        config.write_text(f"set -g default-size {width}x{height}\n")
        self.run("-f", str(config), "new-session", "-d", "-s", "ui", "-x", str(width), "-y", str(height), command)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "ui")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "ui", *keys)

    def resize(self, width: int, height: int) -> None:
        self.run("resize-window", "-t", "ui", "-x", str(width), "-y", str(height))

    def wait_for(self, predicate: Callable[[str], bool], what: str, timeout: float = 30) -> str:
        """The screen once ``predicate`` holds; fails (showing the screen) after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if predicate(text):
                return text
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; the screen:\n{text}")

    def close(self) -> None:
        subprocess.run([self.tmux, "-S", str(self.socket), "kill-server"], capture_output=True, timeout=30, check=False)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    path = shutil.which("tmux")
    if path is None:
        docker_env.unavailable("tmux is not installed: run scripts/setup-system (or apt-get install -y tmux)")
    # tmux's socket path must be short (sun_path); tmp_path can be long
    socket = Path("/tmp") / f"devloop-tmux-{docker_env.new_name()}"
    server = Tmux(path, socket)
    try:
        yield server
    finally:
        server.close()
        socket.unlink(missing_ok=True)
        socket.with_suffix(".conf").unlink(missing_ok=True)


def selected_row(screen: str) -> str:
    rows = [line for line in screen.splitlines() if line.startswith("▸ ")]
    assert len(rows) == 1, screen
    return rows[0].split()[1]


def test_dashboard_in_tmux_keys_resize_and_quit(tmux: Tmux, tmp_path: Path) -> None:
    app = tmp_path / "app"
    result = tmp_path / "result"
    script = (
        f"cd {shlex.quote(str(REPO))}; before=$(stty -g); "
        f"{shlex.quote(sys.executable)} -m tests.support.dashboard_app {shlex.quote(str(app))} "
        f"2>{shlex.quote(str(tmp_path / 'stderr'))}; code=$?; "
        'if [ "$before" = "$(stty -g)" ]; then tty=restored; else tty=changed; fi; '
        f'echo "$code $tty" >{shlex.quote(str(result))}; '
        "echo devloop-app-exited; sleep 120"
    )
    tmux.start(f"sh -c {shlex.quote(script)}", 100, 30)

    # first frame: everything deployed but the failing worker; the first row (api) is selected
    screen = tmux.wait_for(lambda s: "4 ready · 0 updating · 1 failed of 5" in s, "every resource to settle")
    assert "devloop · shop · fake target" in screen
    assert selected_row(screen) == "api"
    assert "↑/↓ j/k select · enter all/selected logs · t trigger · q quit" in screen
    lines = screen.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("▾ ")] == ["backend", "frontend", "ungrouped"]
    assert "── logs: all resources (enter: only api)" in screen
    worker_row = next(line for line in lines if line.startswith("  worker "))
    assert "✗ failed" in worker_row and "the Deployment" in worker_row  # the reason, inline

    # j selects the failed worker: its reason in full under the table
    tmux.keys("j")
    screen = tmux.wait_for(lambda s: selected_row(s) == "worker", "j to select worker")
    assert "✗ the Deployment worker was refused: image shop/api has no tag" in screen

    # down arrow and k / up arrow move too
    tmux.keys("Down")
    tmux.wait_for(lambda s: selected_row(s) == "web", "Down to select web")
    tmux.keys("k")
    tmux.wait_for(lambda s: selected_row(s) == "worker", "k to select worker")
    tmux.keys("Up")
    tmux.wait_for(lambda s: selected_row(s) == "api", "Up to select api")
    tmux.keys("j", "j")
    tmux.wait_for(lambda s: selected_row(s) == "web", "j j to select web")

    # enter: only web's logs, without name prefixes
    tmux.keys("Enter")
    screen = tmux.wait_for(lambda s: "── logs: web (enter: all resources)" in s, "enter to show web's logs")
    log_part = screen.split("── logs: web", 1)[1]
    assert "Successfully built shop/web" in log_part
    assert "│" not in log_part and "worker" not in log_part

    # t: a trigger for web reaches the engine, which logs it and updates web again
    tmux.keys("t")
    screen = tmux.wait_for(lambda s: "update triggered" in s, "t to trigger web")
    assert "triggered web" in screen.splitlines()[-1] or "triggered web" in screen
    assert (app / "triggers").read_text() == "web\n"
    tmux.wait_for(lambda s: "4 ready" in s and "web build" in s.split("── logs: web", 1)[1], "web to update")

    # enter again: all resources
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "── logs: all resources (enter: only web)" in s, "enter to show all logs")

    # a narrow terminal: the frame is redrawn for 80x24 (KIND gives way to PORTS), the footer on the last line
    tmux.resize(80, 24)

    def redrawn(s: str) -> bool:
        lines = s.splitlines()
        title = next((line for line in lines if line.startswith("  NAME ")), "")
        return bool(title) and "KIND" not in title and len(lines) == 24 and lines[-1].startswith("↑/↓ j/k select")

    screen = tmux.wait_for(redrawn, "the frame to redraw at 80x24")
    assert selected_row(screen) == "web"
    assert all(cell_len(line) <= 80 for line in screen.splitlines())
    tmux.resize(100, 30)
    tmux.wait_for(lambda s: any(line.startswith("  NAME   KIND ") for line in s.splitlines()), "a redraw at 100x30")

    # q: devloop stops (exit 0) and the terminal is back as it was
    tmux.keys("q")
    screen = tmux.wait_for(lambda s: "devloop-app-exited" in s, "q to end the dashboard")
    assert result.read_text().split() == ["0", "restored"], (tmp_path / "stderr").read_text()
    assert "j/k select" not in screen  # the alternate screen was left
    assert "dashboard error" not in (tmp_path / "stderr").read_text()


# --------------------------------------------------------------------------------------------- the real thing


def _devloop_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DEVLOOP_TARGET"}
    env["PYTHONPATH"] = str(REPO)
    return env


def _devloop(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "devloop", "-f", str(root), "--target", "docker", *args]
    return subprocess.run(
        argv, capture_output=True, text=True, env=_devloop_env(), stdin=subprocess.DEVNULL, timeout=120, check=False
    )


def log_pane(screen: str) -> list[str]:
    """The lines of the log pane (between its title and the footer)."""
    lines = screen.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("── logs: "))
    return [line.rstrip() for line in lines[start + 1 : -1]]


def triggered_then_ready(screen: str) -> bool:
    """The selected resource's log pane shows the trigger, then an update step, then ready again."""
    pane = log_pane(screen)
    at = max((i for i, line in enumerate(pane) if line == "update triggered"), default=-1)
    if at < 0:
        return False
    after = pane[at + 1 :]
    steps = [i for i, line in enumerate(after) if line.startswith(("── building", "── deploying", "── starting"))]
    return bool(steps) and any(line.startswith("── ready") for line in after[steps[0] + 1 :])


def test_real_devloop_up_dashboard_in_tmux(
    tmux: Tmux, tmp_path: Path, unique_name: str, docker_client: Any, request: pytest.FixtureRequest
) -> None:
    """`devloop up --tui` itself, on the real Docker engine: two busybox resources (api labelled backend,
    worker ungrouped) reach ready on screen; j/k select, enter shows one resource's logs, t runs an update
    that is seen going through its steps back to ready, q exits 0, restores the terminal and leaves the
    workloads running."""
    missing = images.busybox_missing()
    if missing is not None:
        docker_env.unavailable(f"{missing}: run scripts/setup-system")
    root = tmp_path / unique_name
    ref = f"{unique_name}/app"
    loop = 'echo "{0} started"; i=0; while true; do i=$((i+1)); echo "{0} tick $i"; sleep 20; done'
    write_project(
        root,
        unique_name,
        objects=[
            deployment("api", [container("api", ref, ["sh", "-c", loop.format("api")])]),
            deployment("worker", [container("worker", ref, ["sh", "-c", loop.format("worker")])]),
        ],
        images=[Image("app", ref)],
        resources={"api": {"labels": ["backend"]}},
    )
    request.addfinalizer(lambda: _devloop(root, "down", "--prune-images"))

    result = tmp_path / "result"
    stderr = tmp_path / "stderr"
    argv = [sys.executable, "-m", "devloop", "-f", str(root), "--target", "docker", "up", "--tui"]
    script = (
        f"cd {shlex.quote(str(REPO))}; unset DEVLOOP_TARGET; before=$(stty -g); "
        f"env PYTHONPATH={shlex.quote(str(REPO))} {shlex.join(argv)} 2>{shlex.quote(str(stderr))}; code=$?; "
        'if [ "$before" = "$(stty -g)" ]; then tty=restored; else tty=changed; fi; '
        f'echo "$code $tty" >{shlex.quote(str(result))}; '
        "echo devloop-up-exited; sleep 300"
    )
    tmux.start(f"sh -c {shlex.quote(script)}", 100, 30)

    def died(s: str) -> bool:
        if "devloop-up-exited" in s:
            raise AssertionError(f"devloop up exited early: {result.read_text()}\n{s}\n{stderr.read_text()}")
        return False

    # both resources ready; groups: backend (api), then ungrouped (worker); api, the first row, selected
    screen = tmux.wait_for(lambda s: died(s) or "2 ready · 0 updating · 0 failed of 2" in s, "both ready", 120)
    assert f"devloop · {unique_name} · docker" in screen
    assert re.search(r"of 2 · http://127\.0\.0\.1:\d+/", screen), screen  # the web UI's address
    lines = screen.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("▾ ")] == ["backend", "ungrouped"]
    assert selected_row(screen) == "api"
    assert all(cell_len(line) <= 100 for line in lines) and len(lines) == 30
    assert lines[-1].startswith("↑/↓ j/k select")
    started = [re.compile(rf"^{name}\s+│ {name} started$", re.M) for name in ("api", "worker")]
    tmux.wait_for(lambda s: all(p.search(s) for p in started), "both containers' logs, prefixed")

    # j / k move the selection
    tmux.keys("j")
    tmux.wait_for(lambda s: selected_row(s) == "worker", "j to select worker")
    tmux.keys("k")
    tmux.wait_for(lambda s: selected_row(s) == "api", "k to select api")
    tmux.keys("j")
    tmux.wait_for(lambda s: selected_row(s) == "worker", "j to select worker again")

    # enter: only worker's lines, without prefixes
    tmux.keys("Enter")
    screen = tmux.wait_for(lambda s: "── logs: worker (enter: all resources)" in s, "enter to show worker's logs")
    pane = log_pane(screen)
    assert "worker started" in pane
    assert not any("api" in line for line in pane), screen

    # t: worker goes through an update and back to ready, on screen
    tmux.keys("t")
    tmux.wait_for(lambda s: "triggered worker" in s, "t to say it triggered worker")
    screen = tmux.wait_for(lambda s: died(s) or triggered_then_ready(s), "worker to update and be ready again", 120)
    tmux.wait_for(lambda s: "2 ready · 0 updating · 0 failed of 2" in s, "both ready after the trigger", 60)

    # q: exit 0, terminal restored, alternate screen left, workloads still running
    tmux.keys("q")
    screen = tmux.wait_for(lambda s: "devloop-up-exited" in s, "q to end devloop up", 60)
    assert result.read_text().split() == ["0", "restored"], stderr.read_text()
    assert "j/k select" not in screen  # the alternate screen was left
    assert "devloop: quit; the workloads keep running" in screen
    assert re.search(r"devloop: web UI: http://127\.0\.0\.1:\d+/", screen), screen  # printed before the dashboard
    running = docker_client.containers.list(filters={"label": f"devloop.dev/project={unique_name}"})
    resources = {c.labels.get("devloop.dev/resource") for c in running if c.status == "running"}
    assert resources == {"api", "worker"}
