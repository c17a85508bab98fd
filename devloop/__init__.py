"""devloop: inner-loop continuous development on Kubernetes and the local Docker engine."""

import sys as _sys

__version__ = "0.1.0"

_program = (getattr(_sys, "argv", None) or [""])[0]
if _program == "-m" or _program.rsplit("/", 1)[-1] == "devloop":  # devloop is the program starting
    from devloop import interrupts as _interrupts

    _interrupts.defer()  # Ctrl-C from now on ends it quietly (see devloop.entry)
