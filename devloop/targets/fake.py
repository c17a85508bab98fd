"""An in-memory target for driving the engine in tests (failure injection, no Docker).

It keeps what was applied, copied and executed so tests can assert on the engine's
decisions; the real path is tested against the docker target and a real engine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from devloop.config.model import Project, Resource
from devloop.errors import DeployError
from devloop.targets.base import (
    ContainerGoneError,
    ContainerRef,
    DeployRequest,
    DeployResult,
    FileCopy,
    LogLine,
    Phase,
    PortForwardHandle,
    RuntimeStatus,
    StopToken,
    Target,
)


@dataclass
class _Forward:
    closed: bool = False

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeTarget:
    name: str = "fake"
    namespace: str | None = None
    #: phase a resource reaches after apply (default READY)
    phases: dict[str, Phase] = field(default_factory=dict)
    fail_apply: dict[str, str] = field(default_factory=dict)
    exec_codes: dict[str, int] = field(default_factory=dict)  # argv[-1] -> exit code
    gone: set[str] = field(default_factory=set)  # resources whose containers cannot be copied into
    applied: list[str] = field(default_factory=list)
    stale_seen: list[frozenset[str]] = field(default_factory=list)  # DeployRequest.stale of every apply
    deleted: list[str] = field(default_factory=list)
    copies: list[tuple[str, tuple[FileCopy, ...], tuple[str, ...]]] = field(default_factory=list)
    execs: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    restarts: list[str] = field(default_factory=list)
    forwards: list[_Forward] = field(default_factory=list)
    images: dict[str, str] = field(default_factory=dict)  # resource -> image it runs
    recreated: dict[str, int] = field(default_factory=dict)  # resource -> times its container was re-created
    replicas: dict[str, int] = field(default_factory=dict)  # resource -> containers (pods) it runs (default 1)
    replica_recreated: dict[tuple[str, int], int] = field(default_factory=dict)  # (resource, replica) -> times
    lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self) -> str:
        return "fake target"

    def set_message_sink(self, on_message: Callable[[str], None]) -> None:
        pass

    def prepare(self, project: Project) -> None:
        pass

    def deliver(self, reference: str) -> str:
        return reference

    def apply(self, request: DeployRequest) -> DeployResult:
        name = request.resource.name
        if name in self.fail_apply:
            raise DeployError(self.fail_apply[name])
        with self.lock:
            self.applied.append(name)
            self.stale_seen.append(request.stale)
            for obj in request.objects:
                for c in ((obj.body.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers", []):
                    self.images[name] = str(c.get("image"))
            self.gone.discard(name)
        return DeployResult(changed=True, replaced=tuple(sorted(request.stale)))

    def delete(self, project: Project, resource_name: str) -> None:
        with self.lock:
            self.deleted.append(resource_name)

    def status(self, project: Project, resource: Resource) -> RuntimeStatus:
        with self.lock:
            phase = self.phases.get(resource.name, Phase.READY)
            image = self.images.get(resource.name, "")
            applies = self.applied.count(resource.name)
            again = self.recreated.get(resource.name, 0)
            count = self.replicas.get(resource.name, 1)
            each = [self.replica_recreated.get((resource.name, i), 0) for i in range(count)]
        if count == 1:
            ids = [f"{resource.name}-{applies}-{again}"]
        else:
            ids = [f"{resource.name}-{applies}-{again}-r{i}-{each[i]}" for i in range(count)]
        containers = tuple(ContainerRef(id=cid, name=cid, image=image, pod=resource.name) for cid in ids)
        reason = "crash loop: exited with 1" if phase is Phase.FAILED else ""
        return RuntimeStatus(phase=phase, reason=reason, containers=containers, detail=phase.value)

    def stream_logs(
        self, project: Project, resource: Resource, on_line: Callable[[LogLine], None], stop: StopToken
    ) -> None:
        stop.wait(3600)

    def recreate(self, resource: str) -> None:
        """Simulate a crash restart on Kubernetes: a new container from the same image, files lost."""
        with self.lock:
            self.recreated[resource] = self.recreated.get(resource, 0) + 1

    def recreate_replica(self, resource: str, replica: int) -> None:
        """A crash restart of one of several replicas: only that container is new."""
        with self.lock:
            key = (resource, replica)
            self.replica_recreated[key] = self.replica_recreated.get(key, 0) + 1

    def copy_files(self, container: ContainerRef, copies: Sequence[FileCopy], deletes: Sequence[str]) -> None:
        if container.pod in self.gone:
            raise ContainerGoneError(f"container {container.name} is gone")
        with self.lock:
            self.copies.append((container.name, tuple(copies), tuple(deletes)))

    def exec(self, container: ContainerRef, argv: Sequence[str], on_line: Callable[[str], None]) -> int:
        with self.lock:
            self.execs.append((container.name, tuple(argv)))
        on_line(f"ran {argv[-1]}")
        return self.exec_codes.get(argv[-1], 0)

    def restart(self, container: ContainerRef) -> None:
        with self.lock:
            self.restarts.append(container.name)

    def port_forward(
        self, project: Project, resource: Resource, local: int, remote: int, host: str = "127.0.0.1"
    ) -> PortForwardHandle:
        forward = _Forward()
        self.forwards.append(forward)
        return forward

    def down(self, project_name: str, *, prune_images: bool = False, delete_namespaces: bool = False) -> list[str]:
        return []

    def close(self) -> None:
        pass


def _is_a_target(target: FakeTarget) -> Target:
    return target  # mypy checks that FakeTarget implements every member of the Target protocol
