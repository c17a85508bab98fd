"""The docker target's status aggregation (pure): observed pods -> RuntimeStatus."""

from __future__ import annotations

from typing import Any

from devloop.targets.base import ContainerRef, Phase
from devloop.targets.docker import labels as L
from devloop.targets.docker.observed import Pod, admitted, group_pods, job_parallelism, pods_of
from devloop.targets.docker.probes import ProbeState
from devloop.targets.docker.restarts import ExitRecord
from devloop.targets.docker.status import (
    ObservedPod,
    PodFailure,
    container_ref,
    pod_ready,
    runtime_status,
)
from devloop.timestamps import epoch_seconds


def summary(pod: str, role: str, state: str, *, name: str = "main", code: int | None = None, **labels: str) -> Any:
    status = f"Exited ({code}) 1 second ago" if code is not None else "Up 1 second"
    return {
        "Id": f"{pod}-{role}-{name}",
        "Image": "img",
        "State": state,
        "Status": status,
        "Labels": {L.POD: pod, L.ROLE: role, L.CONTAINER: name, L.RESOURCE: "web", **labels},
    }


def pod(name: str, app_state: str = "running", index: int = 0, code: int | None = None, **labels: str) -> Pod:
    (found,) = group_pods(
        [
            summary(name, L.ROLE_SANDBOX, "running", **{L.POD_INDEX: str(index)}, **labels),
            summary(name, L.ROLE_APP, app_state, code=code, **labels),
        ]
    ).values()
    return found


def observed(p: Pod, rec: ExitRecord | None = None, **kw: Any) -> ObservedPod:
    records = {p.apps[0]["Id"]: rec} if rec is not None else {}
    return ObservedPod(p, records, **kw)


def test_no_pods_is_absent() -> None:
    status = runtime_status("Deployment", 2, [])
    assert status.phase is Phase.ABSENT and status.wanted_replicas == 2 and status.detail == "not deployed"


def test_ready_running_and_pending() -> None:
    ref = ContainerRef(id="x", name="a-0/main", image="img")
    ready = runtime_status("Deployment", 1, [observed(pod("a-0"), ready=True, refs=(ref,))])
    assert (ready.phase, ready.detail, ready.ready_replicas, ready.containers) == (Phase.READY, "1/1 ready", 1, (ref,))
    running = runtime_status("Deployment", 2, [observed(pod("a-0"), ready=True)])
    assert (running.phase, running.detail) == (Phase.RUNNING, "1/2 ready")
    pending = runtime_status("Deployment", 1, [observed(pod("a-0", "created"))])
    assert (pending.phase, pending.detail) == (Phase.PENDING, "starting")


def test_init_containers_show_in_the_detail() -> None:
    p = pod("a-0", "created")
    p.inits = [summary("a-0", L.ROLE_INIT, "exited", name="one", code=0), summary("a-0", L.ROLE_INIT, "running")]
    assert runtime_status("Deployment", 1, [observed(p)]).detail == "init 1/2"


def test_crash_loop_and_restarts() -> None:
    rec = ExitRecord(exits=[1.0, 2.0, 3.0], restarts=3, last_code=3, crash_loop=True, logs=("boom",))
    status = runtime_status("Deployment", 1, [observed(pod("a-0", "exited", code=3), rec)])
    assert status.phase is Phase.FAILED and status.last_logs == ("boom",)
    assert status.reason == "crash loop: container a-0/main exited with code 3 3 times within 60 s"
    assert status.restarts == 3 and status.last_exit == "container a-0/main exited with code 3"


def test_last_exit_is_the_latest_and_names_signals() -> None:
    early = ExitRecord(exits=[5.0], restarts=1, last_code=1)
    late = ExitRecord(exits=[9.0], restarts=1, last_code=137)
    status = runtime_status("Deployment", 2, [observed(pod("a-0"), early), observed(pod("a-1", index=1), late)])
    assert status.last_exit == "container a-1/main exited with code 137 (killed: SIGKILL or out of memory)"
    assert status.restarts == 2


def test_an_exit_that_stays_fails_unless_the_policy_is_always() -> None:
    rec = ExitRecord(exits=[1.0], last_code=2, handled=True, logs=("bad",))
    never = pod("a-0", "exited", code=2, **{L.RESTART_POLICY: "Never"})
    status = runtime_status("Deployment", 1, [observed(never, rec)])
    assert (status.phase, status.last_logs) == (Phase.FAILED, ("bad",))
    assert status.reason == "container a-0/main exited with code 2"
    always = pod("a-0", "exited", code=2, **{L.RESTART_POLICY: "Always"})
    assert runtime_status("Deployment", 1, [observed(always, rec)]).phase is Phase.PENDING


def test_the_first_failure_in_replica_order_wins() -> None:
    crash = ExitRecord(exits=[1.0, 2.0, 3.0], last_code=1, crash_loop=True)
    failed = observed(pod("a-0"), failure=PodFailure("pod a-0 could not start its sandbox: no", ("x",)))
    status = runtime_status("Deployment", 2, [failed, observed(pod("a-1", "exited", index=1, code=1), crash)])
    assert status.reason.startswith("pod a-0 could not start") and status.last_logs == ("x",)


def test_jobs_and_pods_complete() -> None:
    done = ExitRecord(exits=[1.0], last_code=0, handled=True, done=True)
    job = pod("j-0", "exited", code=0, **{L.KIND: "Job"})
    status = runtime_status("Job", 1, [observed(job, done)])
    assert (status.phase, status.detail) == (Phase.COMPLETED, "1/1 completed")
    half = runtime_status("Job", 2, [observed(job, done), observed(pod("j-1", "running", index=1))])
    assert (half.phase, half.detail) == (Phase.RUNNING, "1/2 completed")
    single = runtime_status("Pod", 1, [observed(pod("p", "exited", code=0), done)])
    assert (single.phase, single.detail) == (Phase.COMPLETED, "completed")


def test_readiness_needs_every_probe() -> None:
    probed = pod("a-0", **{L.PROBE: '{"exec": {"command": ["true"]}}'})
    cid = probed.apps[0]["Id"]
    assert not pod_ready(probed, {})
    assert not pod_ready(probed, {cid: ProbeState(due=0.0)})
    assert pod_ready(probed, {cid: ProbeState(due=0.0, ready=True)})
    assert pod_ready(pod("b-0"), {})
    assert not pod_ready(pod("c-0", "exited", code=0), {})


def test_container_ref_user_and_start() -> None:
    app = pod("a-0").apps[0]
    attrs = {"Config": {"User": "1000"}, "State": {"StartedAt": "2024-01-01T00:00:00Z"}}
    ref = container_ref(app, attrs, "a-0")
    assert (ref.id, ref.name, ref.pod, ref.user) == (app["Id"], "a-0/main", "a-0", "1000")
    assert ref.started_at == epoch_seconds("2024-01-01T00:00:00Z")
    app["Labels"][L.RUN_AS] = "5:5"
    assert container_ref(app, {}, "a-0").user == "5:5"


def test_job_parallelism_admits_pods() -> None:
    labels = {L.KIND: "Job", L.PARALLELISM: "1"}
    pods = [pod(f"j-{i}", index=i, **labels) for i in range(3)]
    for p in pods:
        assert p.sandbox is not None
        p.sandbox["State"] = "created"
    assert job_parallelism(pods) == 1 and job_parallelism([pod("d-0")]) > 1000
    assert [p.name for p in admitted(pods, lambda p: False, 1)] == ["j-0"]
    assert [p.name for p in admitted(pods, lambda p: p.name == "j-0", 1)] == ["j-0", "j-1"]
    assert pods_of([*pods[2].all(), *pods[0].all()], "web") == [pods[0], pods[2]]
