"""Steps several commands share: finding and loading the project."""

from __future__ import annotations

from collections.abc import Mapping

from devloop.config.model import Config, Project
from devloop.context import Environment


def load_project(env: Environment, *, tool_env: Mapping[str, str] | None = None) -> Project:
    """The project of ``env`` (devloop.yaml found from -f/the working folder), its warnings printed.
    ``tool_env`` is added to the environment of kustomize/helm."""
    from devloop.config.loader import find_config
    from devloop.config.project import load_project as load

    return _warned(env, load(find_config(env.options.file, env.cwd), tool_env=tool_env))


def load_config(env: Environment) -> Config:
    """devloop.yaml alone (no manifests rendered): enough to choose and pin the target first."""
    from devloop.config.loader import find_config
    from devloop.config.loader import load_config as load

    return load(find_config(env.options.file, env.cwd))


def project_from_config(env: Environment, config: Config, *, tool_env: Mapping[str, str] | None = None) -> Project:
    """The project of an already loaded ``config`` (manifests rendered with ``tool_env``), its warnings printed."""
    from devloop.config.project import project_from_config as assemble

    return _warned(env, assemble(config, tool_env=tool_env))


def _warned(env: Environment, project: Project) -> Project:
    for warning in project.warnings:
        env.err(f"devloop: warning: {warning}")
    return project
