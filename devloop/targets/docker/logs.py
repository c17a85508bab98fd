"""Following the logs of every container of a resource (init containers too).

One follower thread per container reads the engine's log stream with timestamps; the last
timestamp seen per container id is kept, so a container that restarts, or a stream that is opened
again, never repeats a line. New containers (a redeploy, a restart) are picked up by polling the
project's containers. Stopping closes every stream, so the call returns promptly.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from devloop.targets.base import LogLine, StopToken
from devloop.targets.docker import labels as L
from devloop.targets.docker.observed import container_label, labels_of
from devloop.targets.docker.runtime import ProjectRuntime

POLL = 0.3
EXITED_POLL = 2.0

Stamp = tuple[int, int]  # (unix seconds, nanoseconds)


def parse_stamp(text: str) -> Stamp | None:
    """RFC 3339 with nanoseconds as docker writes it (``2024-05-07T21:09:36.123456789Z``)."""
    try:
        main, _, frac = text.rstrip("Z").partition(".")
        seconds = int(datetime.fromisoformat(main + "+00:00").timestamp())
        nanos = int((frac + "000000000")[:9]) if frac else 0
    except ValueError:
        return None
    return seconds, nanos


class _Follower:
    def __init__(self, api: Any, cid: str, source: str, emit: Callable[[str, str], None]) -> None:
        self.api = api
        self.cid = cid
        self.source = source
        self.emit = emit
        self.last: Stamp | None = None
        self.resume_after: Stamp | None = None
        self.stream: Any = None
        self.thread: threading.Thread | None = None
        self.opened = 0.0
        self.closed = False
        self.lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self) -> None:
        self.opened = time.monotonic()
        self.thread = threading.Thread(target=self._run, name=f"devloop-logs-{self.cid[:12]}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        kwargs: dict[str, Any] = {}
        # After a reconnect the engine replays from the start of the last second: skip what we already
        # emitted, but never drop a line of the live stream (stdout and stderr stamps may interleave).
        self.resume_after = self.last
        if self.last is not None:
            kwargs["since"] = float(self.last[0]) if self.last[0] > 0 else 1
        try:
            stream = self.api.logs(
                self.cid, stdout=True, stderr=True, stream=True, follow=True, timestamps=True, **kwargs
            )
        except Exception:
            return
        with self.lock:
            if self.closed:
                with contextlib.suppress(Exception):
                    stream.close()
                return
            self.stream = stream
        buffer = b""
        try:
            for chunk in stream:
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    self._line(line.decode(errors="replace"))
            if buffer:
                self._line(buffer.decode(errors="replace"))
        except Exception:
            pass
        finally:
            with contextlib.suppress(Exception):
                stream.close()

    def _line(self, raw: str) -> None:
        stamp_text, _, text = raw.partition(" ")
        stamp = parse_stamp(stamp_text)
        if stamp is None:
            text = raw
        else:
            if self.resume_after is not None and stamp <= self.resume_after:
                return
            if self.last is None or stamp > self.last:
                self.last = stamp
        self.emit(self.source, text.rstrip("\r"))

    def close(self) -> None:
        with self.lock:
            self.closed = True
            stream = self.stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()


class _Followers:
    """One follower per container of a resource that ran (init and app containers), kept in step with the
    project's containers."""

    def __init__(self, api: Any, resource: str, emit: Callable[[str, str], None]) -> None:
        self.api = api
        self.resource = resource
        self.emit = emit
        self.followers: dict[str, _Follower] = {}

    def sync(self, summaries: list[dict[str, Any]], now: float) -> None:
        """Follow new containers, open again the streams of restarted ones, drop those that are gone."""
        present = set()
        for s in summaries:
            if not self._followed(s):
                continue
            cid = s["Id"]
            present.add(cid)
            follower = self.followers.get(cid)
            if follower is None:
                follower = self.followers[cid] = _Follower(self.api, cid, container_label(s), self.emit)
                follower.start()
            elif not follower.alive and (s.get("State") == "running" or now - follower.opened > EXITED_POLL):
                follower.start()
        for cid in list(self.followers):
            if cid not in present and not self.followers[cid].alive:
                del self.followers[cid]

    def _followed(self, summary: dict[str, Any]) -> bool:
        lab = labels_of(summary)
        if lab.get(L.RESOURCE) != self.resource or lab.get(L.ROLE) not in (L.ROLE_INIT, L.ROLE_APP):
            return False
        return summary.get("State") != "created"  # never ran: no log yet

    def close(self) -> None:
        for follower in self.followers.values():
            follower.close()
        for follower in self.followers.values():
            if follower.thread is not None:
                follower.thread.join(timeout=5)


def follow_logs(
    runtime: ProjectRuntime,
    resource: str,
    on_line: Callable[[LogLine], None],
    stop: StopToken,
    closing: threading.Event,
) -> None:
    emit_lock = threading.Lock()

    def emit(source: str, text: str) -> None:
        with emit_lock:
            on_line(LogLine(resource=resource, source=source, text=text))

    followers = _Followers(runtime.api, resource, emit)
    try:
        while not stop.stopped and not closing.is_set():
            try:
                summaries = runtime.snapshot(max_age=POLL)
            except Exception:
                summaries = []
            followers.sync(summaries, time.monotonic())
            stop.wait(POLL)
    finally:
        followers.close()
