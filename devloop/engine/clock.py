"""The clock the engine and the watcher read, behind a small interface so tests can drive time.

``MonotonicClock`` is the real one (``time.monotonic``, and ``time.time`` for wall-clock stamps); ``FakeClock``
only moves when a test calls :meth:`FakeClock.advance`. Nothing here sleeps. The engine, its workers and the
monitor read time only through one injected clock.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes backwards."""
        ...

    def wall(self) -> float:
        """Seconds since the epoch (for stamps shown to people and compared with file times)."""
        ...


class MonotonicClock:
    """The real clock: :func:`time.monotonic`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "MonotonicClock()"


class FakeClock:
    """A clock that stands still until :meth:`advance` (or :meth:`set`) moves it. Thread-safe."""

    #: the wall-clock time at ``start``
    WALL_START = 1_800_000_000.0

    def __init__(self, start: float = 1000.0) -> None:
        self._now = float(start)
        self._start = self._now
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def wall(self) -> float:
        """Moves with :meth:`monotonic`, from :attr:`WALL_START`."""
        with self._lock:
            return self.WALL_START + self._now - self._start

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (>= 0) and return the new time."""
        if seconds < 0:
            raise ValueError(f"a monotonic clock cannot go back (advance({seconds}))")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        """Move the clock forward to ``now``."""
        with self._lock:
            if now < self._now:
                raise ValueError(f"a monotonic clock cannot go back (from {self._now} to {now})")
            self._now = float(now)

    def __repr__(self) -> str:
        return f"FakeClock({self._now})"
