"""bench/rebuild_cycle: inside a running `devloop up`, an edit that needs a rebuild, until the new container answers.

A one-service project: a Python http.server image (``FROM python:3.12-slim``, ``COPY www /www``) with an HTTP
readiness probe and a port forward, no live update, so every edit of www/index.html means build + replace the
pod. Each round writes a new page and times, in the same run:

  devloop:  file write -> the page served through devloop's port forward (`devloop up` on the docker target:
            debounce, digest, build, replace the pod, readiness, forward)
  raw:      the same edit in a copy of the project, then `docker build` (BuildKit) + `docker rm -f` of the old
            container + `docker run -d` + polling the new container's address until it answers the new page

Rounds alternate which side goes first. Reports medians, the ratio devloop / raw (goal <= 1.15) and the load
average. Everything it creates (containers, networks, images, temp folder) is removed at the end.

Usage: .venv/bin/python bench/rebuild_cycle.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import fetch, free_port, pct, stop_devloop  # bench/ is on sys.path when run as a script

DEVLOOP = [sys.executable, "-m", "devloop"]
DOCKER_BUILDKIT_CLI = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
BASE_IMAGE = "python:3.12-slim"
LABEL = "devloop-bench-rebuild=1"

DOCKERFILE = f"""FROM {BASE_IMAGE}
COPY www /www
CMD ["python", "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", "/www"]
"""

MANIFEST = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: bench/rebuild
          ports: [{containerPort: 8080}]
          readinessProbe:
            httpGet: {path: /, port: 8080}
            periodSeconds: 1
"""


def write_project(folder: Path, name: str, port: int) -> None:
    (folder / "www").mkdir(parents=True)
    (folder / "www" / "index.html").write_text("start\n")
    (folder / "Dockerfile").write_text(DOCKERFILE)
    (folder / "k8s.yaml").write_text(MANIFEST)
    (folder / "devloop.yaml").write_text(
        f"version: 1\nname: {name}\nmanifests: [k8s.yaml]\nimages:\n  - ref: bench/rebuild\n"
        f"resources:\n  web:\n    port_forwards: ['{port}:8080']\n"
    )


def run(argv: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip()


def wait_for(url: str, token: str, started: float, what: str, timeout: float = 60) -> float:
    while token not in fetch(url, timeout=1.0):
        if time.monotonic() - started > timeout:
            raise SystemExit(f"{what}: {token!r} not served by {url} after {timeout:.0f} s")
        time.sleep(0.005)
    return time.monotonic() - started


class Raw:
    """The raw docker commands of the same cycle, on a copy of the project."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.container: str | None = None
        self.tags: list[str] = []
        self.env = {**os.environ, "DOCKER_BUILDKIT": "1"}

    def cycle(self, round_no: int, token: str) -> float:
        tag = f"devloop-bench-rebuild-raw:{round_no}"
        started = time.monotonic()
        (self.folder / "www" / "index.html").write_text(token + "\n")
        run([DOCKER_BUILDKIT_CLI, "build", "-q", "-t", tag, str(self.folder)], env=self.env)
        self.tags.append(tag)
        if self.container is not None:
            run(["docker", "rm", "-f", self.container])
        self.container = run(["docker", "run", "-d", "--label", LABEL, tag])
        ip = run(
            ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", self.container]
        )
        return wait_for(f"http://{ip}:8080/", token, started, "raw")

    def clean(self) -> None:
        ids = run(["docker", "ps", "-aq", "--filter", f"label={LABEL}"]).split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
        for tag in self.tags:
            subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if subprocess.run(["docker", "image", "inspect", BASE_IMAGE], capture_output=True).returncode != 0:
        raise SystemExit(f"the base image {BASE_IMAGE} is not on the Docker engine")
    tmp = Path(tempfile.mkdtemp(prefix="devloop-bench-rebuild-"))
    name = f"bench-rebuild-{os.getpid()}"
    port = free_port()
    root, raw_root = tmp / "devloop", tmp / "raw"
    write_project(root, name, port)
    write_project(raw_root, name, port)
    url = f"http://127.0.0.1:{port}/"
    lines: list[str] = []
    proc = subprocess.Popen(
        [*DEVLOOP, "-f", str(root), "--target", "docker", "up", "--no-tui", "--no-web"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    raw = Raw(raw_root)
    dl_times: list[float] = []
    raw_times: list[float] = []
    loads: list[float] = []
    try:
        wait_for(url, "start", time.monotonic(), "devloop up (first deploy)", timeout=120)
        raw.cycle(0, "start")  # both sides start with a running container
        time.sleep(1.0)
        for i in range(1, args.rounds + 1):
            loads.append(os.getloadavg()[0])
            sides = ["devloop", "raw"] if i % 2 else ["raw", "devloop"]
            for side in sides:
                token = f"round {i} {side} {time.time()}"
                if side == "raw":
                    raw_times.append(raw.cycle(i, token))
                else:
                    started = time.monotonic()
                    (root / "www" / "index.html").write_text(token + "\n")
                    try:
                        dl_times.append(wait_for(url, token, started, "devloop"))
                    except SystemExit:
                        print("".join(lines[-30:]), file=sys.stderr)
                        raise
                time.sleep(1.0)  # let the other side's leftovers (removals, polls) settle
    finally:
        stop_devloop(proc)
        subprocess.run([*DEVLOOP, "-f", str(root), "--target", "docker", "down", "--prune-images"], capture_output=True)
        raw.clean()
        shutil.rmtree(tmp, ignore_errors=True)
    dl_m, raw_m = statistics.median(dl_times), statistics.median(raw_times)
    print(f"rounds: {len(dl_times)}; load average (1 min) during the rounds: {min(loads):.1f}-{max(loads):.1f}")
    print(
        f"raw build + rm -f + run + answer:   median {raw_m:.2f} s  p90 {pct(raw_times, 0.9):.2f} s  "
        f"({', '.join(f'{t:.2f}' for t in raw_times)})"
    )
    print(
        f"devloop up, write -> new page:     median {dl_m:.2f} s  p90 {pct(dl_times, 0.9):.2f} s  "
        f"({', '.join(f'{t:.2f}' for t in dl_times)})"
    )
    print(f"ratio devloop / raw (medians): {dl_m / raw_m:.2f}  (goal <= 1.15)")


if __name__ == "__main__":
    main()
