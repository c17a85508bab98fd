"""Label keys and container/volume names of the docker target (pure).

Every container, network and volume devloop creates carries the labels of config.md
(``app.kubernetes.io/managed-by``, ``devloop.dev/project``, ``devloop.dev/resource``) plus the
ones below, which let every operation find its objects again after a restart of devloop or of
the engine: nothing is known from memory only. The keys are spelled in :mod:`devloop.config.labels` (the one
home of every label key) and used here by their short names. Images carry a set of their own
(:mod:`devloop.build.images`), and containers are found by :func:`container_filter`.
"""

from __future__ import annotations

import re

from devloop.config.labels import (
    BACKOFF_LIMIT,
    CONTAINER,
    GRACE,
    KIND,
    MANAGED_BY,
    MANAGED_BY_VALUE,
    ORDER,
    PARALLELISM,
    POD,
    POD_INDEX,
    PORTS,
    PROBE,
    PROJECT,
    RESOURCE,
    RESTART_POLICY,
    ROLE,
    RUN_AS,
    SPEC_HASH,
    VOLUME_KIND,
)

__all__ = [
    "BACKOFF_LIMIT",
    "CONTAINER",
    "GRACE",
    "KIND",
    "MANAGED_BY",
    "MANAGED_BY_VALUE",
    "ORDER",
    "PARALLELISM",
    "POD",
    "POD_INDEX",
    "PORTS",
    "PROBE",
    "PROJECT",
    "RESOURCE",
    "RESTART_POLICY",
    "ROLE",
    "ROLE_APP",
    "ROLE_INIT",
    "ROLE_SANDBOX",
    "RUN_AS",
    "SPEC_HASH",
    "VOLUME_KIND",
    "base_labels",
    "container_filter",
    "docker_name",
    "project_filter",
]

ROLE_SANDBOX = "sandbox"
ROLE_INIT = "init"
ROLE_APP = "app"


def base_labels(project: str, resource: str | None = None) -> dict[str, str]:
    labels = {MANAGED_BY: MANAGED_BY_VALUE, PROJECT: project}
    if resource is not None:
        labels[RESOURCE] = resource
    return labels


def project_filter(project: str) -> list[str]:
    return [f"{MANAGED_BY}={MANAGED_BY_VALUE}", f"{PROJECT}={project}"]


def container_filter(project: str, resource: str | None = None) -> list[str]:
    """The containers devloop created for the project (or one of its resources). Besides the project's labels a
    container must have a pod role, which no image carries: a container started by hand from a devloop-built
    image inherits that image's labels (those of earlier versions included the project's) and is not ours."""
    labels = [*project_filter(project), ROLE]
    return [*labels, f"{RESOURCE}={resource}"] if resource is not None else labels


_INVALID = re.compile(r"[^a-zA-Z0-9_.-]+")


def docker_name(*parts: str) -> str:
    """A valid docker container/volume name (``[a-zA-Z0-9][a-zA-Z0-9_.-]*``) joining ``parts`` with ``-``."""
    text = "-".join(p for p in parts if p)
    text = _INVALID.sub("-", text).strip("-_.")
    if not text or not text[0].isalnum():
        text = "x" + text
    return text[:200]
