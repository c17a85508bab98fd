"""The one interface between the engine and "where workloads run".

The engine talks to a target only through :class:`Target`; the docker and kubernetes
implementations live beside this module. Everything here is data or protocol: no I/O.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from devloop.config.model import ManifestObject, Project, Resource


class Phase(StrEnum):
    """What a resource's workload is doing right now, as the target sees it."""

    ABSENT = "absent"  # nothing deployed
    PENDING = "pending"  # created, not running yet (pulling, init containers, scheduling)
    RUNNING = "running"  # running, not (yet) ready
    READY = "ready"  # every wanted replica running and ready
    COMPLETED = "completed"  # Jobs (and run-to-completion pods): done successfully
    FAILED = "failed"  # crash loop, failed Job, image pull failure, ... (see reason)


@dataclass(frozen=True)
class ContainerRef:
    """One running container of a resource that live update can reach."""

    id: str  # opaque: only the target that made it reads it; others compare it and use it as a key
    name: str  # human name for logs
    image: str  # the image reference it runs
    pod: str = ""  # pod (group) name
    user: str | None = None  # uid[:gid] files should be owned by (runAsUser / image USER), when known
    started_at: float = 0.0  # epoch seconds; changes when the container is (re)created or restarted; 0: unknown


@dataclass(frozen=True)
class RuntimeStatus:
    phase: Phase
    reason: str = ""  # for FAILED: one sentence ("crash loop: exited with 1 three times")
    ready_replicas: int = 0
    wanted_replicas: int = 0
    restarts: int = 0
    containers: tuple[ContainerRef, ...] = ()
    last_logs: tuple[str, ...] = ()  # last log lines, for FAILED
    detail: str = ""  # short pod/container state for the dashboard ("2/2 running")
    notes: tuple[str, ...] = ()  # problems the engine tells once in the resource's log (a forward that cannot connect)
    last_exit: str = ""  # the latest exit that led to a restart ("container web-1a2b-0/web exited with code 137")


@dataclass(frozen=True)
class DeployRequest:
    """What to deploy for one resource.

    ``objects`` are the resource's objects with images rewritten and labels set.
    ``all_objects`` are every object of the project (rewritten the same way) so a target
    can resolve references across resources (a ConfigMap attached elsewhere, Services).
    ``stale`` are container ids that carry live-updated files devloop cannot vouch for (see
    docs/live-update.md): a target replaces the pods holding them, even when nothing else changed.
    """

    project: Project
    resource: Resource
    objects: tuple[ManifestObject, ...]
    all_objects: tuple[ManifestObject, ...]
    stale: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DeployResult:
    changed: bool  # False when everything was already up to date (nothing replaced)
    summary: str = ""  # e.g. "replaced 2 containers", "unchanged"
    warnings: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()  # ids of ``DeployRequest.stale`` containers that are gone now


@dataclass(frozen=True)
class LogLine:
    resource: str
    source: str  # pod/container
    text: str


@dataclass
class StopToken:
    """Cooperative cancellation for long-running target calls (log streams, forwards)."""

    event: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        self.event.set()

    @property
    def stopped(self) -> bool:
        return self.event.is_set()

    def wait(self, seconds: float) -> bool:
        return self.event.wait(seconds)


@dataclass(frozen=True)
class FileCopy:
    local: str  # absolute path on the host (file, symlink or directory)
    dest: str  # absolute path in the container


class PortForwardHandle(Protocol):
    def close(self) -> None: ...


class Target(Protocol):
    """Where workloads run. All methods are called from worker threads; implementations are thread-safe."""

    name: str  # "docker" | "kubernetes"

    def describe(self) -> str:
        """One line for headers: "docker engine 28.2 at unix:///var/run/docker.sock"."""
        ...

    def set_message_sink(self, on_message: Callable[[str], None]) -> None:
        """Where progress lines that belong to no resource go (kubernetes: waiting for a namespace to
        terminate); a target with none ignores it."""
        ...

    @property
    def namespace(self) -> str | None:
        """The namespace objects without one are deployed to, which helm renders for (kubernetes: --namespace,
        ``kubernetes.namespace`` or the context's); None where there are no namespaces (docker)."""
        ...

    def prepare(self, project: Project) -> None:
        """Create what every resource needs (docker network; kubernetes namespace)."""
        ...

    def deliver(self, reference: str) -> str:
        """Make a locally built image reachable by the target; return the reference to deploy."""
        ...

    def apply(self, request: DeployRequest) -> DeployResult:
        """Create or update the resource; replace only what changed. Raises DeployError."""
        ...

    def delete(self, project: Project, resource_name: str) -> None:
        """Remove everything of one resource (it left the manifests)."""
        ...

    def status(self, project: Project, resource: Resource) -> RuntimeStatus:
        """The resource's current runtime state (cheap; polled by the engine)."""
        ...

    def stream_logs(
        self, project: Project, resource: Resource, on_line: Callable[[LogLine], None], stop: StopToken
    ) -> None:
        """Follow the logs of every container of the resource, switching to new containers after a
        redeploy, without duplicated lines, until ``stop``. Blocking; runs in its own thread."""
        ...

    def copy_files(self, container: ContainerRef, copies: Sequence[FileCopy], deletes: Sequence[str]) -> None:
        """Live update: copy files in (modes kept, symlinks as symlinks, owned by ``container.user``)
        and delete the ``deletes`` paths (absolute container paths). Raises ContainerGoneError."""
        ...

    def exec(self, container: ContainerRef, argv: Sequence[str], on_line: Callable[[str], None]) -> int:
        """Run a command in the container, streaming its output; return its exit code."""
        ...

    def restart(self, container: ContainerRef) -> None:
        """Restart the container's main process, keeping synced files."""
        ...

    def port_forward(
        self, project: Project, resource: Resource, local: int, remote: int, host: str = "127.0.0.1"
    ) -> PortForwardHandle:
        """Listen on host:local and forward to the resource's current ready container/pod on remote.
        A local port in use raises DeployError naming it. Survives redeploys."""
        ...

    def down(self, project_name: str, *, prune_images: bool = False, delete_namespaces: bool = False) -> list[str]:
        """Remove everything devloop made for the project (by label); return what was removed."""
        ...

    def close(self) -> None:
        """Release clients, threads and listeners."""
        ...


class ContainerGoneError(Exception):
    """Live update could not reach the container (gone, restarted, not copyable): fall back to a build."""
