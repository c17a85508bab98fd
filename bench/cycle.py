"""bench/cycle: a full build + run + ready cycle of a one-service project, devloop against raw docker.

In the same run, for a busybox httpd service whose page changes every round (so both sides really build):
  raw:      `docker build` (BuildKit) + `docker run -d` + poll until the container answers the new page
  devloop:  `devloop ci` (build + deploy on the docker target + readiness probe)   goal: ratio <= 1.10
  repeat:   a second `devloop ci` on the unchanged project                        goal: <= 25 % of the first,
                                                                                   zero builds
  --help:   `devloop --help`, median of 10                                         goal: < 150 ms
Everything it creates (containers, networks, images, temp folder) is removed at the end.

Usage: .venv/bin/python bench/cycle.py [--rounds N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEVLOOP = [sys.executable, "-m", "devloop"]
DOCKER_BUILDKIT_CLI = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"

DOCKERFILE = """FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY www /www
CMD ["/bin/httpd", "-f", "-p", "8080", "-h", "/www"]
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
          image: bench/web
          ports: [{containerPort: 8080}]
          readinessProbe:
            httpGet: {path: /, port: 8080}
            periodSeconds: 1
"""


def write_project(folder: Path, name: str) -> None:
    (folder / "www").mkdir(parents=True)
    shutil.copy2("/bin/busybox", folder / "busybox")
    (folder / "Dockerfile").write_text(DOCKERFILE)
    (folder / "k8s.yaml").write_text(MANIFEST)
    (folder / "devloop.yaml").write_text(
        f"version: 1\nname: {name}\nmanifests: [k8s.yaml]\nimages:\n  - ref: bench/web\n"
    )


def wait_http(url: str, expect: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if expect in response.read().decode():
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise SystemExit(f"no answer {expect!r} from {url}")


def run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result  # type: ignore[no-any-return]


def raw_cycle(folder: Path, tag: str, page: str) -> float:
    started = time.monotonic()
    run(
        [DOCKER_BUILDKIT_CLI, "build", "-q", "-t", tag, str(folder)],
        env={"DOCKER_BUILDKIT": "1", "PATH": "/usr/bin:/bin"},
    )
    cid = run(["docker", "run", "-d", "--label", "devloop-bench=1", tag]).stdout.strip()
    ip = run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", cid]
    ).stdout.strip()
    wait_http(f"http://{ip}:8080/", page)
    seconds = time.monotonic() - started
    run(["docker", "rm", "-f", cid])
    return seconds


def devloop_cycle(folder: Path) -> tuple[float, str]:
    started = time.monotonic()
    result = run([*DEVLOOP, "-f", str(folder), "--target", "docker", "ci", "--timeout", "2m"])
    return time.monotonic() - started, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="devloop-bench-"))
    name = f"bench-{int(time.time()) % 100000}"
    raw_times: list[float] = []
    first: list[float] = []
    second: list[float] = []
    rebuilt: list[bool] = []
    try:
        raw_dir, dl_dir = tmp / "raw", tmp / "devloop"
        write_project(raw_dir, name)
        write_project(dl_dir, name)
        for i in range(args.rounds):
            page = f"round {i} {time.time()}\n"
            (raw_dir / "www" / "index.html").write_text(page)
            (dl_dir / "www" / "index.html").write_text(page)
            raw_times.append(raw_cycle(raw_dir, f"devloop-bench-raw:{i}", page))
            seconds, _ = devloop_cycle(dl_dir)
            first.append(seconds)
            seconds, out = devloop_cycle(dl_dir)
            second.append(seconds)
            rebuilt.append("exporting to image" in out or "Successfully built" in out)
        helps = []
        for _ in range(10):
            started = time.monotonic()
            run([str(ROOT / ".venv" / "bin" / "devloop"), "--help"])
            helps.append(time.monotonic() - started)
    finally:
        subprocess.run(
            [*DEVLOOP, "-f", str(tmp / "devloop"), "--target", "docker", "down", "--prune-images"], capture_output=True
        )
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", "label=devloop-bench=1"], capture_output=True, text=True
        ).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
        for i in range(args.rounds):
            subprocess.run(["docker", "rmi", "-f", f"devloop-bench-raw:{i}"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    raw_m, first_m, second_m = (statistics.median(x) for x in (raw_times, first, second))
    print(f"rounds: {args.rounds}")
    print(f"raw docker build + run + HTTP answer: median {raw_m:.2f} s  ({', '.join(f'{t:.2f}' for t in raw_times)})")
    print(f"devloop ci (first, changed content):  median {first_m:.2f} s  ({', '.join(f'{t:.2f}' for t in first)})")
    print(f"ratio devloop / raw: {first_m / raw_m:.2f}  (goal <= 1.10)")
    print(
        f"devloop ci again, unchanged:          median {second_m:.2f} s  = {100 * second_m / first_m:.0f} % of the "
        f"first (goal <= 25 %); rebuilt in {sum(rebuilt)} of {len(rebuilt)} rounds (goal 0)"
    )
    print(f"devloop --help: median {1000 * statistics.median(helps):.0f} ms (goal < 150 ms)")


if __name__ == "__main__":
    main()
