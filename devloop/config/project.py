"""Loading a whole project: devloop.yaml, its manifests, and the assembled resources.

The one home of project loading. :func:`load_project` and :func:`project_from_config` work from a path or an
already loaded :class:`Config`; :func:`config_for_env` and :func:`project_for_env` do the same for a command
(devloop.yaml found from ``-f`` or the working folder, ``--profile``, ``--namespace``, warnings printed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from devloop.config.manifests import load_manifests
from devloop.config.model import Config, ManifestObject, Project
from devloop.config.resources import assemble
from devloop.config.workloads import check_collisions, workload_objects
from devloop.errors import shown

if TYPE_CHECKING:
    from devloop.context import Environment


def load_project(config_path: Path, *, tool_env: Mapping[str, str] | None = None) -> Project:
    """Load and check ``config_path`` (devloop.yaml), render its manifests and assemble the resources.

    Raises :class:`~devloop.errors.ConfigError` (exit 2) for anything the user must fix. Touches
    nothing but the files (and runs ``kustomize``/``helm`` for those sources, with ``tool_env`` added
    to their environment).
    """
    from devloop.config.loader import load_config

    return project_from_config(load_config(config_path), tool_env=tool_env)


def project_from_config(
    config: Config, *, tool_env: Mapping[str, str] | None = None, namespace: str | None = None
) -> Project:
    """Render the manifests of an already loaded ``config`` (kustomize/helm get ``tool_env`` added to their
    environment, e.g. KUBECONFIG frozen to the pinned context), add the objects of ``workloads:`` and assemble
    the resources; ``namespace`` (when given) replaces ``kubernetes.namespace``."""
    config = with_namespace(config, namespace)
    return assemble(config, all_objects(config, tool_env=tool_env))


def all_objects(config: Config, *, tool_env: Mapping[str, str] | None = None) -> list[ManifestObject]:
    """Every object of the project as written (no devloop labels, images not rewritten): the manifests, then
    the generated objects of ``workloads:``. A workload named like a manifest's workload is a ConfigError."""
    manifests = load_manifests(config, tool_env=tool_env)
    check_collisions(config, manifests)
    return [*manifests, *workload_objects(config)]


def with_namespace(config: Config, namespace: str | None) -> Config:
    """``config`` with ``kubernetes.namespace`` set to ``namespace`` (when given)."""
    if not namespace or namespace == config.kubernetes.namespace:
        return config
    return dataclasses.replace(config, kubernetes=dataclasses.replace(config.kubernetes, namespace=namespace))


def config_for_env(env: Environment) -> Config:
    """devloop.yaml of a command (found from -f/the working folder, its profile chosen) alone, no manifests
    rendered: enough to choose and pin the target first."""
    from devloop.config.loader import find_config, load_config

    profile, source = env.profile_choice()
    return load_config(find_config(env.options.file, env.cwd), profile=profile, profile_source=source)


def project_for_env(
    env: Environment, config: Config | None = None, *, namespace: str | None = None, warn: bool = True
) -> Project:
    """The project of a command (``config``, else :func:`config_for_env`), its warnings printed unless ``warn``
    is False (`plan` shows them in its output). The namespace objects without one go to (and helm's
    ``.Release.Namespace``) is ``--namespace``, else ``namespace`` (the target's: the kubernetes target adds the
    context's namespace), else ``kubernetes.namespace``."""
    if config is None:
        config = config_for_env(env)
    project = project_from_config(config, namespace=env.options.namespace or namespace)
    return print_warnings(env, project) if warn else project


def print_warnings(env: Environment, project: Project) -> Project:
    """``project``, after its warnings were written to stderr (``devloop: warning: ...``)."""
    for warning in project.warnings:
        env.err(f"devloop: warning: {shown(warning)}")
    return project
