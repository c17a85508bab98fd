"""bench/web: what the web UI costs `devloop up` while a service writes 20,000 log lines a second.

In a child process (standing in for `devloop up`): the real log store, and a thread appending ``--rate``
lines a second for ``--seconds`` (10 ms batches), as the engine's log followers do. Four runs, each in a
fresh child:

- ``none``: no web UI (the baseline: what storing the lines costs);
- ``idle``: the web UI serving, nobody looking;
- ``stream``: one event-stream client (``GET /api/events``, in this process) reading every batch;
- ``browser``: the page open in headless Chromium (Debian's ``/usr/bin/chromium`` through Playwright).

For each: the child's CPU time during the burst and its ratio to ``none``, lines the client received and
lines it was told it missed; for ``browser`` also Chromium's own CPU time (every process of it) and what the
page drew and skipped.

Usage: .venv/bin/python bench/web.py [--rate 20000] [--seconds 10] [--modes none,idle,stream,browser]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from common import cpu_seconds  # bench/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


PAYLOAD = "the quick brown fox jumps over the lazy dog 0123456789"


# ------------------------------------------------------------------------------------------------ the child


def child(mode: str, rate: int, seconds: float) -> None:
    from devloop.engine.logstore import LogStore
    from devloop.engine.state import ResourceView, Snapshot, Status
    from devloop.ui.web.server import WebServer

    views = tuple(
        ResourceView(name=n, kind="Deployment", labels=(), status=Status.READY, runtime="1/1 running")
        for n in ("chatty", "api", "worker")
    )
    snapshot = Snapshot("bench", "docker", "docker", views, version=1)
    store = LogStore()
    server = None
    if mode != "none":
        server = WebServer(lambda: snapshot, store, lambda name: None, port=0)
        server.start()
    print(json.dumps({"url": server.url if server else ""}), flush=True)
    sys.stdin.readline()  # the parent's client is ready

    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    written = 0
    while (elapsed := time.monotonic() - start) < seconds:
        for _ in range(int(rate * elapsed) - written):
            written += 1
            store.append("chatty", f"seq={written:07d} {PAYLOAD}")
        time.sleep(0.01)
    store.append("chatty", "bench-end")
    time.sleep(1.0)  # let the stream deliver the tail
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(json.dumps({"cpu": cpu, "written": written + 1, "wall": time.monotonic() - start}), flush=True)
    sys.stdin.readline()
    if server is not None:
        server.close()


# ------------------------------------------------------------------------------------------------ the parent


class StreamClient:
    """Reads /api/events, counting the lines received and the lines it was told it missed."""

    def __init__(self, url: str) -> None:
        host, port = url.split("//")[1].rstrip("/").split(":")
        self.sock = socket.create_connection((host, int(port)))
        self.sock.sendall(f"GET /api/events HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        self.received = self.lost = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        event = ""
        with self.sock.makefile("rb") as reader:
            for raw in reader:
                line = raw.decode()
                if line.startswith("event: "):
                    event = line[7:].strip()
                elif line.startswith("data: ") and event == "logs":
                    data = json.loads(line[6:])
                    self.received += len(data["lines"])
                    self.lost += data.get("lost", 0)
                    if data["lines"] and data["lines"][-1][3] == "bench-end":
                        self.done.set()

    def close(self) -> None:
        self.sock.close()


def chromium_cpu() -> float:
    """CPU seconds of every running Chromium process (the benchmark's own: it starts the only one)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            exe = os.readlink(entry / "exe")
        except OSError:
            continue
        if "chromium" in exe:
            total += cpu_seconds(int(entry.name))
    return total


def run(mode: str, rate: int, seconds: float) -> dict[str, Any]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, "--rate", str(rate), "--seconds", str(seconds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    url = json.loads(proc.stdout.readline())["url"]
    result: dict[str, Any] = {"mode": mode}
    client = None
    browser = None
    try:
        if mode == "stream":
            client = StreamClient(url)
        elif mode == "browser":
            from tests.support.webui import chromium_page

            browser = chromium_page()
            page = browser.__enter__()
            page.goto(url)
            page.wait_for_selector("#conn.conn-live")
            chrome_before = chromium_cpu()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        result.update(json.loads(proc.stdout.readline()))
        if client is not None:
            client.done.wait(30)
            result.update(received=client.received, lost=client.lost)
        if browser is not None:
            page.wait_for_function(
                "() => document.getElementById('log-view').innerText.includes('bench-end')", timeout=60_000
            )
            result["chromium_cpu"] = chromium_cpu() - chrome_before
            stats = page.evaluate("() => window.devloopStats")
            result.update(received=stats["received"], lost=stats["lost"], drawn=stats["drawn"])
            result["skipped"] = stats["skipped"]
            result["frames"] = stats["frames"]
            result["draw_ms"] = stats["drawMs"] / max(1, stats["frames"])
    finally:
        if client is not None:
            client.close()
        if browser is not None:
            browser.__exit__(None, None, None)
        proc.stdin.write("end\n")
        proc.stdin.flush()
        proc.wait(30)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--modes", default="none,idle,stream,browser")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rate, args.seconds)
        return
    print(f"{args.rate} lines/s for {args.seconds:.0f} s; load average {os.getloadavg()[0]:.1f}")
    results = [run(mode, args.rate, args.seconds) for mode in args.modes.split(",")]
    base = next((r["cpu"] for r in results if r["mode"] == "none"), None)
    print("| mode | `up` CPU | ratio to none | received | told missed | drawn / skipped | Chromium CPU |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        if "frames" in r:
            print(f"browser: {r['frames']} frames drew lines, {r['draw_ms']:.1f} ms of script and layout each")
        ratio = f"{r['cpu'] / base:.2f}" if base else "-"
        drawn = f"{r['drawn']} / {r['skipped']}" if "drawn" in r else "-"
        chrome = f"{r['chromium_cpu']:.1f} s" if "chromium_cpu" in r else "-"
        print(
            f"| {r['mode']} | {r['cpu']:.2f} s | {ratio} | {r.get('received', '-')} | {r.get('lost', '-')} "
            f"| {drawn} | {chrome} |"
        )


if __name__ == "__main__":
    main()
