"""Where the engine's output goes: log lines and state changes.

The engine calls a :class:`Sink` from its loop and from worker threads; implementations must
be thread-safe and must never block for long (the dashboard buffers, the plain printer writes).
"""

from __future__ import annotations

import re
import threading
from typing import Protocol, TextIO

from devloop.engine.state import ResourceView, Snapshot, Status


class Sink(Protocol):
    def log(self, resource: str, text: str) -> None:
        """One line of output that belongs to a resource (build, test, runtime logs, live update)."""
        ...

    def state(self, view: ResourceView, snapshot: Snapshot) -> None:
        """A resource changed state; ``snapshot`` is the whole picture after the change."""
        ...

    def message(self, text: str) -> None:
        """A line that belongs to no resource (config reloaded, watching...)."""
        ...


def describe_state(view: ResourceView) -> str:
    """The plain-line wording of a state change: `ready (build 2.1 s, deploy 0.4 s)`."""
    text = view.status.value
    update = view.last_update
    if view.status in (Status.READY, Status.COMPLETED) and update is not None:
        parts = []
        if update.kind == "live":
            parts.append(f"live update {update.seconds:.2f} s")
        else:
            if update.build_seconds:
                parts.append(f"build {update.build_seconds:.1f} s")
            parts.append(f"deploy {update.deploy_seconds:.1f} s")
        if update.detail:
            parts.append(update.detail)
        text += f" ({', '.join(parts)})"
    if view.status is Status.FAILED and view.reason:
        text += f": {view.reason}"
    elif view.reason and view.status not in (Status.READY, Status.COMPLETED):
        text += f" ({view.reason})"
    if view.port_forwards and view.status is Status.READY:
        text += " " + " ".join(view.port_forwards)
    return text


# terminal escape sequences (CSI such as colours, OSC such as titles and links, other ESC pairs), then any other
# control character but the tab
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def plain_text(text: str, *, tabs: int = 0) -> str:
    """``text`` without terminal escape sequences and control characters, keeping only what follows the last
    carriage return (a progress bar redrawn in place shows its last state): what a file, a pipe or a screen
    drawn by devloop should get of a log line coloured for a terminal. ``tabs``: expand tabs to that width."""
    if text.isprintable():  # most lines: nothing to remove (one C-speed scan, for 20,000 lines a second)
        return text
    text = text.rstrip("\r\n")
    if "\r" in text:
        text = text.rsplit("\r", 1)[-1]
    if "\x1b" in text:
        text = _ESCAPES.sub("", text)
    if tabs and "\t" in text:
        text = text.expandtabs(tabs)
    return _CONTROLS.sub("", text)


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed
        return False


class PlainSink:
    """Plain lines, prefixed with the resource name: for CI, pipes and --no-tui. Written to anything but a
    terminal, lines lose their escape sequences and control characters (:func:`plain_text`)."""

    def __init__(self, stream: TextIO, *, width: int = 0) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._width = width
        self._clean = not is_terminal(stream)

    def _write(self, prefix: str, text: str) -> None:
        name = prefix.ljust(self._width) if self._width else prefix
        if self._clean:
            text = plain_text(text)
        with self._lock:
            self._stream.write(f"{name} │ {text}\n")
            self._stream.flush()

    def set_width(self, names: list[str]) -> None:
        self._width = min(max((len(n) for n in names), default=0), 24)

    def log(self, resource: str, text: str) -> None:
        self._write(resource, text)

    def state(self, view: ResourceView, snapshot: Snapshot) -> None:
        self._write(view.name, describe_state(view))
        if view.status is Status.FAILED:
            for line in view.last_lines:
                self._write(view.name, f"  {line}")

    def message(self, text: str) -> None:
        self._write("devloop", text)


class RecordingSink:
    """Keeps everything in memory; for tests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lines: list[tuple[str, str]] = []
        self.states: list[ResourceView] = []
        self.messages: list[str] = []

    def log(self, resource: str, text: str) -> None:
        with self.lock:
            self.lines.append((resource, text))

    def state(self, view: ResourceView, snapshot: Snapshot) -> None:
        with self.lock:
            self.states.append(view)

    def message(self, text: str) -> None:
        with self.lock:
            self.messages.append(text)
