"""One place for running external programs (helm, kustomize, kind, k3d, docker CLI, test commands).

Every failure is turned into a :class:`~devloop.errors.DevloopError` with a sentence a user can act on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from devloop.errors import DevloopError, ToolMissingError


class ProcessGroup:
    """Running children of stream_process, so that one call can stop them all from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[subprocess.Popen[str]] = set()

    def add(self, proc: subprocess.Popen[str]) -> None:
        with self._lock:
            self._live.add(proc)

    def discard(self, proc: subprocess.Popen[str]) -> None:
        with self._lock:
            self._live.discard(proc)

    def terminate_all(self) -> None:
        with self._lock:
            live = list(self._live)
        for proc in live:
            terminate_group(proc)


# Every child stream_process started that still runs: an interrupt anywhere (the main thread gets
# Ctrl-C, workers run the children) can stop them all.
_LIVE = ProcessGroup()


def terminate_children() -> None:
    """Stop every child process (and its group) that stream_process started and that still runs."""
    _LIVE.terminate_all()


def user_cache(env: Mapping[str, str] | None = None) -> Path:
    """devloop's folder in the user's cache: ``$XDG_CACHE_HOME/devloop`` or ``~/.cache/devloop`` (never the project)."""
    environ = os.environ if env is None else env
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "devloop"


def which(tool: str) -> str | None:
    return shutil.which(tool)


def tail(text: str, lines: int = 20) -> list[str]:
    """The last ``lines`` non-empty lines of ``text``."""
    return [line for line in text.splitlines() if line.strip()][-lines:]


def run_tool(
    argv: Sequence[str],
    *,
    what: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    install_hint: str = "",
    timeout: float | None = 300,
    unset: Sequence[str] = (),
) -> str:
    """Run ``argv`` to completion and return its stdout (``env`` added to the environment, ``unset`` taken out).

    ``what`` names the work in messages ("rendering kustomize overlay k8s/dev"). A missing
    program raises :class:`ToolMissingError` (exit 2) naming it; a non-zero exit raises a
    :class:`DevloopError` with the last lines of its stderr.
    """
    program = argv[0]
    if shutil.which(program) is None:
        hint = f" {install_hint}" if install_hint else f" Install {program} and make sure it is on PATH."
        raise ToolMissingError(f"{what} needs `{program}`, which is not installed.{hint}")
    full_env = None
    if env is not None or unset:
        full_env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in unset}
    try:
        proc = subprocess.run(
            list(argv),
            cwd=str(cwd) if cwd else None,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise DevloopError(f"{what}: `{' '.join(argv)}` did not finish within {timeout:.0f} s.") from exc
    except OSError as exc:
        raise DevloopError(f"{what}: could not run `{program}`: {exc.strerror or exc}.") from exc
    if proc.returncode != 0:
        last = "\n".join(f"  {line}" for line in tail(proc.stderr or proc.stdout, 15))
        raise DevloopError(f"{what} failed: `{' '.join(argv)}` exited with {proc.returncode}\n{last}".rstrip())
    return proc.stdout


def spawn(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    inherit_env: bool = True,
) -> subprocess.Popen[str]:
    """Start ``argv`` in a process group of its own, its combined output on ``proc.stdout`` (text lines), and
    track it so that :func:`terminate_children` stops it and everything it started. Call :func:`release` once it
    has exited. ``env`` as for :func:`stream_process`."""
    full_env = None if env is None else ({**os.environ, **env} if inherit_env else dict(env))
    proc = subprocess.Popen(
        list(argv),
        cwd=str(cwd) if cwd else None,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        bufsize=1,
        start_new_session=True,
    )
    _LIVE.add(proc)
    return proc


def release(proc: subprocess.Popen[str]) -> None:
    """Stop tracking a child of :func:`spawn` that has exited."""
    _LIVE.discard(proc)


def stream_process(
    argv: Sequence[str],
    on_line: Callable[[str], None],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    inherit_env: bool = True,
    group: ProcessGroup | None = None,
) -> int:
    """Run ``argv``, calling ``on_line`` for every line of its combined output; return the exit code.

    ``env`` is added to this process's environment (or is the whole environment with
    ``inherit_env=False``). The child gets its own process group so that an interrupt can stop it
    and everything it started; on KeyboardInterrupt the group is terminated (then killed) before
    re-raising. ``group`` also tracks the child, for callers that stop their own work (a builder's cancel).
    """
    proc = spawn(argv, cwd=cwd, env=env, inherit_env=inherit_env)
    groups = [_LIVE] if group is None else [_LIVE, group]
    if group is not None:
        group.add(proc)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            on_line(line.rstrip("\n"))
        return proc.wait()
    except BaseException:
        terminate_group(proc)
        raise
    finally:
        for tracked in groups:
            tracked.discard(proc)
        if proc.stdout is not None:
            proc.stdout.close()


def terminate_group(proc: subprocess.Popen[str], grace: float = 3.0) -> None:
    """Stop ``proc`` and its process group: SIGTERM, then SIGKILL after ``grace`` seconds."""
    import signal

    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
