"""Where an unexpected error's traceback goes: a file of its own under the user's cache folder.

A long `devloop up` cannot be "run again with --verbose", so the error handler writes the traceback of an error
devloop did not anticipate to ``$XDG_CACHE_HOME/devloop/crash/<UTC time>-<pid>.log`` (readable by its owner only)
and names the file in its one line on stderr. Only the newest :data:`KEEP` files are kept.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from devloop.util import user_cache

#: How many crash logs are kept; older ones are removed when a new one is written.
KEEP = 20


def crash_folder(env: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/devloop/crash`` (default ``~/.cache/devloop/crash``)."""
    return user_cache(env) / "crash"


def write_crash_log(details: str, env: Mapping[str, str] | None = None, now: float | None = None) -> Path | None:
    """Write ``details`` (a traceback) to a new crash log, created 0600, and return its path; None when it cannot
    be written (a read-only or full disk): the error is then shown without it, never replaced by another."""
    from devloop import __version__

    folder = crash_folder(env)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    header = (
        f"devloop {__version__}, Python {platform.python_version()} on {platform.platform()}\n"
        f"time: {stamp}, command: {' '.join(sys.argv)}\n\n"
    )
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path, fd = _create(folder, f"{stamp}-{os.getpid()}")
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as file:
            file.write(header + details.rstrip() + "\n")
    except OSError:
        return None
    prune(folder, KEEP)
    return path


def _create(folder: Path, stem: str) -> tuple[Path, int]:
    """A new file ``stem.log`` (``stem-2.log``, … when taken) opened for writing, readable by its owner only."""
    for attempt in range(1, 100):
        path = folder / (f"{stem}.log" if attempt == 1 else f"{stem}-{attempt}.log")
        try:
            return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
    raise FileExistsError(folder / f"{stem}.log")


def prune(folder: Path, keep: int) -> None:
    """Remove all but the ``keep`` newest crash logs in ``folder`` (by modification time, then name)."""
    with contextlib.suppress(OSError):
        logs = sorted(folder.glob("*.log"), key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
        for old in logs[keep:]:
            with contextlib.suppress(OSError):
                old.unlink()
