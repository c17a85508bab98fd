"""Where a workload object keeps its pod template, and how many pods it asks for (pure).

One home for reading workloads, shared by resource assembly, manifest checks and both targets:
:func:`pod_template` (and :func:`pod_spec`, :func:`pod_labels`, :func:`containers` over it), :func:`job_spec`
and :func:`wanted_replicas`. The results are the object's own dicts: treat them as read-only unless you own the
body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devloop.config.model import ManifestObject

#: The path from a workload object to its pod template, by kind (a Pod is its own template).
TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    **{kind: ("spec", "template") for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")},
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
    "Pod": (),
}
#: The container lists of a pod spec.
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
#: Kinds whose ``spec.replicas`` says how many pods they want.
REPLICATED_KINDS = ("Deployment", "StatefulSet", "ReplicaSet")
#: Kinds that run their pods to completion.
JOB_KINDS = ("Job", "CronJob")


def _body(obj: ManifestObject | Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.body if isinstance(obj, ManifestObject) else obj


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def pod_template(obj: ManifestObject | Mapping[str, Any]) -> dict[str, Any] | None:
    """The pod template (a mapping with ``metadata`` and ``spec``) of a workload, or None.

    ``spec.template`` for Deployment/StatefulSet/DaemonSet/ReplicaSet/Job,
    ``spec.jobTemplate.spec.template`` for CronJob, and the Pod itself for a Pod (see :data:`TEMPLATE_PATHS`).
    """
    body = _body(obj)
    path = TEMPLATE_PATHS.get(str(body.get("kind")))
    if path is None or not isinstance(body.get("spec"), dict):
        return None
    template: Any = body
    for key in path:
        template = _dict(template).get(key)
    return template if isinstance(template, dict) else None


def pod_spec(obj: ManifestObject | Mapping[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a workload (``pod_template(obj)["spec"]``), or None."""
    template = pod_template(obj)
    spec = template.get("spec") if template else None
    return spec if isinstance(spec, dict) else None


def pod_labels(obj: ManifestObject | Mapping[str, Any]) -> dict[str, str]:
    """The labels its pods get (the pod template's metadata.labels)."""
    template = pod_template(obj)
    labels = _dict(_dict(template.get("metadata")).get("labels")) if template else {}
    return {str(k): str(v) for k, v in labels.items()}


def containers(
    obj: ManifestObject | Mapping[str, Any], *, init: bool = True, ephemeral: bool = True
) -> list[dict[str, Any]]:
    """The container dicts of a workload's pod spec: ``containers``, then ``initContainers`` (when
    ``init``), then ``ephemeralContainers`` (when ``ephemeral``). Empty for other objects."""
    spec = pod_spec(obj)
    if spec is None:
        return []
    lists = ["containers"]
    if init:
        lists.append("initContainers")
    if ephemeral:
        lists.append("ephemeralContainers")
    return [c for key in lists for c in _list(spec.get(key)) if isinstance(c, dict)]


def job_spec(obj: ManifestObject | Mapping[str, Any], kind: str | None = None) -> dict[str, Any]:
    """The Job spec of a Job, or of a CronJob's job template (empty for other kinds); ``kind`` is by default
    the object's own."""
    body = _body(obj)
    kind = kind if kind is not None else body.get("kind")
    spec = _dict(body.get("spec"))
    if kind == "CronJob":
        return _dict(_dict(spec.get("jobTemplate")).get("spec"))
    return spec if kind == "Job" else {}


def wanted_replicas(
    obj: ManifestObject | Mapping[str, Any] | None, kind: str | None = None, *, live: bool = False
) -> int:
    """How many pods a workload of ``kind`` (by default the object's own) asks for (0 for None):
    ``spec.replicas`` (1 when unset) of a Deployment, StatefulSet or ReplicaSet, 1 for a Pod.

    As written in a manifest (the docker target runs it so), a Job or CronJob wants ``completions`` pods
    (1 when unset) and a DaemonSet one (one node). ``live``: as the cluster reports the object, a Job or
    CronJob counts one pod at a time and a DaemonSet the nodes it is scheduled on
    (``status.desiredNumberScheduled``).
    """
    if obj is None:
        return 0
    body = _body(obj)
    kind = kind if kind is not None else body.get("kind")
    if kind in JOB_KINDS:
        return 1 if live else int(job_spec(body, kind).get("completions") or 1)
    if kind == "Pod":
        return 1
    if kind == "DaemonSet":
        return int(_dict(body.get("status")).get("desiredNumberScheduled") or 0) if live else 1
    replicas = _dict(body.get("spec")).get("replicas")
    return 1 if replicas is None else int(replicas)
