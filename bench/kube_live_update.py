"""bench/kube_live_update: save -> served latency of a live update on the kubernetes target (exec path).

The Kubernetes API double (tests/kube_double) runs in this process, its pods real Docker containers pulling from
the test registry (127.0.0.1:5001). A busybox httpd Deployment serves www/index.html; `devloop up --target
kubernetes` (KUBECONFIG = the double's kubeconfig) runs with a live_update sync of www/ and a port forward. Each
round writes a new page and polls the port forward until it is served.

Measured in the same run, against the same pod:
- raw exec round trip: `true` through ``kubernetes.stream`` (websocket handshake + exec + status);
- raw copy: a one-file tar streamed into ``tar -x`` through exec (what a live update's copy is at the floor);
- API GET round trip: ``GET /version`` on a kept-alive connection (the engine's status check before a live
  update is three such calls: the workload, its pods, its ReplicaSets);
- forward fetch: one HTTP GET of the unchanged page through devloop's port forward (a new connection each
  time, like every poll);
- devloop's copy step: from its own log lines ("live update of ... in N ms": the exec of `tar -x`).

Goal: median save -> served <= 400 ms. Everything is cleaned up: `devloop down`, the double, the temp folder.

Usage: .venv/bin/python bench/kube_live_update.py [--edits 50] [--debounce-ms 50] [--registry 127.0.0.1:5001]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DEVLOOP = [sys.executable, "-m", "devloop"]

from common import fetch, free_port, pct, stop_devloop, write_httpd_project  # noqa: E402  (bench/ is on sys.path)


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.monotonic()
        fn()
        out.append(1000 * (time.monotonic() - started))
    return out


def raw_exec(core: Any, namespace: str, pod: str, argv: list[str], stdin: bytes | None = None) -> str:
    """One exec through kubernetes.stream, to its end; returns the error channel (the Status)."""
    from kubernetes.stream import stream

    ws = stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        namespace,
        container="web",
        command=argv,
        stdin=stdin is not None,
        stdout=True,
        stderr=True,
        tty=False,
        _preload_content=False,
        binary=True,
    )
    try:
        if stdin is not None:
            ws.write_stdin(stdin)
            ws.close_channel(0)
        while ws.is_open():
            ws.update(timeout=1)
        raw = ws.read_channel(3)
        return raw.decode() if isinstance(raw, bytes) else str(raw)
    finally:
        ws.close()


def one_file_tar(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def report(label: str, values: list[float]) -> str:
    return f"{label:<26} median {statistics.median(values):6.1f} ms   p90 {pct(values, 0.9):6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--raw", type=int, default=30, help="rounds of each raw measurement")
    parser.add_argument("--debounce-ms", type=int, default=50)
    parser.add_argument("--registry", default=os.environ.get("DEVLOOP_TEST_REGISTRY", "127.0.0.1:5001"))
    parser.add_argument(
        "--nagle",
        action="store_true",
        help="leave Nagle's algorithm on in the double's HTTP server (its default): every API call then waits "
        "~40 ms for a delayed ACK, which a real API server (Go sets TCP_NODELAY) does not",
    )
    args = parser.parse_args()
    import docker
    from kubernetes import client, config

    from tests.kube_double.server import Handler, start_double

    # The double writes a response's headers and body in two writes; with Nagle's algorithm on, the body waits for
    # the client's delayed ACK (~40 ms) on every request of a kept-alive connection. A real API server (Go's net/http)
    # sets TCP_NODELAY, so by default the bench does too, to measure devloop rather than the double.
    Handler.disable_nagle_algorithm = not args.nagle
    docker_client = docker.from_env()
    double = start_double(args.registry, docker_client=docker_client)
    tmp = Path(tempfile.mkdtemp(prefix="devloop-bench-kube-live-"))
    name = f"bench-kube-live-{os.getpid()}"
    port = free_port()
    root = tmp / "project"
    write_httpd_project(
        root,
        name,
        "bench/kube-live",
        port,
        args.debounce_ms,
        extra_config=f"kubernetes: {{context: {double.context}, namespace: {name}}}\n",
    )
    env = {**os.environ, "KUBECONFIG": str(double.kubeconfig_path), "PYTHONPATH": str(REPO)}
    env.pop("DEVLOOP_TARGET", None)
    url = f"http://127.0.0.1:{port}/index.html"
    lines: list[str] = []
    served: list[float] = []
    raw_true: list[float] = []
    raw_copy: list[float] = []
    forward: list[float] = []
    api_get: list[float] = []
    proc = subprocess.Popen(
        [*DEVLOOP, "-f", str(root), "--target", "kubernetes", "up", "--no-tui"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    out = proc.stdout
    reader = threading.Thread(target=lambda: lines.extend(iter(out.readline, "")), daemon=True)
    reader.start()
    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(double.kubeconfig_path), context=double.context, client_configuration=configuration
    )
    try:
        deadline = time.monotonic() + 180
        while "start" not in fetch(url, 2.0):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("devloop up did not become ready:\n" + "".join(lines))
            time.sleep(0.1)
        page = root / "www" / "index.html"
        for i in range(args.edits):
            token = f"edit {i} {time.time()}"
            started = time.monotonic()
            page.write_text(token + "\n")
            while token not in fetch(url, 2.0):
                if time.monotonic() - started > 15:
                    raise SystemExit(f"edit {i} not served after 15 s:\n" + "".join(lines[-20:]))
                time.sleep(0.002)
            served.append(1000 * (time.monotonic() - started))
            time.sleep(0.3)
        forward = timed(lambda: fetch(url, 2.0), args.raw)
        api: Any = client.ApiClient(configuration)
        core: Any = client.CoreV1Api(api)
        pods = core.list_namespaced_pod(name, label_selector=f"devloop.dev/project={name}").items
        pod = str(next(p.metadata.name for p in pods if p.metadata.deletion_timestamp is None))

        def exec_true() -> None:
            # a fresh CoreV1Api each time, as devloop does (kubernetes.stream patches the client it is given)
            status = raw_exec(client.CoreV1Api(client.ApiClient(configuration)), name, pod, ["true"])
            assert "Success" in status, status

        counter = iter(range(1_000_000))

        def exec_copy() -> None:
            archive = one_file_tar("www/raw.html", f"raw {next(counter)}\n".encode())
            api = client.CoreV1Api(client.ApiClient(configuration))
            status = raw_exec(api, name, pod, ["tar", "-x", "-f", "-", "-C", "/"], archive)
            assert "Success" in status, status

        version = client.VersionApi(api)
        api_get = timed(version.get_code, args.raw)
        raw_true = timed(exec_true, args.raw)
        raw_copy = timed(exec_copy, args.raw)
        api.close()
    finally:
        stop_devloop(proc)
        subprocess.run(
            [*DEVLOOP, "-f", str(root), "--target", "kubernetes", "down", "--delete-namespaces", "--prune-images"],
            capture_output=True,
            env=env,
            timeout=180,
        )
        double.stop()
        docker_client.close()
        shutil.rmtree(tmp, ignore_errors=True)
    copy_ms = [float(m.group(1)) for line in lines if (m := re.search(r"live update of .* in (\d+) ms", line))]
    nagle = "on (the double's default)" if args.nagle else "off (TCP_NODELAY, like a real API server)"
    print(f"edits: {len(served)}, debounce {args.debounce_ms} ms, raw rounds {args.raw}, Nagle in the double {nagle}")
    print(report("save -> served:", served) + "   (goal: median <= 400 ms)")
    print(report("raw exec `true`:", raw_true))
    print(report("raw copy (tar -x, exec):", raw_copy))
    print(report("API GET round trip:", api_get))
    print(report("fetch via port forward:", forward))
    if copy_ms:
        print(report("devloop's copy step:", copy_ms) + "   (from its log lines)")
        status = 3 * statistics.median(api_get)
        rest = statistics.median(served) - args.debounce_ms - status - statistics.median(copy_ms)
        print(
            f"breakdown of the median: debounce {args.debounce_ms} ms + status check ~{status:.0f} ms (3 API GETs)"
            f" + copy {statistics.median(copy_ms):.0f} ms + watcher, decision, scheduling and the polls through"
            f" the forward {rest:.0f} ms"
        )


if __name__ == "__main__":
    main()
