"""The labels of the images devloop builds, and removing them (`down --prune-images`).

Images carry their own label set, distinct from the labels of what devloop creates on a target: a container
inherits its image's labels, so a container a user starts by hand from a devloop-built image must not look
like one devloop created (``down`` would remove it). ``devloop.dev/built-by=devloop`` and
``devloop.dev/built-for=<project>``; images built before carried ``devloop.dev/project=<project>``, which
:func:`remove_project_images` still finds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devloop.config.labels import BUILT_BY, BUILT_FOR, MANAGED_BY_VALUE, OLD_PROJECT

#: what an entry of a down report contains when the thing was not removed (the reason follows)
KEPT = " kept: "


def image_labels(project: str) -> dict[str, str]:
    return {BUILT_BY: MANAGED_BY_VALUE, BUILT_FOR: project}


def project_images(api: Any, project: str) -> list[dict[str, Any]]:
    """The images devloop built for ``project`` (by this version or an earlier one), by id."""
    found: dict[str, dict[str, Any]] = {}
    for label in (f"{BUILT_FOR}={project}", f"{OLD_PROJECT}={project}"):
        for image in api.images(filters={"label": label}) or []:
            found.setdefault(image["Id"], image)
    return list(found.values())


def remove_project_images(api: Any, project: str) -> list[str]:
    """Remove the images devloop built for ``project``; what was removed (or kept, and why)."""
    import docker.errors

    removed: list[str] = []
    for image in project_images(api, project):
        tags = image.get("RepoTags") or [image["Id"]]
        try:
            api.remove_image(image["Id"], force=True)
            removed.append(f"image {', '.join(tags)}")
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            removed.append(f"image {', '.join(tags)}{KEPT}{getattr(exc, 'explanation', exc)}")
    return removed


def prune_local_images(env: Mapping[str, str], project: str) -> list[str]:
    """:func:`remove_project_images` on the local engine of ``env`` (for targets that hold no engine connection of
    their own); when no engine answers, one entry saying the images were kept."""
    from devloop.dockerengine import connect
    from devloop.errors import DevloopError

    try:
        client = connect(env, timeout=10)
    except DevloopError:
        return [f"the project's images{KEPT}the local Docker engine does not answer"]
    try:
        return remove_project_images(client.api, project)
    finally:
        client.close()
