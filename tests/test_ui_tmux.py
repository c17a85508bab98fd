"""The real dashboard in a real terminal: tmux runs tests/support/dashboard_app.py (the real engine and
Dashboard on a fake target and builder) in a window of fixed size; the test reads the screen with
capture-pane, presses keys, resizes the window, and checks that q exits 0 with the terminal restored.

Skips with the reason when tmux is missing (scripts/setup-system installs it); with CI=true it fails instead.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.cells import cell_len

from tests.support import docker_env

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
