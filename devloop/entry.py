"""The process entry point (console script `devloop` and `python -m devloop`).

Kept free of heavy imports on purpose: the stopping signals are routed (see :mod:`devloop.interrupts`) before
typer, rich or any command is imported, so Ctrl-C at any moment, even while the imports run, ends devloop with
one line and the interrupt's exit code, never a traceback.
"""

from __future__ import annotations

import gc
import sys

from devloop.exit_status import STOPPED_BY_SIGNAL, ExitStatus


def main() -> None:
    code = _run()
    try:
        from devloop import interrupts

        if code == ExitStatus.INTERRUPTED:
            code = interrupts.exit_code()
        interrupts.exit_now_on_signal(code)
        if code in STOPPED_BY_SIGNAL:
            interrupts.exit_interrupted(code)
    except KeyboardInterrupt:
        pass
    # The interpreter's last garbage collections walk every object the imports made (typer, the docker SDK, ...)
    # only to free memory the process gives back anyway: ~0.2 s of a short command. Frozen objects are skipped;
    # what holds an outside resource is closed by the command itself, or by its atexit hook.
    gc.freeze()
    sys.exit(code)


def _run() -> int:
    """Run the command line; its exit code (130 when interrupted, whatever the signal)."""
    try:
        from devloop import interrupts

        interrupts.install()
        interrupts.guard_standard_streams()
        from devloop.cli import main as cli_main

        cli_main()
        return ExitStatus.SUCCESS
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or ExitStatus.SUCCESS
        sys.stderr.write(f"{exc.code}\n")
        return ExitStatus.ERROR
    except KeyboardInterrupt:
        try:
            from devloop import interrupts

            sys.stderr.write(f"devloop: {interrupts.describe()}.\n")
        except (KeyboardInterrupt, OSError, ValueError):  # a second Ctrl-C, or stderr closed
            pass
        return ExitStatus.INTERRUPTED
