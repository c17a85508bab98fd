"""`devloop plan`: load and check everything, print what `up` would deploy; touch nothing."""

from __future__ import annotations

import json

from devloop.config.project import print_warnings, project_for_env
from devloop.context import Environment
from devloop.exit_status import ExitStatus


def run(env: Environment, *, output: str = "text") -> int:
    from devloop.plan import plan_data, plan_yaml, render_plan, with_target_warnings
    from devloop.targets.resolve import preview_target

    project = project_for_env(env, warn=False)  # the plan shows the warnings, once
    target = preview_target(env, project.config)  # a bad --target/DEVLOOP_TARGET is a usage error, as in ci
    project = with_target_warnings(project, target)
    if output == "json":
        env.out(json.dumps(plan_data(project, target), indent=2))
    elif output == "yaml":
        print_warnings(env, project)  # the YAML stream has no room for them: stderr
        env.out(plan_yaml(project).rstrip("\n"))
    else:
        env.out(render_plan(project, target=target).rstrip("\n"))
    return ExitStatus.SUCCESS
