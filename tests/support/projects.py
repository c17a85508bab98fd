"""Small devloop projects written into a folder (usually ``tmp_path``) for end-to-end tests.

A project is a ``devloop.yaml``, one manifest file ``k8s.yaml`` and one folder per image holding a busybox build
context (see :mod:`tests.support.images`). The manifest helpers return plain dicts (Kubernetes objects)::

    root = write_project(
        tmp_path, "t-abc12345",
        objects=[deployment("web", image="t-abc12345/web", containers=[httpd("web")]), service("web", 8080)],
        images=[Image("web", "t-abc12345/web", files={"www/index.html": "hi"}, lines=["COPY www /www"])],
        resources={"web": {"readiness_timeout": 20}},
    )
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.images import write_busybox_context

#: A readiness probe that succeeds as soon as httpd answers on port 8080 (checked every second).
HTTP_READY: dict[str, Any] = {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}


@dataclass(frozen=True)
class Image:
    """An image built from a busybox context in ``<root>/<context>``."""

    context: str  # folder under the project root
    ref: str
    lines: Sequence[str] = ()  # Dockerfile lines after the busybox base
    files: Mapping[str, str] = field(default_factory=dict)  # context-relative path -> text
    settings: Mapping[str, Any] = field(default_factory=dict)  # test, live_update, ignore ... as in devloop.yaml


def write_project(
    root: Path,
    name: str,
    *,
    objects: Sequence[Mapping[str, Any]],
    images: Sequence[Image] = (),
    resources: Mapping[str, Mapping[str, Any]] | None = None,
    **config: Any,
) -> Path:
    """Write the project into ``root`` (created if needed) and return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for image in images:
        write_busybox_context(root / image.context, image.lines, image.files)
    (root / "k8s.yaml").write_text(yaml.safe_dump_all([dict(o) for o in objects], sort_keys=False))
    data: dict[str, Any] = {
        "version": 1,
        "name": name,
        "manifests": ["k8s.yaml"],
        "watch": {"debounce_ms": 50},
        **config,
    }
    if images:
        data["images"] = [{"ref": i.ref, "context": i.context, **i.settings} for i in images]
    if resources:
        data["resources"] = {k: dict(v) for k, v in resources.items()}
    (root / "devloop.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return root


# --- manifests ----------------------------------------------------------------------------------------


def container(name: str, image: str, command: Sequence[str] | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "image": image}
    if command is not None:
        body["command"] = list(command)
    body.update(fields)
    return body


def httpd(name: str, image: str, root: str = "/www", *, probe: bool = True, **fields: Any) -> dict[str, Any]:
    """A container serving ``root`` with busybox httpd on port 8080 (in the foreground)."""
    body = container(name, image, ["httpd", "-f", "-p", "8080", "-h", root], ports=[{"containerPort": 8080}])
    if probe:
        body["readinessProbe"] = dict(HTTP_READY)
    body.update(fields)
    return body


def deployment(
    name: str,
    containers: Sequence[Mapping[str, Any]],
    *,
    init_containers: Sequence[Mapping[str, Any]] = (),
    replicas: int = 1,
    **pod_spec: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"terminationGracePeriodSeconds": 0, "containers": [dict(c) for c in containers]}
    if init_containers:
        spec["initContainers"] = [dict(c) for c in init_containers]
    spec.update(pod_spec)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec},
        },
    }


def job(name: str, containers: Sequence[Mapping[str, Any]], *, backoff_limit: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "restartPolicy": "Never",
                    "containers": [dict(c) for c in containers],
                }
            },
        },
    }


def service(name: str, port: int, target_port: int | None = None, app: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": app or name}, "ports": [{"port": port, "targetPort": target_port or port}]},
    }


def configmap(name: str, data: Mapping[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": dict(data)}


# --- odds and ends ------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
