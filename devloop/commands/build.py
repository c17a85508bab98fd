"""`devloop build [IMAGE...]`: build the project's images (existing tags are never rebuilt), print the tags."""

from __future__ import annotations

import difflib

from devloop.commands.common import test_and_build
from devloop.config.project import project_for_env
from devloop.context import Environment
from devloop.errors import UsageError
from devloop.exit_status import ExitStatus


def run(env: Environment, *, images: list[str]) -> int:
    project = project_for_env(env)
    known = [image.ref for image in project.config.images]
    for ref in images:
        if ref not in known:
            close = difflib.get_close_matches(ref, known, n=1)
            hint = (
                f" Did you mean `{close[0]}`?" if close else f" Images in devloop.yaml: {', '.join(known) or 'none'}."
            )
            raise UsageError(f"no image `{ref}` in devloop.yaml.{hint}")
    chosen = [image for image in project.config.images if not images or image.ref in images]
    for result in test_and_build(env, project, chosen):
        state = "built" if result.built else "up to date"
        env.out(f"{result.reference}  ({state}, {result.seconds:.1f} s)")
    return ExitStatus.SUCCESS
