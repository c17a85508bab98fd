"""bench/live_update: save -> served latency of a live update on the docker target.

A busybox httpd container serves www/index.html; `devloop up` runs with a live_update sync of www/ and a
port forward. Each round writes a new page and polls the port forward until it is served. In the same run
the raw floor is measured: the Engine API archive upload of the same file into the same container.
Reports median and p90 of save -> served, the raw upload, and what devloop's own log says the copy took,
so we know how close to the floor we are. Goal: median <= 120 ms with the default debounce (50 ms).

Usage: .venv/bin/python bench/live_update.py [--edits 50] [--debounce-ms 50]
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
from pathlib import Path

from common import (  # bench/ is on sys.path when run as a script
    fetch,
    free_port,
    pct,
    stop_devloop,
    write_httpd_project,
)

DEVLOOP = [sys.executable, "-m", "devloop"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--debounce-ms", type=int, default=50)
    args = parser.parse_args()
    import docker

    tmp = Path(tempfile.mkdtemp(prefix="devloop-bench-live-"))
    name = f"bench-live-{os.getpid()}"
    port = free_port()
    root = tmp / "project"
    write_httpd_project(root, name, "bench/live", port, args.debounce_ms)
    url = f"http://127.0.0.1:{port}/index.html"
    lines: list[str] = []
    proc = subprocess.Popen(
        [*DEVLOOP, "-f", str(root), "--target", "docker", "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    client = docker.from_env()
    served: list[float] = []
    raw: list[float] = []
    try:
        deadline = time.monotonic() + 120
        while "start" not in fetch(url):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("devloop up did not become ready:\n" + "".join(lines))
            time.sleep(0.1)
        for i in range(args.edits):
            token = f"edit {i} {time.time()}"
            page = root / "www" / "index.html"
            started = time.monotonic()
            page.write_text(token + "\n")
            while token not in fetch(url):
                if time.monotonic() - started > 10:
                    raise SystemExit(f"edit {i} not served after 10 s:\n" + "".join(lines[-20:]))
                time.sleep(0.002)
            served.append(time.monotonic() - started)
            time.sleep(0.25)
        (container,) = client.containers.list(
            filters={"label": [f"devloop.dev/project={name}", "devloop.dev/role=app"]}
        )
        for i in range(args.edits):
            data = f"raw {i}\n".encode()
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                info = tarfile.TarInfo("index.html")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            started = time.monotonic()
            container.put_archive("/www", buffer.getvalue())
            raw.append(time.monotonic() - started)
    finally:
        stop_devloop(proc, 15)
        subprocess.run([*DEVLOOP, "-f", str(root), "--target", "docker", "down", "--prune-images"], capture_output=True)
        client.close()
        shutil.rmtree(tmp, ignore_errors=True)
    copy_ms = [float(m.group(1)) for line in lines if (m := re.search(r"live update of .* in (\d+) ms", line))]
    ms = [1000 * s for s in served]
    raw_ms = [1000 * s for s in raw]
    print(f"edits: {len(ms)}, debounce {args.debounce_ms} ms")
    print(
        f"save -> served:          median {statistics.median(ms):6.1f} ms   p90 {pct(ms, 0.9):6.1f} ms"
        f"   (goal: median <= 120 ms)"
    )
    print(f"raw archive upload:      median {statistics.median(raw_ms):6.1f} ms   p90 {pct(raw_ms, 0.9):6.1f} ms")
    if copy_ms:
        print(f"devloop's copy step:     median {statistics.median(copy_ms):6.1f} ms   (from its log lines)")
        rest = statistics.median(ms) - args.debounce_ms - statistics.median(copy_ms)
        print(
            f"breakdown of the median: debounce {args.debounce_ms} ms + copy {statistics.median(copy_ms):.0f} ms"
            f" + watcher, decision, scheduling and the HTTP poll {rest:.0f} ms"
        )


if __name__ == "__main__":
    main()
