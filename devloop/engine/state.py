"""The engine's state and the read-only snapshots the UI reads.

Only the engine loop mutates :class:`EngineState` (and the :class:`ResourceState` of each resource it holds);
everyone else gets :class:`Snapshot` copies (frozen), so a slow reader can never block or corrupt the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from devloop.config.model import Project, Resource
from devloop.engine.options import EngineOptions
from devloop.targets.base import RuntimeStatus


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
    _view: ResourceView | None = field(default=None, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name != "_view":
            object.__setattr__(self, "_view", None)  # changed: the next view() is made again

    def view(self) -> ResourceView:
        """The frozen picture of this state (made again only after a change: a snapshot of 300 resources where one
        changed makes one view)."""
        if self._view is None:
            self._view = self._make_view()
        return self._view

    def _make_view(self) -> ResourceView:
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


@dataclass
class EngineState:
    """Everything the engine knows, in one place; only the loop changes it (engine/reduce.py)."""

    project: Project
    options: EngineOptions
    order: list[str]  # the selected resources, in deploy order
    resources: dict[str, ResourceState]
    started: float  # monotonic time the engine started (ci deadline)
    runtime: dict[str, RuntimeStatus] = field(default_factory=dict)  # the latest status read of each resource
    running: int = 0  # updates running in workers
    version: int = 0  # of the snapshot: increases with every change
    result: int | None = None  # the exit code once the run is over
    # live update bookkeeping, so that synced work is never silently lost: per built reference, every container
    # path written (-> local file) or deleted (-> None) since that image was built, and the containers seen per
    # resource (id -> started at), to spot (re)created ones that need those files again
    refs: dict[str, str] = field(default_factory=dict)  # image ref -> deployed reference
    ref_of: dict[str, str] = field(default_factory=dict)  # deployed reference -> image ref
    synced: dict[str, dict[str, str | None]] = field(default_factory=dict)
    containers_seen: dict[str, dict[str, float]] = field(default_factory=dict)
    restarted_by_us: set[str] = field(default_factory=set)  # container ids a live update restarts
    ready_seen: dict[str, tuple[float, int]] = field(default_factory=dict)  # ci: (first seen ready, restarts then)
    warned: set[str] = field(default_factory=set)  # warnings and notes told once
    # files written by devloop's own steps (test stages, run steps) must not start updates forever
    own_prev: frozenset[Path] = frozenset()
    own_ignored: frozenset[Path] = frozenset()

    def resource(self, name: str) -> Resource:
        resource = self.project.resource(name)
        assert resource is not None, name
        return resource

    def settling(self) -> bool:
        """Something is coming up (the monitor polls faster)."""
        return any(s.status in (Status.STARTING, Status.PENDING) for s in self.resources.values())
