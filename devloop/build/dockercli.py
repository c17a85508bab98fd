"""Which docker CLI runs BuildKit builds: every candidate probed once per process, the verdict cached.

The engine connection itself is :mod:`devloop.dockerengine`.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

#: the docker CLI Debian ships; probed even when another `docker` comes first on PATH
DEBIAN_CLI = "/usr/bin/docker"


_probe_lock = threading.Lock()
_probe_cache: dict[tuple[str, ...], tuple[str | None, str]] = {}
_probing: list[tuple[str, ...]] = []  # probe_in_background started (once per process)


def cli_candidates(env: Mapping[str, str]) -> list[str]:
    """Every ``docker`` on PATH (in order), then /usr/bin/docker; duplicates (same real file) removed."""
    found: list[str] = []
    seen: set[str] = set()
    for folder in (env.get("PATH") or os.defpath).split(os.pathsep):
        if not folder:
            continue
        path = os.path.join(folder, "docker")
        if os.path.isfile(path) and os.access(path, os.X_OK):
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                found.append(path)
    if os.path.isfile(DEBIAN_CLI) and os.path.realpath(DEBIAN_CLI) not in seen:
        found.append(DEBIAN_CLI)
    return found


def probe_buildkit_cli(candidate: str, env: Mapping[str, str]) -> str | None:
    """None when ``candidate`` can run ``DOCKER_BUILDKIT=1 docker build``, else why not.

    Cheap and local (no engine call): a CLI without BuildKit support (a newer client without the buildx
    plugin) refuses ``build --help`` when DOCKER_BUILDKIT=1.
    """
    try:
        proc = subprocess.run(
            [candidate, "build", "--help"],
            env={**env, "DOCKER_BUILDKIT": "1"},
            capture_output=True,
            text=True,
            errors="replace",
            timeout=15,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{candidate} could not run ({exc})"
    if proc.returncode != 0:
        first = next((line.strip() for line in (proc.stderr or proc.stdout).splitlines() if line.strip()), "")
        return f"{candidate} refuses BuildKit builds ({first or f'exit {proc.returncode}'})"
    if "--progress" not in proc.stdout:
        return f"{candidate} has no BuildKit progress output (`build --progress` is missing)"
    return None


def buildkit_cli(env: Mapping[str, str], candidates: Sequence[str] | None = None) -> tuple[str | None, str]:
    """``(path, why)``: the first docker CLI that runs BuildKit builds, or ``(None, why not)``.

    Probed once per process for each list of candidates; the verdict is cached.
    """
    names = tuple(cli_candidates(env) if candidates is None else candidates)
    with _probe_lock:
        cached = _probe_cache.get(names)
        if cached is not None:
            return cached
        if not names:
            verdict: tuple[str | None, str] = (None, "no `docker` CLI is installed (not on PATH, no /usr/bin/docker)")
        else:
            refusals: list[str] = []
            verdict = (None, "")
            # all candidates at once (each probe is a process start): the first one in order that works wins
            with ThreadPoolExecutor(len(names), thread_name_prefix="devloop-probe-cli") as pool:
                problems = list(pool.map(lambda candidate: probe_buildkit_cli(candidate, env), names))
            for candidate, problem in zip(names, problems, strict=True):
                if problem is None:
                    why = f"{candidate} runs BuildKit builds"
                    if refusals:
                        why += f" ({'; '.join(refusals)})"
                    verdict = (candidate, why)
                    break
                refusals.append(problem)
            else:
                verdict = (None, "; ".join(refusals))
        _probe_cache[names] = verdict
        return verdict


def probe_in_background(env: Mapping[str, str]) -> None:
    """Start :func:`buildkit_cli` on a thread (once per process), so that the first build finds the verdict
    ready instead of waiting for the CLIs to start. The thread ends with the probe; exit waits for it."""
    names = tuple(cli_candidates(env))
    with _probe_lock:
        if names in _probe_cache or _probing:
            return
        _probing.append(names)
    threading.Thread(target=buildkit_cli, args=(dict(env), names), name="devloop-probe-cli").start()


def mark_cli_unusable(env: Mapping[str, str], reason: str) -> None:
    """Record that the chosen CLI failed to run BuildKit after all, so later builds use the SDK."""
    names = tuple(cli_candidates(env))
    with _probe_lock:
        _probe_cache[names] = (None, reason)
