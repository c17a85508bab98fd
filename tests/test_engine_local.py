"""The engine with local resources (a real cmd and serve on this machine) and the fake target: file batches
re-run them, a deps change restarts the serve, its exit fails the resource, and stopping leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

from devloop.build.fake import FakeBuilder
from devloop.config.model import Config, LocalSpec, Project, ResourceSettings
from devloop.config.resources import assemble
from devloop.engine import decide
from devloop.engine.events import FilesChanged
from devloop.engine.state import Status
from devloop.targets.fake import FakeTarget
from tests.support import docker_env
from tests.support.docker_target import simple_deployment as deployment
from tests.support.e2e import poll
from tests.test_engine import Runner, engine_for


def local_project(tmp_path: Path, *specs: LocalSpec, depends: dict[str, tuple[str, ...]] | None = None) -> Project:
    settings = tuple((name, ResourceSettings(depends_on=deps)) for name, deps in (depends or {}).items())
    config = Config(path=tmp_path / "devloop.yaml", name="shop", local=specs, resources=settings)
    return assemble(config, [deployment("api", "nginx")])


def test_deps_changes_rerun_cmd_and_restart_serve_and_stopping_leaves_nothing(
    tmp_path: Path, no_leaks: docker_env.Snapshot
) -> None:
    (tmp_path / "src").mkdir()
    gen = LocalSpec(name="gen", dir=tmp_path, cmd="echo ran >> runs.txt", deps=("src",))
    srv = LocalSpec(name="srv", dir=tmp_path, serve="echo $$ > serve.pid; exec sleep 600", deps=("src/*.txt",))
    project = local_project(tmp_path, gen, srv, depends={"api": ("gen",)})
    assert [r.name for r in project.resources] == ["gen", "api", "srv"]
    engine, sink = engine_for(project, FakeTarget(), FakeBuilder(), mode="up")
    pid_file = tmp_path / "serve.pid"
    with Runner(engine) as run:
        run.wait_for(lambda: run.status("srv") is Status.READY and run.status("api") is Status.READY, "all ready")
        first = int(pid_file.read_text())
        engine.post(FilesChanged(frozenset({tmp_path / "src" / "a.txt"}), frozenset()))
        run.wait_for(lambda: (tmp_path / "runs.txt").read_text().count("ran") == 2, "cmd to run again")
        run.wait_for(lambda: pid_file.read_text().strip() not in ("", str(first)), "serve to restart")
        second = int(pid_file.read_text())
        run.wait_for(lambda: run.status("srv") is Status.READY, "the new serve ready")
        assert not alive(first), "the old serve was stopped"
        engine.post(FilesChanged(frozenset({tmp_path / "other.txt"}), frozenset()))  # not a dep: nothing runs
    assert not alive(second), "stopping the engine stops the serve"
    assert (tmp_path / "runs.txt").read_text().count("ran") == 2
    assert ("gen", "cmd: echo ran >> runs.txt") in sink.lines


def test_a_failing_cmd_and_an_exiting_serve_fail_with_their_last_lines(tmp_path: Path) -> None:
    bad = LocalSpec(name="bad", dir=tmp_path, cmd="echo one; echo two; exit 5")
    gone = LocalSpec(name="gone", dir=tmp_path, serve="echo bye; exit 7")
    for spec, reason, lines in (
        (bad, "cmd `echo one; echo two; exit 5` exited with 5", ("one", "two")),
        (gone, "serve `echo bye; exit 7` exited with 7", ("bye",)),
    ):
        engine, _ = engine_for(local_project(tmp_path, spec), FakeTarget(), FakeBuilder(), mode="ci")
        with Runner(engine) as run:
            assert run.result() == 1  # ci stops at the first failure
        failed = engine.snapshot().resource(spec.name)
        assert failed is not None and failed.status is Status.FAILED
        assert (failed.reason, failed.last_lines) == (reason, lines)


def test_local_resources_for_paths_match_gitignore_patterns(tmp_path: Path) -> None:
    specs = (
        LocalSpec(name="proto", dir=tmp_path, cmd="x", deps=("proto",)),
        LocalSpec(name="ts", dir=tmp_path, cmd="x", deps=("web/**/*.ts", "!web/gen/**")),
        LocalSpec(name="none", dir=tmp_path, cmd="x"),
    )
    project = local_project(tmp_path, *specs)

    def hit(*paths: str) -> list[str]:
        return decide.local_resources_for_paths(project, [tmp_path / p for p in paths])

    assert hit("proto/a/b.proto") == ["proto"]
    assert hit("web/src/app.ts") == ["ts"]
    assert hit("web/gen/out.ts") == []
    assert hit("protocol.txt", "README.md") == []
    assert decide.local_resources_for_paths(project, [Path("/elsewhere/proto/x")]) == []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_slow_readiness_check_does_not_delay_the_status_of_workloads(tmp_path: Path) -> None:
    """Local resources are polled on a thread of their own: while a serve's readiness check runs for seconds, the
    status of a workload still reaches the engine."""
    import queue

    from devloop.engine.clock import MonotonicClock
    from devloop.engine.events import Event, RuntimeChanged
    from devloop.engine.local import LocalProcesses
    from devloop.engine.monitor import Monitor
    from devloop.engine.options import EngineOptions
    from devloop.engine.sink import RecordingSink
    from devloop.targets.base import Phase

    slow = LocalSpec(
        name="slow", dir=tmp_path, serve="exec sleep 600", readiness=("cmd", "touch started; sleep 3; touch done")
    )
    project = local_project(tmp_path, slow)
    target = FakeTarget(phases={"api": Phase.RUNNING})
    events: queue.Queue[Event] = queue.Queue()
    local = LocalProcesses(lambda name, line: None)
    monitor = Monitor(target, local, RecordingSink(), events.put, EngineOptions(poll_interval=0.02), MonotonicClock())
    monitor.use_project(project)
    local.start_serve(slow)
    try:
        monitor.watch("slow", 1)
        monitor.watch("api", 1)
        monitor.start()
        poll(lambda: (tmp_path / "started").exists(), "the readiness check to start")
        with target.lock:
            target.phases["api"] = Phase.READY
        while True:
            event = events.get(timeout=30)
            if isinstance(event, RuntimeChanged) and event.resource == "api" and event.status.phase is Phase.READY:
                break
        assert not (tmp_path / "done").exists(), "the workload's status waited for the readiness check"
    finally:
        monitor.stop()
        local.stop_all()
        monitor.join()
