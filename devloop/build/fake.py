"""A builder that builds nothing, beside the real one: for driving the engine in tests and benchmarks.

Every call returns a new reference (`<ref>:devloop-<count>`), records the ref it was asked for and prints
the given lines; ``fail=True`` makes every build fail like a broken ``RUN`` step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from devloop.config.model import ImageSpec
from devloop.errors import BuildError


@dataclass(frozen=True)
class FakeBuild:
    reference: str
    built: bool = True


class FakeBuilder:
    def __init__(self, *, fail: bool = False, lines: Sequence[str] = ("Step 1/1 : FROM scratch",)) -> None:
        self.builds: list[str] = []
        self.fail = fail
        self.count = 0
        self.lines = tuple(lines)  # "{ref}" and "{count}" are filled in

    def build(self, image: ImageSpec, on_line: Callable[[str], None]) -> FakeBuild:
        if self.fail:
            raise BuildError(image.ref, "RUN false", ["boom"])
        self.count += 1
        self.builds.append(image.ref)
        for line in self.lines:
            on_line(line.format(ref=image.ref, count=self.count))
        return FakeBuild(f"{image.ref}:devloop-{self.count:016x}")

    def cancel(self) -> None:
        """Nothing runs in the background."""
