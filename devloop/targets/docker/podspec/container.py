"""One container of a pod template -> :class:`ContainerPlan`: its image, command and args, ports and
readiness probe here, and environment, security, limits and mounts from their own modules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devloop.errors import DeployError
from devloop.targets.docker.podspec.env import Env, container_env, expand
from devloop.targets.docker.podspec.fields import KNOWN_CONTAINER_FIELDS, SUPPORTED_PROBE_HANDLERS
from devloop.targets.docker.podspec.limits import container_limits
from devloop.targets.docker.podspec.mounts import PodVolumes, container_mounts
from devloop.targets.docker.podspec.plans import ContainerPlan, Warnings
from devloop.targets.docker.podspec.refs import ConfigRefs
from devloop.targets.docker.podspec.security import container_security


@dataclass(frozen=True)
class PodContext:
    """What every container of one pod template is compiled against."""

    security: Mapping[str, Any]  # the pod's securityContext
    volumes: PodVolumes
    refs: ConfigRefs
    warn: Warnings


def command_line(raw: Mapping[str, Any], env: Env) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """(entrypoint, command) from ``command`` and ``args`` with ``$(VAR)`` expanded; None keeps the image's.
    A ``command`` without ``args`` drops the image's command too, as Kubernetes does."""
    entrypoint = tuple(expand(str(a), env) for a in raw["command"]) if raw.get("command") is not None else None
    command = tuple(expand(str(a), env) for a in raw["args"]) if raw.get("args") is not None else None
    if entrypoint is not None and command is None:
        command = ()
    return entrypoint, command


def container_ports(raw: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    """(name or "", number) of each port with a ``containerPort``."""
    return tuple(
        (str(p.get("name") or ""), int(p["containerPort"]))
        for p in raw.get("ports") or []
        if p.get("containerPort") is not None
    )


def readiness_probe(raw: Mapping[str, Any], prefix: str, warn: Warnings) -> dict[str, Any] | None:
    """The ``readinessProbe`` when its handler is one the docker target runs; others are warned about."""
    probe = raw.get("readinessProbe")
    if probe is None:
        return None
    if not any(h in probe for h in SUPPORTED_PROBE_HANDLERS):
        other = next((k for k in probe if k.endswith(("Get", "Socket", "grpc"))), "?")
        warn.field(f"{prefix}.readinessProbe.{other}")
        return None
    return dict(probe)


def container_plan(raw: Mapping[str, Any], role: str, order: int, pod: PodContext) -> ContainerPlan:
    """Container ``raw``, the ``order``-th of its ``role`` (init | app), as the docker target runs it."""
    name = str(raw.get("name") or f"{role}{order}")
    prefix = f"spec.{'initContainers' if role == 'init' else 'containers'}[{name}]"
    pod.warn.unknown(raw, KNOWN_CONTAINER_FIELDS, prefix)
    image = str(raw.get("image") or "")
    if not image:
        raise DeployError(f"{pod.refs.where}: container {name} has no image; set spec.containers[].image.")
    env = container_env(raw, prefix, pod.refs, pod.warn)
    entrypoint, command = command_line(raw, env)
    security = container_security(pod.security, raw, prefix, pod.warn)
    mem, cpus = container_limits(raw, prefix, pod.warn)
    mounts, files = container_mounts(raw, prefix, pod.volumes, pod.refs, pod.warn)
    return ContainerPlan(
        name=name,
        role=role,
        order=order,
        image=image,
        entrypoint=entrypoint,
        command=command,
        working_dir=str(raw["workingDir"]) if raw.get("workingDir") else None,
        env=tuple(env.items()),
        user=security.user,
        mounts=tuple(mounts),
        files=tuple(files),
        ports=container_ports(raw),
        probe=readiness_probe(raw, prefix, pod.warn),
        mem_limit=mem,
        nano_cpus=cpus,
        privileged=security.privileged,
        read_only=security.read_only,
        cap_add=security.cap_add,
        cap_drop=security.cap_drop,
    )
