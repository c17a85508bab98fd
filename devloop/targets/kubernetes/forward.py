"""Port forwards through the API's ``pods/portforward``: a local listener on 127.0.0.1 whose every
connection is relayed to a ready pod of the resource's current rollout.

The pod is re-resolved for every connection (so a forward follows redeploys and never points at a
pod that is gone); a dropped stream ends only that connection. The listener, accept loop and relay
are the shared :class:`~devloop.targets.forwards.RelayForward`; only the upstream
differs: instead of a TCP connection to the pod IP it is one end of the kubernetes client's
portforward socket pair.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import Any

from devloop.targets.forwards import RelayForward

#: Returns (namespace, pod) of a ready pod of the current rollout, or None.
PodResolver = Callable[[], tuple[str, str] | None]
#: Opens a kubernetes portforward to (namespace, pod, port); returns the client's PortForward object.
Opener = Callable[[str, str, int], Any]


class KubePortForward(RelayForward):
    def __init__(
        self, resolve_pod: PodResolver, opener: Opener, local: int, remote: int, host: str, label: str
    ) -> None:
        self.resolve_pod = resolve_pod
        self.opener = opener
        self.remote = remote
        super().__init__(local, host, label)

    def _connect_once(self) -> socket.socket | None:
        target = None
        with contextlib.suppress(Exception):
            target = self.resolve_pod()
        if target is None:
            return None
        try:
            forward = self.opener(target[0], target[1], self.remote)
            wrapper = forward.socket(self.remote)
            sock = getattr(wrapper, "_socket", wrapper)
            if isinstance(sock, socket.socket):
                return sock
        except Exception:
            pass
        return None


def open_portforward(make_core_api: Callable[[], Any]) -> Opener:
    def opener(namespace: str, pod: str, port: int) -> Any:
        from kubernetes.stream import portforward

        api = make_core_api()
        return portforward(api.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port))

    return opener
