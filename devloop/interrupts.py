"""Stopping signals: Ctrl-C (SIGINT), SIGTERM and SIGHUP all stop devloop the same clean way.

:func:`install` makes the first SIGTERM or SIGHUP raise ``KeyboardInterrupt`` in the main thread, as Ctrl-C
does, so every command's clean-up runs the same way whatever stopped it (children stopped, summary printed,
`ci --down` honoured, the control endpoint's files and the frozen kubeconfig removed). Which signal it was
decides only the exit code: 130, 143 or 129 (128 + the signal's number, as shells report it). A second SIGTERM
or SIGHUP while devloop cleans up is ignored (SIGKILL still ends it at once); a second Ctrl-C interrupts again.

Imports only the standard library: the entry point installs it before any heavy import.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
from types import FrameType
from typing import Any, NoReturn, TextIO

from devloop.exit_status import ExitStatus

STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_received: list[int] = []
_raising = False


def _on_signal(signum: int, frame: FrameType | None) -> None:
    first = not _received
    _received.append(signum)
    if _raising and (first or signum == signal.SIGINT):
        raise KeyboardInterrupt


def _route() -> None:
    for signum in STOPPING:
        if signum == signal.SIGHUP and signal.getsignal(signum) == signal.SIG_IGN:
            continue  # started under nohup: keep ignoring hang-ups
        try:
            signal.signal(signum, _on_signal)
        except ValueError:  # not the main thread
            return


def defer() -> None:
    """Record stopping signals without acting on them yet: from the first line of devloop that runs (the
    package's import, when devloop is the program) until :func:`install`, Python's own start-up code runs
    (``runpy``, the console script's import), where an exception would be printed with a traceback."""
    _route()


def install() -> None:
    """Route SIGINT, SIGTERM and SIGHUP to a ``KeyboardInterrupt`` in the main thread (a no-op elsewhere). A
    signal recorded since :func:`defer` is raised now."""
    global _raising
    _route()
    _raising = True
    if _received:
        raise KeyboardInterrupt


def received() -> int | None:
    """The first stopping signal received since :func:`install`, if any."""
    return _received[0] if _received else None


def exit_code() -> ExitStatus:
    """The exit code of an interrupted command: 143 after SIGTERM, 129 after SIGHUP, else 130."""
    return ExitStatus.for_signal(received())


def describe() -> str:
    """`interrupted`, or `stopped by SIGTERM` / `stopped by SIGHUP`."""
    signum = received()
    if signum is None or signum == signal.SIGINT:
        return "interrupted"
    return f"stopped by {signal.Signals(signum).name}"


def exit_now_on_signal(code: int) -> None:
    """Everything is cleaned up and the process is about to exit with ``code``: a signal from now on (while the
    interpreter shuts down) ends it at once with that code instead of a traceback of whatever was running. The
    standard streams are flushed now; one that cannot be (a terminal that hung up) is pointed at /dev/null, so
    that the interpreter's own last flush cannot fail and change the exit code."""

    def _exit(signum: int, frame: FrameType | None) -> None:
        os._exit(code)

    for signum in STOPPING:
        try:
            signal.signal(signum, _exit)
        except ValueError:
            return
    for stream in (sys.stdout, sys.stderr):
        real = stream._stream if isinstance(stream, StopTolerantStream) else stream
        try:
            real.flush()
        except (OSError, ValueError):
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)


def exit_interrupted(code: int) -> NoReturn:
    """End an interrupted devloop with ``code``, its clean-up done. The interpreter's own exit is skipped: once a
    KeyboardInterrupt went through code run from a string (``exec`` of a dataclass's generated methods while a
    module is imported, say), CPython ends itself with SIGINT at exit however the exception was handled, which
    would turn 143 or 129 into a death by SIGINT. The exit functions (temporary folders, logging) run first."""
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    os._exit(code)


class StopTolerantStream:
    """A standard stream that, once a stopping signal was received, drops what it cannot write: after SIGHUP the
    terminal is usually gone (every write fails with EIO), after SIGTERM a pipe's reader may be. Devloop's
    clean-up then still runs to its end and exits with the signal's code. Before a signal, errors are raised."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError:
            if _received:
                return len(text)
            raise

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError:
            if not _received:
                raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_standard_streams() -> None:
    """Wrap sys.stdout and sys.stderr in :class:`StopTolerantStream` (before anything captures them)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, StopTolerantStream):
            setattr(sys, name, StopTolerantStream(stream))
