"""Label keys and container/volume names of the docker target (pure).

Every container, network and volume devloop creates carries the labels of config.md
(``app.kubernetes.io/managed-by``, ``devloop.dev/project``, ``devloop.dev/resource``) plus the
ones below, which let every operation find its objects again after a restart of devloop or of
the engine: nothing is known from memory only. Images carry a set of their own
(:mod:`devloop.build.images`), and containers are found by :func:`container_filter`.
"""

from __future__ import annotations

import re

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "devloop"
PROJECT = "devloop.dev/project"
RESOURCE = "devloop.dev/resource"

POD = "devloop.dev/pod"  # pod name, e.g. web-3f2a1c-0
POD_INDEX = "devloop.dev/pod-index"
SPEC_HASH = "devloop.dev/spec-hash"
ROLE = "devloop.dev/role"  # sandbox | init | app
CONTAINER = "devloop.dev/container"  # the container's name in the pod template
ORDER = "devloop.dev/order"  # position of an init/app container in the template
KIND = "devloop.dev/workload-kind"
RESTART_POLICY = "devloop.dev/restart-policy"
PROBE = "devloop.dev/readiness-probe"  # JSON of the readinessProbe
PORTS = "devloop.dev/ports"  # JSON {name: number} of the container's ports
GRACE = "devloop.dev/grace"  # seconds between SIGTERM and SIGKILL
BACKOFF_LIMIT = "devloop.dev/backoff-limit"
PARALLELISM = "devloop.dev/parallelism"
RUN_AS = "devloop.dev/run-as"  # uid[:gid] from securityContext
VOLUME_KIND = "devloop.dev/volume"  # emptyDir | pvc

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
