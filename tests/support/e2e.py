"""Running devloop as a user does (a real process) on a small project of its own, for the end-to-end tests.

`project` (a fixture) writes a project into tmp_path (busybox images built FROM scratch, a unique project name),
runs and starts devloop on it with the docker target, and runs `devloop down --prune-images` for it at the end.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support import docker_env, images
from tests.support.projects import Image, configmap, deployment, httpd, service, write_project

REPO = Path(__file__).resolve().parent.parent.parent
PROJECT_LABEL = "devloop.dev/project"
RESOURCE_LABEL = "devloop.dev/resource"
#: How long a single devloop command may take before the test gives up on it (a hang guard, not a measure).
HANG = 90.0


def devloop_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DEVLOOP_TARGET"}
    env["PYTHONPATH"] = str(REPO)
    return {**env, **(extra or {})}


def devloop_argv(root: Path, args: Sequence[str], target: str = "docker") -> list[str]:
    return [sys.executable, "-m", "devloop", "-f", str(root), "--target", target, *args]


def run_devloop(
    root: Path, *args: str, target: str = "docker", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        devloop_argv(root, args, target),
        capture_output=True,
        text=True,
        env=devloop_env(env),
        stdin=subprocess.DEVNULL,
        timeout=HANG,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}"


class Running:
    """A devloop process started in its own session, its output (stdout and stderr) read by a thread."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=devloop_env(env),
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_line(self, pattern: str, *, after: int = 0, timeout: float = 60.0) -> int:
        """Index of the first line (from ``after`` on) matching the regex ``pattern``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for i in range(after, len(self.lines)):
                if regex.search(self.lines[i]):
                    return i
            if self.proc.poll() is not None and not self._reader.is_alive():
                raise AssertionError(f"devloop exited with {self.proc.returncode} before {pattern!r}:\n{self.text}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no line matching {pattern!r} within {timeout:.0f} s:\n{self.text}")
            time.sleep(0.05)

    def interrupt(self) -> int:
        """Ctrl-C as a terminal sends it (SIGINT to the process group); the exit code."""
        return self.stop(signal.SIGINT, group=True)

    def stop(self, signum: int, *, group: bool = False, timeout: float = 30.0) -> int:
        """Send ``signum`` to devloop (to its whole process group with ``group``, as a terminal does); the exit
        code once it ended."""
        if group:
            os.killpg(self.proc.pid, signum)
        else:
            os.kill(self.proc.pid, signum)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            name = signal.Signals(signum).name
            raise AssertionError(f"devloop did not stop within {timeout:.0f} s of {name}:\n{self.text}") from None
        self._reader.join(timeout=10)
        return code

    def close(self) -> None:
        """A test's end: a devloop still running is stopped as a CI runner would (SIGTERM), so it removes its
        control files and kubeconfig copy; SIGKILL only when it does not stop within 20 s."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=20)
        self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._reader.join(timeout=10)


class Project:
    def __init__(self, root: Path, name: str, client: Any, request: pytest.FixtureRequest) -> None:
        self.root = root
        self.name = name
        self.client = client
        self._request = request

    def ref(self, image: str) -> str:
        return f"{self.name}/{image}"

    def write(self, **kwargs: Any) -> Project:
        write_project(self.root, self.name, **kwargs)
        return self

    def run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run_devloop(self.root, *args, **kwargs)

    def start(self, *args: str, env: dict[str, str] | None = None) -> Running:
        running = Running(devloop_argv(self.root, args), env)
        self._request.addfinalizer(running.close)  # runs before `down` (finalizers run last in, first out)
        return running

    def containers(self, resource: str | None = None) -> list[Any]:
        labels = [f"{PROJECT_LABEL}={self.name}"] + ([f"{RESOURCE_LABEL}={resource}"] if resource else [])
        # ignore_removed: devloop may remove an old pod's container between the engine's list and its inspect
        return list(self.client.containers.list(all=True, filters={"label": labels}, ignore_removed=True))

    def resources_running(self) -> set[str]:
        return {c.labels.get(RESOURCE_LABEL, "") for c in self.containers() if c.status == "running"}

    def leftovers(self) -> list[str]:
        flt = {"label": f"{PROJECT_LABEL}={self.name}"}
        return (
            [f"container {c.name}" for c in self.client.containers.list(all=True, filters=flt)]
            + [f"network {n.name}" for n in self.client.networks.list(filters=flt)]
            + [f"volume {v.name}" for v in self.client.volumes.list(filters=flt)]
        )


@pytest.fixture
def project(tmp_path: Path, unique_name: str, docker_client: Any, request: pytest.FixtureRequest) -> Iterator[Project]:
    missing = images.busybox_missing()
    if missing is not None:
        docker_env.unavailable(f"{missing}: run scripts/setup-system")
    proj = Project(tmp_path / unique_name, unique_name, docker_client, request)
    yield proj
    if (proj.root / "devloop.yaml").exists():
        run_devloop(proj.root, "down", "--prune-images")


def web_project(p: Project, *, www: str = "v1\n", **resource: Any) -> Project:
    """One Deployment `web` (busybox httpd serving /www on 8080 with an HTTP readiness probe), its Service
    and a ConfigMap it reads an environment variable from."""
    env = [{"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "web-config", "key": "greeting"}}}]
    return p.write(
        objects=[
            deployment("web", [httpd("web", p.ref("web"), env=env)]),
            service("web", 8080),
            configmap("web-config", {"greeting": "hello from the configmap"}),
        ],
        images=[Image("web", p.ref("web"), lines=["COPY www /www"], files={"www/index.html": www})],
        resources={"web": {"readiness_timeout": 30, **resource}},
    )


def get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            body: bytes = resp.read()
            return body.decode()
    except (urllib.error.URLError, OSError):
        return None


def poll(fn: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not fn():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def summary(result: subprocess.CompletedProcess[str]) -> str:
    """The summary `ci` prints at the end (from its verdict line on)."""
    at = result.stdout.rfind("devloop ci:")
    assert at >= 0, output(result)
    return result.stdout[at:]


def processes_mentioning(text: str) -> dict[int, str]:
    """Processes on this machine whose command line contains ``text``."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found[int(entry.name)] = cmdline.strip()
    return found


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid`` (children, their children ...)."""
    found: dict[int, str] = {}
    stack = [pid]
    while stack:
        for child, desc in docker_env.child_processes(stack.pop()).items():
            if child not in found:
                found[child] = desc
                stack.append(child)
    return found


def session_members(sid: int) -> dict[int, str]:
    """Processes of session ``sid`` (devloop runs as the leader of its own session; children it starts
    without a session of their own stay in it, even once orphaned)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()  # state ppid pgrp session ...
        if len(fields) > 3 and int(fields[3]) == sid:
            found[int(entry.name)] = stat[stat.find("(") + 1 : stat.rfind(")")]
    return found


def still_running(procs: dict[int, str]) -> dict[int, str]:
    """Those of ``procs`` that still exist with the same command line (zombies count)."""
    alive = {}
    for pid, desc in procs.items():
        try:
            cmdline = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmdline.strip() and cmdline.strip() in desc:
            alive[pid] = desc
    return alive
