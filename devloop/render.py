"""`devloop render`, the pure part: the project's objects as production would apply them. No I/O.

:func:`render_documents` takes the objects as written (manifests, kustomize, helm, and the generated objects
of ``workloads:``, with none of devloop's labels) and the pinned reference of every built image, and returns
one YAML text per resource, in deploy order:

- every container of a built image runs its pinned reference (``REG/ref@sha256:...``, or the local content
  tag with ``--no-push``); ``imagePullPolicy`` stays as written (no ``IfNotPresent`` rewrite);
- nothing dev-only is added: no devloop labels, no live-update supervisor entrypoint;
- the same inputs give byte-identical text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from devloop.config.dump import comment, dump_stream
from devloop.config.model import ManifestObject, Project
from devloop.config.resources import rewrite_images

HEADER = "Rendered by `devloop render` for project {project}: edit devloop.yaml and the sources, not this file."


@dataclass(frozen=True)
class RenderedResource:
    resource: str
    file_name: str  # NN-<resource>.yaml: deploy order is file name order
    text: str


def _key(obj: ManifestObject) -> tuple[str, str, str, str]:
    return (obj.api_version, obj.kind, obj.namespace or "", obj.name)


def render_documents(
    project: Project, raw: Sequence[ManifestObject], pinned: Mapping[str, str]
) -> list[RenderedResource]:
    """One YAML text per resource of ``project`` (deploy order), built from the ``raw`` objects (as written,
    matched to the project's labelled copies by apiVersion, kind, namespace and name) with images pinned."""
    by_key = {_key(obj): obj for obj in raw}
    header = comment(HEADER.format(project=project.name))
    rendered: list[RenderedResource] = []
    cluster = [resource for resource in project.resources if resource.local is None]  # local ones have no objects
    width = len(str(len(cluster)))
    for number, resource in enumerate(cluster, start=1):
        bodies = [rewrite_images(by_key[_key(obj)], pinned, pull_policy=None).body for obj in resource.objects]
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", resource.name)
        file_name = f"{number:0{max(width, 2)}d}-{name}.yaml"
        rendered.append(RenderedResource(resource.name, file_name, dump_stream(bodies, header)))
    return rendered


def render_stream(project: Project, rendered: Sequence[RenderedResource]) -> str:
    """Every resource's objects as one YAML stream (for stdout)."""
    header = comment(HEADER.format(project=project.name))
    return header + "".join(item.text[len(header) :] for item in rendered)


def is_rendered_file(text: str) -> bool:
    """Whether a file's text starts with the header :func:`render_documents` writes (a previous render)."""
    return text.startswith("# Rendered by `devloop render`")
