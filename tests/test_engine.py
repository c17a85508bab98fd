"""The engine driven with a fake target, builder and watcher: ordering, failures, live update
routing, manual triggers, config reload. The real path is covered by the docker end-to-end tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import pytest

from devloop.build.fake import FakeBuild as Built
from devloop.build.fake import FakeBuilder
from devloop.config.model import (
    Config,
    ImageSpec,
    LiveUpdate,
    Project,
    ResourceSettings,
    SyncRule,
)
from devloop.config.resources import assemble
from devloop.engine.clock import Clock, FakeClock, MonotonicClock
from devloop.engine.logstore import TeeSink
from devloop.engine.loop import Engine, EngineOptions, select_resources
from devloop.engine.sink import RecordingSink, Sink
from devloop.engine.state import Status
from devloop.errors import UsageError
from devloop.targets.base import Phase
from devloop.targets.fake import FakeTarget
from tests.support.docker_target import simple_deployment as deployment
from tests.support.e2e import poll


def make_project(
    tmp_path: Path, deps: dict[str, tuple[str, ...]] | None = None, manual: tuple[str, ...] = ()
) -> Project:
    ctx = tmp_path / "api"
    (ctx / "app").mkdir(parents=True, exist_ok=True)
    images = (
        ImageSpec(
            ref="shop/api",
            context=ctx,
            dockerfile=ctx / "Dockerfile",
            live_update=LiveUpdate(sync=(SyncRule("app", "/srv/app"),)),
        ),
    )
    names = ["db", "api", "web"]
    settings = tuple(
        (n, ResourceSettings(depends_on=(deps or {}).get(n, ()), trigger="manual" if n in manual else "auto"))
        for n in names
    )
    config = Config(path=tmp_path / "devloop.yaml", name="shop", images=images, resources=settings)
    objects = [deployment("db", "postgres"), deployment("api", "shop/api"), deployment("web", "nginx")]
    return assemble(config, objects)


class Runner:
    """Steps an engine on the test's thread: no monitor thread (each round reads the runtime status once), the
    engine's fake clock moving ``tick`` seconds a round. Its workers are real threads: :meth:`wait_for` and
    :meth:`settle` step until a condition holds, with a generous deadline, never sleeping blindly."""

    def __init__(self, engine: Engine, tick: float = 0.05) -> None:
        self.engine = engine
        assert isinstance(engine.clock, FakeClock)
        self.clock: FakeClock = engine.clock
        self.tick = tick

    def __enter__(self) -> Runner:
        self.engine.start(background=False)
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.close()

    def step(self) -> int | None:
        """One round: read the runtime status, handle every event (waiting a moment for a worker's), schedule."""
        self.clock.advance(self.tick)
        self.engine.poll()
        return self.engine.step(wait=0.01)

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {self.engine.snapshot()}")
            self.step()

    def settle(self, timeout: float = 10) -> None:
        """Step until nothing happens any more: no update runs, no event waits, and a round changes nothing."""
        deadline = time.monotonic() + timeout
        last = -1
        while True:
            self.step()
            version = self.engine.snapshot().version
            if self.engine.idle and version == last:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the engine did not settle: {self.engine.snapshot()}")
            last = version

    def result(self) -> int:
        """Step until the run is over (ci); its exit code."""
        self.wait_for(lambda: self.engine.state.result is not None, "the end of the run")
        assert self.engine.state.result is not None
        return self.engine.state.result

    def status(self, name: str) -> Status:
        view = self.engine.snapshot().resource(name)
        assert view is not None
        return view.status


class ThreadRunner:
    """Runs the engine's own loop (:meth:`Engine.run`, with its monitor threads) on a thread, for tests whose calls
    block until the engine acts (the control endpoint's clients). Its fake clock stands still."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.thread = threading.Thread(target=engine.run, name="test-engine")

    def __enter__(self) -> ThreadRunner:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.stop()
        self.thread.join(10)
        assert not self.thread.is_alive()

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
        poll(predicate, f"{what}: {self.engine.snapshot()}", timeout)

    def status(self, name: str) -> Status:
        view = self.engine.snapshot().resource(name)
        assert view is not None
        return view.status


def engine_for(
    project: Project,
    target: FakeTarget,
    builder: FakeBuilder,
    clock: Clock | None = None,
    sink: Sink | None = None,
    **opts: object,
) -> tuple[Engine, RecordingSink]:
    """An engine on the fake target and builder, with a fake clock unless ``clock`` is given; its output goes to the
    returned recording sink, and to ``sink`` too when given."""
    recording = RecordingSink()
    out: Sink = recording if sink is None else TeeSink(recording, sink)
    options = EngineOptions(poll_interval=0.02, **opts)  # type: ignore[arg-type]
    return Engine(project, target, builder, out, options, clock=clock or FakeClock()), recording


def test_ci_deploys_in_depends_on_order_and_succeeds(tmp_path: Path) -> None:
    project = make_project(tmp_path, deps={"api": ("db",), "web": ("api",)})
    target, builder = FakeTarget(), FakeBuilder()
    engine, sink = engine_for(project, target, builder, mode="ci", watch=False)
    with Runner(engine) as run:
        assert run.result() == 0
    assert target.applied == ["db", "api", "web"]
    assert builder.builds == ["shop/api"]
    # the built reference was rewritten into the manifest handed to the target
    assert target.images["api"] == "shop/api:devloop-0000000000000001"
    assert ("api", "Step 1/1 : FROM scratch") in sink.lines


def test_ci_fails_at_crash_loop_with_reason(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    target = FakeTarget(phases={"web": Phase.FAILED})
    engine, _ = engine_for(project, target, FakeBuilder(), MonotonicClock(), mode="ci", watch=False)
    assert engine.run() == 1  # the real loop, threads and clock
    view = engine.snapshot().resource("web")
    assert view is not None and view.status is Status.FAILED and "crash loop" in view.reason


def test_build_failure_fails_the_resource_and_blocks_dependents(tmp_path: Path) -> None:
    project = make_project(tmp_path, deps={"web": ("api",)})
    target = FakeTarget()
    engine, _ = engine_for(project, target, FakeBuilder(fail=True), mode="ci", watch=False)
    with Runner(engine) as run:
        assert run.result() == 1
    api = engine.snapshot().resource("api")
    assert api is not None and api.status is Status.FAILED and "RUN false" in api.reason
    assert "web" not in target.applied


def test_readiness_timeout_fails_ci(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    config = project.config
    settings = tuple((n, ResourceSettings(readiness_timeout=0.2)) for n in ("db", "api", "web"))
    project = assemble(
        Config(path=config.path, name=config.name, images=config.images, resources=settings),
        [r.objects[0] for r in project.resources],
    )
    target = FakeTarget(phases={"db": Phase.RUNNING})
    engine, _ = engine_for(project, target, FakeBuilder(), mode="ci", watch=False)
    with Runner(engine, tick=0.0) as run:
        run.wait_for(lambda: run.status("db") is Status.STARTING, "db waiting for readiness")
        run.settle()
        assert run.status("db") is Status.STARTING  # time stands still
        run.clock.advance(0.3)
        assert run.result() == 1
    db = engine.snapshot().resource("db")
    assert db is not None and db.reason.startswith("not ready after")


def test_unknown_resource_name_is_a_usage_error(tmp_path: Path) -> None:
    project = make_project(tmp_path, deps={"web": ("api",)})
    assert select_resources(project, ["web"]) == ["api", "web"]
    with pytest.raises(UsageError, match="Did you mean `web`"):
        select_resources(project, ["wbe"])


def test_file_change_live_updates_then_build_on_fallback(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    target, builder = FakeTarget(), FakeBuilder()
    engine, sink = engine_for(project, target, builder, mode="up", watch=False)
    from devloop.engine.events import FilesChanged

    ctx = project.config.images[0].context
    with Runner(engine) as run:
        run.wait_for(lambda: all(r.status is Status.READY for r in engine.snapshot().resources), "all ready")
        engine.post(FilesChanged(frozenset({ctx / "app" / "main.py"}), frozenset({ctx / "app" / "old.py"})))
        run.wait_for(lambda: bool(target.copies), "a live update")
        _, copies, deletes = target.copies[0]
        assert [(c.local, c.dest) for c in copies] == [(str(ctx / "app" / "main.py"), "/srv/app/main.py")]
        assert deletes == ("/srv/app/old.py",)
        assert builder.builds == ["shop/api"]
        # a change outside every sync.src builds and redeploys
        engine.post(FilesChanged(frozenset({ctx / "Dockerfile"}), frozenset()))
        run.wait_for(lambda: len(builder.builds) == 2 and target.applied.count("api") == 2, "a rebuild")
        run.wait_for(lambda: run.status("api") is Status.READY, "api ready again")
        # a container that is gone falls back to a full build
        target.gone.add("api")
        engine.post(FilesChanged(frozenset({ctx / "app" / "x.py"}), frozenset()))
        run.wait_for(lambda: len(builder.builds) == 3, "a fall-back build")
        assert any("live update not possible" in text for _, text in sink.lines)


def test_manual_resource_waits_for_trigger(tmp_path: Path) -> None:
    project = make_project(tmp_path, manual=("api",))
    target, builder = FakeTarget(), FakeBuilder()
    engine, _ = engine_for(project, target, builder, mode="up", watch=False)
    from devloop.engine.events import FilesChanged

    ctx = project.config.images[0].context
    with Runner(engine) as run:
        run.wait_for(lambda: run.status("api") is Status.READY, "first deploy of a manual resource")
        engine.post(FilesChanged(frozenset({ctx / "Dockerfile"}), frozenset()))
        run.wait_for(lambda: run.status("api") is Status.MANUAL_PENDING, "changes pending")
        run.settle()
        assert builder.builds == ["shop/api"]
        engine.trigger("api")
        run.wait_for(lambda: len(builder.builds) == 2 and run.status("api") is Status.READY, "triggered update")


def test_config_reload_deletes_removed_and_keeps_unchanged(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    config = project.config
    kept = tuple((n, s) for n, s in config.resources if n != "web")
    smaller = assemble(
        Config(path=config.path, name=config.name, images=config.images, resources=kept),
        [r.objects[0] for r in project.resources if r.name != "web"],
    )
    target, builder = FakeTarget(), FakeBuilder()
    sink = RecordingSink()
    engine = Engine(
        project,
        target,
        builder,
        sink,
        EngineOptions(poll_interval=0.02, watch=False),
        reload_project=lambda: smaller,
        clock=FakeClock(),
    )
    from devloop.engine.events import FilesChanged

    with Runner(engine) as run:
        run.wait_for(lambda: all(r.status is Status.READY for r in engine.snapshot().resources), "all ready")
        applied = list(target.applied)
        engine.post(FilesChanged(frozenset({project.config.path}), frozenset()))
        run.wait_for(lambda: target.deleted == ["web"], "web deleted")
        run.wait_for(lambda: "web" not in [r.name for r in engine.snapshot().resources], "web gone from state")
        run.settle()
        assert target.applied == applied  # db and api unchanged: not re-applied
        assert "config reloaded" in sink.messages


def test_config_reload_rebuilds_a_resource_whose_image_settings_changed(tmp_path: Path) -> None:
    """A change of an image's build settings (a workload's `base:`, build args...) leaves the objects as they
    are, but the image is another one: its resources are rebuilt and redeployed."""
    import dataclasses

    from devloop.engine.events import FilesChanged

    project = make_project(tmp_path)
    config = project.config
    image = dataclasses.replace(config.images[0], args=(("PY", "3.12"),))
    changed = assemble(dataclasses.replace(config, images=(image,)), [r.objects[0] for r in project.resources])
    target, builder = FakeTarget(), FakeBuilder()
    engine = Engine(
        project,
        target,
        builder,
        RecordingSink(),
        EngineOptions(poll_interval=0.02, watch=False),
        reload_project=lambda: changed,
        clock=FakeClock(),
    )
    with Runner(engine) as run:
        run.wait_for(lambda: all(r.status is Status.READY for r in engine.snapshot().resources), "all ready")
        assert builder.builds == ["shop/api"]
        engine.post(FilesChanged(frozenset({config.path}), frozenset()))
        run.wait_for(lambda: builder.builds == ["shop/api", "shop/api"], "api rebuilt")
        run.wait_for(lambda: all(r.status is Status.READY for r in engine.snapshot().resources), "all ready again")


def test_container_age_parses_docker_timestamps() -> None:
    from datetime import datetime

    from devloop.engine.loop import container_age as age_of
    from devloop.timestamps import epoch_seconds

    def container_age(started_at: str, now: float) -> float | None:  # a target's ContainerRef.started_at
        return age_of(epoch_seconds(started_at) or 0.0, now)

    now = datetime(2026, 1, 2, 3, 4, 10, tzinfo=UTC).timestamp()
    assert container_age("2026-01-02T03:04:05.123456789Z", now) == pytest.approx(4.876543, abs=1e-5)
    assert container_age("2026-01-02T04:04:05+01:00", now) == pytest.approx(5.0)
    assert container_age("0001-01-01T00:00:00Z", now) is None
    assert container_age("", now) is None


def test_recreated_container_gets_the_synced_files_again(tmp_path: Path) -> None:
    """Synced work is never silently lost: a container re-created from the same image (crash restart,
    new replica) receives every file synced since the image was built, without a build."""
    from devloop.engine.events import FilesChanged

    project = make_project(tmp_path)
    target, builder = FakeTarget(), FakeBuilder()
    engine, sink = engine_for(project, target, builder, mode="up", watch=False)
    ctx = project.config.images[0].context
    with Runner(engine) as run:
        run.wait_for(lambda: all(r.status is Status.READY for r in engine.snapshot().resources), "all ready")
        engine.post(FilesChanged(frozenset({ctx / "app" / "a.py"}), frozenset({ctx / "app" / "old.py"})))
        run.wait_for(lambda: len(target.copies) == 1, "the live update")
        run.wait_for(lambda: run.status("api") is Status.READY, "ready after the live update")
        engine.post(FilesChanged(frozenset({ctx / "app" / "b.py"}), frozenset()))
        run.wait_for(lambda: len(target.copies) == 2, "the second live update")
        run.wait_for(lambda: run.status("api") is Status.READY, "ready again")
        target.recreate("api")
        run.wait_for(lambda: len(target.copies) == 3, "a re-sync into the new container")
        container, copies, deletes = target.copies[2]
        assert container.endswith("-1")  # the re-created container
        assert sorted(c.dest for c in copies) == ["/srv/app/a.py", "/srv/app/b.py"]
        assert deletes == ("/srv/app/old.py",)
        assert builder.builds == ["shop/api"]
        assert any("re-syncing 3 path(s)" in text for _, text in sink.lines)
        run.wait_for(lambda: run.status("api") is Status.READY, "ready after the re-sync")
        # a full build folds the synced files into the image: nothing to re-sync afterwards
        engine.post(FilesChanged(frozenset({ctx / "Dockerfile"}), frozenset()))
        run.wait_for(lambda: len(builder.builds) == 2, "a rebuild")
        run.wait_for(lambda: run.status("api") is Status.READY, "ready after the rebuild")
        target.recreate("api")
        run.wait_for(lambda: len(target.copies) >= 3, "the re-created container synced again")
        run.settle()  # and only once
        assert len(target.copies) == 3


def test_watcher_overflow_rebuilds_every_image(tmp_path: Path) -> None:
    from devloop.engine.events import FilesChanged

    project = make_project(tmp_path)
    target, builder = FakeTarget(), FakeBuilder()
    engine, sink = engine_for(project, target, builder, mode="up", watch=False)
    with Runner(engine) as run:
        run.wait_for(lambda: all(r.status is Status.READY for r in engine.snapshot().resources), "all ready")
        engine.post(FilesChanged(frozenset(), frozenset(), overflow=True))
        run.wait_for(lambda: len(builder.builds) == 2, "a rebuild of the only image")
        assert any("lost events" in m for m in sink.messages)


def test_failed_run_step_is_not_cleared_by_a_runtime_change(tmp_path: Path) -> None:
    from devloop.config.model import RunStep
    from devloop.engine.events import FilesChanged

    project = make_project(tmp_path)
    image = project.config.images[0]
    assert image.live_update is not None
    failing = LiveUpdate(sync=image.live_update.sync, run=(RunStep("check"),))
    config = project.config
    images = (ImageSpec(ref=image.ref, context=image.context, dockerfile=image.dockerfile, live_update=failing),)
    project = assemble(
        Config(path=config.path, name=config.name, images=images, resources=config.resources),
        [r.objects[0] for r in project.resources],
    )
    target, builder = FakeTarget(exec_codes={"check": 3}), FakeBuilder()
    engine, sink = engine_for(project, target, builder, mode="up", watch=False)
    with Runner(engine) as run:
        run.wait_for(lambda: all(r.status is Status.READY for r in engine.snapshot().resources), "all ready")
        engine.post(FilesChanged(frozenset({image.context / "app" / "a.py"}), frozenset()))
        run.wait_for(lambda: run.status("api") is Status.FAILED, "the run step failing")
        target.recreate("api")  # a runtime change (new container) must not turn it green
        run.settle()
        assert run.status("api") is Status.FAILED, (sink.lines, sink.states[-4:])
        view = engine.snapshot().resource("api")
        assert view is not None and "`check` exited with 3" in view.reason


def test_trigger_is_not_lost_to_file_changes_arriving_before_it_starts(tmp_path: Path) -> None:
    from devloop.engine.events import FilesChanged, Trigger

    project = make_project(tmp_path, manual=("api",))
    target, builder = FakeTarget(), FakeBuilder()
    engine, _ = engine_for(project, target, builder, mode="up", watch=False)
    ctx = project.config.images[0].context
    with Runner(engine) as run:
        run.wait_for(lambda: run.status("api") is Status.READY, "first deploy")
        engine.post(FilesChanged(frozenset({ctx / "Dockerfile"}), frozenset()))
        run.wait_for(lambda: run.status("api") is Status.MANUAL_PENDING, "changes pending")
        # the trigger and another change arrive together: both are handled before anything is scheduled
        engine.post(Trigger("api"))
        engine.post(FilesChanged(frozenset({ctx / "Dockerfile"}), frozenset()))
        run.wait_for(lambda: len(builder.builds) == 2 and run.status("api") is Status.READY, "the triggered update")


def test_resync_follows_the_built_reference_each_container_runs(tmp_path: Path) -> None:
    """Two resources share an image; one is rebuilt (new tag) while the other keeps running the old tag with
    synced files: only containers of the old tag get those files again, the rebuilt one needs none."""
    from devloop.engine.events import FilesChanged

    base = make_project(tmp_path).config
    config = Config(path=base.path, name=base.name, images=base.images)
    project = assemble(config, [deployment("one", "shop/api"), deployment("two", "shop/api")])

    class ContentBuilder(FakeBuilder):
        """Same content, same tag (as the real builder): the tag changes only when the test says so."""

        version = 1

        def build(self, image: ImageSpec, on_line: Callable[[str], None]) -> Built:
            self.builds.append(image.ref)
            return Built(f"{image.ref}:devloop-{self.version:016x}")

    target, builder = FakeTarget(), ContentBuilder()
    engine, sink = engine_for(project, target, builder, mode="up", watch=False)
    ctx = config.images[0].context
    with Runner(engine) as run:
        run.wait_for(lambda: all(r.status is Status.READY for r in engine.snapshot().resources), "all ready")
        old = target.images["one"]
        assert target.images["two"] == old
        engine.post(FilesChanged(frozenset({ctx / "app" / "a.py"}), frozenset()))
        run.wait_for(lambda: len(target.copies) == 2, "a live update of both")
        run.wait_for(lambda: all(r.status is Status.READY for r in engine.snapshot().resources), "ready again")
        builder.version = 2
        engine.trigger("two")  # a full build: a new tag for `two`, with a.py inside
        run.wait_for(lambda: target.images["two"] != old and run.status("two") is Status.READY, "two rebuilt")
        target.recreate("two")
        target.recreate("one")
        run.wait_for(lambda: len(target.copies) == 3, "a re-sync")
        run.settle()
        assert [c[0].split("-")[0] for c in target.copies[2:]] == ["one"]
        assert not any("into two" in text for _, text in sink.lines)


def test_resync_goes_only_to_the_container_that_lost_the_files(tmp_path: Path) -> None:
    """Three replicas got a live update; one crashes and comes back from the image: only that one is re-synced
    (and restarted), the two healthy ones are left alone."""
    from devloop.engine.events import FilesChanged

    base = make_project(tmp_path)
    image = base.config.images[0]
    assert image.live_update is not None
    restarting = LiveUpdate(sync=image.live_update.sync, restart=True)
    images = (ImageSpec(ref=image.ref, context=image.context, dockerfile=image.dockerfile, live_update=restarting),)
    config = Config(path=base.config.path, name=base.config.name, images=images)
    project = assemble(config, [deployment("api", "shop/api")])
    target, builder = FakeTarget(replicas={"api": 3}), FakeBuilder()
    engine, _ = engine_for(project, target, builder, mode="up", watch=False)
    with Runner(engine) as run:
        run.wait_for(lambda: run.status("api") is Status.READY, "ready")
        engine.post(FilesChanged(frozenset({image.context / "app" / "a.py"}), frozenset()))
        run.wait_for(lambda: len(target.copies) == 3 and len(target.restarts) == 3, "the live update of all three")
        run.wait_for(lambda: run.status("api") is Status.READY, "ready again")
        target.recreate_replica("api", 1)
        run.wait_for(lambda: len(target.copies) == 4, "a re-sync")
        run.wait_for(lambda: run.status("api") is Status.READY, "ready after the re-sync")
        run.settle()
        assert len(target.copies) == 4, target.copies
        assert target.copies[3][0].endswith("-r1-1")
        assert len(target.restarts) == 4 and target.restarts[3].endswith("-r1-1")


def _live_update_project(tmp_path: Path, *, restart: bool) -> Project:
    project = make_project(tmp_path)
    image = project.config.images[0]
    live = LiveUpdate(sync=(SyncRule("app", "/srv/app"),), restart=restart)
    images = (ImageSpec(ref=image.ref, context=image.context, dockerfile=image.dockerfile, live_update=live),)
    config = Config(path=project.config.path, name="shop", images=images, resources=project.config.resources)
    return assemble(config, [r.objects[0] for r in project.resources])


@pytest.mark.parametrize(
    ("changed", "deleted", "detail"),
    [
        ({"main.py"}, set(), "1 file(s) synced"),
        (set(), {"old.py"}, "1 file(s) deleted"),
        ({"main.py", "util.py"}, {"old.py"}, "2 file(s) synced, 1 deleted"),
    ],
)
def test_live_update_says_what_it_synced_and_deleted(
    tmp_path: Path, changed: set[str], deleted: set[str], detail: str
) -> None:
    project = _live_update_project(tmp_path, restart=False)
    target = FakeTarget()
    engine, _ = engine_for(project, target, FakeBuilder(), mode="up", watch=False)
    from devloop.engine.events import FilesChanged

    app = project.config.images[0].context / "app"
    with Runner(engine) as run:
        run.wait_for(lambda: run.status("api") is Status.READY, "api ready")
        engine.post(FilesChanged(frozenset(app / n for n in changed), frozenset(app / n for n in deleted)))

        def updated() -> bool:
            view = engine.snapshot().resource("api")
            return view is not None and view.last_update is not None and view.last_update.kind == "live"

        run.wait_for(updated, "the live update")
        view = engine.snapshot().resource("api")
        assert view is not None and view.last_update is not None and view.last_update.detail == detail


def test_live_update_with_restart_is_ready_only_after_the_restart(tmp_path: Path) -> None:
    project = _live_update_project(tmp_path, restart=True)
    target = FakeTarget()
    engine, sink = engine_for(project, target, FakeBuilder(), mode="up", watch=False)
    from devloop.engine.events import FilesChanged

    app = project.config.images[0].context / "app"
    with Runner(engine) as run:
        run.wait_for(lambda: run.status("api") is Status.READY, "api ready")
        with target.lock:
            target.phases["api"] = Phase.RUNNING  # the restarted process is not ready yet
        engine.post(FilesChanged(frozenset({app / "main.py"}), frozenset()))
        run.wait_for(lambda: bool(target.restarts), "the restart")
        run.wait_for(lambda: run.status("api") is Status.STARTING, "api waiting for the restarted container")
        run.settle()  # several monitor rounds: still not ready while the container is not
        assert run.status("api") is Status.STARTING
        with target.lock:
            target.phases["api"] = Phase.READY
        run.wait_for(lambda: run.status("api") is Status.READY, "api ready after the restart")
    states = [v.status for v in sink.states if v.name == "api"]
    after = states[states.index(Status.LIVE_UPDATING) :]
    assert after[:3] == [Status.LIVE_UPDATING, Status.STARTING, Status.READY], states


def test_containers_with_live_updated_files_are_stale_on_the_next_deploy(tmp_path: Path) -> None:
    """Issue 9.1: a container devloop synced files into is marked (in the records store, outside the engine)
    before the files go in; the next deploy of its resource asks the target to replace it, and a new engine
    (another devloop process) sharing the store knows it too."""
    from devloop.engine.events import FilesChanged
    from devloop.engine.liverecords import DiskRecords

    project = make_project(tmp_path)
    target, builder = FakeTarget(), FakeBuilder()
    records = DiskRecords(tmp_path / "records")
    engine = Engine(
        project,
        target,
        builder,
        RecordingSink(),
        EngineOptions(poll_interval=0.02, watch=False),
        records=records,
        clock=FakeClock(),
    )
    ctx = project.config.images[0].context
    with Runner(engine) as run:
        run.wait_for(lambda: run.status("api") is Status.READY, "api ready")
        assert target.stale_seen[target.applied.index("api")] == frozenset()
        (ctx / "app" / "main.py").write_text("print(2)\n")
        engine.post(FilesChanged(frozenset({ctx / "app" / "main.py"}), frozenset()))
        run.wait_for(lambda: len(target.copies) == 1, "the live update")
        (container,) = {c for c, _, _ in target.copies}
        assert records.marked("shop", "api") == {container}
        assert DiskRecords(tmp_path / "records").marked("shop", "api") == {container}  # another process

        engine.trigger("api")  # a deploy of the same image: the marked container is replaced
        run.wait_for(lambda: target.applied.count("api") == 2, "the second deploy")
        assert target.stale_seen[len(target.applied) - 1 - target.applied[::-1].index("api")] == {container}
        run.wait_for(lambda: records.marked("shop", "api") == frozenset(), "the mark forgotten once replaced")
