"""Stopping signals: Ctrl-C (SIGINT), SIGTERM and SIGHUP all stop devloop the same clean way.

:func:`install` makes the first SIGTERM or SIGHUP raise ``KeyboardInterrupt`` in the main thread, as Ctrl-C
does, so every command's clean-up runs the same way whatever stopped it (children stopped, summary printed,
`ci --down` honoured, the control endpoint's files and the frozen kubeconfig removed). Which signal it was
decides only the exit code: 130, 143 or 129 (128 + the signal's number, as shells report it). A second SIGTERM
or SIGHUP while devloop cleans up is ignored (SIGKILL still ends it at once); a second Ctrl-C interrupts again.

Imports only the standard library's ``signal``: the entry point installs it before any heavy import.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
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


def exit_code() -> int:
    """The exit code of an interrupted command: 143 after SIGTERM, 129 after SIGHUP, else 130."""
    signum = received()
    return EXIT_CODES.get(signal.Signals(signum), 130) if signum is not None else 130


def describe() -> str:
    """`interrupted`, or `stopped by SIGTERM` / `stopped by SIGHUP`."""
    signum = received()
    if signum is None or signum == signal.SIGINT:
        return "interrupted"
    return f"stopped by {signal.Signals(signum).name}"


def exit_now_on_signal(code: int) -> None:
    """Everything is cleaned up and the process is about to exit with ``code``: a signal from now on (while the
    interpreter shuts down) ends it at once with that code instead of a traceback of whatever was running."""

    def _exit(signum: int, frame: FrameType | None) -> None:
        os._exit(code)

    for signum in STOPPING:
        try:
            signal.signal(signum, _exit)
        except ValueError:
            return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
