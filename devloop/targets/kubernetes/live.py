"""Live update over the API's exec: a tar stream into ``tar -x``, deletes, run steps, restarts.

What the image needs: ``tar`` (for copies), ``rm`` (for deletes), ``/bin/sh`` (for ``run`` string
steps and for ``restart: true``). The tar is built on the host exactly as on docker
(:func:`devloop.targets.archives.build_archive`: modes, symlinks, owner = the container's
runAsUser) and extracted at ``/``.

``restart: true`` restarts the main process inside the same container, so synced files stay. At apply
time the container's command is wrapped in :data:`SUPERVISOR`, a small POSIX sh loop that runs the
original entrypoint and arguments as its child; ``restart()`` sends SIGUSR1 to the supervisor (PID 1
of the container), which stops the child (SIGTERM) and starts it again. When the child exits by
itself the supervisor exits with its code, so crash loops and Job completion look as without it;
SIGTERM/SIGINT are passed on to the child.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

SUPERVISOR_NAME = "devloop-supervisor"

SUPERVISOR = (
    'restart=0; child=""; '
    'trap \'restart=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null\' USR1; '
    'trap \'[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 143\' TERM INT; '
    "while :; do "
    'restart=0; "$@" & child=$!; '
    'wait "$child" 2>/dev/null; code=$?; '
    'while kill -0 "$child" 2>/dev/null; do wait "$child" 2>/dev/null; code=$?; done; '
    'if [ "$restart" = 1 ]; then continue; fi; '
    'exit "$code"; '
    "done"
)

#: The command restart() runs in the container: the supervisor is PID 1 of the container.
RESTART_ARGV = ["/bin/sh", "-c", "kill -USR1 1"]


def supervised_command(argv: Sequence[str]) -> list[str]:
    """The container ``command`` that runs ``argv`` under the restart supervisor."""
    return ["/bin/sh", "-c", SUPERVISOR, SUPERVISOR_NAME, *argv]


def is_supervised(command: Sequence[str] | None) -> bool:
    return bool(command) and len(command or ()) > 3 and list(command or ())[:3] == ["/bin/sh", "-c", SUPERVISOR]


def original_argv(
    container: dict[str, Any], image_entrypoint: Sequence[str] | None, image_cmd: Sequence[str] | None
) -> list[str]:
    """The argv a container runs (Kubernetes rules): ``command`` replaces ENTRYPOINT, and ``args``
    replace CMD; a ``command`` without ``args`` ignores CMD."""
    command = container.get("command")
    args = container.get("args")
    if isinstance(command, list) and command:
        return [str(c) for c in command] + ([str(a) for a in args] if isinstance(args, list) else [])
    entry = list(image_entrypoint or [])
    if isinstance(args, list):
        return entry + [str(a) for a in args]
    return entry + list(image_cmd or [])


def parse_exec_status(text: str) -> tuple[int | None, str]:
    """(exit code, message) from the exec error channel's Status. ``None`` exit code: the command
    could not be started at all (not found, container gone); message says why."""
    text = (text or "").strip()
    if not text:
        return 0, ""
    try:
        status = json.loads(text)
    except ValueError:
        return None, text
    if not isinstance(status, dict):
        return None, text
    if status.get("status") == "Success":
        return 0, ""
    message = str(status.get("message") or "")
    for cause in (status.get("details") or {}).get("causes") or []:
        if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
            try:
                return int(str(cause.get("message"))), message
            except (TypeError, ValueError):
                pass
    if status.get("reason") == "NonZeroExitCode":
        return 1, message
    return None, message


def not_found_message(message: str) -> bool:
    lowered = message.lower()
    return "not found" in lowered or "no such file" in lowered or "executable file" in lowered


class ExecStream:
    """One exec in a container over the API's websocket channel protocol."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    def open(
        cls, core_api: Any, namespace: str, pod: str, container: str, argv: Sequence[str], stdin: bool
    ) -> ExecStream:
        from kubernetes.stream import stream

        ws = stream(
            core_api.connect_get_namespaced_pod_exec,
            pod,
            namespace,
            container=container,
            command=list(argv),
            stdin=stdin,
            stdout=True,
            stderr=True,
            tty=False,
            _preload_content=False,
            binary=True,
        )
        return cls(ws)

    def send(self, data: bytes, chunk: int = 256 * 1024) -> None:
        for start in range(0, len(data), chunk):
            self.ws.write_stdin(data[start : start + chunk])
            self.ws.update(timeout=0)

    def close_stdin(self) -> None:
        import contextlib

        with contextlib.suppress(Exception):
            self.ws.close_channel(0)

    def run(self, on_line: Callable[[str], None], timeout: float | None = None) -> tuple[int | None, str]:
        """Stream stdout/stderr lines until the command ends; (exit code, error message)."""
        import time

        buffers = {1: b"", 2: b""}
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.ws.is_open():
            self.ws.update(timeout=0.5)
            self._drain(buffers, on_line)
            if deadline is not None and time.monotonic() > deadline:
                self.ws.close()
                return None, "timed out"
        self._drain(buffers, on_line)
        for rest in buffers.values():
            if rest:
                on_line(rest.decode(errors="replace"))
        raw = self.ws.read_channel(3)
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw or "")
        return parse_exec_status(text)

    def _drain(self, buffers: dict[int, bytes], on_line: Callable[[str], None]) -> None:
        for channel in (1, 2):
            data = self.ws.read_channel(channel)
            if not data:
                continue
            if isinstance(data, str):
                data = data.encode()
            buffers[channel] += data
            while b"\n" in buffers[channel]:
                line, buffers[channel] = buffers[channel].split(b"\n", 1)
                on_line(line.decode(errors="replace").rstrip("\r"))

    def close(self) -> None:
        import contextlib

        with contextlib.suppress(Exception):
            self.ws.close()
