"""The one place where errors a user can cause are defined and mapped to exit codes.

Every error devloop raises on purpose is a :class:`DevloopError`: one clear sentence saying
what failed, where, and what to do next. The CLI prints ``str(error)`` to stderr and exits
with ``error.exit_code``; a traceback is shown only with ``--verbose``.
"""

from __future__ import annotations

import re

from devloop.exit_status import ExitStatus

# C0 and C1 control characters, DEL, and the invisible marks that reorder or hide text on a terminal.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def shown(text: str, *, keep: str = "") -> str:
    """``text`` safe to print: control characters (a terminal's escape sequences, newlines, bidi marks) are
    written as Python escapes (``\\x1b``, ``\\n``, ``\\u202e``), except the characters in ``keep``."""

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        if char in keep:
            return char
        code = ord(char)
        return _ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")

    return _CONTROL.sub(escape, text)


class DevloopError(Exception):
    """An error the user can act on. ``str(self)`` is the sentence shown to them."""

    exit_code: int = ExitStatus.ERROR


class UsageError(DevloopError):
    """Bad command-line usage: unknown resource names, conflicting options."""

    exit_code = ExitStatus.USAGE


class ConfigError(DevloopError):
    """devloop.yaml or a manifest is invalid, missing or unreadable (exit 2).

    ``location`` is ``file:line:col`` (or ``file``) and ``key`` the dotted key path, when known.
    """

    exit_code = ExitStatus.USAGE

    def __init__(self, message: str, *, location: str | None = None, key: str | None = None) -> None:
        self.location = shown(location) if location else location
        self.key = shown(key) if key else key
        self.detail = message = shown(message, keep="\n")
        text = message
        if self.key:
            text = f"{self.key}: {text}"
        if self.location:
            text = f"{self.location}: {text}"
        super().__init__(text)


class ToolMissingError(ConfigError):
    """An external tool the config needs (helm, kustomize) is not installed (exit 2)."""


class ContextRefusedError(DevloopError):
    """A Kubernetes context that is neither local nor allowed (exit 2)."""

    exit_code = ExitStatus.USAGE


class TargetUnavailableError(DevloopError):
    """No usable target: the Docker engine or the cluster does not answer (exit 1 unless said otherwise)."""

    def __init__(self, message: str, *, exit_code: int = ExitStatus.ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class BuildError(DevloopError):
    """An image build failed. Names the image, the failing step and the last lines of output."""

    def __init__(self, image: str, step: str | None, output_tail: list[str], reason: str = "") -> None:
        self.image = image
        self.step = step
        self.output_tail = list(output_tail)
        self.reason = reason
        head = f"build of image {image} failed"
        if step:
            head += f" at step {step}"
        if reason:
            head += f": {reason}"
        lines = "\n".join(f"  {line}" for line in self.output_tail)
        text = head + (f"\n{lines}" if lines else "")
        text += "\nFix the Dockerfile or the build context, then build again."
        super().__init__(text)


class TestFailedError(DevloopError):
    """The ``test`` stage of an image failed and blocks its build."""

    __test__ = False  # not a pytest test class

    def __init__(self, image: str, cmd: str, exit_code: int, output_tail: list[str]) -> None:
        self.image = image
        self.cmd = cmd
        self.returncode = exit_code
        self.output_tail = list(output_tail)
        lines = "\n".join(f"  {line}" for line in self.output_tail)
        text = f"test stage of image {image} failed: `{cmd}` exited with {exit_code}"
        text += f"\n{lines}" if lines else ""
        super().__init__(text)


class DeployError(DevloopError):
    """Deploying, readiness or runtime failure of a resource (exit 1)."""


class InterruptedByUser(DevloopError):
    exit_code = ExitStatus.INTERRUPTED

    def __init__(self) -> None:
        super().__init__("interrupted")
