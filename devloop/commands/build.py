"""`devloop build [IMAGE...]`: build the project's images (existing tags are never rebuilt), print the tags."""

from __future__ import annotations

import difflib
import functools

from devloop.commands.common import load_project
from devloop.context import Environment
from devloop.engine.sink import PlainSink
from devloop.errors import UsageError


def run(env: Environment, *, images: list[str]) -> int:
    from devloop.build.builder import ImageBuilder, build_images
    from devloop.build.testing import run_test_stage

    project = load_project(env)
    known = [image.ref for image in project.config.images]
    for ref in images:
        if ref not in known:
            close = difflib.get_close_matches(ref, known, n=1)
            hint = (
                f" Did you mean `{close[0]}`?" if close else f" Images in devloop.yaml: {', '.join(known) or 'none'}."
            )
            raise UsageError(f"no image `{ref}` in devloop.yaml.{hint}")
    chosen = [image for image in project.config.images if not images or image.ref in images]
    sink = PlainSink(env.stderr)
    sink.set_width([image.ref for image in chosen])
    for image in chosen:  # a failing test stage blocks the build (config.md)
        run_test_stage(image, functools.partial(sink.log, image.ref))
    builder = ImageBuilder(project.name, env=env.env)
    results = build_images(chosen, builder, sink.log, parallel=2)
    for result in results:
        state = "built" if result.built else "up to date"
        env.out(f"{result.reference}  ({state}, {result.seconds:.1f} s)")
    return 0
