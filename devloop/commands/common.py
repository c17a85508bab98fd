"""Steps several commands share: finding and loading the project."""

from __future__ import annotations

from devloop.config.model import Project
from devloop.context import Environment


def load_project(env: Environment) -> Project:
    from devloop.config.loader import find_config
    from devloop.config.project import load_project as load

    project = load(find_config(env.options.file, env.cwd))
    for warning in project.warnings:
        env.err(f"devloop: warning: {warning}")
    return project
