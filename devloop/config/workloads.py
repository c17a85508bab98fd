"""The paved path (config.md, "Workloads"): the Kubernetes objects of ``workloads:``. Pure, no I/O.

:func:`workload_objects` generates plain, idiomatic objects a reviewer would accept, the same every time:

- ``web``: a Deployment and a Service of the workload's name. The container declares its port as the
  named port ``http``; the Service maps ``port`` to ``http``; a readiness probe checks ``health`` over
  HTTP, else a TCP connection to ``http``.
- ``worker``: a Deployment.
- ``job``: a Job with ``backoffLimit: 0`` and ``restartPolicy: Never`` (run once, to completion).

Every object carries the recommended labels ``app.kubernetes.io/name`` (the workload) and
``app.kubernetes.io/part-of`` (the project); selectors use ``app.kubernetes.io/name``. devloop's own labels
are added later like for any manifest (``resources.add_labels``), so ``devloop render`` can leave them out.

:func:`check_collisions` rejects a workload whose name a manifest's workload (or, for ``web``, a manifest's
Service) already has, naming both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from devloop.config.model import Config, ManifestObject, WorkloadSpec
from devloop.errors import ConfigError

LABEL_NAME = "app.kubernetes.io/name"
LABEL_PART_OF = "app.kubernetes.io/part-of"
PORT_NAME = "http"
#: readiness is checked this often (seconds): a dev loop should see a server come up quickly
PROBE_PERIOD = 2


def workload_objects(config: Config) -> list[ManifestObject]:
    """The objects of every workload of ``config``, in the order of ``workloads:`` (web: Deployment, Service)."""
    objects: list[ManifestObject] = []
    for workload in config.workloads:
        objects.extend(
            ManifestObject(body=body, source=workload.source) for body in workload_bodies(workload, config.name)
        )
    return objects


def workload_bodies(workload: WorkloadSpec, project: str) -> list[dict[str, Any]]:
    """The object bodies of one workload (see the module doc)."""
    labels = {LABEL_NAME: workload.name, LABEL_PART_OF: project}
    metadata = {"name": workload.name, "labels": dict(labels)}
    template = {"metadata": {"labels": dict(labels)}, "spec": _pod_spec(workload)}
    if workload.type == "job":
        template["spec"]["restartPolicy"] = "Never"
        return [
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": metadata,
                "spec": {"backoffLimit": 0, "template": template},
            }
        ]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": workload.replicas,
            "selector": {"matchLabels": {LABEL_NAME: workload.name}},
            "template": template,
        },
    }
    if workload.type != "web":
        return [deployment]
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": workload.name, "labels": dict(labels)},
        "spec": {
            "selector": {LABEL_NAME: workload.name},
            "ports": [{"name": PORT_NAME, "port": workload.port, "targetPort": PORT_NAME, "protocol": "TCP"}],
        },
    }
    return [deployment, service]


def _pod_spec(workload: WorkloadSpec) -> dict[str, Any]:
    container: dict[str, Any] = {"name": workload.name, "image": workload.image}
    if isinstance(workload.command, str):
        container["command"] = ["/bin/sh", "-c", workload.command]
    elif workload.command is not None:
        container["command"] = list(workload.command)
    if workload.env:
        container["env"] = [{"name": name, "value": value} for name, value in workload.env]
    if workload.type == "web":
        container["ports"] = [{"name": PORT_NAME, "containerPort": workload.port, "protocol": "TCP"}]
        check: dict[str, Any] = (
            {"httpGet": {"path": workload.health, "port": PORT_NAME}}
            if workload.health
            else {"tcpSocket": {"port": PORT_NAME}}
        )
        container["readinessProbe"] = {**check, "periodSeconds": PROBE_PERIOD, "failureThreshold": 3}
    return {"containers": [container]}


def check_collisions(config: Config, manifests: Sequence[ManifestObject]) -> None:
    """A :class:`ConfigError` when a manifest already defines a workload (any kind) of a workload's name, or a
    Service of a web workload's name; the message names both."""
    for workload in config.workloads:
        for obj in manifests:
            clash = obj.name == workload.name and (
                obj.is_workload or (obj.kind == "Service" and workload.type == "web")
            )
            if clash:
                what = "a Deployment and a Service" if workload.type == "web" else _generated_kind(workload)
                key = f"workloads.{workload.name}"
                raise ConfigError(
                    f"the {workload.type} workload {workload.name} generates {what} named {workload.name}, but the "
                    f"manifests already define the {obj.kind} {obj.name} ({obj.source}); rename the workload or the "
                    f"{obj.kind}",
                    location=config.location(key),
                    key=key,
                )


def _generated_kind(workload: WorkloadSpec) -> str:
    return "a Job" if workload.type == "job" else "a Deployment"
