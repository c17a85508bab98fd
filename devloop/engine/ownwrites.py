"""When devloop's own steps ran, so that the files they write can be told from the user's saves.

A test stage runs on the host in the image's context; if it writes there (a report, a cache), the watcher
sees a change that would start the update again, and again. :class:`OwnSteps` keeps the wall-clock time
windows of the steps that ran lately (thread-safe: the steps run in workers); the engine asks
:func:`devloop.engine.decide.written_by_own_steps` which changed paths fall in one of them.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from devloop.engine.clock import MonotonicClock
from devloop.engine.decide import StepWindow

#: windows that ended longer ago than this are forgotten (a batch arrives within the debounce)
KEEP_SECONDS = 60.0


class OwnSteps:
    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or MonotonicClock().wall  # wall clock: compared with file modification times
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._windows: dict[int, StepWindow] = {}

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        """Record the time window of a step (the ``with`` body)."""
        key = next(self._ids)
        with self._lock:
            self._windows[key] = StepWindow(self._clock(), None, label)
        try:
            yield
        finally:
            with self._lock:
                started = self._windows[key]
                self._windows[key] = StepWindow(started.start, self._clock(), label)

    def windows(self) -> tuple[StepWindow, ...]:
        now = self._clock()
        with self._lock:
            for key in [k for k, w in self._windows.items() if w.end is not None and now - w.end > KEEP_SECONDS]:
                del self._windows[key]
            return tuple(self._windows.values())
