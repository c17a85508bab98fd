"""The testing stage: `images[].test.cmd` runs on the host in the image's context before its build."""

from __future__ import annotations

from collections.abc import Callable

from devloop.config.model import ImageSpec
from devloop.errors import TestFailedError
from devloop.util import stream_process, tail


def run_test_stage(image: ImageSpec, on_line: Callable[[str], None]) -> None:
    """Run the image's test command (if any), streaming its output as ``test: ...`` lines.

    A non-zero exit raises :class:`TestFailedError` with the last lines of output, which blocks the
    image's build, deploy and live update.
    """
    if image.test is None:
        return
    out: list[str] = []

    def line(text: str) -> None:
        out.append(text)
        on_line(f"test: {text}")

    code = stream_process(["/bin/sh", "-c", image.test.cmd], line, cwd=image.context)
    if code != 0:
        raise TestFailedError(image.ref, image.test.cmd, code, tail("\n".join(out), 15))
