"""What the live-update benchmarks share: a busybox httpd project with its document root synced, a free
local port, an HTTP fetch that never raises, and percentiles."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_httpd_project(root: Path, name: str, ref: str, port: int, debounce_ms: int, extra_config: str = "") -> None:
    """A busybox httpd Deployment serving www/, live-updated by syncing www/, port-forwarded on ``port``."""
    (root / "www").mkdir(parents=True)
    shutil.copy2("/bin/busybox", root / "busybox")
    (root / "www" / "index.html").write_text("start\n")
    (root / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCOPY www /www\n'
        'CMD ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]\n'
    )
    (root / "k8s.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
        "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
        f"    spec:\n      containers:\n        - name: web\n          image: {ref}\n"
        "          readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}\n"
    )
    (root / "devloop.yaml").write_text(
        f"version: 1\nname: {name}\nmanifests: [k8s.yaml]\n{extra_config}"
        f"images:\n  - ref: {ref}\n    live_update:\n      sync: [{{src: www, dest: /www}}]\n"
        f"resources:\n  web:\n    port_forwards: ['{port}:8080']\n"
        f"watch:\n  debounce_ms: {debounce_ms}\n"
    )


def fetch(url: str, timeout: float = 1.0) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_devloop(proc: subprocess.Popen[str], timeout: float = 20) -> None:
    """End a devloop started in its own process group as Ctrl-C would; SIGKILL when it does not stop in time."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
