"""Port forwards on docker: every connection goes to the resource's current ready pod.

The target pod is resolved per connection, so a forward keeps working across redeploys. The pod
is reached at its IP address on the project network, which the host can route to on Linux engines;
Docker Desktop would need published ports instead. When nothing answers there, the connection is made
inside the pod's network namespace to its 127.0.0.1, as ``kubectl port-forward`` does (see
:mod:`devloop.targets.docker.netns`); where that is impossible, ``on_problem`` is told once, naming the
pod, port and bind address. The listener and relay are :class:`~devloop.targets.forwards.RelayForward`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from devloop.targets.docker import netns
from devloop.targets.forwards import RelayForward


@dataclass(frozen=True)
class Upstream:
    """Where a connection goes: the pod's address, and its sandbox's host PID when devloop can see it."""

    ip: str
    port: int
    pod: str = ""
    pid: int | None = None


Resolver = Callable[[], Upstream | None]


class PortForward(RelayForward):
    def __init__(
        self,
        resolve: Resolver,
        local: int,
        host: str = "127.0.0.1",
        label: str = "",
        on_problem: Callable[[str], None] | None = None,
    ) -> None:
        self.resolve = resolve
        self._last = threading.local()  # the upstream the connection of this thread tried last
        super().__init__(local, host, label, on_problem)

    def _connect_once(self) -> socket.socket | None:
        target: Upstream | None = None
        with contextlib.suppress(Exception):
            target = self.resolve()
        self._last.target = target
        if target is None:
            return None
        try:
            return socket.create_connection((target.ip, target.port), timeout=2)
        except ConnectionRefusedError:
            return self._inside(target)
        except OSError:
            return None

    def _gave_up(self) -> None:
        target: Upstream | None = getattr(self._last, "target", None)
        if target is not None and target.pid is None:
            self._tell(
                f"nothing answers on port {target.port} of pod {target.pod} at {target.ip}; if the server "
                "listens on the pod's 127.0.0.1 only, devloop cannot reach it from here (the engine runs "
                "elsewhere, or devloop may not enter the pod's network namespace): make it listen on 0.0.0.0"
            )

    def _inside(self, target: Upstream) -> socket.socket | None:
        """Connect to the pod's 127.0.0.1 from inside its network namespace (None: not possible or refused)."""
        if target.pid is None:
            return None
        try:
            return netns.connect_inside(target.pid, target.port)
        except ConnectionRefusedError:
            return None  # nothing listens at all yet: the caller keeps waiting
        except OSError as exc:
            bound = netns.listeners(target.pid, target.port)
            where = f"on {', '.join(bound)}" if bound else "on the pod's loopback (or not at all)"
            self._tell(
                f"the server of pod {target.pod} listens on port {target.port} {where} only, and devloop cannot "
                f"enter the pod's network namespace to reach it ({exc.strerror or exc}; it needs root on the "
                "engine's machine): make it listen on 0.0.0.0"
            )
            return None
