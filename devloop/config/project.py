"""Loading a whole project: devloop.yaml, its manifests, and the assembled resources."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from devloop.config.manifests import load_manifests
from devloop.config.model import Config, ManifestObject, Project
from devloop.config.resources import assemble
from devloop.config.workloads import check_collisions, workload_objects


def load_project(config_path: Path, *, tool_env: Mapping[str, str] | None = None) -> Project:
    """Load and check ``config_path`` (devloop.yaml), render its manifests and assemble the resources.

    Raises :class:`~devloop.errors.ConfigError` (exit 2) for anything the user must fix. Touches
    nothing but the files (and runs ``kustomize``/``helm`` for those sources, with ``tool_env`` added
    to their environment).
    """
    from devloop.config.loader import load_config

    return project_from_config(load_config(config_path), tool_env=tool_env)


def project_from_config(config: Config, *, tool_env: Mapping[str, str] | None = None) -> Project:
    """Render the manifests of an already loaded ``config`` (kustomize/helm get ``tool_env`` added to their
    environment, e.g. KUBECONFIG frozen to the pinned context), add the objects of ``workloads:`` and assemble
    the resources."""
    return assemble(config, all_objects(config, tool_env=tool_env))


def all_objects(config: Config, *, tool_env: Mapping[str, str] | None = None) -> list[ManifestObject]:
    """Every object of the project as written (no devloop labels, images not rewritten): the manifests, then
    the generated objects of ``workloads:``. A workload named like a manifest's workload is a ConfigError."""
    manifests = load_manifests(config, tool_env=tool_env)
    check_collisions(config, manifests)
    return [*manifests, *workload_objects(config)]
