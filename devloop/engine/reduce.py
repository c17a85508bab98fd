"""The engine's decisions: ``reduce(state, event, now) -> effects``, and ``settle(state, now)`` after a step.

Pure: the only thing changed is the :class:`EngineState` passed in (owned by the loop); everything else the
engine must do comes back as effects (engine/effects.py). No I/O, no clock: time is the ``now`` given.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devloop.config.model import Project
from devloop.engine import decide
from devloop.engine.effects import (
    CloseForwards,
    Delete,
    Effect,
    Follow,
    Forget,
    Log,
    Message,
    Publish,
    ShareRefs,
    StartUpdate,
    StopLocalProcess,
    Unwatch,
    UseProject,
    Watch,
)
from devloop.engine.events import (
    BatchRead,
    ContainerRestarting,
    Event,
    FileBatch,
    FilesSynced,
    ForwardsOpened,
    ImageBuilt,
    RuntimeChanged,
    StageStarted,
    Stop,
    StopLocal,
    Tick,
    Trigger,
    UpdateFinished,
)
from devloop.engine.state import EngineState, ResourceState, Status
from devloop.errors import UsageError
from devloop.exit_status import ExitStatus
from devloop.targets.base import ContainerRef, Phase, RuntimeStatus

log = logging.getLogger("devloop.engine")


@dataclass(frozen=True)
class Now:
    monotonic: float  # for durations and deadlines
    wall: float  # for stamps shown to people and compared with file times


def reduce(state: EngineState, event: Event, now: Now) -> list[Effect]:
    """Apply one event to ``state``; the effects it asks for."""
    step = _Step(state, now)
    step.handle(event)
    return step.effects


def settle(state: EngineState, now: Now) -> list[Effect]:
    """After the events of a step: start what may start now; `ci`: decide whether the run is over."""
    step = _Step(state, now)
    step.schedule()
    step.check_ci()
    return step.effects


def new_state(project: Project, name: str, mode: str, wall: float) -> ResourceState:
    resource = project.resource(name)
    assert resource is not None
    settings = resource.settings
    manual = settings.trigger == "manual" and mode == "up"
    return ResourceState(name=name, kind=resource.kind, labels=settings.labels, manual=manual, since=wall)


def select_resources(project: Project, only: Sequence[str]) -> list[str]:
    """The named resources plus everything they depend on (and uncategorized), in deploy order."""
    from devloop.config.model import UNCATEGORIZED

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


def running_images(state: EngineState) -> dict[str, bool]:
    """Per image ref: whether a deployed container of it runs (live update needs one)."""
    running: dict[str, bool] = {}
    for name in state.order:
        runtime = state.runtime.get(name)
        has = bool(runtime and runtime.containers) and state.resources[name].deployed
        for ref in state.resource(name).images:
            running[ref] = running.get(ref, False) or has
    return running


@dataclass(frozen=True)
class OwnWrites:
    """What :func:`own_writes` makes of a batch."""

    batch: FileBatch  # without the paths to ignore
    previous: frozenset[Path]  # remembered for the next batch
    looping: frozenset[Path]  # paths that now make a loop (ignored from now on)
    warning: str = ""


def own_writes(state: EngineState, read: BatchRead) -> OwnWrites:
    """Stop updates that start again and again on files devloop's own steps write (a test stage writing a
    report into the context): a path written by a step in two batches in a row that held nothing else is
    said once, then ignored whenever a step writes it."""
    batch = read.batch
    if not read.windows:
        return OwnWrites(batch, frozenset(), frozenset())
    own = decide.written_by_own_steps(read.stamps, read.windows, read.arrived)
    drop = {p for p in own if p in state.own_ignored}
    fresh = frozenset(own.keys() - drop)
    previous, looping = decide.self_trigger(state.own_prev, fresh, len(fresh) == len(read.stamps) - len(drop))
    warning = ""
    if looping:
        drop |= looping
        shown = ", ".join(str(p) for p in sorted(looping)[:3]) + (" …" if len(looping) > 3 else "")
        warning = (
            f"warning: {own[next(iter(sorted(looping)))]} writes {shown} inside the watched folder, which "
            "started the update again; devloop now ignores it when its own steps write it (add it to "
            ".devloopignore or the image's ignore patterns to keep it out entirely)"
        )
    if drop:
        log.debug("ignoring files written by devloop's own steps: %s", ", ".join(map(str, sorted(drop))))
        batch = FileBatch(batch.changed - drop, batch.deleted - drop, batch.overflow)
    return OwnWrites(batch, previous, looping, warning)


class _Step:
    """One reduction: the state, the time, and the effects asked for so far."""

    def __init__(self, state: EngineState, now: Now) -> None:
        self.state = state
        self.now = now
        self.effects: list[Effect] = []

    # ------------------------------------------------------------------ helpers

    def log(self, name: str, text: str) -> None:
        self.effects.append(Log(name, text))

    def message(self, text: str) -> None:
        self.effects.append(Message(text))

    def publish(self, name: str | None = None) -> None:
        self.state.version += 1
        self.effects.append(Publish(name))

    def set(self, name: str, status: Status, reason: str = "", lines: Sequence[str] = ()) -> None:
        state = self.state.resources[name]
        changed = state.status != status or state.reason != reason
        state.status = status
        state.reason = reason
        state.last_lines = tuple(lines)
        if changed:
            state.since = self.now.wall
            self.publish(name)

    def warn_once(self, name: str, warnings: Sequence[str]) -> None:
        for warning in warnings:
            if warning not in self.state.warned:  # targets repeat their warnings on every apply
                self.state.warned.add(warning)
                self.log(name, f"warning: {warning}")

    # ------------------------------------------------------------------ events

    def handle(self, event: Event) -> None:
        if isinstance(event, Stop):
            self.state.result = ExitStatus.SUCCESS
        elif isinstance(event, StageStarted):
            state = self.state.resources.get(event.resource)
            if state is not None and state.generation == event.generation:
                self.set(event.resource, Status(event.stage))
        elif isinstance(event, UpdateFinished):
            self.update_finished(event)
        elif isinstance(event, RuntimeChanged):
            self.runtime_changed(event)
        elif isinstance(event, BatchRead):
            self.files(event)
        elif isinstance(event, Trigger):
            self.trigger(event.resource)
        elif isinstance(event, Tick):
            self.check_timeouts()
        elif isinstance(event, StopLocal):
            self.stop_local()
        else:
            self.bookkeeping(event)

    def bookkeeping(self, event: Event) -> None:
        """What workers and the monitor report besides results: built images, synced files, restarts."""
        state = self.state
        if isinstance(event, ImageBuilt):
            state.refs[event.ref] = event.deployed
            state.ref_of[event.deployed] = event.ref
            state.synced.pop(event.deployed, None)  # the image holds the context as it is now
            self.effects.append(ShareRefs(tuple(state.refs.items())))
        elif isinstance(event, FilesSynced):
            record = state.synced.setdefault(event.reference, {})
            for deleted in event.deletes:
                for dest in [d for d in record if d == deleted or d.startswith(deleted.rstrip("/") + "/")]:
                    del record[dest]
                record[deleted] = None
            for local, dest in event.copies:
                record[dest] = local
        elif isinstance(event, ContainerRestarting):
            state.restarted_by_us.add(event.container)
        elif isinstance(event, ForwardsOpened) and event.resource in state.resources:
            state.resources[event.resource].port_forwards = event.urls

    # ------------------------------------------------------------------ scheduling

    def schedule(self) -> None:
        state = self.state
        if state.result is not None:
            return
        depends = {n: state.resource(n).settings.depends_on for n in state.order}
        parallel = max(1, state.options.parallel)
        plan = decide.schedule(state.order, state.resources, depends, running=state.running, parallel=parallel)
        for name, missing in plan.waiting.items():
            resource = state.resources[name]
            if resource.status is Status.PENDING:
                reason = f"waiting for {', '.join(missing)}"
                if resource.reason != reason:
                    self.set(name, Status.PENDING, reason)
        for name in plan.start:
            self.start_update(name)

    def start_update(self, name: str) -> None:
        state = self.state.resources[name]
        state.dirty = False
        state.triggered = False
        state.generation += 1
        state.pending_changes = 0
        full = state.full_build or not state.deployed
        live = tuple(state.pending_live)
        state.pending_live = []
        state.full_build = False
        self.state.running += 1
        self.effects.append(StartUpdate(self.state.resource(name), state.generation, full, live))

    def update_finished(self, event: UpdateFinished) -> None:
        self.state.running -= 1
        self.warn_once(event.resource, event.warnings)
        state = self.state.resources.get(event.resource)
        if state is None or state.generation != event.generation:
            return
        if event.fell_back:
            state.dirty = True
            state.full_build = True
            self.log(event.resource, f"live update not possible ({event.error}); rebuilding")
            self.set(event.resource, Status.PENDING, "rebuilding: live update not possible")
            return
        if event.record is None:
            state.update_failed = True
            self.set(event.resource, Status.FAILED, event.error, event.error_lines)
            return
        state.update_failed = False
        state.last_update = event.record
        state.deployed = True
        state.deploy_seq += 1
        if not event.has_workload:
            state.ever_ready = True
            self.set(event.resource, Status.READY)
            return
        self.deployed(event)

    def deployed(self, event: UpdateFinished) -> None:
        """A workload (or serve) was deployed or live updated: watch it and wait for it to be ready."""
        name = event.resource
        state = self.state.resources[name]
        state.deploy_started = self.now.monotonic
        self.effects += [Watch(name, state.deploy_seq), Follow(name)]
        runtime = self.state.runtime.get(name)
        assert event.record is not None
        if event.record.kind == "live" and not event.restarted and runtime is not None and runtime.phase is Phase.READY:
            self.set(name, Status.READY)
        else:
            self.state.runtime.pop(name, None)  # wait for a fresh status of the new deployment
            self.state.ready_seen.pop(name, None)
            self.set(name, Status.STARTING)

    # ------------------------------------------------------------------ runtime

    def runtime_changed(self, event: RuntimeChanged) -> None:
        state = self.state.resources.get(event.resource)
        if state is None or state.deploy_seq != event.deploy_seq:
            return  # a status read before the latest deploy finished
        self.state.runtime[event.resource] = event.status
        if state.deployed:
            self.apply_runtime(event.resource, state, event.status)

    def apply_runtime(self, name: str, state: ResourceState, runtime: RuntimeStatus) -> None:
        state.runtime = runtime.detail
        self.warn_once(name, runtime.notes)
        if runtime.restarts > state.restarts and runtime.last_exit:
            self.log(name, restart_line(runtime.last_exit, runtime.restarts))
        state.restarts = runtime.restarts
        if state.status.busy or state.status is Status.MANUAL_PENDING:
            self.publish()
            return
        if runtime.phase in (Phase.RUNNING, Phase.READY) and self.check_new_containers(name, runtime):
            self.set(name, Status.PENDING, "re-syncing live-updated files")
            return
        if state.status is Status.FAILED and (state.dirty or state.update_failed):
            self.publish()  # a failed build, test or run step stands until the next update
            return
        self.note_ready(name, runtime)
        self.follow_phase(name, state, runtime)

    def note_ready(self, name: str, runtime: RuntimeStatus) -> None:
        """ci: since when a resource is ready without a restart."""
        seen = self.state.ready_seen.get(name)
        if runtime.phase is not Phase.READY:
            self.state.ready_seen.pop(name, None)
        elif seen is None or seen[1] != runtime.restarts:
            self.state.ready_seen[name] = (self.now.monotonic, runtime.restarts)

    def follow_phase(self, name: str, state: ResourceState, runtime: RuntimeStatus) -> None:
        phase = runtime.phase
        if phase is Phase.READY:
            state.ever_ready = True
            self.set(name, Status.READY)
        elif phase is Phase.COMPLETED:
            state.ever_ready = True
            self.set(name, Status.COMPLETED)
        elif phase is Phase.FAILED:
            self.set(name, Status.FAILED, runtime.reason, runtime.last_logs)
        elif state.status is Status.FAILED and state.reason.startswith("not ready after"):
            self.publish()
        else:
            if state.status is not Status.STARTING:
                state.deploy_started = self.now.monotonic
            self.set(name, Status.STARTING, runtime.reason)

    def check_new_containers(self, name: str, runtime: RuntimeStatus) -> bool:
        """Schedule a re-sync when a container of a live-updated image was (re)created or restarted
        since we last saw it; returns True when one was scheduled."""
        fresh = self.fresh_containers(name, runtime)
        if not fresh:
            return False
        ref_of = self.state.ref_of
        state = self.state.resources[name]
        scheduled = False
        for reference in sorted({c.image for c in fresh if c.image in ref_of}):
            update = resync_update(self.state, ref_of[reference], reference)
            if update is None or state.full_build:
                continue
            targets = [c for c in fresh if c.image == reference]
            update = dataclasses.replace(update, containers=tuple(c.id for c in targets))
            names = ", ".join(c.name for c in targets)
            self.log(
                name,
                f"re-syncing {len(update.changed)} path(s) of {ref_of[reference]} into {names} (new since the build)",
            )
            state.pending_live.append(update)
            state.dirty = True
            scheduled = True
        return scheduled

    def fresh_containers(self, name: str, runtime: RuntimeStatus) -> list[ContainerRef]:
        """The containers (re)created or restarted since the last status, but for the restarts of live updates."""
        seen = self.state.containers_seen.setdefault(name, {})
        fresh = []
        for container in runtime.containers:
            before = seen.get(container.id)
            if before is None or before != container.started_at:
                if container.id in self.state.restarted_by_us:
                    self.state.restarted_by_us.discard(container.id)
                else:
                    fresh.append(container)
            seen[container.id] = container.started_at
        return fresh

    # ------------------------------------------------------------------ time

    def check_timeouts(self) -> None:
        now = self.now.monotonic
        for name, state in self.state.resources.items():
            if state.status is not Status.STARTING:
                continue
            limit = self.state.resource(name).settings.readiness_timeout
            if now - state.deploy_started > limit:
                runtime = self.state.runtime.get(name)
                detail = f" ({runtime.detail})" if runtime and runtime.detail else ""
                self.set(
                    name,
                    Status.FAILED,
                    f"not ready after {limit:.0f} s{detail}; raise resources.{name}.readiness_timeout "
                    "or check its readiness probe",
                    runtime.last_logs if runtime else (),
                )
        timeout = self.state.options.timeout
        if timeout is not None and now - self.state.started > timeout:
            self.message(f"timed out after {timeout:.0f} s")
            self.state.result = ExitStatus.ERROR

    def check_ci(self) -> None:
        state = self.state
        if state.options.mode != "ci" or state.result is not None:
            return
        outcome = decide.ci_outcome(state.resources)
        if outcome == "success" and not self.unsettled():
            state.result = ExitStatus.SUCCESS
        elif outcome == "failure":
            state.result = ExitStatus.ERROR

    def unsettled(self) -> list[str]:
        """ci: ready resources whose containers without a readiness probe have not yet kept running
        for ``ci_settle`` seconds without a restart (running is weak evidence without a probe)."""
        from devloop.config.podtemplate import containers

        settle_for = self.state.options.ci_settle
        waiting = []
        for name, state in self.state.resources.items():
            workload = self.state.resource(name).workload
            if state.status is not Status.READY or workload is None or not state.deployed:
                continue
            if all(c.get("readinessProbe") for c in containers(workload, init=False, ephemeral=False)):
                continue
            seen = self.state.ready_seen.get(name)
            if seen is not None and self.now.monotonic - seen[0] >= settle_for:
                continue
            runtime = self.state.runtime.get(name)
            ages = [container_age(c.started_at, self.now.wall) for c in runtime.containers] if runtime else []
            if ages and all(age is not None and age >= settle_for for age in ages):
                continue  # already running long enough (e.g. unchanged by this run): no need to wait
            waiting.append(name)
        return waiting

    # ------------------------------------------------------------------ intents

    def stop_local(self) -> None:
        for name in self.state.order:
            resource = self.state.resource(name)
            state = self.state.resources[name]
            if resource.local is None or (resource.local.serve is None and not state.status.busy):
                continue  # a cmd that is not running has nothing to stop
            self.effects += [StopLocalProcess(name), Unwatch(name)]
            state.generation += 1  # an update still running is forgotten
            state.deployed = False  # nothing to watch until it runs again
            state.dirty = False
            self.state.runtime.pop(name, None)
            self.log(name, "stopped by `devloop down`")
            self.set(name, Status.PENDING, "stopped by `devloop down`; trigger it or change its deps to run it again")

    def trigger(self, name: str) -> None:
        state = self.state.resources.get(name)
        if state is None:
            self.message(f"trigger: no resource named {name}")
            return
        state.dirty = True
        state.triggered = True
        if state.status is Status.MANUAL_PENDING or state.status is Status.FAILED:
            state.status = Status.PENDING
        if not state.pending_live:
            state.full_build = True
        self.log(name, "update triggered")

    # ------------------------------------------------------------------ file changes

    def files(self, read: BatchRead) -> None:
        if read.batch.overflow:
            # The kernel dropped file events: we cannot know what changed, so reload and rebuild all.
            self.message("the file watcher lost events (too many changes at once): reloading and rebuilding")
            self.reload(read.reloaded)
            for name, rebuild in self.state.resources.items():
                if self.state.resource(name).images:
                    rebuild.dirty = True
                    rebuild.full_build = True
                    rebuild.pending_live = []
            return
        own = own_writes(self.state, read)
        self.state.own_prev = own.previous
        self.state.own_ignored |= own.looping
        if own.warning:
            self.message(own.warning)
        batch = own.batch
        if read.plan is None or (not batch.changed and not batch.deleted):
            return
        if read.plan.reload_config:
            self.reload(read.reloaded)
        for name in decide.local_resources_for_paths(self.state.project, sorted(batch.changed | batch.deleted)):
            if name in self.state.resources:
                self.mark(name, 1, full=True)
        for update in read.plan.images:
            for name in decide.resources_for_images(self.state.project, [update.ref]):
                if name in self.state.resources:
                    self.mark(name, len(update.changed), update=update)

    def mark(self, name: str, changes: int, *, full: bool = False, update: decide.ImageUpdate | None = None) -> None:
        """``name`` needs an update for ``changes`` more changes: a build (``full``, or an update of kind "build")
        or the live update ``update``; a manual resource waits for its trigger."""
        state = self.state.resources[name]
        state.dirty = True
        state.pending_changes += changes
        if full or (update is not None and update.kind == "build"):
            state.full_build = True
            if update is not None:
                state.pending_live = []
                log.debug("%s: full build: %s", name, update.reason)
        elif update is not None and not state.full_build:
            state.pending_live.append(update)
        if state.manual and not state.triggered:  # a trigger not yet started takes these along
            state.dirty = False
            self.set(name, Status.MANUAL_PENDING, f"{state.pending_changes} changed file(s)")

    # ------------------------------------------------------------------ config reload

    def reload(self, reloaded: Project | str | None) -> None:
        if reloaded is None:
            return
        if isinstance(reloaded, str):
            self.message(f"config not reloaded: {reloaded} (everything keeps running as before)")
            return
        state = self.state
        old, new = state.project, reloaded
        state.project = new
        self.effects.append(UseProject(new))
        try:
            order = select_resources(new, state.options.only)
        except UsageError:
            order = select_resources(new, ())
        for name in [n for n in state.order if n not in order]:
            self.remove(old, name)
        for name in order:
            if name not in state.resources:
                state.resources[name] = new_state(new, name, state.options.mode, self.now.wall)
            else:
                self.reload_resource(old, new, name)
        state.order = order
        self.message("config reloaded")
        self.publish()

    def remove(self, old: Project, name: str) -> None:
        """``name`` left the project: a local resource is stopped, a workload deleted."""
        self.state.resources.pop(name, None)
        self.effects.append(Forget(name))
        gone = old.resource(name)
        if gone is not None and gone.local is not None:
            self.effects.append(StopLocalProcess(name))
            self.message(f"{name} left devloop.yaml: stopped it")
            return
        self.message(f"{name} left the manifests: deleting it")
        self.effects.append(Delete(old, name))

    def reload_resource(self, old: Project, new: Project, name: str) -> None:
        before = old.resource(name)
        after = new.resource(name)
        assert after is not None
        change = decide.reload_change(
            before,
            after,
            [old.config.image(ref) for ref in before.images] if before else [],
            [new.config.image(ref) for ref in after.images],
        )
        state = self.state.resources[name]
        if change == "deploy":
            state.dirty = True
            state.full_build = True
        if change != "none":
            state.labels = after.settings.labels
            state.manual = new_state(new, name, self.state.options.mode, self.now.wall).manual
        forwards_changed = before is not None and before.settings.port_forwards != after.settings.port_forwards
        if change == "settings" and forwards_changed:
            self.effects.append(CloseForwards(name))  # forwards follow the new list; nothing is redeployed
            state.port_forwards = ()
            if state.deployed:
                self.effects.append(Follow(name))


def resync_update(state: EngineState, ref: str, reference: str) -> decide.ImageUpdate | None:
    """Everything synced into containers of ``reference`` since it was built, as one live update."""
    image = state.project.config.image(ref)
    record = state.synced.get(reference, {})
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


def restart_line(last_exit: str, restarts: int) -> str:
    """The resource log line for a container restarted after it exited (as a restart on Kubernetes shows)."""
    return f"{last_exit}; restarted ({restarts} restart{'s' if restarts != 1 else ''} so far)"


def container_age(started_at: float, now: float) -> float | None:
    """Seconds since a container started (``ContainerRef.started_at``, epoch seconds), or None if unknown."""
    return now - started_at if started_at > 0 else None
