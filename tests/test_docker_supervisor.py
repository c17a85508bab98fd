"""The docker target's supervisor on the fake Docker API, stepped with a fake clock: restart policies, back-off
growth and reset, crash loops, restart counting, Jobs, removal. (tests/test_docker_target_run.py runs the same
runtime on the real engine.)"""

from __future__ import annotations

import io
import json
import socket
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devloop.engine.clock import FakeClock
from devloop.errors import DeployError
from devloop.targets.base import Phase, RuntimeStatus
from devloop.targets.docker import DockerTarget
from devloop.targets.docker import labels as L
from devloop.targets.docker.pause import PAUSE_IMAGE
from devloop.targets.docker.pods import plan_resource
from devloop.targets.docker.restarts import BACKOFF_START, CRASH_WINDOW
from devloop.targets.docker.runtime import ProjectRuntime
from tests.support.docker_target import configmap, deploy, deployment, job, obj, project, wait_for
from tests.support.fake_docker import PAUSE, FakeDockerAPI, FakeDockerClient, Program

IMAGE = "app:1"


@dataclass
class Rig:
    api: FakeDockerAPI
    clock: FakeClock
    runtime: ProjectRuntime
    kind: str = "Deployment"
    resource: str = "web"
    wanted: int = 1

    def deploy(self, workload: Any, *others: Any) -> None:
        self.resource = workload.name
        plan = plan_resource(self.resource, workload, [workload, *others])
        self.kind, self.wanted = plan.kind, plan.replicas
        for index in range(plan.replicas):
            self.runtime.create_pod(plan, index, PAUSE, L.base_labels("p", self.resource))

    def tick(self, advance: float = 0.0) -> RuntimeStatus:
        self.clock.advance(advance)
        self.runtime.tick()
        return self.status()

    def status(self) -> RuntimeStatus:
        return self.runtime.status(self.resource, self.wanted, self.kind)

    def app(self, pod: int = 0) -> Any:
        (found,) = [c for c in self.api.by_label(**{L.ROLE: L.ROLE_APP}) if c.labels[L.POD_INDEX] == str(pod)]
        return found


@pytest.fixture
def rig() -> Iterator[Rig]:
    api = FakeDockerAPI()
    api.add_image(IMAGE)
    clock = FakeClock()
    runtime = ProjectRuntime(api, "p", "net", clock=clock, sleep=clock.advance)
    yield Rig(api, clock, runtime)
    runtime.close()


def crashing(code: int = 3) -> Program:
    return Program(logs=("starting", "boom"), exit_code=code)


def web(replicas: int = 1) -> Any:
    return deployment("web", [{"name": "main", "image": IMAGE}], replicas=replicas)


def bare_pod(policy: str) -> Any:
    spec = {"restartPolicy": policy, "containers": [{"name": "main", "image": IMAGE}]}
    return obj({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": spec})


def test_a_pod_starts_and_runs(rig: Rig) -> None:
    rig.deploy(web())
    status = rig.tick()
    assert status.phase is Phase.READY and status.restarts == 0
    (ref,) = status.containers
    assert ref.name.endswith("/main") and ref.image == IMAGE and rig.app().state == "running"


def test_containers_carry_their_user_probe_files_and_environment(rig: Rig) -> None:
    container = {
        "name": "main",
        "image": IMAGE,
        "env": [
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "A", "value": "b"},
        ],
        "securityContext": {"runAsUser": 1000},
        "readinessProbe": {"exec": {"command": ["true"]}},
        "volumeMounts": [{"name": "conf", "mountPath": "/etc/conf"}],
    }
    rig.deploy(
        deployment("web", [container], volumes=[{"name": "conf", "configMap": {"name": "conf"}}]),
        configmap("conf", {"app.ini": "x=1"}),
    )
    status = rig.tick()
    app = rig.app()
    assert json.loads(app.labels[L.PROBE]) == {"exec": {"command": ["true"]}}
    assert status.containers[0].user == app.labels[L.RUN_AS] == "1000"
    assert status.phase is Phase.RUNNING  # the probe has not passed yet (no probe ran: no supervisor thread)
    assert app.environment == [f"POD={app.labels[L.POD]}", "A=b"]
    ((path, data),) = app.files
    assert path == "/"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        assert any(n.endswith("app.ini") for n in names), names


def test_a_container_left_with_the_same_name_is_replaced(rig: Rig) -> None:
    rig.deploy(web())
    (old,) = rig.api.by_label(**{L.ROLE: L.ROLE_APP})
    rig.api.containers_by_id.pop(rig.api.by_label(**{L.ROLE: L.ROLE_SANDBOX})[0].id)  # an interrupted earlier run
    rig.api.containers_by_id.pop(old.id)
    rig.api.create_container(IMAGE, name=old.name)  # ... left this one behind
    rig.deploy(web())
    assert rig.tick().phase is Phase.READY and rig.app().name == old.name


def test_an_image_that_is_not_there_is_a_deploy_error(rig: Rig) -> None:
    with pytest.raises(DeployError) as caught:
        rig.deploy(deployment("web", [{"name": "main", "image": "nowhere:1"}]))
    assert str(caught.value).startswith(
        "resource web: image nowhere:1 of container main is not on the Docker engine and could not be pulled (pull "
    )
    assert str(caught.value).endswith("; build it, or fix the image name in the manifest.")


def test_always_restarts_at_once_then_backs_off_and_detects_a_crash_loop(rig: Rig) -> None:
    rig.deploy(web())
    rig.tick()
    rig.api.program(IMAGE, crashing())
    rig.api.exit(rig.app().id, 3)
    rig.tick()  # first exit: restarted at once (and it crashes again)
    assert rig.app().starts == 2
    status = rig.tick()  # second exit within the window: waits BACKOFF_START
    assert rig.app().starts == 2 and status.phase is not Phase.FAILED and status.restarts == 1
    rig.tick(BACKOFF_START / 2)
    assert rig.app().starts == 2
    rig.tick(BACKOFF_START / 2)
    assert rig.app().starts == 3
    third = rig.clock.monotonic()
    status = rig.tick()  # the third exit within the window: a crash loop (its logs are read meanwhile)
    assert status.phase is Phase.FAILED
    pod = rig.app().labels[L.POD]
    assert status.reason == f"crash loop: container {pod}/main exited with code 3 3 times within 60 s"
    assert status.last_logs[-2:] == ("starting", "boom")
    assert status.restarts == 2 and "exited with code 3" in status.last_exit
    # still restarted, after a doubled back-off
    rig.clock.set(third + 2 * BACKOFF_START - 0.01)
    rig.tick()
    assert rig.app().starts == 3
    rig.clock.set(third + 2 * BACKOFF_START)
    rig.tick()
    assert rig.app().starts == 4


def test_a_crash_loop_ends_after_running_for_a_window(rig: Rig) -> None:
    rig.deploy(web())
    rig.api.program(IMAGE, crashing())
    for _ in range(8):
        rig.tick(1.0)
    assert rig.status().phase is Phase.FAILED
    rig.api.program(IMAGE, Program())  # fixed: it keeps running
    while rig.app().state != "running":
        rig.tick(1.0)
    rig.tick(CRASH_WINDOW / 2)
    assert rig.status().phase is Phase.FAILED  # not yet a whole window
    status = rig.tick(CRASH_WINDOW)
    assert status.phase is Phase.READY and status.restarts >= 3
    # the back-off starts over: the next exit restarts at once
    starts = rig.app().starts
    rig.api.exit(rig.app().id, 1)
    rig.tick()
    assert rig.app().starts == starts + 1


def test_on_failure_restarts_failures_only(rig: Rig) -> None:
    rig.deploy(bare_pod("OnFailure"))
    rig.tick()
    rig.api.exit(rig.app().id, 1)
    assert rig.tick().restarts == 1 and rig.app().state == "running"
    rig.api.exit(rig.app().id, 0)
    status = rig.tick(10.0)
    assert (status.phase, status.restarts, rig.app().state) == (Phase.COMPLETED, 1, "exited")
    assert rig.tick(100.0).phase is Phase.COMPLETED and rig.app().starts == 2


def test_never_leaves_a_failed_container_exited_and_fails(rig: Rig) -> None:
    rig.deploy(bare_pod("Never"))
    rig.tick()
    rig.api.exit(rig.app().id, 2, "cannot open config")
    status = rig.tick()
    assert status.phase is Phase.FAILED
    assert status.reason == f"container {rig.app().labels[L.POD]}/main exited with code 2"
    assert status.last_logs == ("cannot open config",)
    rig.tick(100.0)
    assert rig.app().starts == 1 and rig.status().restarts == 0


def test_restarts_are_counted_and_the_last_exit_told(rig: Rig) -> None:
    rig.deploy(web(replicas=2))
    rig.tick()
    rig.api.exit(rig.app(0).id, 137)
    rig.tick(1.0)
    rig.api.exit(rig.app(1).id, 143)
    status = rig.tick(1.0)
    assert status.phase is Phase.READY and status.restarts == 2 and status.ready_replicas == 2
    assert status.last_exit == f"container {rig.app(1).labels[L.POD]}/main exited with code 143 (terminated: SIGTERM)"
    rig.api.exit(rig.app(0).id, 137)
    status = rig.tick(CRASH_WINDOW + 1)  # a minute later: not a back-off, not a loop
    assert status.restarts == 3 and rig.app(0).starts == 3
    assert status.last_exit.endswith("exited with code 137 (killed: SIGKILL or out of memory)")


def test_a_job_retries_until_its_backoff_limit(rig: Rig) -> None:
    rig.api.program(IMAGE, Program(logs=("failing",), exit_code=4))
    rig.deploy(job("migrate", [{"name": "main", "image": IMAGE}], backoffLimit=2))
    for _ in range(10):
        status = rig.tick(1.0)
    assert status.phase is Phase.FAILED
    assert "exited with code 4" in status.reason and "(backoffLimit 2 reached)" in status.reason
    assert status.last_logs[-1] == "failing" and rig.app().starts == 3  # the first run and 2 retries


def test_a_job_runs_its_pods_one_at_a_time_to_completion(rig: Rig) -> None:
    rig.api.program(IMAGE, Program(exit_code=0))
    rig.deploy(job("seed", [{"name": "main", "image": IMAGE}], completions=3, parallelism=1))
    sandboxes = rig.api.by_label(**{L.ROLE: L.ROLE_SANDBOX})
    assert sorted(c.state for c in sandboxes) == ["created", "created", "running"]
    seen = []
    for _ in range(10):
        status = rig.tick(1.0)
        seen.append(sum(1 for c in rig.api.by_label(**{L.ROLE: L.ROLE_APP}) if c.starts))
    assert status.phase is Phase.COMPLETED and status.detail == "3/3 completed"
    assert seen[0] == 1 and seen[-1] == 3 and seen == sorted(seen)


def test_a_container_that_cannot_start_fails_its_pod(rig: Rig) -> None:
    rig.api.program(IMAGE, Program(start_error='exec: "serve": executable file not found in $PATH'))
    rig.deploy(web())
    status = rig.tick()
    assert status.phase is Phase.FAILED
    assert status.reason == (
        f"container {rig.app().labels[L.POD]}/main could not start: exec: \"serve\": executable file not found in $PATH"
    )


def test_a_pod_that_lost_its_sandbox_is_left_to_the_target(rig: Rig) -> None:
    rig.deploy(web())
    rig.tick()
    sandbox = rig.api.by_label(**{L.ROLE: L.ROLE_SANDBOX})[0]
    rig.api.remove_container(sandbox.id, force=True)
    status = rig.tick()
    assert status.phase is not Phase.READY  # DockerTarget re-creates such pods (after a supervisor pass)


def test_after_an_engine_restart_the_sandbox_then_its_containers_start_again(rig: Rig) -> None:
    rig.deploy(web())
    rig.tick()
    for c in rig.api.containers_by_id.values():
        rig.api.exit(c.id, 255)  # the engine went down: restart policy "no" leaves them exited
    status = rig.tick()
    assert status.phase is Phase.READY
    assert {c.state for c in rig.api.containers_by_id.values()} == {"running"}


def test_remove_waits_for_sigterm_then_removes_pods_and_their_volumes(rig: Rig) -> None:
    workload = deployment(
        "web",
        [{"name": "main", "image": IMAGE, "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}],
        volumes=[{"name": "tmp", "emptyDir": {}}],
        terminationGracePeriodSeconds=5,
    )
    rig.deploy(workload)
    rig.tick()
    assert len(rig.api.volumes_by_name) == 1
    rig.api.program(IMAGE, Program(handles_sigterm=False))
    start = rig.clock.monotonic()
    removed = rig.runtime.remove(rig.api.containers(all=True))
    assert rig.clock.monotonic() - start >= 5  # the whole grace period: SIGTERM did not stop it
    assert rig.api.containers_by_id == {} and rig.api.volumes_by_name == {}
    assert sorted(r.split()[0] for r in removed) == ["container", "container", "volume"]
    assert rig.status().phase is Phase.ABSENT


def test_status_reads_without_starting_a_thread() -> None:
    fake = FakeDockerAPI()
    fake.add_image(IMAGE)
    target = DockerTarget(FakeDockerClient(fake))
    proj = project("p", [web()])
    try:
        before = {thread.ident for thread in threading.enumerate()}
        assert target.status(proj, proj.resources[0]).phase is Phase.ABSENT
        assert [t.name for t in threading.enumerate() if t.ident not in before] == []
    finally:
        target.close()


def test_the_supervisor_thread_calls_its_hook_after_each_pass_and_survives_its_errors() -> None:
    fake = FakeDockerAPI()
    passes = threading.Semaphore(0)

    def hook() -> None:
        passes.release()
        raise RuntimeError("the hook failed")

    runtime = ProjectRuntime(fake, "p", "net", after_tick=hook)
    runtime.start()
    try:
        assert all(passes.acquire(timeout=30) for _ in range(3)), "three supervisor passes"
        assert runtime.last_error == ""  # the hook's error is not the engine's
    finally:
        runtime.close()


def test_the_target_recreates_a_pod_that_lost_its_container_with_nobody_asking() -> None:
    """As a ReplicaSet would: after its passes, the supervisor started by the deploy re-creates the pod (no status
    call is needed any more)."""
    fake = FakeDockerAPI(images=(PAUSE_IMAGE, IMAGE))
    target = DockerTarget(FakeDockerClient(fake))
    proj = project("p", [web()])
    try:
        assert deploy(target, proj, "web").changed
        (lost,) = fake.by_label(**{L.ROLE: L.ROLE_APP})
        wait_for(lambda: lost.state == "running", "the app container to run")
        fake.remove_container(lost.id, force=True)

        def recreated() -> list[Any] | None:
            apps = [c for c in fake.by_label(**{L.ROLE: L.ROLE_APP}) if c.state == "running"]
            return apps if apps and lost.id not in {c.id for c in apps} else None

        wait_for(recreated, "a re-created pod", timeout=60)
    finally:
        target.close()


def test_a_never_ready_container_being_restarted_does_not_make_the_supervisor_spin() -> None:
    """A live update restarts a container whose readiness probe never passed (devloop marks it busy meanwhile):
    the supervisor skips its pod, so that probe being due must not make the passes come back to back."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: the probe fails at once
    fake = FakeDockerAPI()
    fake.add_image(IMAGE)
    clock = FakeClock()
    passes = [0]
    probed = threading.Event()

    def hook() -> None:
        passes[0] += 1

    runtime = ProjectRuntime(fake, "p", "net", clock=clock, sleep=clock.advance, after_tick=hook)
    probe = {"tcpSocket": {"host": "127.0.0.1", "port": port}}
    workload = deployment("web", [{"name": "main", "image": IMAGE, "readinessProbe": probe}])
    runtime.create_pod(plan_resource("web", workload, [workload]), 0, PAUSE, L.base_labels("p", "web"))
    runtime.start()
    try:
        (app,) = fake.by_label(**{L.ROLE: L.ROLE_APP})
        wait_for(lambda: app.state == "running" and passes[0] >= 3, "the app to run and its probe to fail")
        runtime.mark_busy(app.id, True)  # as DockerTarget.restart does around the engine's restart
        clock.advance(60)  # the probe is long due
        runtime.wake()
        start = passes[0]
        probed.wait(0.5)  # half a second of real time: a few passes (TICK apart), not thousands
        assert passes[0] - start < 20, f"{passes[0] - start} supervisor passes in 0.5 s"
    finally:
        runtime.close()
