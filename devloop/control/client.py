"""The client side of the control endpoint: what `devloop status`, `logs` and `trigger` use."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devloop.control import protocol
from devloop.control.paths import Endpoint, candidate_dirs, endpoint_in, find_endpoint, server_endpoint
from devloop.control.protocol import ControlError, NoRunningUpError, RemoteError
from devloop.engine.state import Snapshot

if TYPE_CHECKING:
    from devloop.context import Environment

#: seconds to wait for a one-shot answer (status, hello); streams wait as long as they need
ANSWER_TIMEOUT = 15.0


class ControlClient:
    def __init__(self, endpoint: Endpoint, project_name: str, *, timeout: float = ANSWER_TIMEOUT) -> None:
        self.endpoint = endpoint
        self.project_name = project_name
        self.timeout = timeout

    def _not_running(self, detail: str) -> NoRunningUpError:
        return NoRunningUpError(
            f"no `devloop up` is running for project {self.project_name} ({detail}); start one with `devloop up`."
        )

    def _connect(self) -> tuple[socket.socket, str]:
        path = os.fspath(self.endpoint.socket)
        try:
            token = self.endpoint.token.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            token = None
        except OSError as exc:
            raise ControlError(f"cannot read the control token {self.endpoint.token}: {exc.strerror}.") from None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            for attempt in range(50):
                try:
                    sock.connect(path)
                    break
                except BlockingIOError:  # the server's backlog is full for a moment: many clients at once
                    if attempt == 49:
                        raise
                    time.sleep(0.02)
        except FileNotFoundError:
            sock.close()
            raise self._not_running(f"looked for {path}") from None
        except ConnectionRefusedError:
            sock.close()
            raise self._not_running(f"{path} is left over from one that stopped") from None
        except OSError as exc:
            sock.close()
            reason = exc.strerror or exc
            raise ControlError(f"cannot connect to the running `devloop up` at {path}: {reason}.") from None
        if token is None:
            sock.close()
            raise self._not_running(f"{path} has no token file next to it; it is starting or stopped")
        return sock, token

    def request(self, op: str, *, stream: bool = False, **fields: Any) -> Generator[dict[str, Any], None, None]:
        """Send one request; yield the answer lines. The first line is checked: an error becomes an exception."""
        sock, token = self._connect()
        try:
            sock.sendall(protocol.encode({"v": protocol.VERSION, "token": token, "op": op, **fields}))
            if stream:
                sock.settimeout(None)
            reader = sock.makefile("rb")
            first = True
            while True:
                try:
                    line = reader.readline()
                except TimeoutError:
                    raise ControlError(
                        f"the running `devloop up` of {self.project_name} did not answer within "
                        f"{self.timeout:.0f} s; is it stuck? (socket {self.endpoint.socket})"
                    ) from None
                except OSError as exc:  # reset by a server that was killed
                    raise self._went_away(exc) from None
                if not line:
                    return
                try:
                    message = protocol.decode(line)
                except ValueError:
                    raise ControlError(
                        f"the running `devloop up` of {self.project_name} sent an unreadable answer; "
                        "is it another devloop version?"
                    ) from None
                if message.get("ok") is False:
                    code = message.get("code")
                    raise RemoteError(str(message.get("error", "refused")), int(code) if isinstance(code, int) else 1)
                if first and message.get("ok") is not True:
                    raise ControlError(f"unexpected answer from the running `devloop up`: {message}")
                first = False
                yield message
        finally:
            sock.close()

    def _went_away(self, exc: OSError) -> ControlError:
        return ControlError(f"the `devloop up` of {self.project_name} went away ({exc.strerror or exc}).")

    def _one(self, op: str, **fields: Any) -> dict[str, Any]:
        for message in self.request(op, **fields):
            return message
        raise ControlError(f"the `devloop up` of {self.project_name} closed the connection without answering.")

    def hello(self) -> dict[str, Any]:
        return self._one("hello")

    def status(self) -> tuple[Snapshot, dict[str, Any]]:
        """The snapshot, and the same as JSON data (with every :class:`ResourceView` field)."""
        data = self._one("status").get("snapshot")
        if not isinstance(data, dict):
            raise ControlError("the running `devloop up` sent a status without a snapshot.")
        return protocol.snapshot_from_dict(data), data

    def logs(
        self, resource: str | None = None, *, since_seconds: float | None = None, follow: bool = False
    ) -> Generator[dict[str, Any], None, None]:
        """The head ({ok, names, dropped}), then {"log": {...}} lines, then {"end": "done"|"stopped"}."""
        return self.request("logs", stream=True, resource=resource, since_seconds=since_seconds, follow=follow)

    def stop_local(self) -> list[str]:
        """Stop the local resources of the running `up`; their names."""
        stopped = self._one("stop_local").get("stopped")
        return [str(name) for name in stopped] if isinstance(stopped, list) else []

    def trigger(self, resource: str, *, wait: bool = True) -> Generator[dict[str, Any], None, None]:
        """{ok, view}, then with ``wait`` {"state"}... and {"done"} (or {"end": "stopped"})."""
        return self.request("trigger", stream=wait, resource=resource, wait=wait)


def client_for(
    config_path: Path | str,
    project_name: str,
    env: Mapping[str, str] | None = None,
    *,
    tmp_root: str | None = None,
) -> ControlClient:
    """A client for the `up` serving ``config_path``; raises :class:`NoRunningUpError` when none does."""
    endpoint = find_endpoint(config_path, env, tmp_root=tmp_root)
    if endpoint is None:
        try:
            expected = server_endpoint(project_name, config_path, env, tmp_root=tmp_root).socket
        except ControlError:
            expected = endpoint_in(candidate_dirs(env, tmp_root=tmp_root)[-1], project_name, config_path).socket
        raise NoRunningUpError(
            f"no `devloop up` is running for project {project_name} (looked for {expected}); "
            "start one with `devloop up`."
        )
    return ControlClient(endpoint, project_name)


def client_for_env(env: Environment) -> ControlClient:
    """The client for the `up` of the project that ``-f`` (or the current folder) names.

    Only the config's path is needed to find the socket; its ``name`` is read for messages, and a config that
    does not parse (being edited while `up` runs) still lets the commands talk to the running `up`.
    """
    from devloop.config.loader import find_config, load_config, sanitize_name
    from devloop.errors import DevloopError

    config_path = find_config(env.options.file, env.cwd)
    try:
        name = load_config(config_path).name
    except DevloopError:
        name = sanitize_name(config_path.parent.name) or "project"
    return client_for(config_path, name, env.env)
