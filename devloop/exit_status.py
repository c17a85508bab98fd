"""The exit codes of devloop, as cli.md fixes them: the one home of every number a devloop process exits with.

Imports only the standard library: the entry point and :mod:`devloop.interrupts` use it before any heavy import.
"""

from __future__ import annotations

import enum
import signal


class ExitStatus(enum.IntEnum):
    """How a devloop command ended. An ``int``: it is returned, compared and passed to ``sys.exit`` as one."""

    SUCCESS = 0
    ERROR = 1  # the work failed (a build, a deploy, a resource that never became ready)
    USAGE = 2  # bad command-line usage or an invalid config
    SIGHUP = 129  # stopped by SIGHUP (128 + its number, as shells report it)
    INTERRUPTED = 130  # Ctrl-C (SIGINT)
    SIGTERM = 143  # stopped by SIGTERM

    @classmethod
    def for_signal(cls, signum: int | None) -> ExitStatus:
        """The status of a command stopped by ``signum``: SIGTERM, SIGHUP, else INTERRUPTED (Ctrl-C, or none)."""
        by_signal: dict[int, ExitStatus] = {signal.SIGTERM: cls.SIGTERM, signal.SIGHUP: cls.SIGHUP}
        return by_signal.get(signum, cls.INTERRUPTED) if signum is not None else cls.INTERRUPTED


#: The statuses of a command that a stopping signal (SIGINT, SIGTERM, SIGHUP) ended.
STOPPED_BY_SIGNAL = frozenset((ExitStatus.INTERRUPTED, ExitStatus.SIGTERM, ExitStatus.SIGHUP))
