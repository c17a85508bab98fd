"""The engine's state and the read-only snapshots the UI reads.

Only the engine loop mutates :class:`ResourceState`; everyone else gets :class:`Snapshot`
copies (frozen), so a slow reader can never block or corrupt the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PENDING = "pending"  # waiting for its first update (or for depends_on)
    TESTING = "testing"
    BUILDING = "building"
    DEPLOYING = "deploying"
    LIVE_UPDATING = "live-updating"
    STARTING = "starting"  # deployed, waiting for readiness
    READY = "ready"
    COMPLETED = "completed"  # Jobs
    FAILED = "failed"
    MANUAL_PENDING = "manual-pending"  # trigger: manual and changes wait

    @property
    def settled(self) -> bool:
        """Done for `ci`: ready, or completed for Jobs."""
        return self in (Status.READY, Status.COMPLETED)

    @property
    def busy(self) -> bool:
        return self in (Status.TESTING, Status.BUILDING, Status.DEPLOYING, Status.LIVE_UPDATING)


@dataclass(frozen=True)
class UpdateRecord:
    kind: str  # "build" | "live" | "deploy"
    seconds: float  # total
    finished_at: float  # wall clock (time.time())
    build_seconds: float = 0.0
    deploy_seconds: float = 0.0
    detail: str = ""  # "synced 2 files", "unchanged"


@dataclass(frozen=True)
class ResourceView:
    """A frozen picture of one resource for the UI and `devloop status`."""

    name: str
    kind: str
    labels: tuple[str, ...]
    status: Status
    reason: str = ""
    last_lines: tuple[str, ...] = ()
    last_update: UpdateRecord | None = None
    runtime: str = ""  # "2/2 running", "exited 1"
    restarts: int = 0
    port_forwards: tuple[str, ...] = ()  # URLs
    manual: bool = False
    pending_changes: int = 0
    ever_ready: bool = False
    since: float = 0.0  # wall clock of the last status change


@dataclass(frozen=True)
class Snapshot:
    project: str
    target: str  # "docker" | "kubernetes"
    where: str  # engine or context/namespace
    resources: tuple[ResourceView, ...]
    version: int = 0  # increases with every change

    def counts(self) -> dict[str, int]:
        ready = sum(1 for r in self.resources if r.status.settled)
        failed = sum(1 for r in self.resources if r.status is Status.FAILED)
        busy = sum(1 for r in self.resources if r.status.busy or r.status is Status.STARTING)
        return {"total": len(self.resources), "ready": ready, "failed": failed, "updating": busy}

    def resource(self, name: str) -> ResourceView | None:
        return next((r for r in self.resources if r.name == name), None)


@dataclass
class ResourceState:
    """Mutable, engine-owned state of one resource."""

    name: str
    kind: str
    labels: tuple[str, ...] = ()
    manual: bool = False
    status: Status = Status.PENDING
    reason: str = ""
    last_lines: tuple[str, ...] = ()
    last_update: UpdateRecord | None = None
    runtime: str = ""
    restarts: int = 0
    port_forwards: tuple[str, ...] = ()
    ever_ready: bool = False
    deployed: bool = False  # applied at least once by this run
    update_failed: bool = False  # the last update (test, build, deploy, run step) failed: runtime cannot clear it
    dirty: bool = True  # needs an update (first deploy, or files changed)
    triggered: bool = False  # a manual trigger waits to start (file changes then do not park it again)
    full_build: bool = True  # the pending update must build (not only live update)
    pending_changes: int = 0
    since: float = 0.0
    deploy_started: float = 0.0  # monotonic time readiness waiting started
    deploy_seq: int = 0  # bumps with every finished deploy; older runtime reads are dropped
    generation: int = 0  # bumps with every started update; stale results are ignored
    pending_live: list[Any] = field(default_factory=list)  # decide.ImageUpdate waiting to be applied

    def view(self) -> ResourceView:
        return ResourceView(
            name=self.name,
            kind=self.kind,
            labels=self.labels,
            status=self.status,
            reason=self.reason,
            last_lines=self.last_lines,
            last_update=self.last_update,
            runtime=self.runtime,
            restarts=self.restarts,
            port_forwards=self.port_forwards,
            manual=self.manual,
            pending_changes=self.pending_changes,
            ever_ready=self.ever_ready,
            since=self.since,
        )
