"""bench/dashboard: a chatty container under `devloop up`, and a dashboard of 300 resources.

Part ``logs`` (the real `devloop up` on the docker target): one busybox container prints ``--rate`` numbered
lines per second (default 20,000) for ``--seconds`` (default 10). The generator is one busybox ``awk``
process that writes a tenth of a second's lines at once, sleeps with ``usleep`` and realigns on every wall
clock second (a shell loop reaches only a few thousand lines per second); the rate it really achieved is
read back from Docker's own timestamps of the lines. Two runs:

1. ``devloop up --no-tui`` into a pipe, and ``devloop logs chatty -f`` at the same time: every sequence
   number must arrive in both (lost, duplicated, out of order are counted);
2. ``devloop up --tui`` in a pseudo-terminal of 100x30 (its output read and counted: every frame starts with
   the cursor-home sequence), with ``devloop logs chatty -f`` again: frames per second during the burst, the
   "older lines dropped" note, and q exits 0.

Both report the RSS of the devloop process before the burst, at its peak and after, and its CPU time.

Part ``scale`` (in process, no Docker: 300 real containers are too heavy for a 2-core machine): the real
Engine on the FakeTarget with an instant builder, and the real Dashboard drawing at 10 frames per second to
a 100x30 terminal that discards its output, while a thread writes ``--log-rate`` log lines per second spread
over all resources. For 3 and for ``--resources`` resources: the time to build and render one frame, the
time to handle a key, frames drawn per second, and the latency from ``t`` (trigger) on the last resource of
the table to that resource being ready again after its update.

Usage: .venv/bin/python bench/dashboard.py [--part logs|scale|all] [--rate 20000] [--seconds 10]
       [--resources 300] [--triggers 30]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import pty
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from common import cpu_seconds  # bench/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parent.parent
DEVLOOP = [sys.executable, "-m", "devloop"]
SEQ = re.compile(rb"seq=(\d{7}) ")
PAYLOAD = "the quick brown fox jumps over the lazy dog 0123456789"

GEN_SH = """#!/bin/sh
echo "chatty waiting for /go"
while [ ! -e /go ]; do usleep 100000; done
awk -v rate="$RATE" -v secs="$SECS" -v pad="$PAD" -f /gen.awk
while true; do sleep 3600; done
"""

# Ten chunks per second, each written at once (fflush); then wait for the next wall-clock second, so each
# second carries `rate` lines as long as writing them takes less than a second.
GEN_AWK = """BEGIN {
    chunk = int(rate / 10); n = 0
    s = systime(); while (systime() == s) system("usleep 2000")
    for (sec = 0; sec < secs; sec++) {
        start = systime()
        for (c = 0; c < 10; c++) {
            for (i = 0; i < chunk; i++) { n++; printf "seq=%07d %s\\n", n, pad }
            fflush()
            if (c < 9) system("usleep 85000")
        }
        while (systime() == start) system("usleep 2000")
    }
    printf "generator done: %d lines\\n", n
    fflush()
}
"""


# ------------------------------------------------------------------------------------------------ helpers


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in values:
                values[key] = int(line.split()[1]) / 1024
    return values["VmRSS"], values["VmHWM"]


def devloop_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DEVLOOP_TARGET"}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


@dataclass
class Counter:
    """Sequence numbers seen by one reader of devloop's output."""

    total: int
    seen: bytearray = field(init=False)
    count: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    last: int = 0
    first_at: float = 0.0
    last_at: float = 0.0
    dropped_notes: list[str] = field(default_factory=list)
    lines: int = 0

    def __post_init__(self) -> None:
        self.seen = bytearray(self.total + 1)

    def feed(self, line: bytes) -> None:
        self.lines += 1
        match = SEQ.search(line)
        if match is None:
            if b"dropped" in line:
                self.dropped_notes.append(line.decode(errors="replace").strip())
            return
        n = int(match.group(1))
        now = time.monotonic()
        if not self.first_at:
            self.first_at = now
        self.last_at = now
        if n > self.total:
            return
        if self.seen[n]:
            self.duplicates += 1
            return
        self.seen[n] = 1
        self.count += 1
        if n < self.last:
            self.out_of_order += 1
        self.last = n

    def missing(self) -> list[int]:
        return [i for i in range(1, self.total + 1) if not self.seen[i]]

    def report(self, label: str) -> str:
        missing = self.missing()
        span = self.last_at - self.first_at
        rate = f"{self.count / span:,.0f} lines/s received" if span > 0 else "-"
        where = f" (first missing: {missing[:5]})" if missing else ""
        notes = f"; notes: {self.dropped_notes[:2]}" if self.dropped_notes else ""
        return (
            f"  {label:<22} {self.count:>9,} of {self.total:,}  lost {len(missing):,}{where}  "
            f"duplicated {self.duplicates}  out of order {self.out_of_order}  ({rate}){notes}"
        )


def read_lines(stream: IO[bytes], counter: Counter, keep: list[bytes] | None = None) -> threading.Thread:
    def run() -> None:
        for line in stream:
            counter.feed(line)
            if keep is not None and len(keep) < 200 and SEQ.search(line) is None:
                keep.append(line)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


class Sampler:
    """RSS of a process every 0.1 s."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.samples.append((time.monotonic(), rss_mb(self.pid)[0]))

    def peak(self, start: float, end: float) -> float:
        return max((rss for t, rss in self.samples if start <= t <= end), default=0.0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------------------------------------ part logs


def write_chatty_project(root: Path, name: str, rate: int, seconds: int) -> None:
    sys.path.insert(0, str(REPO))
    from tests.support.images import write_busybox_context

    write_busybox_context(
        root / "chatty",
        ["COPY gen.sh gen.awk /"],
        {"gen.sh": GEN_SH, "gen.awk": GEN_AWK},
    )
    env = [
        {"name": "RATE", "value": str(rate)},
        {"name": "SECS", "value": str(seconds)},
        {"name": "PAD", "value": PAYLOAD},
    ]
    (root / "k8s.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: chatty}\nspec:\n"
        "  selector: {matchLabels: {app: chatty}}\n  template:\n    metadata: {labels: {app: chatty}}\n"
        "    spec:\n      terminationGracePeriodSeconds: 0\n      containers:\n        - name: chatty\n"
        f"          image: {name}/chatty\n          command: [sh, /gen.sh]\n          env: {json.dumps(env)}\n"
    )
    (root / "devloop.yaml").write_text(
        f"version: 1\nname: {name}\nmanifests: [k8s.yaml]\nimages:\n  - ref: {name}/chatty\n    context: chatty\n"
    )


def chatty_container(client: Any, name: str) -> Any:
    found = client.containers.list(
        filters={"label": [f"devloop.dev/project={name}", "devloop.dev/resource=chatty", "devloop.dev/role=app"]}
    )
    if len(found) != 1:
        raise SystemExit(f"expected one chatty container, found {len(found)}")
    return found[0]


def container_rate(container: Any) -> tuple[int, float, list[int]]:
    """(lines, seconds from the first to the last numbered line, lines in each wall-clock second) by
    Docker's own timestamps."""
    raw: bytes = container.logs(stdout=True, stderr=True, timestamps=True)
    stamps: list[float] = []
    per_second: dict[int, int] = {}
    from datetime import datetime

    for line in raw.splitlines():
        if SEQ.search(line) is None:
            continue
        stamp = line.split(b" ", 1)[0].decode()
        main, _, frac = stamp.rstrip("Z").partition(".")
        t = datetime.fromisoformat(main + "+00:00").timestamp() + float("0." + (frac or "0"))
        stamps.append(t)
        per_second[int(t)] = per_second.get(int(t), 0) + 1
    if not stamps:
        return 0, 0.0, []
    return len(stamps), stamps[-1] - stamps[0], [per_second[k] for k in sorted(per_second)]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def _printed_or_exited(counter: Counter, proc: subprocess.Popen[bytes]) -> Callable[[], bool]:
    return lambda: counter.lines > 0 or proc.poll() is not None


def start_logs_follower(root: Path, counter: Counter) -> tuple[subprocess.Popen[bytes], threading.Thread]:
    """`devloop logs chatty -f`, started once `up` answers; returns when it printed its first line."""
    argv = [*DEVLOOP, "-f", str(root), "logs", "chatty", "-f"]
    deadline = time.monotonic() + 30
    while True:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=devloop_env())
        assert proc.stdout is not None
        thread = read_lines(proc.stdout, counter)
        try:
            wait_until(_printed_or_exited(counter, proc), 30, "devloop logs -f to print")
        except SystemExit:
            proc.kill()
            raise
        if counter.lines > 0:
            return proc, thread
        if time.monotonic() > deadline:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise SystemExit(f"devloop logs -f did not connect: {err}")
        time.sleep(0.2)


def burst(client: Any, name: str, pid: int, counters: list[Counter], total: int, seconds: int) -> dict[str, float]:
    """Start the generator, wait until every counter has every line (or no progress for 20 s)."""
    sampler = Sampler(pid)
    time.sleep(1.0)
    before = rss_mb(pid)[0]
    cpu_before = cpu_seconds(pid)
    start = time.monotonic()
    chatty_container(client, name).exec_run(["touch", "/go"])
    last_progress = (time.monotonic(), -1)
    while True:
        got = sum(c.count for c in counters)
        if all(c.count >= total for c in counters):
            break
        if got != last_progress[1]:
            last_progress = (time.monotonic(), got)
        elif time.monotonic() - last_progress[0] > 20 and time.monotonic() - start > seconds + 5:
            break
        time.sleep(0.1)
    done = time.monotonic()
    cpu = cpu_seconds(pid) - cpu_before
    time.sleep(2.0)
    after = rss_mb(pid)[0]
    peak = sampler.peak(start, time.monotonic())
    sampler.stop()
    return {"start": start, "done": done, "rss_before": before, "rss_peak": peak, "rss_after": after, "cpu": cpu}


def run_plain(root: Path, name: str, client: Any, rate: int, seconds: int) -> None:
    total = rate * seconds
    plain = Counter(total)
    follow = Counter(total)
    other: list[bytes] = []
    argv = [*DEVLOOP, "-f", str(root), "--target", "docker", "up", "--no-tui"]
    up = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=devloop_env(), start_new_session=True
    )
    assert up.stdout is not None
    reader = read_lines(up.stdout, plain, other)
    logs: subprocess.Popen[bytes] | None = None
    try:
        wait_until(
            lambda: any(b"chatty waiting for /go" in line for line in other) or up.poll() is not None,
            180,
            "the chatty container to start",
        )
        if up.poll() is not None:
            raise SystemExit("devloop up exited:\n" + b"".join(other).decode(errors="replace"))
        logs, _ = start_logs_follower(root, follow)
        figures = burst(client, name, up.pid, [plain, follow], total, seconds)
        lines, span, seconds_counts = container_rate(chatty_container(client, name))
        print(f"1. devloop up --no-tui into a pipe + devloop logs chatty -f ({rate:,}/s asked for {seconds} s)")
        print(
            f"  container wrote {lines:,} lines in {span:.2f} s by Docker's timestamps: "
            f"{lines / span if span else 0:,.0f} lines/s from first to last; per wall-clock second: {seconds_counts}"
        )
        print(plain.report("plain output (pipe)"))
        print(follow.report("devloop logs -f"))
        print(
            f"  all received {figures['done'] - figures['start']:.1f} s after the start; devloop up RSS "
            f"{figures['rss_before']:.0f} MB before, {figures['rss_peak']:.0f} MB peak, "
            f"{figures['rss_after']:.0f} MB after; CPU {figures['cpu']:.1f} s"
        )
    finally:
        if logs is not None:
            logs.kill()
            logs.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(up.pid, signal.SIGINT)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        reader.join(timeout=5)


class Pty:
    """A process on a pseudo-terminal of a fixed size; its output is read and frames counted."""

    HOME = b"\x1b[H"
    NOTE = re.compile(rb"(\d+) older lines? dropped")

    def __init__(self, argv: list[str], width: int, height: int, env: dict[str, str], stderr: IO[bytes]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=stderr, env=env, start_new_session=True)
        os.close(slave)
        self.master = master
        self.frames: list[float] = []  # when each frame began arriving
        self.tail = b""
        self.text = b""
        self.max_dropped = 0
        self.bytes = 0
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            now = time.monotonic()
            self.bytes += len(chunk)
            data = self.tail + chunk
            self.frames.extend([now] * (data.count(self.HOME) - self.tail.count(self.HOME)))
            for match in self.NOTE.finditer(data):
                self.max_dropped = max(self.max_dropped, int(match.group(1)))
            self.tail = data[-200:]
            self.text = (self.text + chunk)[-20000:]

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> None:
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            os.close(self.master)


def run_tui(root: Path, name: str, client: Any, rate: int, seconds: int) -> None:
    total = rate * seconds
    follow = Counter(total)
    argv = [*DEVLOOP, "-f", str(root), "--target", "docker", "up", "--tui"]
    with tempfile.TemporaryFile() as stderr:
        term = Pty(argv, 100, 30, devloop_env({"TERM": "xterm-256color"}), stderr)
        up = term.proc
        logs: subprocess.Popen[bytes] | None = None
        try:
            wait_until(
                lambda: b"chatty waiting for /go" in term.text or up.poll() is not None,
                180,
                "the chatty container to start (dashboard)",
            )
            if up.poll() is not None:
                stderr.seek(0)
                raise SystemExit("devloop up --tui exited: " + stderr.read().decode(errors="replace"))
            logs, _ = start_logs_follower(root, follow)
            figures = burst(client, name, up.pid, [follow], total, seconds)
            start, done = figures["start"], figures["done"]
            first = follow.first_at or start  # the generator waits for the next wall-clock second to begin
            per_second: dict[int, int] = {}
            for t in term.frames:
                if first <= t < first + seconds:
                    per_second[int(t - first)] = per_second.get(int(t - first), 0) + 1
            counts = [per_second.get(i, 0) for i in range(seconds)]
            term.send(b"q")
            code = up.wait(timeout=60)
            print(f"2. devloop up --tui in a 100x30 pty + devloop logs chatty -f ({rate:,}/s asked for {seconds} s)")
            print(follow.report("devloop logs -f"))
            print(
                f"  frames per second during the burst: min {min(counts)}, max {max(counts)}, "
                f"mean {statistics.mean(counts):.1f} (every second: {counts})"
            )
            print(
                f"  dropped-lines note: up to {term.max_dropped:,} older lines dropped (the buffer keeps 5,000 "
                f"per resource); {term.bytes / 1e6:.1f} MB written to the terminal in all"
            )
            print(
                f"  all received by logs -f {done - start:.1f} s after the start; devloop up RSS "
                f"{figures['rss_before']:.0f} MB before, {figures['rss_peak']:.0f} MB peak, "
                f"{figures['rss_after']:.0f} MB after; CPU {figures['cpu']:.1f} s; q -> exit code {code}"
            )
        finally:
            if logs is not None:
                logs.kill()
                logs.wait()
            if up.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(up.pid, signal.SIGINT)
                try:
                    up.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(up.pid, signal.SIGKILL)
                    up.wait()
            term.close()


def part_logs(rate: int, seconds: int) -> None:
    import docker

    client = docker.from_env()
    tmp = Path(tempfile.mkdtemp(prefix="devloop-bench-dash-"))
    name = f"bench-chatty-{os.getpid()}"
    root = tmp / "project"
    root.mkdir()
    write_chatty_project(root, name, rate, seconds)

    def down() -> None:
        subprocess.run(
            [*DEVLOOP, "-f", str(root), "--target", "docker", "down"],
            env=devloop_env(),
            capture_output=True,
            check=False,
        )

    try:
        run_plain(root, name, client, rate, seconds)
        down()  # a fresh container for the second run (it would otherwise not print again)
        run_tui(root, name, client, rate, seconds)
    finally:
        subprocess.run(
            [*DEVLOOP, "-f", str(root), "--target", "docker", "down", "--prune-images"],
            env=devloop_env(),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ part scale


class NullFile:
    """A terminal that discards what it is sent (and counts it)."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, text: str) -> int:
        self.written += len(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


def scale_project(root: Path, n: int) -> Any:
    sys.path.insert(0, str(REPO))
    from devloop.config.model import Config, ImageSpec, ResourceSettings
    from devloop.config.resources import assemble

    names = [f"svc-{i:03d}" for i in range(n)]
    images = tuple(
        ImageSpec(ref=f"bench/{name}", context=root / name, dockerfile=root / name / "Dockerfile") for name in names
    )
    settings = tuple((name, ResourceSettings(labels=(f"team-{i % 10}",))) for i, name in enumerate(names))
    config = Config(path=root / "devloop.yaml", name="scale", images=images, resources=settings)
    from tests.support.docker_target import simple_deployment

    objects = [simple_deployment(name, f"bench/{name}") for name in names]
    return assemble(config, objects)


@contextlib.contextmanager
def running_engine(n: int, log_rate: int) -> Iterator[tuple[Any, Any, Any]]:
    from rich.console import Console

    from devloop.build.fake import FakeBuilder
    from devloop.engine.logstore import LogSink, LogStore
    from devloop.engine.loop import Engine, EngineOptions
    from devloop.engine.state import Status
    from devloop.targets.fake import FakeTarget
    from devloop.ui.dashboard import Dashboard

    root = Path(tempfile.mkdtemp(prefix="devloop-bench-scale-"))
    store = LogStore()
    builder = FakeBuilder(lines=("Successfully built {ref}",))
    engine = Engine(scale_project(root, n), FakeTarget(), builder, LogSink(store), EngineOptions(watch=False))
    console = Console(file=NullFile(), width=100, height=30, force_terminal=True, color_system="256")  # type: ignore[arg-type]
    dashboard = Dashboard(engine.snapshot, store, engine.trigger, engine.stop, console, None)
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(engine.run()), daemon=True)
    runner.start()
    stop = threading.Event()
    names = [f"svc-{i:03d}" for i in range(n)]

    def chatter() -> None:  # log_rate lines per second over all resources, in batches every 10 ms
        i = 0
        per_batch = max(1, log_rate // 100)
        while not stop.wait(0.01):
            for _ in range(per_batch):
                i += 1
                store.append(names[i % n], f"request {i} handled in 1.2 ms")

    wait_until(lambda: all(v.status is Status.READY for v in engine.snapshot().resources), 300, f"{n} resources ready")
    for name in names:  # a realistic backlog: 1,000 lines in every resource's buffer
        for j in range(1000):
            store.append(name, f"backlog line {j}")
    dashboard.start()
    talker = threading.Thread(target=chatter, daemon=True)
    talker.start()
    try:
        yield engine, dashboard, store
    finally:
        stop.set()
        talker.join()
        dashboard.stop()
        engine.stop()
        runner.join(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def trigger_latencies(engine: Any, trigger: Callable[[], None], name: str, count: int) -> list[float]:
    """Seconds from a trigger to the resource being ready again after that update (``count`` times)."""
    from devloop.engine.state import Status

    latencies = []
    for _ in range(count):
        before = engine.snapshot().resource(name)
        finished = before.last_update.finished_at if before.last_update else 0.0
        t0 = time.perf_counter()
        trigger()
        while True:
            view = engine.snapshot().resource(name)
            if view.status is Status.READY and view.last_update and view.last_update.finished_at != finished:
                break
            if time.perf_counter() - t0 > 30:
                raise SystemExit(f"{name} not ready 30 s after a trigger")
            time.sleep(0.001)
        latencies.append(time.perf_counter() - t0)
        time.sleep(0.2)
    return latencies


def measure_scale(n: int, triggers: int, log_rate: int) -> dict[str, Any]:
    from rich.console import Console

    with running_engine(n, log_rate) as (engine, dashboard, store):
        time.sleep(1.0)
        # one frame, built and rendered to text as the refresh thread does (median of 50)
        sink = Console(file=NullFile(), width=100, height=30, force_terminal=True, color_system="256")  # type: ignore[arg-type]
        frame_times = []
        for _ in range(50):
            t0 = time.perf_counter()
            sink.print(dashboard.frame(100, 30))
            frame_times.append(time.perf_counter() - t0)
        key_times = []
        for key in ["j"] * 20 + ["k"] * 20:
            t0 = time.perf_counter()
            dashboard.handle_key(key)
            key_times.append(time.perf_counter() - t0)
        dashboard.handle_key("end")  # the last row of the table
        name = dashboard.ui.selected
        frames_before, t_frames = dashboard.frames, time.monotonic()
        latencies = trigger_latencies(engine, lambda: dashboard.handle_key("t"), name, triggers)
        fps = (dashboard.frames - frames_before) / (time.monotonic() - t_frames)
        dashboard.stop()  # the same triggers without a dashboard: what the engine alone takes
        alone = trigger_latencies(engine, lambda: engine.trigger(name), name, triggers)
        errors = list(dashboard.errors)
        lines = store.last_seq
    return {
        "frame": statistics.median(frame_times),
        "frame_p90": pct(frame_times, 0.9),
        "key": statistics.median(key_times),
        "trigger": statistics.median(latencies),
        "trigger_p90": pct(latencies, 0.9),
        "alone": statistics.median(alone),
        "fps": fps,
        "errors": errors,
        "lines": lines,
    }


def part_scale(resources: int, triggers: int, log_rate: int) -> None:
    print(
        f"3. in process: Engine + FakeTarget + Dashboard (100x30, 10 fps), {log_rate:,} log lines/s spread over "
        f"all resources, 1,000 lines of backlog each; {triggers} triggers of the last row"
    )
    print(
        f"  {'resources':>9}  {'frame (median/p90)':>20}  {'key':>8}  {'trigger -> ready (median/p90)':>30}  "
        f"{'without dashboard':>17}  fps"
    )
    for n in (3, resources):
        r = measure_scale(n, triggers, log_rate)
        print(
            f"  {n:>9}  {ms(r['frame']):>9} / {ms(r['frame_p90']):>8}  {r['key'] * 1e6:>5.0f} µs  "
            f"{ms(r['trigger']):>14} / {ms(r['trigger_p90']):>13}  {ms(r['alone']):>17}  {r['fps']:.1f}"
            + (f"  dashboard errors: {r['errors']}" if r["errors"] else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["logs", "scale", "all"], default="all")
    parser.add_argument("--rate", type=int, default=20000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--resources", type=int, default=300)
    parser.add_argument("--triggers", type=int, default=30)
    parser.add_argument("--log-rate", type=int, default=2000)
    args = parser.parse_args()
    if args.part in ("logs", "all"):
        part_logs(args.rate, args.seconds)
    if args.part in ("scale", "all"):
        part_scale(args.resources, args.triggers, args.log_rate)


if __name__ == "__main__":
    main()
