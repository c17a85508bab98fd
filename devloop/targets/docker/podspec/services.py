"""The Services that select a pod: their names become the pod's network aliases, and a port the docker
target cannot remap (``port`` differs from ``targetPort``) is warned about."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from devloop.config.model import ManifestObject
from devloop.targets.docker.podspec.plans import ContainerPlan, Warnings


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def service_names(name: str, namespace: str) -> list[str]:
    """The DNS names of Service ``name`` in ``namespace``, shortest first."""
    return [name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"]


def port_mismatches(svc_spec: Mapping[str, Any], named: Mapping[str, int]) -> list[str]:
    """``port X -> targetPort Y`` for each port of the Service whose target (a number, or a container port
    by name in ``named``) is not the port itself."""
    mismatched: list[str] = []
    for port in svc_spec.get("ports") or []:
        number = port.get("port")
        target = port.get("targetPort", number)
        resolved = named.get(str(target)) if isinstance(target, str) and not str(target).isdigit() else target
        if resolved is not None and str(resolved) != str(number):
            mismatched.append(
                f"port {number} -> targetPort {target}" + (f" ({resolved})" if resolved != target else "")
            )
    return mismatched


def service_aliases(
    objects: Iterable[ManifestObject],
    namespace: str,
    pod_labels: Mapping[str, str],
    containers: Iterable[ContainerPlan],
    warn: Warnings,
) -> list[str]:
    """The network aliases of a pod with ``pod_labels`` in ``namespace``: the names of every Service among
    ``objects`` that selects it (in order, repeats kept)."""
    named = {n: p for c in containers for n, p in c.ports if n}
    aliases: list[str] = []
    for svc in objects:
        if svc.kind != "Service" or (svc.namespace or namespace) != namespace:
            continue
        svc_spec = svc.body.get("spec") or {}
        selector = {str(k): str(v) for k, v in (svc_spec.get("selector") or {}).items()}
        if not selects(selector, pod_labels):
            continue
        aliases += service_names(svc.name, namespace)
        mismatched = port_mismatches(svc_spec, named)
        if mismatched:
            warn.other.append(
                f"Service {svc.name}: {', '.join(mismatched)}: the docker target cannot remap ports, so "
                f"clients must connect to {svc.name} on the targetPort."
            )
    return aliases
