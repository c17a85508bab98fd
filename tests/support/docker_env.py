"""The real Docker engine and registry that tests run against, and the checks every test may use.

- :func:`connect` / :func:`registry_problem` tell whether an engine / a registry answers.
- :func:`unavailable` skips a test with the reason, or fails it when ``CI=true``: CI must never skip the
  real path silently.
- :data:`SESSION_LABEL`: tests that create containers, networks, volumes or images directly with the SDK label
  them ``devloop.dev/test-session=<session id>`` (see :func:`session_labels`); :func:`cleanup` removes
  everything so labelled at the end of the session, and everything carrying ``devloop.dev/project=<name>``
  for every project name that the ``unique_name`` fixture handed out.
- :func:`snapshot` / :func:`assert_no_leaks`: no stray threads, child processes or temp files.

Nothing here imports docker at module import time except inside functions (the module is also imported by
tests that never touch Docker).
"""

from __future__ import annotations

import os
import secrets
import string
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

SESSION_LABEL = "devloop.dev/test-session"
PROJECT_LABEL = "devloop.dev/project"
DEFAULT_REGISTRY = "127.0.0.1:5001"
SETUP_HINT = "run scripts/setup-system"

# One id per test session (per pytest process), for SESSION_LABEL.
SESSION_ID = "s" + secrets.token_hex(5)


def in_ci() -> bool:
    """True when CI=true (or 1/yes): the real Docker/registry path must run, so absence is a failure."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Skip the current test with ``reason``; fail it instead when running in CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: tests that need it must run, not skip)", pytrace=False)
    pytest.skip(reason)


def docker_host() -> str:
    """Where the docker SDK will look for the engine."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect() -> tuple[Any | None, str]:
    """A docker SDK client for the engine of the environment, or ``(None, reason)`` when none answers."""
    try:
        import docker
        import docker.errors
    except ImportError as exc:  # pragma: no cover - docker is a dependency of devloop
        return None, f"the docker SDK is not installed ({exc})"
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:  # any failure to reach the engine means "no engine"
        return None, f"no Docker engine answers at {docker_host()}: {SETUP_HINT} ({type(exc).__name__})"
    return client, ""


def registry_address() -> str:
    """host:port of the test registry (DEVLOOP_TEST_REGISTRY overrides the default 127.0.0.1:5001)."""
    return os.environ.get("DEVLOOP_TEST_REGISTRY", DEFAULT_REGISTRY)


def registry_problem(addr: str, timeout: float = 5.0) -> str | None:
    """None when a registry answers ``GET http://addr/v2/`` with 200, else the reason why not."""
    url = f"http://{addr}/v2/"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            if resp.status == 200:
                return None
            return f"no registry answers at {url} (HTTP {resp.status}): {SETUP_HINT}"
    except (urllib.error.URLError, OSError) as exc:
        return f"no registry answers at {url}: {SETUP_HINT} ({exc})"


_DNS_ALPHABET = string.ascii_lowercase + string.digits


def new_name(prefix: str = "t") -> str:
    """A short random DNS-1123 label (also a valid DNS-1035 label): ``t-`` and 8 lowercase letters/digits."""
    if not prefix or not prefix[0].isalpha() or not prefix.islower():
        raise ValueError(f"prefix must start with a lowercase letter, got {prefix!r}")
    return f"{prefix}-" + "".join(secrets.choice(_DNS_ALPHABET) for _ in range(8))


def session_labels() -> dict[str, str]:
    """Labels to put on containers/networks/volumes/images a test creates itself, so cleanup finds them."""
    return {SESSION_LABEL: SESSION_ID}


# --- cleanup ------------------------------------------------------------------------------------------


@dataclass
class CleanupReport:
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _ours(labels: dict[str, str] | None, session_id: str, projects: set[str]) -> bool:
    labels = labels or {}
    return labels.get(SESSION_LABEL) == session_id or labels.get(PROJECT_LABEL, "\0") in projects


def cleanup(client: Any, session_id: str = SESSION_ID, projects: Iterable[str] = ()) -> CleanupReport:
    """Remove containers, networks, volumes (and images) of this test session.

    Objects count as this session's when labelled ``SESSION_LABEL=session_id`` or
    ``PROJECT_LABEL=<one of projects>``. Images are removed only by the session label. Containers inherit the
    labels of their image, so containers of an image built with :func:`session_labels` are removed too.
    """
    project_set = set(projects)
    report = CleanupReport()
    session_filter = f"{SESSION_LABEL}={session_id}"
    filters = [session_filter, PROJECT_LABEL] if project_set else [session_filter]

    def ours(kind: str, lister: Callable[..., list[Any]]) -> list[Any]:
        found: dict[str, Any] = {}
        for flt in filters:
            try:
                listed = lister(filters={"label": flt})
            except Exception as exc:
                report.errors.append(f"listing {kind}: {exc}")
                continue
            for obj in listed:
                # sparse container listings, networks and volumes all carry "Labels" at the top level
                if _ours(obj.attrs.get("Labels"), session_id, project_set):
                    found[obj.id] = obj
        return list(found.values())

    def attempt(what: str, fn: Callable[..., object], *args: object, **kwargs: object) -> None:
        try:
            fn(*args, **kwargs)
            report.removed.append(what)
        except Exception as exc:
            if type(exc).__name__ != "NotFound":  # NotFound: already gone
                report.errors.append(f"{what}: {exc}")

    def list_containers(**kwargs: Any) -> list[Any]:
        return list(client.containers.list(all=True, sparse=True, **kwargs))

    for c in ours("containers", list_containers):
        name = ",".join(n.lstrip("/") for n in c.attrs.get("Names") or []) or c.short_id
        attempt(f"container {name}", client.api.remove_container, c.id, force=True, v=True)
    for n in ours("networks", client.networks.list):
        attempt(f"network {n.name}", n.remove)
    for v in ours("volumes", client.volumes.list):
        attempt(f"volume {v.name}", v.remove, force=True)
    try:
        images = client.images.list(filters={"label": session_filter})
    except Exception as exc:
        report.errors.append(f"listing images: {exc}")
        images = []
    for img in images:
        attempt(f"image {img.short_id}", client.images.remove, img.id, force=True)
    return report


# --- leaks --------------------------------------------------------------------------------------------


def child_processes(pid: int | None = None) -> dict[int, str]:
    """Direct children of ``pid`` (default: this process) read from /proc: pid -> "state cmdline"."""
    parent = os.getpid() if pid is None else pid
    children: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile, or not ours to read
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
        rest = stat[stat.rfind(")") + 2 :].split()
        if len(rest) < 2 or int(rest[1]) != parent:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            cmdline = ""
        comm = stat[stat.find("(") + 1 : stat.rfind(")")]
        children[int(entry.name)] = f"{rest[0]} {cmdline or '[' + comm + ']'}"
    return children


def temp_entries(prefix: str = "devloop") -> frozenset[str]:
    """Names in the temp directory that start with ``prefix``."""
    try:
        return frozenset(n for n in os.listdir(tempfile.gettempdir()) if n.startswith(prefix))
    except OSError:
        return frozenset()


@dataclass(frozen=True)
class Snapshot:
    """What this process had running before the code under test ran."""

    threads: frozenset[int]
    children: frozenset[int]
    temp: frozenset[str]
    temp_prefix: str


def snapshot(temp_prefix: str = "devloop") -> Snapshot:
    return Snapshot(
        threads=frozenset(t.ident for t in threading.enumerate() if t.ident is not None),
        children=frozenset(child_processes()),
        temp=temp_entries(temp_prefix),
        temp_prefix=temp_prefix,
    )


def _leaks(before: Snapshot, ignore_thread: Callable[[threading.Thread], bool] | None) -> list[str]:
    problems: list[str] = []
    for t in threading.enumerate():
        if t is threading.main_thread() or t.ident in before.threads or not t.is_alive():
            continue
        if ignore_thread is not None and ignore_thread(t):
            continue
        target = getattr(t, "_target", None)
        where = f" running {getattr(target, '__qualname__', target)!s}" if target is not None else ""
        problems.append(f"thread {t.name!r} (daemon={t.daemon}){where}")
    for pid, desc in sorted(child_processes().items()):
        if pid not in before.children:
            problems.append(f"child process {pid} [{desc}]")
    for name in sorted(temp_entries(before.temp_prefix) - before.temp):
        problems.append(f"temp entry {os.path.join(tempfile.gettempdir(), name)}")
    return problems


def assert_no_leaks(
    before: Snapshot | None = None,
    *,
    grace: float = 10.0,
    check_temp: bool = True,
    ignore_thread: Callable[[threading.Thread], bool] | None = None,
) -> None:
    """Assert that no thread, child process (zombies included) or devloop temp entry appeared since ``before``.

    Without ``before``, the baseline is the state at the start of the test session. Threads and processes
    that are still finishing get up to ``grace`` seconds (polled; the result does not depend on timing
    unless something really stays behind).
    """
    base = before if before is not None else SESSION_BASELINE
    if not check_temp:
        base = Snapshot(base.threads, base.children, frozenset(), "\0")
    deadline = time.monotonic() + grace
    while True:
        problems = _leaks(base, ignore_thread)
        if not problems or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    assert not problems, "left behind: " + "; ".join(problems)


SESSION_BASELINE = snapshot()
