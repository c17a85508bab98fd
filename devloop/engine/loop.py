"""The engine: the one owner of state.

The loop takes an event from its queue, reduces it (engine/reduce.py: a pure function of the state, the event
and the time, which changes the :class:`EngineState` and asks for effects), and runs the effects
(engine/effects.py: the sink, the monitor, local processes, worker jobs). Workers (engine/jobs.py) and the
monitor answer with events. Only the loop's thread changes state. :meth:`Engine.step` runs one round
synchronously, so tests drive the engine with a fake clock.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
from collections.abc import Callable, Sequence
from pathlib import Path

from devloop.config.model import ImageSpec, Project
from devloop.engine import decide
from devloop.engine.clock import Clock, MonotonicClock
from devloop.engine.effects import Effect, EffectRunner
from devloop.engine.events import BatchRead, Event, FileBatch, FilesChanged, Stop, StopLocal, Tick, Trigger
from devloop.engine.jobs import Builder, Jobs
from devloop.engine.liverecords import MemoryRecords, Records
from devloop.engine.local import LocalProcesses
from devloop.engine.monitor import Monitor
from devloop.engine.options import EngineOptions
from devloop.engine.ownwrites import OwnSteps
from devloop.engine.reduce import (
    Now,
    container_age,
    new_state,
    own_writes,
    reduce,
    restart_line,
    running_images,
    select_resources,
    settle,
)
from devloop.engine.sink import Sink
from devloop.engine.state import EngineState, Snapshot
from devloop.engine.watcher import WatcherLike
from devloop.errors import DevloopError
from devloop.targets.base import Target
from devloop.util import terminate_children

log = logging.getLogger("devloop.engine")

__all__ = [
    "Builder",
    "Engine",
    "EngineOptions",
    "container_age",
    "restart_line",
    "select_resources",
    "summary_lines",
]

#: seconds the loop waits for an event before it ticks (readiness timeouts, the ci deadline)
TICK_SECONDS = 0.25

#: Makes a watcher for a project that calls back with (changed, deleted) absolute paths.
WatcherFactory = Callable[[Project, Callable[[FilesChanged], None]], WatcherLike]


class Engine:
    def __init__(
        self,
        project: Project,
        target: Target,
        builder: Builder,
        sink: Sink,
        options: EngineOptions,
        *,
        watcher_factory: WatcherFactory | None = None,
        reload_project: Callable[[], Project] | None = None,
        ignored_for_image: Callable[[Path, ImageSpec], bool] | None = None,
        config_files: Callable[[Project], Sequence[Path]] | None = None,
        clock: Clock | None = None,
        records: Records | None = None,
    ) -> None:
        self.target = target
        self.builder = builder
        self._sink = sink  # handed to the monitor, the workers and the effect runner: fixed for the engine's life
        self.options = options
        self._watcher_factory = watcher_factory
        self._reload_project = reload_project
        self._ignored_for_image = ignored_for_image or (lambda path, image: False)
        self._config_files = config_files or (lambda p: [p.config.path])
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._events: queue.Queue[Event] = queue.Queue()
        now = self._now()
        order = select_resources(project, options.only)
        resources = {name: new_state(project, name, options.mode, now.wall) for name in order}
        self.state = EngineState(project, options, order, resources, started=now.monotonic)
        # files written by devloop's own steps (test stages, run steps) must not start updates forever
        self._own = OwnSteps(self._clock.wall)
        # cmd and serve of local resources, run on the host; their output goes to the resource's log
        self._local = LocalProcesses(sink.log, self._clock)
        # status polling, log followers and port forwards
        self._monitor = Monitor(target, self._local, sink, self.post, options, self._clock)
        self._monitor.use_project(project)
        self._jobs = Jobs(
            project,
            target,
            builder,
            sink,
            post=self.post,
            # containers carrying live-updated files (kept outside the process by the session: see liverecords)
            records=records if records is not None else MemoryRecords(),
            own=self._own,
            local=self._local,
            clock=self._clock,
            mode=options.mode,
        )
        self._effects = EffectRunner(self.state, target, sink, self._monitor, self._local, self._jobs)
        self._watcher: WatcherLike | None = None

    @property
    def project(self) -> Project:
        return self.state.project

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def sink(self) -> Sink:
        return self._sink

    # ----------------------------------------------------------------- public API

    def post(self, event: Event) -> None:
        """Thread-safe: hand an event to the loop."""
        self._events.put(event)

    def trigger(self, name: str) -> None:
        self.post(Trigger(name))

    def stop(self) -> None:
        self.post(Stop())

    def stop_local(self) -> list[str]:
        """Thread-safe: stop the processes of every local resource (`devloop down` while `up` runs); they wait
        for a trigger or a change of their deps. Returns their names."""
        resources = self.state.resources
        names = [r.name for r in self.project.resources if r.local and r.local.serve and r.name in resources]
        self.post(StopLocal())
        return names

    def snapshot(self) -> Snapshot:
        return self._effects.snapshot()

    def run(self) -> int:
        """Run until stopped (up) or settled (ci). Returns the exit code; always cleans up."""
        try:
            self.start()
            while True:
                result = self.step(wait=TICK_SECONDS)
                if result is not None:
                    return result
        finally:
            self.close()

    def start(self, *, background: bool = True) -> None:
        """Prepare the target and schedule the first updates; ``background``: start the monitor's threads and the
        watcher (without them, :meth:`poll` reads the runtime status, and tests post file batches)."""
        self._effects.open_pool(self.options.parallel)
        self.target.set_message_sink(self.sink.message)  # progress outside any resource (kubernetes)
        self.target.prepare(self.project)
        if background:
            self._monitor.start()
            if self.options.watch and self._watcher_factory is not None:
                self._watcher = self._watcher_factory(self.project, self.post)
                self._watcher.start()
        self._run(settle(self.state, self._now()))

    def step(self, wait: float = 0.0) -> int | None:
        """One round of the loop: the next event (waiting up to ``wait`` seconds for one, else a tick), every
        event queued behind it, then what may start now. Returns the exit code once the run is over."""
        try:
            event = self._events.get(timeout=wait) if wait > 0 else self._events.get_nowait()
        except queue.Empty:
            event = Tick()
        self._apply(event)
        while True:  # every event already queued, before deciding what runs next
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            self._apply(event)
        self._run(settle(self.state, self._now()))
        self._monitor.set_settling(self.state.settling())
        return self.state.result

    def poll(self) -> None:
        """Read the runtime status of every deployed resource now (what the monitor's threads do)."""
        self._monitor.poll()

    @property
    def idle(self) -> bool:
        """No update runs and no event waits (for tests that step the engine)."""
        return self.state.running == 0 and self._events.empty()

    def close(self) -> None:
        """Stop everything the engine started: workers, processes, the monitor's threads, the watcher."""
        self._jobs.stopping.set()
        self._monitor.stop()
        if self._watcher is not None:
            try:
                self._watcher.stop()
            except Exception as exc:
                log.debug("stopping the watcher failed: %s", exc)
        self.builder.cancel()
        self._local.stop_all()
        terminate_children()
        self._effects.close_pool()
        self._local.stop_all()  # a serve started by a worker while stopping
        terminate_children()
        self._monitor.join()

    # ----------------------------------------------------------------- the loop

    def _now(self) -> Now:
        return Now(self._clock.monotonic(), self._clock.wall())

    def _apply(self, event: Event) -> None:
        if isinstance(event, FileBatch):
            event = self._read(event)
        self._run(reduce(self.state, event, self._now()))

    def _run(self, effects: list[Effect]) -> None:
        for effect in effects:
            answer = self._effects.run(effect)
            if answer is not None:
                self._apply(answer)  # before the next effect (a snapshot shows the forwards just opened)

    def _read(self, batch: FileBatch) -> BatchRead:
        """What the reducer needs to know of a file batch: the times of its files while own steps ran, the plan
        (config reload, build or live update per image) and the project loaded again when it changed."""
        arrived = self._clock.wall()
        if batch.overflow:
            return BatchRead(batch, {}, (), arrived=arrived, reloaded=self._load())
        windows = self._own.windows()
        stamps: dict[Path, float | None] = {}
        if windows:
            stamps = {p: None for p in batch.deleted}
            for path in batch.changed:
                try:
                    stamps[path] = path.lstat().st_mtime
                except OSError:
                    stamps[path] = None
        read = BatchRead(batch, stamps, windows, arrived=arrived)
        kept = own_writes(self.state, read).batch
        if not kept.changed and not kept.deleted:
            return read
        project = self.project
        plan = decide.plan_batch(
            project,
            sorted(kept.changed),
            sorted(kept.deleted),
            config_files=self._config_files(project),
            ignored_for_image=self._ignored_for_image,
            running_images=running_images(self.state),
        )
        return dataclasses.replace(read, plan=plan, reloaded=self._load() if plan.reload_config else None)

    def _load(self) -> Project | str | None:
        """The project loaded again, why it could not be, or None when this engine does not reload."""
        if self._reload_project is None:
            return None
        try:
            return self._reload_project()
        except DevloopError as exc:
            return str(exc)


def summary_lines(snapshot: Snapshot) -> list[str]:
    """One line per resource for the end of `ci`: its state, with the reason; an update still running when `ci`
    ended was cancelled and says so."""
    width = max((len(r.name) for r in snapshot.resources), default=0)
    lines = []
    for view in snapshot.resources:
        text = f"{view.name.ljust(width)}  {view.status.value}"
        if view.status.busy:  # stopped with the run (another resource failed, the timeout, a signal)
            text = f"{view.name.ljust(width)}  cancelled while {view.status.value}"
        elif view.reason:
            text += f": {view.reason}"
        lines.append(text)
    return lines
