"""The engine's reducer on its own: a state, an event and a time in, the changed state and the effects out. No
threads, no target, no clock: every case is one call."""

from __future__ import annotations

from pathlib import Path

from devloop.config.model import Project
from devloop.engine.effects import Follow, Log, Publish, StartUpdate, Watch
from devloop.engine.events import ContainerRestarting, FilesSynced, ImageBuilt, RuntimeChanged, Tick, UpdateFinished
from devloop.engine.options import EngineOptions
from devloop.engine.reduce import Now, new_state, reduce, settle
from devloop.engine.state import EngineState, Status, UpdateRecord
from devloop.targets.base import ContainerRef, Phase, RuntimeStatus
from tests.test_engine import make_project

T0 = Now(monotonic=100.0, wall=1_800_000_000.0)


def engine_state(project: Project, **options: object) -> EngineState:
    order = [r.name for r in project.resources]
    resources = {n: new_state(project, n, "up", T0.wall) for n in order}
    return EngineState(project, EngineOptions(**options), order, resources, started=T0.monotonic)  # type: ignore[arg-type]


def deployed(state: EngineState, name: str, now: Now = T0) -> list[object]:
    """Start the update of ``name`` and finish it successfully; the effects of the finish."""
    resource = state.resources[name]
    resource.generation += 1  # what starting the update does
    resource.dirty = resource.full_build = False
    state.running += 1
    record = UpdateRecord("deploy", 0.1, now.wall)
    return list(reduce(state, UpdateFinished(name, state.resources[name].generation, record), now))


def test_settle_starts_what_may_start_in_depends_on_order(tmp_path: Path) -> None:
    state = engine_state(make_project(tmp_path, deps={"api": ("db",), "web": ("api",)}))
    effects = settle(state, T0)
    assert [e.resource.name for e in effects if isinstance(e, StartUpdate)] == ["db"]
    assert state.running == 1 and state.resources["db"].generation == 1
    assert state.resources["api"].reason == "waiting for db" and any(
        isinstance(e, Publish) and e.name == "api" for e in effects
    )


def test_a_finished_deploy_is_watched_followed_and_starting(tmp_path: Path) -> None:
    state = engine_state(make_project(tmp_path))
    effects = deployed(state, "web")
    assert effects[:2] == [Watch("web", 1), Follow("web")]
    assert Publish("web") in effects
    assert state.resources["web"].status is Status.STARTING and state.running == 0


def test_a_status_read_before_the_latest_deploy_is_dropped(tmp_path: Path) -> None:
    state = engine_state(make_project(tmp_path))
    deployed(state, "web")
    assert reduce(state, RuntimeChanged("web", RuntimeStatus(Phase.READY), deploy_seq=0), T0) == []
    assert state.resources["web"].status is Status.STARTING
    reduce(state, RuntimeChanged("web", RuntimeStatus(Phase.READY), deploy_seq=1), T0)
    assert state.resources["web"].status is Status.READY and state.resources["web"].ever_ready


def test_readiness_timeout_counts_from_the_deploy_in_the_given_time(tmp_path: Path) -> None:
    state = engine_state(make_project(tmp_path))
    deployed(state, "web")
    limit = state.resource("web").settings.readiness_timeout
    reduce(state, Tick(), Now(T0.monotonic + limit - 1, T0.wall))
    assert state.resources["web"].status is Status.STARTING
    reduce(state, Tick(), Now(T0.monotonic + limit + 1, T0.wall))
    assert state.resources["web"].status is Status.FAILED
    assert state.resources["web"].reason.startswith(f"not ready after {limit:.0f} s")


def test_a_recreated_container_is_resynced_but_a_restart_by_live_update_is_not(tmp_path: Path) -> None:
    state = engine_state(make_project(tmp_path))
    ctx = state.project.config.images[0].context
    reduce(state, ImageBuilt("shop/api", "shop/api:1"), T0)
    deployed(state, "api")
    first = ContainerRef(id="c1", name="api-1", image="shop/api:1", started_at=1.0)
    reduce(state, RuntimeChanged("api", RuntimeStatus(Phase.READY, containers=(first,)), 1), T0)
    reduce(state, FilesSynced("shop/api:1", ((str(ctx / "app" / "a.py"), "/srv/app/a.py"),), ()), T0)
    restarted = ContainerRef(id="c1", name="api-1", image="shop/api:1", started_at=2.0)
    reduce(state, ContainerRestarting("c1"), T0)
    reduce(state, RuntimeChanged("api", RuntimeStatus(Phase.READY, containers=(restarted,)), 1), T0)
    assert not state.resources["api"].pending_live and state.resources["api"].status is Status.READY
    recreated = ContainerRef(id="c2", name="api-2", image="shop/api:1", started_at=3.0)
    effects = reduce(state, RuntimeChanged("api", RuntimeStatus(Phase.READY, containers=(recreated,)), 1), T0)
    (update,) = state.resources["api"].pending_live
    assert update.containers == ("c2",) and update.copies == ((str(ctx / "app" / "a.py"), "/srv/app/a.py"),)
    assert Log("api", "re-syncing 1 path(s) of shop/api into api-2 (new since the build)") in effects
    assert state.resources["api"].status is Status.PENDING and state.resources["api"].dirty
