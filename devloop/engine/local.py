"""Local resources at run time (config.md, "Local resources"): ``cmd`` and ``serve`` run on the host.

:class:`LocalProcesses` runs a resource's ``cmd`` to completion (in a worker of the engine) and keeps its
``serve`` running in a process group of its own (util.spawn), streaming both outputs into the resource's log.
The engine asks :meth:`LocalProcesses.status` for the runtime state of a serve, as it asks a target for a
workload's: a serve that exited is FAILED with its last lines, a serve passing its readiness check (or running,
without one) is READY. Every process tree is stopped by :meth:`stop_all` (and util.terminate_children).
"""

from __future__ import annotations

import collections
import contextlib
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from devloop.config.model import LocalSpec, Readiness
from devloop.engine.clock import Clock, MonotonicClock
from devloop.targets.base import Phase, RuntimeStatus
from devloop.util import release, spawn, stream_process, terminate_group

#: lines of output kept for a failure's reason
TAIL_LINES = 15
#: seconds a readiness check may take
CHECK_TIMEOUT = 5.0
#: without a readiness check, a serve counts as ready once it kept running this long (one that exits at once
#: must not pass `ci`)
SETTLE_SECONDS = 1.0


@dataclass
class _Serve:
    proc: subprocess.Popen[str]
    started: float  # monotonic
    reader: threading.Thread | None = None
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=TAIL_LINES))
    ready: bool = False  # passed its readiness check once: ready until it exits (checks are not repeated)


def shell(command: str) -> list[str]:
    return ["/bin/sh", "-c", command]


class LocalProcesses:
    """The cmd and serve processes of the local resources of one engine (thread-safe)."""

    def __init__(self, log: Callable[[str, str], None], clock: Clock | None = None) -> None:
        self._log = log  # (resource, line)
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._lock = threading.Lock()
        self._serves: dict[str, _Serve] = {}

    def run_cmd(self, spec: LocalSpec) -> tuple[int, list[str]]:
        """Run ``spec.cmd`` to completion in ``spec.dir``; its exit code and last lines of output."""
        assert spec.cmd is not None
        out: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)

        def on_line(line: str) -> None:
            out.append(line)
            self._log(spec.name, line)

        code = stream_process(shell(spec.cmd), on_line, cwd=spec.dir, env=dict(spec.env))
        return code, list(out)

    def start_serve(self, spec: LocalSpec) -> None:
        """(Re)start ``spec.serve``: the running one (if any) is stopped first, with its whole process tree."""
        assert spec.serve is not None
        self.stop(spec.name)
        proc = spawn(shell(spec.serve), cwd=spec.dir, env=dict(spec.env))
        serve = _Serve(proc, self._clock.monotonic())

        def read() -> None:
            assert proc.stdout is not None
            try:
                for raw in proc.stdout:
                    line = raw.rstrip("\n")
                    serve.tail.append(line)
                    self._log(spec.name, line)
            except (OSError, ValueError):  # closed while stopping
                pass
            finally:
                proc.wait()
                release(proc)

        serve.reader = threading.Thread(target=read, name=f"devloop-serve-{spec.name}", daemon=True)
        with self._lock:
            self._serves[spec.name] = serve
        serve.reader.start()

    def running(self, name: str) -> bool:
        with self._lock:
            serve = self._serves.get(name)
        return serve is not None and serve.proc.poll() is None

    def stop(self, name: str) -> None:
        """Stop the serve of ``name`` and everything it started (SIGTERM, then SIGKILL)."""
        with self._lock:
            serve = self._serves.pop(name, None)
        if serve is None:
            return
        terminate_group(serve.proc)
        if serve.reader is not None:
            serve.reader.join(timeout=5)
        if serve.proc.stdout is not None:
            with contextlib.suppress(OSError):
                serve.proc.stdout.close()

    def stop_all(self) -> None:
        with self._lock:
            names = list(self._serves)
        for name in names:
            self.stop(name)

    def status(self, spec: LocalSpec) -> RuntimeStatus:
        """The runtime state of the serve of ``spec``, as a target reports a workload's."""
        with self._lock:
            serve = self._serves.get(spec.name)
        if serve is None:
            return RuntimeStatus(Phase.ABSENT, detail="not started")
        code = serve.proc.poll()
        if code is not None:
            if serve.reader is not None:
                serve.reader.join(timeout=2)  # its last lines
            return RuntimeStatus(
                Phase.FAILED,
                reason=f"serve `{spec.serve}` exited with {code}",
                last_logs=tuple(serve.tail),
                detail=f"exited {code}",
            )
        detail = f"running (pid {serve.proc.pid})"
        if spec.readiness is None:
            serve.ready = serve.ready or self._clock.monotonic() - serve.started >= SETTLE_SECONDS
        elif not serve.ready:
            serve.ready = check_ready(spec.readiness, spec)
        if serve.ready:
            return RuntimeStatus(Phase.READY, ready_replicas=1, wanted_replicas=1, detail=detail)
        kind, value = spec.readiness or ("running", f"for {SETTLE_SECONDS:g} s")
        return RuntimeStatus(Phase.RUNNING, reason=f"waiting for readiness ({kind} {value})", detail=detail)


def check_ready(readiness: Readiness, spec: LocalSpec) -> bool:
    """One readiness check: an HTTP URL answering 2xx/3xx, a TCP port on 127.0.0.1 accepting, or a command
    exiting 0 (in ``spec.dir``, with ``spec.env``)."""
    kind, value = readiness
    if kind == "tcp":
        try:
            with socket.create_connection(("127.0.0.1", int(value)), timeout=CHECK_TIMEOUT):
                return True
        except OSError:
            return False
    if kind == "http":
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(value, timeout=CHECK_TIMEOUT) as response:
                return 200 <= int(response.status) < 400
        except urllib.error.HTTPError as exc:
            return 300 <= exc.code < 400
        except (OSError, ValueError):
            return False
    import os

    try:
        done = subprocess.run(
            shell(value),
            cwd=spec.dir,
            env={**os.environ, **dict(spec.env)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=CHECK_TIMEOUT,
            start_new_session=True,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect answers the check (3xx counts as ready); it is not followed."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
