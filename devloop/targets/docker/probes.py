"""Readiness probes (httpGet, tcpSocket, exec), evaluated by devloop.

httpGet and tcpSocket connect from the devloop process to the pod's IP address on the project
network (reachable from the host on Linux engines; Docker Desktop would need published ports).
exec runs the command inside the container through the Engine API.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: seconds between two probes of a container that was never ready yet
STARTUP_RETRY = 0.2
#: within that time, seconds between two tries of a failed probe (see ProjectRuntime._probe)
STARTUP_POLL = 0.025


@dataclass
class ProbeState:
    """Consecutive results of one container's readiness probe (Kubernetes thresholds)."""

    due: float
    ready: bool = False
    successes: int = 0
    failures: int = 0
    in_flight: bool = False
    last_error: str = ""
    ever_ready: bool = False

    def record(self, ok: bool, probe: Mapping[str, Any], now: float, error: str = "") -> None:
        self.in_flight = False
        self.last_error = error
        if ok:
            self.successes += 1
            self.failures = 0
            if self.successes >= int(probe.get("successThreshold") or 1):
                self.ready = True
        else:
            self.failures += 1
            self.successes = 0
            if self.failures >= int(probe.get("failureThreshold") or 3):
                self.ready = False
        period = float(probe.get("periodSeconds") or 10)
        # Until the container has been ready once, probe again soon: a dev loop should not wait a whole
        # period for a server that starts a few milliseconds after the first probe.
        self.due = now + (period if self.ever_ready or ok else min(period, STARTUP_RETRY))
        self.ever_ready = self.ever_ready or self.ready


def initial_due(probe: Mapping[str, Any], now: float) -> float:
    return now + float(probe.get("initialDelaySeconds") or 0)


def resolve_port(port: object, ports: Mapping[str, int]) -> int:
    if isinstance(port, int):
        return port
    text = str(port)
    if text.isdigit():
        return int(text)
    if text in ports:
        return int(ports[text])
    raise ValueError(f"the probe names port {text!r}, which no container port of the pod declares")


def run_probe(api: Any, container_id: str, ip: str, probe: Mapping[str, Any], ports: Mapping[str, int]) -> str:
    """Run ``probe`` once; return "" on success, else what failed."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if "exec" in probe:
            argv = [str(a) for a in (probe["exec"] or {}).get("command") or []]
            exec_id = api.exec_create(container_id, argv, stdout=True, stderr=True)["Id"]
            output = api.exec_start(exec_id)
            code = api.exec_inspect(exec_id).get("ExitCode")
            if code == 0:
                return ""
            text = output.decode(errors="replace").strip() if isinstance(output, bytes) else ""
            return f"exec {' '.join(argv)} exited with {code}" + (f": {text[-200:]}" if text else "")
        if "tcpSocket" in probe:
            spec = probe["tcpSocket"] or {}
            port = resolve_port(spec.get("port"), ports)
            with socket.create_connection((str(spec.get("host") or ip), port), timeout=timeout):
                return ""
        if "httpGet" in probe:
            spec = probe["httpGet"] or {}
            port = resolve_port(spec.get("port", 80), ports)
            host = str(spec.get("host") or ip)
            conn: http.client.HTTPConnection
            if str(spec.get("scheme", "HTTP")).upper() == "HTTPS":
                context = ssl._create_unverified_context()  # Kubernetes does not verify probe certificates
                conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
            else:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            try:
                headers = {str(h.get("name")): str(h.get("value")) for h in spec.get("httpHeaders") or []}
                conn.request("GET", str(spec.get("path") or "/"), headers=headers)
                status = conn.getresponse().status
            finally:
                conn.close()
            return "" if 200 <= status < 400 else f"HTTP GET {spec.get('path') or '/'} answered {status}"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "no supported probe handler"
