"""Loading a whole project: devloop.yaml, its manifests, and the assembled resources."""

from __future__ import annotations

from pathlib import Path

from devloop.config.manifests import load_manifests
from devloop.config.model import Project
from devloop.config.resources import assemble


def load_project(config_path: Path) -> Project:
    """Load and check ``config_path`` (devloop.yaml), render its manifests and assemble the resources.

    Raises :class:`~devloop.errors.ConfigError` (exit 2) for anything the user must fix. Touches
    nothing but the files (and runs ``kustomize``/``helm`` for those sources).
    """
    from devloop.config.loader import load_config

    config = load_config(config_path)
    return assemble(config, load_manifests(config))
