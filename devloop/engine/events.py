"""Events the engine loop consumes. Workers, the watcher, the monitor and the UI only ever
talk to the engine by posting one of these."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from devloop.config.model import Project
from devloop.engine.decide import BatchPlan, StepWindow
from devloop.engine.state import UpdateRecord
from devloop.targets.base import RuntimeStatus


@dataclass(frozen=True)
class FileBatch:
    """A debounced batch of file changes; paths are absolute.

    ``changed``: created or modified files and folders (a created folder appears so that an empty one can
    be synced; its files appear too). ``deleted``: deleted files, and deleted folders as the folder
    itself (delete it recursively). A path is never in both. By the time the batch is handled a changed
    path may already be gone again: its deletion comes in a later batch.

    ``overflow``: the kernel dropped events (its inotify queue overflowed), so the batch may miss
    changes; treat every image as changed.
    """

    changed: frozenset[Path] = frozenset()
    deleted: frozenset[Path] = frozenset()
    overflow: bool = False

    @property
    def all(self) -> frozenset[Path]:
        return self.changed | self.deleted

    @property
    def empty(self) -> bool:
        return not self.changed and not self.deleted and not self.overflow

    @classmethod
    def of(cls, changed: Iterable[Path | str] = (), deleted: Iterable[Path | str] = ()) -> FileBatch:
        return cls(frozenset(Path(p) for p in changed), frozenset(Path(p) for p in deleted))

    def __repr__(self) -> str:
        def short(paths: frozenset[Path]) -> str:
            names = sorted(str(p) for p in paths)
            return repr(names) if len(names) <= 5 else f"[{len(names)} paths, {names[0]!r}...]"

        flag = ", overflow=True" if self.overflow else ""
        return f"FileBatch(changed={short(self.changed)}, deleted={short(self.deleted)}{flag})"


#: the event the watcher posts: one debounced batch
FilesChanged = FileBatch


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
    warnings: tuple[str, ...] = ()  # the target's warnings of the deploy (told once)


@dataclass(frozen=True)
class ImageBuilt:
    """A worker built (or found) an image and made it reachable by the target as ``deployed``."""

    ref: str
    deployed: str


@dataclass(frozen=True)
class FilesSynced:
    """A worker copied (and deleted) the files of ``update`` into a container of ``reference``."""

    reference: str
    copies: tuple[tuple[str, str], ...]  # (local, container path)
    deletes: tuple[str, ...]


@dataclass(frozen=True)
class ContainerRestarting:
    """A worker is about to restart a container (live update): its new start is not a re-creation."""

    container: str


@dataclass(frozen=True)
class ForwardsOpened:
    resource: str
    urls: tuple[str, ...]


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


@dataclass(frozen=True)
class BatchRead:
    """A file batch with what the loop read for it (file times, own steps' windows, the plan, a reloaded
    project), ready for the pure reducer."""

    batch: FileBatch
    stamps: dict[Path, float | None]  # modification time of each path while own steps ran (None: gone)
    windows: tuple[StepWindow, ...]  # when devloop's own steps ran
    arrived: float = 0.0  # wall clock when the loop read the batch
    plan: BatchPlan | None = None  # None for an overflow
    reloaded: Project | str | None = None  # the project loaded again, or why it could not be


Event = (
    FilesChanged
    | UpdateFinished
    | StageStarted
    | RuntimeChanged
    | Trigger
    | Tick
    | Stop
    | StopLocal
    | ImageBuilt
    | FilesSynced
    | ContainerRestarting
    | ForwardsOpened
    | BatchRead
)
