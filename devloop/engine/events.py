"""Events the engine loop consumes. Workers, the watcher, the monitor and the UI only ever
talk to the engine by posting one of these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devloop.engine.state import UpdateRecord
from devloop.targets.base import RuntimeStatus


@dataclass(frozen=True)
class FilesChanged:
    changed: frozenset[Path]
    deleted: frozenset[Path]
    overflow: bool = False  # the watcher lost events: treat everything as changed


@dataclass(frozen=True)
class UpdateFinished:
    resource: str
    generation: int
    record: UpdateRecord | None  # None when it failed
    error: str = ""
    error_lines: tuple[str, ...] = ()
    fell_back: bool = False  # a live update could not be done: build instead
    has_workload: bool = True
    restarted: bool = False  # a live update restarted the containers: ready only once they are ready again


@dataclass(frozen=True)
class StageStarted:
    resource: str
    generation: int
    stage: str  # "testing" | "building" | "deploying" | "live-updating"


@dataclass(frozen=True)
class RuntimeChanged:
    resource: str
    status: RuntimeStatus
    deploy_seq: int = 0  # the resource's deploy count when the status was read


@dataclass(frozen=True)
class Trigger:
    resource: str


@dataclass(frozen=True)
class StopLocal:
    """`devloop down` asked a running `up` to stop its local resources (they wait for a trigger or a change)."""


@dataclass(frozen=True)
class Tick:
    """Periodic wake-up: readiness timeouts, `ci` deadline."""


@dataclass(frozen=True)
class Stop:
    reason: str = ""


Event = FilesChanged | UpdateFinished | StageStarted | RuntimeChanged | Trigger | Tick | Stop | StopLocal
