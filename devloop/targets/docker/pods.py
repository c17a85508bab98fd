"""Pod template -> what to create on the docker engine (pure: no I/O, no docker import).

:func:`plan_resource` turns the workload of a :class:`DeployRequest` into a :class:`PodPlan`: the
containers of one pod (init containers first), their environment, files (configMap/secret volumes),
mounts, the network aliases of the Services that select the pod, replicas and restart rules, a
spec hash (what decides whether running pods are kept), and the warnings for every field the docker
target does not support (one warning naming them all). Each concern of a container (environment,
security, limits, mounts, ...) is compiled by its own module of :mod:`devloop.targets.docker.podspec`;
this module puts them together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from devloop.config.model import WORKLOAD_KINDS, ManifestObject, Project
from devloop.config.podtemplate import pod_template
from devloop.errors import DeployError
from devloop.targets.docker.podspec.container import PodContext, container_plan
from devloop.targets.docker.podspec.fields import KNOWN_POD_FIELDS, SUPPORTED_SECURITY_FIELDS
from devloop.targets.docker.podspec.mounts import PodVolumes, pod_volumes
from devloop.targets.docker.podspec.plans import ContainerPlan, FieldRef, FileEntry, MountPlan, PodPlan, Warnings
from devloop.targets.docker.podspec.refs import ConfigRefs
from devloop.targets.docker.podspec.services import service_aliases
from devloop.targets.docker.podspec.workload import WorkloadRun, grace_period, workload_run

__all__ = [
    "PLAN_VERSION",
    "USED_KINDS",
    "ContainerPlan",
    "FieldRef",
    "FileEntry",
    "MountPlan",
    "PodPlan",
    "ignored_objects",
    "plan_resource",
    "preview_warnings",
]

#: Bumped whenever the way pods are turned into containers changes, so that upgraded devloop replaces them.
PLAN_VERSION = "1"


def hashed_template(workload: ManifestObject, template: Mapping[str, Any]) -> Mapping[str, Any]:
    """The part of the pod template that takes part in the spec hash: a Pod's metadata and spec."""
    if workload.kind == "Pod":
        return {"metadata": template.get("metadata") or {}, "spec": template.get("spec") or {}}
    return template


def pod_fields(spec: Mapping[str, Any], warn: Warnings) -> dict[str, Any]:
    """Warn about the pod spec fields the docker target does not support; the pod's securityContext."""
    warn.unknown(spec, KNOWN_POD_FIELDS, "spec")
    pod_security = dict(spec.get("securityContext") or {})
    warn.unknown(pod_security, SUPPORTED_SECURITY_FIELDS, "spec.securityContext")
    return pod_security


def pod_containers(spec: Mapping[str, Any], pod: PodContext) -> tuple[ContainerPlan, ...]:
    """The init containers (in order), then the app containers of pod ``spec``; a pod needs one app container."""
    apps = list(spec.get("containers") or [])
    if not apps:
        raise DeployError(
            f"{pod.refs.where}: the pod template has no containers; add at least one under spec.containers."
        )
    groups = (("init", list(spec.get("initContainers") or [])), ("app", apps))
    return tuple(container_plan(raw, role, order, pod) for role, group in groups for order, raw in enumerate(group))


def plan_warnings(resource: str, where: str, warn: Warnings) -> tuple[str, ...]:
    """One warning naming every ignored field, then the others; each names ``resource``."""
    warnings: list[str] = []
    if warn.unsupported:
        warnings.append(
            f"resource {resource}: the docker target ignores these fields of {where}: " + ", ".join(warn.unsupported)
        )
    return (*warnings, *(f"resource {resource}: {w}" for w in warn.other))


def spec_hash(
    workload: ManifestObject,
    template: Mapping[str, Any],
    used: Mapping[str, Any],
    aliases: Iterable[str],
    run: WorkloadRun,
    volumes: PodVolumes,
) -> str:
    """What decides whether running pods are kept: the template, the config data it uses, the Services
    selecting it, the restart policy, the claim templates and a StatefulSet's serviceName."""
    stateful = workload.kind == "StatefulSet"
    hashed = {
        "v": PLAN_VERSION,
        "kind": workload.kind,
        "template": hashed_template(workload, template),
        "data": used,
        "aliases": list(aliases),
        "restart": run.restart_policy,
        "claims": volumes.claim_templates,
        "service": (workload.body.get("spec") or {}).get("serviceName") if stateful else None,
    }
    return hashlib.sha256(json.dumps(hashed, sort_keys=True, default=str).encode()).hexdigest()[:16]


def plan_resource(
    resource: str,
    workload: ManifestObject,
    all_objects: Iterable[ManifestObject],
    *,
    default_namespace: str = "default",
) -> PodPlan:
    """Turn ``workload`` into a :class:`PodPlan`. Raises :class:`DeployError` for references that
    cannot be resolved (a missing ConfigMap key that is not optional...)."""
    objects = tuple(all_objects)
    namespace = workload.namespace or default_namespace
    template = pod_template(workload) or {}
    spec = dict(template.get("spec") or {})
    pod_labels = {str(k): str(v) for k, v in ((template.get("metadata") or {}).get("labels") or {}).items()}
    where = f"{workload.kind} {workload.name} ({workload.source})"
    warn = Warnings()
    pod_security = pod_fields(spec, warn)
    volumes = pod_volumes(workload, spec, warn)
    refs = ConfigRefs(objects, namespace, where)
    containers = pod_containers(spec, PodContext(pod_security, volumes, refs, warn))
    aliases = service_aliases(objects, namespace, pod_labels, containers, warn)
    run = workload_run(workload, spec, warn)
    stateful = workload.kind == "StatefulSet"
    return PodPlan(
        resource=resource,
        kind=workload.kind,
        workload_name=workload.name,
        namespace=namespace,
        containers=containers,
        aliases=tuple(dict.fromkeys(aliases)),
        replicas=max(0, run.replicas),
        restart_policy=run.restart_policy,
        grace=grace_period(spec),
        spec_hash=spec_hash(workload, template, refs.used, aliases, run, volumes),
        completions=run.completions,
        parallelism=run.parallelism,
        backoff_limit=run.backoff_limit,
        stateful=stateful,
        service_name=str((workload.body.get("spec") or {}).get("serviceName") or "") if stateful else "",
        claim_templates=volumes.claim_templates,
        warnings=plan_warnings(resource, where, warn),
        emptydirs=volumes.emptydirs,
        claims=volumes.claims,
    )


#: Object kinds that the docker target uses (workloads, and what pods reference or Services).
USED_KINDS = frozenset(
    {
        *WORKLOAD_KINDS,
        "Service",
        "ConfigMap",
        "Secret",
        "PersistentVolumeClaim",
        "ServiceAccount",
        "Namespace",
    }
)


def ignored_objects(resource: str, objects: Iterable[ManifestObject]) -> list[str]:
    """The warning for the objects of ``resource`` that the docker target does not use (none: empty)."""
    ignored = sorted({f"{o.kind}/{o.name}" for o in objects if o.kind not in USED_KINDS})
    return [f"resource {resource}: the docker target ignores these objects: {', '.join(ignored)}"] if ignored else []


def preview_warnings(project: Project) -> list[str]:
    """What the docker target would warn about when it deploys ``project`` (for `plan`): ignored objects and
    fields, ports it cannot remap, schedules it does not honour, references it cannot resolve."""
    everything = tuple(obj for resource in project.resources for obj in resource.objects)
    namespace = project.config.kubernetes.namespace or "default"
    warnings: list[str] = []
    for resource in project.resources:
        warnings += ignored_objects(resource.name, resource.objects)
        if resource.workload is None:
            continue
        try:
            warnings += plan_resource(
                resource.name, resource.workload, everything, default_namespace=namespace
            ).warnings
        except DeployError as exc:
            warnings.append(f"resource {resource.name}: {exc}")
    return warnings
