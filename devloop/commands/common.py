"""Steps several commands share: finding and loading the project."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from devloop.config.model import Config, ImageSpec, Project
from devloop.context import Environment
from devloop.errors import shown

if TYPE_CHECKING:
    from devloop.build.builder import BuildResult


def load_project(env: Environment, *, namespace: str | None = None, warn: bool = True) -> Project:
    """The project of ``env`` (devloop.yaml found from -f/the working folder), its warnings printed (unless
    ``warn`` is False: `plan` shows them in its output); see :func:`project_from_config` for ``namespace``."""
    return project_from_config(env, load_config(env), namespace=namespace, warn=warn)


def load_config(env: Environment) -> Config:
    """devloop.yaml alone (no manifests rendered): enough to choose and pin the target first."""
    from devloop.config.loader import find_config
    from devloop.config.loader import load_config as load

    profile, source = env.profile_choice()
    return load(find_config(env.options.file, env.cwd), profile=profile, profile_source=source)


def with_namespace(config: Config, namespace: str | None) -> Config:
    """``config`` with ``kubernetes.namespace`` set to ``namespace`` (when given)."""
    if not namespace or namespace == config.kubernetes.namespace:
        return config
    return dataclasses.replace(config, kubernetes=dataclasses.replace(config.kubernetes, namespace=namespace))


def project_from_config(
    env: Environment, config: Config, *, namespace: str | None = None, warn: bool = True
) -> Project:
    """The project of an already loaded ``config``, its warnings printed. The namespace objects without one go
    to (and helm's ``.Release.Namespace``) is ``--namespace``, else ``namespace`` (the target's: the kubernetes
    target adds the context's namespace), else ``kubernetes.namespace``."""
    from devloop.config.project import project_from_config as assemble

    project = assemble(with_namespace(config, env.options.namespace or namespace))
    return warned(env, project) if warn else project


def warned(env: Environment, project: Project) -> Project:
    for warning in project.warnings:
        env.err(f"devloop: warning: {shown(warning)}")
    return project


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
