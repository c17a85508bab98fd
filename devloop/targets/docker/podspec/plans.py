"""What the pod compiler produces: a :class:`PodPlan` of :class:`ContainerPlan` (pure data), and the
:class:`Warnings` it collects on the way."""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FieldRef:
    """An env value known only when the pod is created (``fieldRef``)."""

    path: str  # metadata.name | metadata.namespace | status.podIP | spec.nodeName | ...


@dataclass(frozen=True)
class FileEntry:
    """A file (configMap/secret key) written into the container before it starts."""

    path: str  # absolute, normalised container path
    data: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class MountPlan:
    kind: str  # emptyDir | pvc | hostPath | claimTemplate
    source: str  # volume name template (``{pod}`` replaced per pod) or host path
    target: str
    read_only: bool = False
    tmpfs: bool = False  # emptyDir medium: Memory


@dataclass(frozen=True)
class ContainerPlan:
    name: str
    role: str  # init | app
    order: int
    image: str
    entrypoint: tuple[str, ...] | None
    command: tuple[str, ...] | None
    working_dir: str | None
    env: tuple[tuple[str, str | FieldRef], ...]
    user: str | None  # uid[:gid] from securityContext
    mounts: tuple[MountPlan, ...]
    files: tuple[FileEntry, ...]
    ports: tuple[tuple[str, int], ...]  # (name or "", number)
    probe: Mapping[str, Any] | None
    mem_limit: int | None = None
    nano_cpus: int | None = None
    privileged: bool = False
    read_only: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()


@dataclass(frozen=True)
class PodPlan:
    resource: str
    kind: str
    workload_name: str
    namespace: str
    containers: tuple[ContainerPlan, ...]  # init containers first (in order), then app containers
    aliases: tuple[str, ...]  # network aliases of the sandbox (Services selecting the pod)
    replicas: int
    restart_policy: str  # Always | OnFailure | Never
    grace: float
    spec_hash: str
    completions: int = 1
    parallelism: int = 1
    backoff_limit: int = 6
    stateful: bool = False
    service_name: str = ""  # StatefulSet spec.serviceName
    claim_templates: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    emptydirs: tuple[tuple[str, bool], ...] = ()  # (volume name, tmpfs)
    claims: tuple[str, ...] = ()  # persistentVolumeClaim claim names

    @property
    def is_job(self) -> bool:
        return self.kind in ("Job", "CronJob")

    def pod_name(self, index: int) -> str:
        if self.stateful:
            return f"{self.workload_name}-{index}"
        if self.kind == "Pod":
            return self.workload_name if index == 0 else f"{self.workload_name}-{index}"
        return f"{self.workload_name}-{self.spec_hash[:6]}-{index}"

    def pod_aliases(self, index: int) -> tuple[str, ...]:
        extra: list[str] = []
        if self.stateful:
            pod = self.pod_name(index)
            extra.append(pod)
            if self.service_name:
                extra += [
                    f"{pod}.{self.service_name}",
                    f"{pod}.{self.service_name}.{self.namespace}",
                    f"{pod}.{self.service_name}.{self.namespace}.svc.cluster.local",
                ]
        return tuple(dict.fromkeys([*self.aliases, *extra]))


@dataclass
class Warnings:
    """What a plan warns about: fields the docker target ignores (named once each, in the order met; they
    become one warning) and other sentences."""

    unsupported: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    def field(self, path: str) -> None:
        if path not in self.unsupported:
            self.unsupported.append(path)

    def unknown(self, keys: Iterable[str], known: Container[str], prefix: str) -> None:
        """Warn about each of ``keys`` not in ``known`` as ``prefix.key``."""
        for key in keys:
            if key not in known:
                self.field(f"{prefix}.{key}")
