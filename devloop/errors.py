"""The one place where errors a user can cause are defined and mapped to exit codes.

Every error devloop raises on purpose is a :class:`DevloopError`: one clear sentence saying
what failed, where, and what to do next. The CLI prints ``str(error)`` to stderr and exits
with ``error.exit_code``; a traceback is shown only with ``--verbose``.
"""

from __future__ import annotations

# Exit codes, as cli.md fixes them.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class DevloopError(Exception):
    """An error the user can act on. ``str(self)`` is the sentence shown to them."""

    exit_code = EXIT_FAILED


class UsageError(DevloopError):
    """Bad command-line usage: unknown resource names, conflicting options."""

    exit_code = EXIT_USAGE


class ConfigError(DevloopError):
    """devloop.yaml or a manifest is invalid, missing or unreadable (exit 2).

    ``location`` is ``file:line:col`` (or ``file``) and ``key`` the dotted key path, when known.
    """

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, location: str | None = None, key: str | None = None) -> None:
        self.location = location
        self.key = key
        self.detail = message
        text = message
        if key:
            text = f"{key}: {text}"
        if location:
            text = f"{location}: {text}"
        super().__init__(text)


class ToolMissingError(ConfigError):
    """An external tool the config needs (helm, kustomize) is not installed (exit 2)."""


class ContextRefusedError(DevloopError):
    """A Kubernetes context that is neither local nor allowed (exit 2)."""

    exit_code = EXIT_USAGE


class TargetUnavailableError(DevloopError):
    """No usable target: the Docker engine or the cluster does not answer (exit 1 unless said otherwise)."""

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILED) -> None:
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
    exit_code = EXIT_INTERRUPTED

    def __init__(self) -> None:
        super().__init__("interrupted")
