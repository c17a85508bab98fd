"""The engine: the one owner of state.

A loop consumes events (file batches, stage started/finished, runtime changes, triggers,
ticks) and decides what runs next; blocking work (tests, builds, deploys, live updates) runs in
a bounded worker pool and reports back with events. Only :meth:`Engine._handle` and the
methods it calls mutate state, and only on the loop's thread.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from devloop.build.testing import run_test_stage
from devloop.config.model import UNCATEGORIZED, ImageSpec, ManifestObject, Project, Resource
from devloop.engine import decide
from devloop.engine.clock import Clock, MonotonicClock
from devloop.engine.events import (
    Event,
    FilesChanged,
    RuntimeChanged,
    StageStarted,
    Stop,
    StopLocal,
    Tick,
    Trigger,
    UpdateFinished,
)
from devloop.engine.liverecords import MemoryRecords, Records
from devloop.engine.local import LocalProcesses
from devloop.engine.monitor import Monitor
from devloop.engine.options import EngineOptions
from devloop.engine.ownwrites import OwnSteps
from devloop.engine.sink import Sink
from devloop.engine.state import ResourceState, Snapshot, Status, UpdateRecord
from devloop.engine.watcher import WatcherLike
from devloop.errors import BuildError, DevloopError, TestFailedError, UsageError
from devloop.exit_status import ExitStatus
from devloop.targets.base import (
    ContainerGoneError,
    ContainerRef,
    DeployRequest,
    FileCopy,
    Phase,
    RuntimeStatus,
    Target,
)
from devloop.util import terminate_children

log = logging.getLogger("devloop.engine")

__all__ = ["Builder", "Engine", "EngineOptions", "select_resources", "summary_lines"]


class BuiltImage(Protocol):
    @property
    def reference(self) -> str: ...

    @property
    def built(self) -> bool: ...


class Builder(Protocol):
    def build(self, image: ImageSpec, on_line: Callable[[str], None]) -> BuiltImage: ...

    def cancel(self) -> None:
        """Stop every build in progress (from any thread)."""
        ...


#: Makes a watcher for a project that calls back with (changed, deleted) absolute paths.
WatcherFactory = Callable[[Project, Callable[[FilesChanged], None]], WatcherLike]


def select_resources(project: Project, only: Sequence[str]) -> list[str]:
    """The named resources plus everything they depend on (and uncategorized), in deploy order."""
    names = [r.name for r in project.resources]
    if not only:
        return names
    import difflib

    unknown = [n for n in only if n not in names]
    if unknown:
        close = difflib.get_close_matches(unknown[0], names, n=1)
        hint = f" Did you mean `{close[0]}`?" if close else f" Known resources: {', '.join(names)}."
        raise UsageError(f"no resource named `{unknown[0]}` in this project.{hint}")
    from devloop.config.resources import deploy_order

    return deploy_order(project, [*only, UNCATEGORIZED])  # the depends_on closure (uncategorized always)


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
        self.project = project
        self.target = target
        self.builder = builder
        self.sink = sink
        self.options = options
        self._watcher_factory = watcher_factory
        self._reload_project = reload_project
        self._ignored_for_image = ignored_for_image or (lambda path, image: False)
        self._config_files = config_files or (lambda p: [p.config.path])
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        # containers carrying live-updated files (kept outside the process by the session: see liverecords)
        self._records: Records = records if records is not None else MemoryRecords()
        self._events: queue.Queue[Event] = queue.Queue()
        self._order = select_resources(project, options.only)
        self._states: dict[str, ResourceState] = {}
        for name in self._order:
            self._states[name] = self._new_state(project, name)
        self._running = 0
        self._pool: ThreadPoolExecutor | None = None
        self._refs: dict[str, str] = {}  # image ref -> deployed reference
        self._refs_lock = threading.Lock()
        self._image_locks: dict[str, threading.Lock] = {}
        self._runtime: dict[str, RuntimeStatus] = {}
        self._stopping = threading.Event()
        self._watcher: WatcherLike | None = None
        self._version = 0
        self._where: str | None = None
        self._snapshot = self._make_snapshot()
        self._snapshot_lock = threading.Lock()
        self._result: int | None = None
        self._started = self._clock.monotonic()
        self._warned: set[str] = set()
        # Live update bookkeeping, so that synced work is never silently lost: per built reference, every
        # container path written (-> local file) or deleted (-> None) since that image was built; and
        # the containers seen per resource, to spot (re)created ones that need those files again.
        self._synced: dict[str, dict[str, str | None]] = {}
        self._ref_of: dict[str, str] = {}  # built reference -> image ref
        self._containers_seen: dict[str, dict[str, str]] = {}
        self._restarted_by_us: set[str] = set()
        self._ready_seen: dict[str, tuple[float, int]] = {}  # ci: (first seen ready, restarts then)
        # files written by devloop's own steps (test stages, run steps) must not start updates forever
        self._own = OwnSteps(self._clock.wall)
        self._own_prev: frozenset[Path] = frozenset()
        self._own_ignored: frozenset[Path] = frozenset()
        # cmd and serve of local resources, run on the host; their output goes to the resource's log
        self._local = LocalProcesses(self.sink.log, self._clock)
        # status polling, log followers and port forwards
        self._monitor = Monitor(target, self._local, sink, self.post, options, self._clock)
        self._monitor.use_project(project)

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
        names = [r.name for r in self.project.resources if r.local and r.local.serve and r.name in self._states]
        self.post(StopLocal())
        return names

    def snapshot(self) -> Snapshot:
        with self._snapshot_lock:
            return self._snapshot

    def run(self) -> int:
        """Run until stopped (up) or settled (ci). Returns the exit code; always cleans up."""
        self._pool = ThreadPoolExecutor(max_workers=max(1, self.options.parallel), thread_name_prefix="devloop-work")
        try:
            self.target.set_message_sink(self.sink.message)  # progress outside any resource (kubernetes)
            self.target.prepare(self.project)
            self._start_background()
            self._schedule()
            while self._result is None:
                try:
                    event = self._events.get(timeout=0.25)
                except queue.Empty:
                    event = Tick()
                self._handle(event)
                self._drain()
                self._schedule()
                self._check_ci()
                self._monitor.set_settling(self._settling())
            return self._result
        finally:
            self._shutdown()

    # ----------------------------------------------------------------- state helpers

    def _settling(self) -> bool:
        return any(s.status in (Status.STARTING, Status.PENDING) for s in self._states.values())

    def _new_state(self, project: Project, name: str) -> ResourceState:
        resource = project.resource(name)
        assert resource is not None
        settings = resource.settings
        manual = settings.trigger == "manual" and self.options.mode == "up"
        return ResourceState(
            name=name, kind=resource.kind, labels=settings.labels, manual=manual, since=self._clock.wall()
        )

    def _resource(self, name: str) -> Resource:
        resource = self.project.resource(name)
        assert resource is not None, name
        return resource

    def _set(self, name: str, status: Status, reason: str = "", lines: Sequence[str] = ()) -> None:
        state = self._states[name]
        changed = state.status != status or state.reason != reason
        state.status = status
        state.reason = reason
        state.last_lines = tuple(lines)
        if changed:
            state.since = self._clock.wall()
            self._publish(name)

    def _publish(self, name: str | None = None) -> None:
        self._version += 1
        snap = self._make_snapshot()
        with self._snapshot_lock:
            self._snapshot = snap
        if name is not None:
            view = snap.resource(name)
            if view is not None:
                self.sink.state(view, snap)

    def _make_snapshot(self) -> Snapshot:
        return Snapshot(
            project=self.project.name,
            target=self.target.name,
            where=self._describe_target(),
            resources=tuple(self._states[n].view() for n in self._order),
            version=self._version,
        )

    def _describe_target(self) -> str:
        if self._where is None:
            try:
                self._where = self.target.describe()  # once: it may be a call to the engine or cluster
            except Exception:  # describing must never break the loop
                return self.target.name
        return self._where

    # ----------------------------------------------------------------- the loop

    def _drain(self) -> None:
        """Handle every event already queued before deciding what runs next."""
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            self._handle(event)

    def _handle(self, event: Event) -> None:
        if isinstance(event, Stop):
            self._result = ExitStatus.SUCCESS
        elif isinstance(event, StageStarted):
            state = self._states.get(event.resource)
            if state is not None and state.generation == event.generation:
                self._set(event.resource, Status(event.stage))
        elif isinstance(event, UpdateFinished):
            self._on_update_finished(event)
        elif isinstance(event, RuntimeChanged):
            state = self._states.get(event.resource)
            if state is None or state.deploy_seq != event.deploy_seq:
                return  # a status read before the latest deploy finished
            self._runtime[event.resource] = event.status
            self._apply_runtime(event.resource)
        elif isinstance(event, FilesChanged):
            self._on_files(event)
        elif isinstance(event, Trigger):
            self._on_trigger(event.resource)
        elif isinstance(event, Tick):
            self._check_timeouts()
        elif isinstance(event, StopLocal):
            self._on_stop_local()

    def _schedule(self) -> None:
        if self._result is not None or self._stopping.is_set():
            return
        depends = {n: self._resource(n).settings.depends_on for n in self._order}
        plan = decide.schedule(
            self._order, self._states, depends, running=self._running, parallel=max(1, self.options.parallel)
        )
        for name, missing in plan.waiting.items():
            state = self._states[name]
            if state.status is Status.PENDING:
                reason = f"waiting for {', '.join(missing)}"
                if state.reason != reason:
                    self._set(name, Status.PENDING, reason)
        for name in plan.start:
            self._start_update(name)

    def _start_update(self, name: str) -> None:
        state = self._states[name]
        state.dirty = False
        state.triggered = False
        state.generation += 1
        state.pending_changes = 0
        full = state.full_build or not state.deployed
        live = tuple(state.pending_live)
        state.pending_live = []
        state.full_build = False
        self._running += 1
        resource = self._resource(name)
        assert self._pool is not None
        self._pool.submit(self._update_job, resource, state.generation, full, live)

    def _on_update_finished(self, event: UpdateFinished) -> None:
        self._running -= 1
        state = self._states.get(event.resource)
        if state is None or state.generation != event.generation:
            return
        if event.fell_back:
            state.dirty = True
            state.full_build = True
            self.sink.log(event.resource, f"live update not possible ({event.error}); rebuilding")
            self._set(event.resource, Status.PENDING, "rebuilding: live update not possible")
            return
        if event.record is None:
            state.update_failed = True
            self._set(event.resource, Status.FAILED, event.error, event.error_lines)
            return
        state.update_failed = False
        state.last_update = event.record
        state.deployed = True
        state.deploy_seq += 1
        if not event.has_workload:
            state.ever_ready = True
            self._set(event.resource, Status.READY)
            return
        state.deploy_started = self._clock.monotonic()
        self._monitor.watch(event.resource, state.deploy_seq)
        self._follow(event.resource)
        runtime = self._runtime.get(event.resource)
        if event.record.kind == "live" and not event.restarted and runtime is not None and runtime.phase is Phase.READY:
            self._set(event.resource, Status.READY)
        else:
            self._runtime.pop(event.resource, None)  # wait for a fresh status of the new deployment
            self._ready_seen.pop(event.resource, None)
            self._set(event.resource, Status.STARTING)

    def _apply_runtime(self, name: str) -> None:
        state = self._states.get(name)
        runtime = self._runtime.get(name)
        if state is None or runtime is None or not state.deployed:
            return
        state.runtime = runtime.detail
        for note in runtime.notes:
            if note not in self._warned:
                self._warned.add(note)
                self.sink.log(name, f"warning: {note}")
        if runtime.restarts > state.restarts and runtime.last_exit:
            self.sink.log(name, restart_line(runtime.last_exit, runtime.restarts))
        state.restarts = runtime.restarts
        if state.status.busy or state.status is Status.MANUAL_PENDING:
            self._publish()
            return
        if runtime.phase in (Phase.RUNNING, Phase.READY) and self._check_new_containers(name, runtime):
            self._set(name, Status.PENDING, "re-syncing live-updated files")
            return
        if state.status is Status.FAILED and (state.dirty or state.update_failed):
            self._publish()  # a failed build, test or run step stands until the next update
            return
        phase = runtime.phase
        seen = self._ready_seen.get(name)
        if phase is not Phase.READY:
            self._ready_seen.pop(name, None)
        elif seen is None or seen[1] != runtime.restarts:
            self._ready_seen[name] = (self._clock.monotonic(), runtime.restarts)
        if phase is Phase.READY:
            state.ever_ready = True
            self._set(name, Status.READY)
        elif phase is Phase.COMPLETED:
            state.ever_ready = True
            self._set(name, Status.COMPLETED)
        elif phase is Phase.FAILED:
            self._set(name, Status.FAILED, runtime.reason, runtime.last_logs)
        elif state.status is Status.FAILED and state.reason.startswith("not ready after"):
            self._publish()
        else:
            if state.status is not Status.STARTING:
                state.deploy_started = self._clock.monotonic()
            self._set(name, Status.STARTING, runtime.reason)

    def _check_timeouts(self) -> None:
        now = self._clock.monotonic()
        for name, state in self._states.items():
            if state.status is not Status.STARTING:
                continue
            limit = self._resource(name).settings.readiness_timeout
            if now - state.deploy_started > limit:
                runtime = self._runtime.get(name)
                detail = f" ({runtime.detail})" if runtime and runtime.detail else ""
                self._set(
                    name,
                    Status.FAILED,
                    f"not ready after {limit:.0f} s{detail}; raise resources.{name}.readiness_timeout "
                    "or check its readiness probe",
                    runtime.last_logs if runtime else (),
                )
        if self.options.timeout is not None and now - self._started > self.options.timeout:
            self.sink.message(f"timed out after {self.options.timeout:.0f} s")
            self._result = ExitStatus.ERROR

    def _check_ci(self) -> None:
        if self.options.mode != "ci" or self._result is not None:
            return
        outcome = decide.ci_outcome(self._states)
        if outcome == "success" and not self._unsettled():
            self._result = ExitStatus.SUCCESS
        elif outcome == "failure":
            self._result = ExitStatus.ERROR

    def _unsettled(self) -> list[str]:
        """ci: ready resources whose containers without a readiness probe have not yet kept running
        for ``ci_settle`` seconds without a restart (running is weak evidence without a probe)."""
        from devloop.config.resources import containers

        now = self._clock.monotonic()
        waiting = []
        for name, state in self._states.items():
            workload = self._resource(name).workload
            if state.status is not Status.READY or workload is None or not state.deployed:
                continue
            if all(c.get("readinessProbe") for c in containers(workload, init=False, ephemeral=False)):
                continue
            seen = self._ready_seen.get(name)
            if seen is not None and now - seen[0] >= self.options.ci_settle:
                continue
            runtime = self._runtime.get(name)
            ages = [container_age(c.started_at, self._clock.wall()) for c in runtime.containers] if runtime else []
            if ages and all(age is not None and age >= self.options.ci_settle for age in ages):
                continue  # already running long enough (e.g. unchanged by this run): no need to wait
            waiting.append(name)
        return waiting

    def _on_stop_local(self) -> None:
        for name in self._order:
            resource = self._resource(name)
            state = self._states[name]
            if resource.local is None or (resource.local.serve is None and not state.status.busy):
                continue  # a cmd that is not running has nothing to stop
            self._local.stop(name)
            self._monitor.unwatch(name)
            state.generation += 1  # an update still running is forgotten
            state.deployed = False  # nothing to watch until it runs again
            state.dirty = False
            self._runtime.pop(name, None)
            self.sink.log(name, "stopped by `devloop down`")
            self._set(name, Status.PENDING, "stopped by `devloop down`; trigger it or change its deps to run it again")

    def _on_trigger(self, name: str) -> None:
        state = self._states.get(name)
        if state is None:
            self.sink.message(f"trigger: no resource named {name}")
            return
        state.dirty = True
        state.triggered = True
        if state.status is Status.MANUAL_PENDING or state.status is Status.FAILED:
            state.status = Status.PENDING
        if not state.pending_live:
            state.full_build = True
        self.sink.log(name, "update triggered")

    # ----------------------------------------------------------------- file changes

    def _running_images(self) -> dict[str, bool]:
        running: dict[str, bool] = {}
        for name in self._order:
            resource = self._resource(name)
            runtime = self._runtime.get(name)
            has = bool(runtime and runtime.containers) and self._states[name].deployed
            for ref in resource.images:
                running[ref] = running.get(ref, False) or has
        return running

    def _on_files(self, event: FilesChanged) -> None:
        if event.overflow:
            # The kernel dropped file events: we cannot know what changed, so reload and rebuild all.
            self.sink.message("the file watcher lost events (too many changes at once): reloading and rebuilding")
            self._reload()
            for name, rebuild in self._states.items():
                if self._resource(name).images:
                    rebuild.dirty = True
                    rebuild.full_build = True
                    rebuild.pending_live = []
            return
        event = self._without_own_writes(event)
        if not event.changed and not event.deleted:
            return
        plan = decide.plan_batch(
            self.project,
            sorted(event.changed),
            sorted(event.deleted),
            config_files=self._config_files(self.project),
            ignored_for_image=self._ignored_for_image,
            running_images=self._running_images(),
        )
        if plan.reload_config:
            self._reload()
        changed = sorted(event.changed | event.deleted)
        for name in decide.local_resources_for_paths(self.project, changed):
            state = self._states.get(name)
            if state is None:
                continue
            state.dirty = True
            state.full_build = True
            state.pending_changes += 1
            if state.manual and not state.triggered:
                state.dirty = False
                self._set(name, Status.MANUAL_PENDING, f"{state.pending_changes} changed file(s)")
        for update in plan.images:
            for name in decide.resources_for_images(self.project, [update.ref]):
                state = self._states.get(name)
                if state is None:
                    continue
                state.dirty = True
                state.pending_changes += len(update.changed)
                if update.kind == "build":
                    state.full_build = True
                    state.pending_live = []
                    log.debug("%s: full build: %s", name, update.reason)
                elif not state.full_build:
                    state.pending_live.append(update)
                if state.manual and not state.triggered:  # a trigger not yet started takes these along
                    state.dirty = False
                    self._set(name, Status.MANUAL_PENDING, f"{state.pending_changes} changed file(s)")

    def _without_own_writes(self, event: FilesChanged) -> FilesChanged:
        """Stop updates that start again and again on files devloop's own steps write (a test stage writing a
        report into the context): a path written by a step in two batches in a row that held nothing else is
        said once, then ignored whenever a step writes it."""
        windows = self._own.windows()
        if not windows:
            self._own_prev = frozenset()
            return event
        stamps: dict[Path, float | None] = {p: None for p in event.deleted}
        for path in event.changed:
            try:
                stamps[path] = path.lstat().st_mtime
            except OSError:
                stamps[path] = None
        own = decide.written_by_own_steps(stamps, windows, self._clock.wall())
        drop = {p for p in own if p in self._own_ignored}
        fresh = frozenset(own.keys() - drop)
        self._own_prev, looping = decide.self_trigger(self._own_prev, fresh, len(fresh) == len(stamps) - len(drop))
        if looping:
            self._own_ignored |= looping
            drop |= looping
            shown = ", ".join(str(p) for p in sorted(looping)[:3]) + (" …" if len(looping) > 3 else "")
            self.sink.message(
                f"warning: {own[next(iter(sorted(looping)))]} writes {shown} inside the watched folder, which "
                "started the update again; devloop now ignores it when its own steps write it (add it to "
                ".devloopignore or the image's ignore patterns to keep it out entirely)"
            )
        if not drop:
            return event
        log.debug("ignoring files written by devloop's own steps: %s", ", ".join(map(str, sorted(drop))))
        return FilesChanged(event.changed - drop, event.deleted - drop, event.overflow)

    def _reload(self) -> None:
        if self._reload_project is None:
            return
        try:
            new = self._reload_project()
        except DevloopError as exc:
            self.sink.message(f"config not reloaded: {exc} (everything keeps running as before)")
            return
        old = self.project
        self.project = new
        self._monitor.use_project(new)
        old_names = set(self._order)
        try:
            order = select_resources(new, self.options.only)
        except UsageError:
            order = select_resources(new, ())
        for name in old_names - set(order):
            self._states.pop(name, None)
            self._monitor.forget(name)
            gone = old.resource(name)
            if gone is not None and gone.local is not None:
                self._local.stop(name)
                self.sink.message(f"{name} left devloop.yaml: stopped it")
                continue
            self.sink.message(f"{name} left the manifests: deleting it")
            assert self._pool is not None
            self._pool.submit(self._delete_job, old, name)
        for name in order:
            before = old.resource(name)
            after = new.resource(name)
            assert after is not None
            if name not in self._states:
                self._states[name] = self._new_state(new, name)
                continue
            change = decide.reload_change(
                before,
                after,
                [old.config.image(ref) for ref in before.images] if before else [],
                [new.config.image(ref) for ref in after.images],
            )
            state = self._states[name]
            if change == "deploy":
                state.dirty = True
                state.full_build = True
            if change != "none":
                state.labels = after.settings.labels
                state.manual = self._new_state(new, name).manual
            if (
                change == "settings"
                and before is not None
                and before.settings.port_forwards != after.settings.port_forwards
            ):
                self._monitor.close_forwards(name)  # forwards follow the new list; nothing is redeployed
                state.port_forwards = ()
                if state.deployed:
                    self._follow(name)
        self._order = order
        self.sink.message("config reloaded")
        self._publish()

    # ----------------------------------------------------------------- worker jobs

    def _emit(self, name: str, *, skip_blank: bool = False) -> Callable[[str], None]:
        def emit(line: str) -> None:
            if line.strip() or not skip_blank:
                self.sink.log(name, line)

        return emit

    def _image_lock(self, ref: str) -> threading.Lock:
        with self._refs_lock:
            return self._image_locks.setdefault(ref, threading.Lock())

    def _update_job(
        self, resource: Resource, generation: int, full: bool, live: tuple[decide.ImageUpdate, ...]
    ) -> None:
        name = resource.name
        started = self._clock.monotonic()
        if resource.local is not None:
            self._local_update(resource, generation)
            return
        try:
            if not full and live:
                try:
                    self._live_update(resource, generation, live)
                except ContainerGoneError as exc:
                    self.post(UpdateFinished(name, generation, None, error=str(exc), fell_back=True))
                    return
                seconds = self._clock.monotonic() - started
                record = UpdateRecord("live", seconds, self._clock.wall(), detail=decide.live_update_detail(live))
                self.post(UpdateFinished(name, generation, record, restarted=any(u.restart for u in live)))
                return
            build_seconds = self._build_images(resource, generation)
            self.post(StageStarted(name, generation, Status.DEPLOYING.value))
            deploy_started = self._clock.monotonic()
            request = self._deploy_request(resource)
            result = self.target.apply(request)
            if result.replaced:
                log.debug("%s: replaced containers with live-updated files: %s", name, ", ".join(result.replaced))
                self._records.forget(self.project.name, result.replaced)
            for warning in result.warnings:
                if warning not in self._warned:  # targets repeat their warnings on every apply
                    self._warned.add(warning)
                    self.sink.log(name, f"warning: {warning}")
            deploy_seconds = self._clock.monotonic() - deploy_started
            record = UpdateRecord(
                "build" if build_seconds else "deploy",
                self._clock.monotonic() - started,
                self._clock.wall(),
                build_seconds=build_seconds,
                deploy_seconds=deploy_seconds,
                detail="" if result.changed else (result.summary or "unchanged"),
            )
            self.post(UpdateFinished(name, generation, record, has_workload=bool(resource.kind)))
        except (BuildError, TestFailedError) as exc:
            head = str(exc).splitlines()[0]
            self.post(UpdateFinished(name, generation, None, error=head, error_lines=tuple(exc.output_tail)))
        except DevloopError as exc:
            lines = str(exc).splitlines()
            self.post(UpdateFinished(name, generation, None, error=lines[0], error_lines=tuple(lines[1:])))
        except Exception as exc:
            log.debug("update of %s failed", name, exc_info=True)
            self.post(UpdateFinished(name, generation, None, error=f"unexpected error: {type(exc).__name__}: {exc}"))

    def _local_update(self, resource: Resource, generation: int) -> None:
        """A local resource's update: run ``cmd`` (a failure fails the resource with its last lines), then
        (re)start ``serve``, whose readiness the monitor then checks like a workload's."""
        spec = resource.local
        assert spec is not None
        name = resource.name
        started = self._clock.monotonic()
        try:
            if spec.cmd is not None:
                self.post(StageStarted(name, generation, Status.BUILDING.value))
                self.sink.log(name, f"cmd: {spec.cmd}")
                with self._own.step(f"the cmd of local resource {name}"):
                    code, lines = self._local.run_cmd(spec)
                if code != 0:
                    error = f"cmd `{spec.cmd}` exited with {code}"
                    self.post(UpdateFinished(name, generation, None, error=error, error_lines=tuple(lines)))
                    return
            if spec.serve is not None and not self._stopping.is_set():
                self.post(StageStarted(name, generation, Status.DEPLOYING.value))
                self.sink.log(name, f"serve: {spec.serve}")
                self._local.start_serve(spec)
            record = UpdateRecord(
                "deploy", self._clock.monotonic() - started, self._clock.wall(), detail="ran on this machine"
            )
            self.post(UpdateFinished(name, generation, record, has_workload=spec.serve is not None))
        except OSError as exc:
            error = f"cannot run a command of local resource {name} in {spec.dir}: {exc.strerror or exc}"
            self.post(UpdateFinished(name, generation, None, error=error))
        except Exception as exc:
            log.debug("update of %s failed", name, exc_info=True)
            self.post(UpdateFinished(name, generation, None, error=f"unexpected error: {type(exc).__name__}: {exc}"))

    def _run_test(self, image: ImageSpec, name: str) -> None:
        if image.test is None or self._stopping.is_set():
            return
        with self._own.step(f"the test stage of image {image.ref}"):
            run_test_stage(image, self._emit(name))

    def _build_images(self, resource: Resource, generation: int) -> float:
        seconds = 0.0
        for ref in resource.images:
            image = self.project.config.image(ref)
            if image is None:
                continue
            if image.test is not None:
                self.post(StageStarted(resource.name, generation, Status.TESTING.value))
                self._run_test(image, resource.name)
            if self._stopping.is_set():
                raise DevloopError("stopping")
            self.post(StageStarted(resource.name, generation, Status.BUILDING.value))
            started = self._clock.monotonic()
            with self._image_lock(ref):
                result = self.builder.build(image, self._emit(resource.name, skip_blank=True))
                deployed = self.target.deliver(result.reference)
            if result.built:
                seconds += self._clock.monotonic() - started
            with self._refs_lock:
                self._refs[ref] = deployed
                self._ref_of[deployed] = ref
                self._synced.pop(deployed, None)  # the image holds the context as it is now
        return seconds

    def _deploy_request(self, resource: Resource) -> DeployRequest:
        from devloop.config.resources import override_entrypoints, rewrite_images

        with self._refs_lock:
            refs = dict(self._refs)
        images = self.project.config.images
        dev = self.options.mode == "up"  # ci checks the images' own commands, as production runs them

        def deployed(obj: ManifestObject) -> ManifestObject:  # up's development entrypoints, then the built images
            return rewrite_images(override_entrypoints(obj, images) if dev else obj, refs)

        everything = tuple(deployed(obj) for r in self.project.resources for obj in r.objects)
        mine = tuple(deployed(obj) for obj in resource.objects)
        stale = self._records.marked(self.project.name, resource.name)
        return DeployRequest(project=self.project, resource=resource, objects=mine, all_objects=everything, stale=stale)

    def _live_update(self, resource: Resource, generation: int, updates: tuple[decide.ImageUpdate, ...]) -> None:
        name = resource.name
        for update in updates:
            image = self.project.config.image(update.ref)
            if image is not None and image.test is not None:
                self.post(StageStarted(name, generation, Status.TESTING.value))
                self._run_test(image, name)
        self.post(StageStarted(name, generation, Status.LIVE_UPDATING.value))
        status = self.target.status(self.project, resource)
        for update in updates:
            with self._refs_lock:
                reference = update.reference or self._refs.get(update.ref)
            containers = [c for c in status.containers if reference is None or c.image == reference]
            if update.containers:  # a re-sync: only the containers that lost the files, never healthy ones
                containers = [c for c in containers if c.id in update.containers]
                if not containers:
                    continue  # gone again: a fresh one is re-synced when the monitor sees it
            if not containers:
                raise ContainerGoneError(f"no running container of {update.ref}")
            for container in containers:
                started = self._clock.monotonic()
                copies = [FileCopy(local, dest) for local, dest in update.copies]
                self._mark_live_updated(name, container)
                self.target.copy_files(container, copies, list(update.deletes))
                # recorded as soon as the files are in: a failing run step must not make a re-created
                # container lose them (they stay in this one, and the fixing save syncs only its own files)
                self._record_sync(container.image, update)
                for step in update.run:
                    self.sink.log(name, f"run: {step.display}")
                    with self._own.step(f"the run step `{step.display}`"):
                        code = self.target.exec(container, step.argv, self._emit(name))
                    if code != 0:
                        raise DevloopError(f"live update step `{step.display}` exited with {code} in {container.name}")
                if update.restart:
                    self._restarted_by_us.add(container.id)
                    self.target.restart(container)
                self.sink.log(
                    name,
                    f"live update of {container.name}: {len(copies)} copied, {len(update.deletes)} deleted "
                    f"in {1000 * (self._clock.monotonic() - started):.0f} ms",
                )

    def _mark_live_updated(self, name: str, container: ContainerRef) -> None:
        """Before the first file reaches a container: remember (outside the process) that it no longer holds
        only its image, so that a later deploy (of this or another devloop process) replaces it."""
        try:
            self._records.mark(self.project.name, name, container.id)
        except OSError as exc:
            raise ContainerGoneError(f"cannot record the live update of {container.name}: {exc}") from exc

    def _record_sync(self, reference: str, update: decide.ImageUpdate) -> None:
        with self._refs_lock:
            record = self._synced.setdefault(reference, {})
            for deleted in update.deletes:
                for dest in [d for d in record if d == deleted or d.startswith(deleted.rstrip("/") + "/")]:
                    del record[dest]
                record[deleted] = None
            for local, dest in update.copies:
                record[dest] = local

    def _resync_update(self, ref: str, reference: str) -> decide.ImageUpdate | None:
        """Everything synced into containers of ``reference`` since it was built, as one live update."""
        image = self.project.config.image(ref)
        with self._refs_lock:
            record = dict(self._synced.get(reference, {}))
        if not record or image is None or image.live_update is None:
            return None
        copies = tuple((local, dest) for dest, local in sorted(record.items()) if local is not None)
        deletes = tuple(dest for dest, local in sorted(record.items()) if local is None)
        # The run steps a fresh container needs: those the recorded changes would trigger (and untriggered ones).
        changed = [Path(local) for local, _ in copies]
        steps = decide.decide_image_update(image, changed, [], has_running_container=True).run if changed else ()
        return decide.ImageUpdate(
            ref,
            "live",
            "re-sync",
            copies=copies,
            deletes=deletes,
            run=steps,
            restart=image.live_update.restart,
            changed=tuple(dest for dest, _ in sorted(record.items())),
            reference=reference,
        )

    def _check_new_containers(self, name: str, runtime: RuntimeStatus) -> bool:
        """Schedule a re-sync when a container of a live-updated image was (re)created or restarted
        since we last saw it; returns True when one was scheduled."""
        seen = self._containers_seen.setdefault(name, {})
        fresh = []
        for container in runtime.containers:
            before = seen.get(container.id)
            if before is None or before != container.started_at:
                if container.id in self._restarted_by_us:
                    self._restarted_by_us.discard(container.id)
                else:
                    fresh.append(container)
            seen[container.id] = container.started_at
        if not fresh:
            return False
        with self._refs_lock:
            ref_of = dict(self._ref_of)
        state = self._states[name]
        scheduled = False
        for reference in sorted({c.image for c in fresh if c.image in ref_of}):
            update = self._resync_update(ref_of[reference], reference)
            if update is None or state.full_build:
                continue
            targets = [c for c in fresh if c.image == reference]
            update = dataclasses.replace(update, containers=tuple(c.id for c in targets))
            names = ", ".join(c.name for c in targets)
            self.sink.log(
                name,
                f"re-syncing {len(update.changed)} path(s) of {ref_of[reference]} into {names} (new since the build)",
            )
            state.pending_live.append(update)
            state.dirty = True
            scheduled = True
        return scheduled

    def _delete_job(self, project: Project, name: str) -> None:
        try:
            self.target.delete(project, name)
        except Exception as exc:
            self.sink.message(f"could not delete {name}: {exc}")

    # ----------------------------------------------------------------- background threads

    def _start_background(self) -> None:
        self._monitor.start()
        if self.options.watch and self._watcher_factory is not None:
            self._watcher = self._watcher_factory(self.project, self.post)
            self._watcher.start()

    def _follow(self, name: str) -> None:
        """Follow the logs of a deployed workload and open its port forwards."""
        urls = self._monitor.follow(self.project, self._resource(name))
        if urls is not None:
            self._states[name].port_forwards = urls

    def _shutdown(self) -> None:
        self._stopping.set()
        self._monitor.stop()
        if self._watcher is not None:
            try:
                self._watcher.stop()
            except Exception as exc:
                log.debug("stopping the watcher failed: %s", exc)
        self.builder.cancel()
        self._local.stop_all()
        terminate_children()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._local.stop_all()  # a serve started by a worker while stopping
            terminate_children()
        self._monitor.join()


def restart_line(last_exit: str, restarts: int) -> str:
    """The resource log line for a container restarted after it exited (as a restart on Kubernetes shows)."""
    return f"{last_exit}; restarted ({restarts} restart{'s' if restarts != 1 else ''} so far)"


def container_age(started_at: str, now: float) -> float | None:
    """Seconds since an RFC 3339 start time (Docker's nanosecond `StartedAt`), or None if unknown."""
    import re
    from datetime import datetime

    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", started_at.strip())
    if not match or started_at.startswith("0001-"):
        return None
    fraction = (match.group(2) or ".0")[:7]
    zone = match.group(3) or "Z"
    try:
        moment = datetime.fromisoformat(match.group(1) + fraction + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None
    return now - moment.timestamp()


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
