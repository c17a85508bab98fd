"""`devloop plan`: load and check everything, print what `up` would deploy; touch nothing."""

from __future__ import annotations

import json

from devloop.commands.common import load_project
from devloop.context import Environment


def run(env: Environment, *, output: str = "text") -> int:
    from devloop.plan import plan_data, plan_yaml, render_plan

    project = load_project(env)
    if output == "json":
        env.out(json.dumps(plan_data(project), indent=2))
    elif output == "yaml":
        env.out(plan_yaml(project).rstrip("\n"))
    else:
        env.out(render_plan(project).rstrip("\n"))
    return 0
