"""The engine's pure decisions: live update vs build, scheduling in depends_on order, ci outcome."""

from __future__ import annotations

from pathlib import Path

import pytest

from devloop.config.model import (
    Config,
    ImageSpec,
    LiveUpdate,
    Project,
    Resource,
    RunStep,
    SyncRule,
)
from devloop.engine import decide
from devloop.engine.state import ResourceState, Status

ROOT = Path("/proj")


def image(ref: str = "shop/api", context: str = "api", **live: object) -> ImageSpec:
    lu = LiveUpdate(
        sync=(SyncRule("app", "/srv/app"), SyncRule("static/index.html", "/www/index.html")),
        run=(
            RunStep("pip install -r requirements-dev.txt", ("requirements-dev.txt",)),
            RunStep(("touch", "/tmp/ran")),
        ),
        fall_back_on=("requirements.txt", "*.lock"),
        restart=True,
    )
    return ImageSpec(ref=ref, context=ROOT / context, dockerfile=ROOT / context / "Dockerfile", live_update=lu)


def p(rel: str, context: str = "api") -> Path:
    return ROOT / context / rel


CASES = [
    # (name, changed, deleted, running, kind, reason fragment)
    ("sync file", ["app/main.py"], [], True, "live", ""),
    ("nested sync", ["app/a/b/c.py"], [], True, "live", ""),
    ("single-file sync", ["static/index.html"], [], True, "live", ""),
    ("fall_back_on exact", ["requirements.txt"], [], True, "build", "fall_back_on"),
    ("fall_back_on glob", ["poetry.lock"], [], True, "build", "fall_back_on"),
    ("outside sync", ["Dockerfile"], [], True, "build", "outside every sync.src"),
    ("mixed in and out", ["app/x.py", "README"], [], True, "build", "outside"),
    ("no container yet", ["app/x.py"], [], False, "build", "no running container"),
    ("deleted in sync", [], ["app/old.py"], True, "live", ""),
    ("deleted outside sync", [], ["other.txt"], True, "build", "outside"),
    ("not in context", ["web/x.js"], [], True, "none", ""),
]


@pytest.mark.parametrize(("name", "changed", "deleted", "running", "kind", "reason"), CASES, ids=[c[0] for c in CASES])
def test_decide_image_update(
    name: str, changed: list[str], deleted: list[str], running: bool, kind: str, reason: str
) -> None:
    update = decide.decide_image_update(
        image(),
        [p(c) if not c.startswith("web/") else ROOT / c for c in changed],
        [p(d) for d in deleted],
        has_running_container=running,
    )
    assert update.kind == kind
    assert reason in update.reason


def test_live_update_maps_files_deletes_and_run_steps() -> None:
    update = decide.decide_image_update(
        image(), [p("app/pkg/mod.py"), p("static/index.html")], [p("app/gone.py")], has_running_container=True
    )
    assert update.copies == (
        (str(p("app/pkg/mod.py")), "/srv/app/pkg/mod.py"),
        (str(p("static/index.html")), "/www/index.html"),
    )
    assert update.deletes == ("/srv/app/gone.py",)
    # the triggered step did not fire (requirements-dev.txt unchanged); the untriggered one always runs
    assert [s.display for s in update.run] == ["touch /tmp/ran"]
    assert update.restart is True


def test_run_step_with_trigger_fires_when_its_path_changed() -> None:
    img = image()
    assert img.live_update is not None
    lu = LiveUpdate(sync=(SyncRule(".", "/srv"),), run=img.live_update.run)
    img = ImageSpec(ref=img.ref, context=img.context, dockerfile=img.dockerfile, live_update=lu)
    update = decide.decide_image_update(img, [p("requirements-dev.txt")], [], has_running_container=True)
    assert update.kind == "live"
    assert [s.display for s in update.run] == ["pip install -r requirements-dev.txt", "touch /tmp/ran"]
    assert update.copies == ((str(p("requirements-dev.txt")), "/srv/requirements-dev.txt"),)


def test_no_live_update_rules_means_build() -> None:
    plain = ImageSpec(ref="x", context=ROOT / "api", dockerfile=ROOT / "api" / "Dockerfile")
    update = decide.decide_image_update(plain, [p("app/a.py")], [], has_running_container=True)
    assert update.kind == "build"


def project_with(images: tuple[ImageSpec, ...], resources: tuple[Resource, ...]) -> Project:
    config = Config(path=ROOT / "devloop.yaml", name="shop", images=images)
    return Project(config=config, resources=resources)


def test_plan_batch_path_in_two_images_contexts_and_config_reload() -> None:
    outer = ImageSpec(ref="shop/all", context=ROOT, dockerfile=ROOT / "Dockerfile")
    inner = image()
    project = project_with(
        (outer, inner),
        (
            Resource("all", "Deployment", (), ("shop/all",)),
            Resource("api", "Deployment", (), ("shop/api",)),
        ),
    )
    plan = decide.plan_batch(
        project,
        [p("app/main.py"), ROOT / "devloop.yaml"],
        [],
        config_files=[ROOT / "devloop.yaml"],
        ignored_for_image=lambda path, img: False,
        running_images={"shop/api": True, "shop/all": True},
    )
    assert plan.reload_config is True
    assert [(u.ref, u.kind) for u in plan.images] == [("shop/all", "build"), ("shop/api", "live")]
    assert decide.resources_for_images(project, ["shop/api"]) == ["api"]


def test_plan_batch_ignored_path_does_nothing() -> None:
    project = project_with((image(),), (Resource("api", "Deployment", (), ("shop/api",)),))
    plan = decide.plan_batch(
        project,
        [p("app/notes.md")],
        [],
        config_files=[],
        ignored_for_image=lambda path, img: path.suffix == ".md",
        running_images={"shop/api": True},
    )
    assert plan == decide.BatchPlan(reload_config=False, images=())


def test_plan_batch_files_in_manifest_folders_reload_and_never_count_for_images() -> None:
    outer = ImageSpec(
        ref="shop/all",
        context=ROOT,
        dockerfile=ROOT / "Dockerfile",
        live_update=LiveUpdate(sync=(SyncRule(".", "/srv"),)),
    )
    project = project_with((outer,), (Resource("all", "Deployment", (), ("shop/all",)),))
    own = [ROOT / "devloop.yaml", ROOT / ".devloopignore", ROOT / "deploy/overlays/dev", ROOT / "deploy/base"]

    def plan(*changed: Path) -> decide.BatchPlan:
        return decide.plan_batch(
            project,
            list(changed),
            [],
            config_files=own,
            ignored_for_image=lambda path, img: False,
            running_images={"shop/all": True},
        )

    for path in (
        ROOT / "deploy/base/deployment.yaml",
        ROOT / "deploy/overlays/dev/patch.yaml",
        ROOT / ".devloopignore",
    ):
        assert plan(path) == decide.BatchPlan(reload_config=True, images=()), path
    mixed = plan(ROOT / "deploy/base/deployment.yaml", ROOT / "app.py")
    assert mixed.reload_config and [(u.ref, u.kind, u.changed) for u in mixed.images] == [
        ("shop/all", "live", ("app.py",))
    ]
    assert plan(ROOT / "deploy/basement.yaml") == decide.BatchPlan(
        reload_config=False,
        images=(
            mixed.images[0].__class__(
                "shop/all",
                "live",
                copies=((str(ROOT / "deploy/basement.yaml"), "/srv/deploy/basement.yaml"),),
                changed=("deploy/basement.yaml",),
            ),
        ),
    )
    assert decide.is_config_path(ROOT / "deploy/base", frozenset(own))
    assert not decide.is_config_path(ROOT / "deploy", frozenset(own))


def states(**kw: tuple[bool, bool, Status]) -> dict[str, ResourceState]:
    out = {}
    for name, (dirty, ever_ready, status) in kw.items():
        out[name] = ResourceState(name=name, kind="Deployment", dirty=dirty, ever_ready=ever_ready, status=status)
    return out


def test_schedule_waits_for_dependencies_to_have_been_ready_once() -> None:
    st = states(db=(True, False, Status.PENDING), api=(True, False, Status.PENDING), web=(True, False, Status.PENDING))
    deps = {"api": ("db",), "web": ("api",)}
    plan = decide.schedule(["db", "api", "web"], st, deps, running=0, parallel=3)
    assert plan.start == ("db",)
    assert plan.waiting == {"api": ("db",), "web": ("api",)}
    st["db"].dirty = False
    st["db"].ever_ready = True
    st["db"].status = Status.READY
    plan = decide.schedule(["db", "api", "web"], st, deps, running=0, parallel=3)
    assert plan.start == ("api",)


def test_schedule_respects_parallel_and_skips_busy_and_manual() -> None:
    st = states(
        a=(True, False, Status.PENDING),
        b=(True, False, Status.BUILDING),
        c=(True, False, Status.MANUAL_PENDING),
        d=(True, False, Status.PENDING),
        e=(True, False, Status.PENDING),
    )
    plan = decide.schedule(["a", "b", "c", "d", "e"], st, {}, running=1, parallel=3)
    assert plan.start == ("a", "d")


def test_ci_outcome() -> None:
    st = states(a=(False, True, Status.READY), j=(False, True, Status.COMPLETED))
    assert decide.ci_outcome(st) == "success"
    st["a"].status = Status.STARTING
    assert decide.ci_outcome(st) == "running"
    st["j"].status = Status.FAILED
    assert decide.ci_outcome(st) == "failure"


def test_written_by_own_steps_uses_modification_times_and_arrival_for_deletes() -> None:
    windows = [
        decide.StepWindow(100.0, 110.0, "the test stage of image shop/api"),
        decide.StepWindow(200.0, None, "the run step `make`"),  # still running
    ]
    stamps: dict[Path, float | None] = {
        ROOT / "report.xml": 105.0,
        ROOT / "late.txt": 110.3,  # flushed just after the step ended
        ROOT / "user.py": 150.0,
        ROOT / "during-run.txt": 230.0,
        ROOT / "deleted.txt": None,
    }
    own = decide.written_by_own_steps(stamps, windows, arrived=240.0)
    assert own == {
        ROOT / "report.xml": "the test stage of image shop/api",
        ROOT / "late.txt": "the test stage of image shop/api",
        ROOT / "during-run.txt": "the run step `make`",
        ROOT / "deleted.txt": "the run step `make`",  # deleted while a step runs: by its arrival
    }
    assert decide.written_by_own_steps({ROOT / "x": None}, windows[:1], arrived=150.0) == {}


def test_self_trigger_needs_the_same_own_path_in_two_batches_in_a_row() -> None:
    report, user = ROOT / "report.xml", ROOT / "app.py"
    prev, loop = decide.self_trigger(frozenset(), frozenset({report}), True)
    assert loop == frozenset() and prev == {report}
    prev2, loop = decide.self_trigger(prev, frozenset({report}), True)
    assert loop == {report}
    # a batch that also holds a save of the user breaks the chain
    assert decide.self_trigger(prev, frozenset({report}), False) == (frozenset(), frozenset())
    # different own files each time: no loop yet
    assert decide.self_trigger(prev, frozenset({user}), True) == (frozenset({user}), frozenset())
    assert prev2 == {report}


def test_reload_change_redeploys_only_for_objects_or_build_inputs() -> None:
    from dataclasses import replace

    from devloop.config.model import ManifestObject, ResourceSettings

    obj = ManifestObject({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}}, "k8s.yaml:1")
    api = Resource("api", "Deployment", (obj,), ("shop/api",), ResourceSettings(labels=("a",)))
    img = image()
    assert decide.reload_change(api, api, [img], [img]) == "none"
    assert decide.reload_change(None, api, [], [img]) == "deploy"
    relabelled = replace(api, settings=ResourceSettings(labels=("b",), readiness_timeout=9))
    assert decide.reload_change(api, relabelled, [img], [img]) == "settings"
    live_only = replace(img, live_update=LiveUpdate(sync=(SyncRule("app", "/elsewhere"),)), test=None)
    assert decide.reload_change(api, api, [img], [live_only]) == "none"
    assert decide.reload_change(api, api, [img], [replace(img, args=(("V", "2"),))]) == "deploy"
    assert decide.reload_change(api, api, [img], [replace(img, own_files=("k8s.yaml",))]) == "deploy"
    other = ManifestObject({**obj.body, "spec": {"replicas": 2}}, "k8s.yaml:1")
    assert decide.reload_change(api, replace(api, objects=(other,)), [img], [img]) == "deploy"
