"""Worker jobs: tests, builds, deploys, live updates and local commands, run in the engine's worker pool.

A job never changes engine state: it calls the target, the builder and local processes, streams output to the
sink, and reports everything the engine must know by posting events (:class:`StageStarted` as it goes,
:class:`ImageBuilt` for each image, :class:`FilesSynced` and :class:`ContainerRestarting` during a live
update, and one :class:`UpdateFinished` at the end).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Protocol

from devloop.build.testing import run_test_stage
from devloop.config.model import ImageSpec, ManifestObject, Project, Resource
from devloop.engine import decide
from devloop.engine.clock import Clock
from devloop.engine.events import (
    ContainerRestarting,
    Event,
    FilesSynced,
    ImageBuilt,
    StageStarted,
    UpdateFinished,
)
from devloop.engine.liverecords import Records
from devloop.engine.local import LocalProcesses
from devloop.engine.ownwrites import OwnSteps
from devloop.engine.sink import Sink
from devloop.engine.state import Status, UpdateRecord
from devloop.errors import BuildError, DevloopError, TestFailedError
from devloop.targets.base import ContainerGoneError, ContainerRef, DeployRequest, FileCopy, Target

log = logging.getLogger("devloop.engine")


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


class Jobs:
    """The jobs of one engine; every method runs in a worker thread (thread-safe)."""

    def __init__(
        self,
        project: Project,
        target: Target,
        builder: Builder,
        sink: Sink,
        *,
        post: Callable[[Event], None],
        records: Records,
        own: OwnSteps,
        local: LocalProcesses,
        clock: Clock,
        mode: str,
    ) -> None:
        self._project = project
        self._target = target
        self._builder = builder
        self._sink = sink
        self._post = post
        self._refs: Mapping[str, str] = {}  # image ref -> deployed reference, as the loop knows them now
        self._records = records
        self._own = own
        self._local = local
        self._clock = clock
        self._dev = mode == "up"  # ci checks the images' own commands, as production runs them
        self._image_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    def use_project(self, project: Project) -> None:
        self._project = project

    def use_refs(self, refs: Mapping[str, str]) -> None:
        """The images built so far (image ref -> deployed reference); a deploy rewrites the objects to them."""
        self._refs = refs

    # ------------------------------------------------------------------ updates

    def update(self, resource: Resource, generation: int, full: bool, live: tuple[decide.ImageUpdate, ...]) -> None:
        """One update of ``resource``: a live update (``live``, unless ``full``) or test, build and deploy."""
        if resource.local is not None:
            self._local_update(resource, generation)
            return
        name = resource.name
        try:
            if not full and live:
                self._live(resource, generation, live)
            else:
                self._post(self._deploy(resource, generation))
        except (BuildError, TestFailedError) as exc:
            head = str(exc).splitlines()[0]
            self._post(UpdateFinished(name, generation, None, error=head, error_lines=tuple(exc.output_tail)))
        except DevloopError as exc:
            lines = str(exc).splitlines()
            self._post(UpdateFinished(name, generation, None, error=lines[0], error_lines=tuple(lines[1:])))
        except Exception as exc:
            log.debug("update of %s failed", name, exc_info=True)
            self._post(UpdateFinished(name, generation, None, error=f"unexpected error: {type(exc).__name__}: {exc}"))

    def _live(self, resource: Resource, generation: int, live: tuple[decide.ImageUpdate, ...]) -> None:
        name = resource.name
        started = self._clock.monotonic()
        try:
            self._live_update(resource, generation, live)
        except ContainerGoneError as exc:
            self._post(UpdateFinished(name, generation, None, error=str(exc), fell_back=True))
            return
        seconds = self._clock.monotonic() - started
        record = UpdateRecord("live", seconds, self._clock.wall(), detail=decide.live_update_detail(live))
        self._post(UpdateFinished(name, generation, record, restarted=any(u.restart for u in live)))

    def _deploy(self, resource: Resource, generation: int) -> UpdateFinished:
        name = resource.name
        started = self._clock.monotonic()
        built, build_seconds = self._build_images(resource, generation)
        self._post(StageStarted(name, generation, Status.DEPLOYING.value))
        deploy_started = self._clock.monotonic()
        result = self._target.apply(self._deploy_request(resource, built))
        if result.replaced:
            log.debug("%s: replaced containers with live-updated files: %s", name, ", ".join(result.replaced))
            self._records.forget(self._project.name, result.replaced)
        now = self._clock.monotonic()
        record = UpdateRecord(
            "build" if build_seconds else "deploy",
            now - started,
            self._clock.wall(),
            build_seconds=build_seconds,
            deploy_seconds=now - deploy_started,
            detail="" if result.changed else (result.summary or "unchanged"),
        )
        return UpdateFinished(name, generation, record, has_workload=bool(resource.kind), warnings=result.warnings)

    def _local_update(self, resource: Resource, generation: int) -> None:
        """A local resource's update: run ``cmd`` (a failure fails the resource with its last lines), then
        (re)start ``serve``, whose readiness the monitor then checks like a workload's."""
        spec = resource.local
        assert spec is not None
        name = resource.name
        started = self._clock.monotonic()
        try:
            if spec.cmd is not None:
                self._post(StageStarted(name, generation, Status.BUILDING.value))
                self._sink.log(name, f"cmd: {spec.cmd}")
                with self._own.step(f"the cmd of local resource {name}"):
                    code, lines = self._local.run_cmd(spec)
                if code != 0:
                    error = f"cmd `{spec.cmd}` exited with {code}"
                    self._post(UpdateFinished(name, generation, None, error=error, error_lines=tuple(lines)))
                    return
            if spec.serve is not None and not self.stopping.is_set():
                self._post(StageStarted(name, generation, Status.DEPLOYING.value))
                self._sink.log(name, f"serve: {spec.serve}")
                self._local.start_serve(spec)
            seconds = self._clock.monotonic() - started
            record = UpdateRecord("deploy", seconds, self._clock.wall(), detail="ran on this machine")
            self._post(UpdateFinished(name, generation, record, has_workload=spec.serve is not None))
        except OSError as exc:
            error = f"cannot run a command of local resource {name} in {spec.dir}: {exc.strerror or exc}"
            self._post(UpdateFinished(name, generation, None, error=error))
        except Exception as exc:
            log.debug("update of %s failed", name, exc_info=True)
            self._post(UpdateFinished(name, generation, None, error=f"unexpected error: {type(exc).__name__}: {exc}"))

    def delete(self, project: Project, name: str) -> None:
        try:
            self._target.delete(project, name)
        except Exception as exc:
            self._sink.message(f"could not delete {name}: {exc}")

    # ------------------------------------------------------------------ steps

    def _emit(self, name: str, *, skip_blank: bool = False) -> Callable[[str], None]:
        def emit(line: str) -> None:
            if line.strip() or not skip_blank:
                self._sink.log(name, line)

        return emit

    def _image_lock(self, ref: str) -> threading.Lock:
        with self._lock:
            return self._image_locks.setdefault(ref, threading.Lock())

    def _run_test(self, image: ImageSpec, name: str, generation: int) -> None:
        if image.test is None or self.stopping.is_set():
            return
        self._post(StageStarted(name, generation, Status.TESTING.value))
        with self._own.step(f"the test stage of image {image.ref}"):
            run_test_stage(image, self._emit(name))

    def _build_images(self, resource: Resource, generation: int) -> tuple[dict[str, str], float]:
        """Test and build the images of ``resource``: what each one is deployed as, and the seconds building took."""
        seconds = 0.0
        built: dict[str, str] = {}
        for ref in resource.images:
            image = self._project.config.image(ref)
            if image is None:
                continue
            self._run_test(image, resource.name, generation)
            if self.stopping.is_set():
                raise DevloopError("stopping")
            self._post(StageStarted(resource.name, generation, Status.BUILDING.value))
            started = self._clock.monotonic()
            with self._image_lock(ref):
                result = self._builder.build(image, self._emit(resource.name, skip_blank=True))
                deployed = self._target.deliver(result.reference)
            if result.built:
                seconds += self._clock.monotonic() - started
            built[ref] = deployed
            self._post(ImageBuilt(ref, deployed))
        return built, seconds

    def _deploy_request(self, resource: Resource, built: Mapping[str, str]) -> DeployRequest:
        from devloop.config.resources import override_entrypoints, rewrite_images

        project = self._project
        refs = {**self._refs, **built}
        images = project.config.images
        dev = self._dev

        def deployed(obj: ManifestObject) -> ManifestObject:  # up's development entrypoints, then the built images
            return rewrite_images(override_entrypoints(obj, images) if dev else obj, refs)

        everything = tuple(deployed(obj) for r in project.resources for obj in r.objects)
        mine = tuple(deployed(obj) for obj in resource.objects)
        stale = self._records.marked(project.name, resource.name)
        return DeployRequest(project=project, resource=resource, objects=mine, all_objects=everything, stale=stale)

    def _live_update(self, resource: Resource, generation: int, updates: tuple[decide.ImageUpdate, ...]) -> None:
        name = resource.name
        for update in updates:
            image = self._project.config.image(update.ref)
            if image is not None:
                self._run_test(image, name, generation)
        self._post(StageStarted(name, generation, Status.LIVE_UPDATING.value))
        status = self._target.status(self._project, resource)
        for update in updates:
            reference = update.reference or self._refs.get(update.ref)
            containers = [c for c in status.containers if reference is None or c.image == reference]
            if update.containers:  # a re-sync: only the containers that lost the files, never healthy ones
                containers = [c for c in containers if c.id in update.containers]
                if not containers:
                    continue  # gone again: a fresh one is re-synced when the monitor sees it
            if not containers:
                raise ContainerGoneError(f"no running container of {update.ref}")
            for container in containers:
                self._sync(name, container, update)

    def _sync(self, name: str, container: ContainerRef, update: decide.ImageUpdate) -> None:
        started = self._clock.monotonic()
        copies = [FileCopy(local, dest) for local, dest in update.copies]
        self._mark_live_updated(name, container)
        self._target.copy_files(container, copies, list(update.deletes))
        # recorded as soon as the files are in: a failing run step must not make a re-created
        # container lose them (they stay in this one, and the fixing save syncs only its own files)
        self._post(FilesSynced(container.image, update.copies, update.deletes))
        for step in update.run:
            self._sink.log(name, f"run: {step.display}")
            with self._own.step(f"the run step `{step.display}`"):
                code = self._target.exec(container, step.argv, self._emit(name))
            if code != 0:
                raise DevloopError(f"live update step `{step.display}` exited with {code} in {container.name}")
        if update.restart:
            self._post(ContainerRestarting(container.id))  # before the monitor can see the restart
            self._target.restart(container)
        self._sink.log(
            name,
            f"live update of {container.name}: {len(copies)} copied, {len(update.deletes)} deleted "
            f"in {1000 * (self._clock.monotonic() - started):.0f} ms",
        )

    def _mark_live_updated(self, name: str, container: ContainerRef) -> None:
        """Before the first file reaches a container: remember (outside the process) that it no longer holds
        only its image, so that a later deploy (of this or another devloop process) replaces it."""
        try:
            self._records.mark(self._project.name, name, container.id)
        except OSError as exc:
            raise ContainerGoneError(f"cannot record the live update of {container.name}: {exc}") from exc
