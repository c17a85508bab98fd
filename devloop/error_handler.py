"""Maps everything a command raises to one message on stderr and an exit code (cli.md)."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from devloop import interrupts
from devloop.context import Environment
from devloop.crashlog import write_crash_log
from devloop.errors import DevloopError, shown
from devloop.exit_status import ExitStatus


def run_command(env: Environment, work: Callable[[], int | None]) -> int:
    """Run ``work`` and return the process exit code; never lets an exception escape."""
    try:
        code = work()
        return ExitStatus.SUCCESS if code is None else code
    except DevloopError as exc:
        if env.verbose:
            env.err(traceback.format_exc().rstrip())
        env.err(f"devloop: {shown(str(exc), keep=chr(10))}")  # user text never drives the terminal
        return exc.exit_code
    except KeyboardInterrupt:
        env.err(f"devloop: {interrupts.describe()}.")
        return ExitStatus.INTERRUPTED
    except Exception as exc:  # a bug in devloop, or something we did not anticipate
        details = traceback.format_exc()
        log = write_crash_log(details, env.env)
        if env.verbose:
            env.err(details.rstrip())
            env.err(f"devloop: unexpected error: {type(exc).__name__}: {exc}")
        elif log is not None:  # a long `up` cannot be run again with --verbose: the traceback is kept in a file
            env.err(
                f"devloop: unexpected error: {type(exc).__name__}: {shown(str(exc))}. "
                f"The details are in {shown(str(log))}; please report it."
            )
        else:
            env.err(
                f"devloop: unexpected error: {type(exc).__name__}: {shown(str(exc))}. "
                "Run again with --verbose for the details and please report it."
            )
        return ExitStatus.ERROR


def setup_logging(env: Environment) -> None:
    """Verbose mode shows devloop's debug log (which builder was chosen, which calls were made)."""
    if env.verbose:
        handler = logging.StreamHandler(env.stderr)
        handler.setFormatter(logging.Formatter("devloop[%(name)s] %(message)s"))
        logger = logging.getLogger("devloop")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
