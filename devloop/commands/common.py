"""Steps several commands share: the test stages and builds of `build` and `render`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from devloop.config.model import ImageSpec, Project
from devloop.context import Environment

if TYPE_CHECKING:
    from devloop.build.builder import BuildResult


def test_and_build(env: Environment, project: Project, images: Sequence[ImageSpec]) -> list[BuildResult]:
    """Run the test stages of ``images`` (a failure blocks every build, config.md), then build them (existing
    tags are never rebuilt), their output on stderr as ``ref │ line``; the results in the order of ``images``."""
    import functools

    from devloop.build.builder import ImageBuilder, build_images
    from devloop.build.testing import run_test_stage
    from devloop.engine.sink import PlainSink

    sink = PlainSink(env.stderr)
    sink.set_width([image.ref for image in images])
    for image in images:
        run_test_stage(image, functools.partial(sink.log, image.ref))
    builder = ImageBuilder(project.name, env=env.env)
    try:
        return build_images(images, builder, sink.log, parallel=2)
    finally:
        builder.close()
