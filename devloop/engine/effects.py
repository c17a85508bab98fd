"""What the reducer asks for: plain effects, run on the loop's thread by :class:`EffectRunner`.

An effect is data (engine/reduce.py decides, nothing here does). The runner talks to the sink, the monitor,
local processes and the worker pool; the only effect that answers at once is :class:`Follow` (the URLs of the
forwards it opened come back as a :class:`~devloop.engine.events.ForwardsOpened` event for the same step).
Worker jobs (engine/jobs.py) report by posting events.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from devloop.config.model import Project, Resource
from devloop.engine.decide import ImageUpdate
from devloop.engine.events import Event, ForwardsOpened
from devloop.engine.jobs import Jobs
from devloop.engine.local import LocalProcesses
from devloop.engine.monitor import Monitor
from devloop.engine.sink import Sink
from devloop.engine.state import EngineState, Snapshot
from devloop.targets.base import Target

log = logging.getLogger("devloop.engine")


@dataclass(frozen=True)
class Publish:
    """A new snapshot for readers; the state of ``name`` (when given: it changed) goes to the sink too."""

    name: str | None = None


@dataclass(frozen=True)
class Log:
    resource: str
    text: str


@dataclass(frozen=True)
class Message:
    text: str


@dataclass(frozen=True)
class StartUpdate:
    """Run one update of a resource in a worker: build (``full``) or apply the live updates ``live``."""

    resource: Resource
    generation: int
    full: bool
    live: tuple[ImageUpdate, ...]


@dataclass(frozen=True)
class Delete:
    """Remove a resource that left the manifests (in a worker)."""

    project: Project
    name: str


@dataclass(frozen=True)
class Watch:
    """Poll the runtime status of a deployed resource; reads carry its deploy count ``seq``."""

    name: str
    seq: int


@dataclass(frozen=True)
class Unwatch:
    name: str


@dataclass(frozen=True)
class Follow:
    """Follow the logs of a deployed workload and open its port forwards (once each)."""

    name: str


@dataclass(frozen=True)
class Forget:
    """The resource left the project: stop polling, following and forwarding it."""

    name: str


@dataclass(frozen=True)
class CloseForwards:
    """Its list of forwards changed: close the open ones (:class:`Follow` opens the new ones)."""

    name: str


@dataclass(frozen=True)
class StopLocalProcess:
    """Stop the serve of a local resource (and everything it started)."""

    name: str


@dataclass(frozen=True)
class ShareRefs:
    """The images built so far changed: workers deploy with these (image ref -> deployed reference)."""

    refs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class UseProject:
    """The project was reloaded."""

    project: Project


Effect = (
    Publish
    | Log
    | Message
    | StartUpdate
    | Delete
    | Watch
    | Unwatch
    | Follow
    | Forget
    | CloseForwards
    | StopLocalProcess
    | UseProject
    | ShareRefs
)


class EffectRunner:
    """Runs effects for the loop: the one place the engine's decisions turn into calls."""

    def __init__(
        self,
        state: EngineState,
        target: Target,
        sink: Sink,
        monitor: Monitor,
        local: LocalProcesses,
        jobs: Jobs,
    ) -> None:
        self._state = state
        self._target = target
        self._sink = sink
        self._monitor = monitor
        self._local = local
        self._jobs = jobs
        self._pool: ThreadPoolExecutor | None = None
        self._where: str | None = None
        self._snapshot_lock = threading.Lock()
        self._snapshot = self.make_snapshot()

    # ------------------------------------------------------------------ snapshots

    def snapshot(self) -> Snapshot:
        with self._snapshot_lock:
            return self._snapshot

    def make_snapshot(self) -> Snapshot:
        state = self._state
        return Snapshot(
            project=state.project.name,
            target=self._target.name,
            where=self._describe_target(),
            resources=tuple(state.resources[n].view() for n in state.order),
            version=state.version,
        )

    def _describe_target(self) -> str:
        if self._where is None:
            try:
                self._where = self._target.describe()  # once: it may be a call to the engine or cluster
            except Exception:  # describing must never break the loop
                return self._target.name
        return self._where

    # ------------------------------------------------------------------ workers

    def open_pool(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="devloop-work")

    def close_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, job: Callable[[], None]) -> None:
        assert self._pool is not None
        self._pool.submit(job)

    # ------------------------------------------------------------------ running effects

    def run(self, effect: Effect) -> Event | None:
        """Run one effect; an event it answers with at once is returned (the loop reduces it next)."""
        if isinstance(effect, Publish):
            self._publish(effect.name)
        elif isinstance(effect, Log):
            self._sink.log(effect.resource, effect.text)
        elif isinstance(effect, Message):
            self._sink.message(effect.text)
        elif isinstance(effect, StartUpdate):
            self._submit(lambda: self._jobs.update(effect.resource, effect.generation, effect.full, effect.live))
        elif isinstance(effect, Delete):
            self._submit(lambda: self._jobs.delete(effect.project, effect.name))
        elif isinstance(effect, Follow):
            urls = self._monitor.follow(self._state.project, self._state.resource(effect.name))
            return None if urls is None else ForwardsOpened(effect.name, urls)
        else:
            self._run_monitoring(effect)
        return None

    def _run_monitoring(self, effect: Effect) -> None:
        if isinstance(effect, Watch):
            self._monitor.watch(effect.name, effect.seq)
        elif isinstance(effect, Unwatch):
            self._monitor.unwatch(effect.name)
        elif isinstance(effect, Forget):
            self._monitor.forget(effect.name)
        elif isinstance(effect, CloseForwards):
            self._monitor.close_forwards(effect.name)
        elif isinstance(effect, StopLocalProcess):
            self._local.stop(effect.name)
        elif isinstance(effect, UseProject):
            self._monitor.use_project(effect.project)
            self._jobs.use_project(effect.project)
        elif isinstance(effect, ShareRefs):
            self._jobs.use_refs(dict(effect.refs))

    def _publish(self, name: str | None) -> None:
        snap = self.make_snapshot()
        with self._snapshot_lock:
            self._snapshot = snap
        view = snap.resource(name) if name is not None else None
        if view is not None:
            self._sink.state(view, snap)
