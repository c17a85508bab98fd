"""A bounded, thread-safe store of every resource's log lines (build, test, runtime, live update).

The dashboard and `devloop logs` read from it; the engine writes to it through :class:`LogSink`.
Each resource keeps at most ``per_resource`` lines; older ones are dropped and counted, so memory
stays bounded however chatty a service is, and readers can say that lines were dropped.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from devloop.engine.clock import MonotonicClock
from devloop.engine.sink import Sink, describe_state
from devloop.engine.state import ResourceView, Snapshot


@dataclass(frozen=True)
class LogEntry:
    seq: int  # global, increasing: readers follow with "everything after seq"
    time: float  # wall clock
    resource: str  # "" for devloop's own messages
    text: str


class LogStore:
    def __init__(self, per_resource: int = 5000, clock: Callable[[], float] | None = None) -> None:
        self._per_resource = per_resource
        self._clock = clock or MonotonicClock().wall  # wall clock: line times are shown to people
        self._cond = threading.Condition()
        self._lines: dict[str, deque[LogEntry]] = {}
        self._dropped: dict[str, int] = {}
        self._seq = 0

    def append(self, resource: str, text: str) -> LogEntry:
        with self._cond:
            self._seq += 1
            entry = LogEntry(self._seq, self._clock(), resource, text)
            lines = self._lines.get(resource)
            if lines is None:
                lines = self._lines[resource] = deque(maxlen=self._per_resource)
            if len(lines) == self._per_resource:
                self._dropped[resource] = self._dropped.get(resource, 0) + 1
            lines.append(entry)
            self._cond.notify_all()
            return entry

    @property
    def last_seq(self) -> int:
        with self._cond:
            return self._seq

    def dropped(self, resource: str) -> int:
        with self._cond:
            return self._dropped.get(resource, 0)

    def lines(
        self, resource: str | None = None, *, after: int = 0, since: float | None = None, limit: int | None = None
    ) -> list[LogEntry]:
        """Lines of one resource (or all, interleaved in order) with seq > ``after`` and time >= ``since``;
        the newest ``limit`` when given."""
        with self._cond:
            queues = [self._lines.get(resource, deque())] if resource is not None else list(self._lines.values())
            if limit is not None or after > 0:
                # Only the newest ``limit`` of each queue, and only its lines after ``after``, can be in the
                # answer: copy just those (a busy dashboard's frame or a follower's next batch must not copy
                # every stored line; seqs increase within a queue).
                pools = [_tail(q, after, limit) for q in queues]
            else:
                pools = [list(q) for q in queues]
        merged = pools[0] if len(pools) == 1 else list(heapq.merge(*pools, key=lambda e: e.seq))
        out = [e for e in merged if e.seq > after and (since is None or e.time >= since)]
        return out[-limit:] if limit is not None else out

    def follow(self, after: int, limit: int | None = None) -> tuple[list[LogEntry], int, int]:
        """The next batch for a reader of every resource that has seen the lines up to seq ``after``: the lines
        after it (the newest ``limit`` when given), how many lines between were lost to it (dropped from the
        store before it read them, or beyond ``limit``), and the newest seq, to pass as ``after`` next time.
        Seqs are contiguous over all resources, so a gap in them is exactly what was lost."""
        with self._cond:  # re-entrant: no line arrives between reading the newest seq and the lines
            newest = self._seq
            fresh = self.lines(None, after=after, limit=limit)
        return fresh, (newest - after) - len(fresh), newest

    def wait(self, after: int, timeout: float) -> bool:
        """Block until a line with seq > ``after`` exists (True) or ``timeout`` passes (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._seq > after, timeout)


def _tail(queue: deque[LogEntry], after: int, limit: int | None) -> list[LogEntry]:
    """The entries of ``queue`` with seq > ``after``, at most the newest ``limit``, in order."""
    newest = itertools.takewhile(lambda e: e.seq > after, reversed(queue))
    tail = list(itertools.islice(newest, limit) if limit is not None else newest)
    tail.reverse()
    return tail


class LogSink:
    """A Sink that records log lines, state lines and messages into a :class:`LogStore`."""

    def __init__(self, store: LogStore) -> None:
        self.store = store

    def log(self, resource: str, text: str) -> None:
        self.store.append(resource, text)

    def state(self, view: ResourceView, snapshot: Snapshot) -> None:
        self.store.append(view.name, f"── {describe_state(view)}")

    def message(self, text: str) -> None:
        self.store.append("", text)


class TeeSink:
    """Hands every call to several sinks (e.g. the log store and the plain printer)."""

    def __init__(self, *sinks: Sink) -> None:
        self._sinks = sinks

    def log(self, resource: str, text: str) -> None:
        for sink in self._sinks:
            sink.log(resource, text)

    def state(self, view: ResourceView, snapshot: Snapshot) -> None:
        for sink in self._sinks:
            sink.state(view, snapshot)

    def message(self, text: str) -> None:
        for sink in self._sinks:
            sink.message(text)
