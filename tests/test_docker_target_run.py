"""The docker target against the real engine: pods, init containers, config, services, probes, restarts, jobs."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from devloop.dockerengine import docker_available
from devloop.targets.base import Phase
from devloop.targets.docker import DockerTarget
from devloop.targets.docker import labels as L
from tests.support.docker_target import (
    LogCollector,
    configmap,
    deploy,
    deployment,
    job,
    obj,
    project,
    service,
    wait_for,
    wait_phase,
    with_objects,
)


@pytest.fixture
def target(docker_client: Any, unique_name: str) -> Iterator[DockerTarget]:
    t = DockerTarget(docker_client)
    yield t
    try:
        t.down(unique_name)
    finally:
        t.close()


def _leftovers(client: Any, name: str) -> list[str]:
    flt = {"label": f"{L.PROJECT}={name}"}
    return (
        [f"container {c.name}" for c in client.containers.list(all=True, filters=flt)]
        + [f"volume {v.name}" for v in client.volumes.list(filters=flt)]
        + [f"network {n.name}" for n in client.networks.list(filters=flt)]
    )


def test_docker_available() -> None:
    assert docker_available() in (True, False)
    assert docker_available({"DOCKER_HOST": "tcp://127.0.0.1:1"}) is False


def test_pod_localhost_init_order_config_and_secrets(
    target: DockerTarget, unique_name: str, busybox_image: str, docker_client: Any
) -> None:
    secret = obj(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds"},
            "data": {"password": base64.b64encode(b"s3cret").decode()},
            "stringData": {"token": "tok-1"},
        }
    )
    cm = configmap("site", {"index.html": "hello from httpd", "greeting": "hi", "color": "blue"})
    web = deployment(
        "web",
        init_containers := [
            {
                "name": "web",
                "image": busybox_image,
                "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
                "volumeMounts": [{"name": "www", "mountPath": "/www"}],
            },
            {
                "name": "client",
                "image": busybox_image,
                "command": [
                    "sh",
                    "-c",
                    'cat /work/order; echo "env=$GREETING/$PASSWORD/$PFX_color/$POD/$NS"; '
                    "cat /etc/creds/token; echo; "
                    "until wget -q -O - http://localhost:8080/index.html; do sleep 0.2; done; echo; "
                    "exec sleep 3600",
                ],
                "env": [
                    {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "site", "key": "greeting"}}},
                    {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                ],
                "envFrom": [{"configMapRef": {"name": "site"}, "prefix": "PFX_"}],
                "volumeMounts": [
                    {"name": "work", "mountPath": "/work"},
                    {"name": "creds", "mountPath": "/etc/creds", "readOnly": True},
                ],
            },
        ],
        initContainers=[
            {
                "name": "first",
                "image": busybox_image,
                "command": ["sh", "-c", "echo one >> /work/order; echo init-one"],
                "volumeMounts": [{"name": "work", "mountPath": "/work"}],
            },
            {
                "name": "second",
                "image": busybox_image,
                "command": ["sh", "-c", "echo two >> /work/order; echo init-two"],
                "volumeMounts": [{"name": "work", "mountPath": "/work"}],
            },
        ],
        volumes=[
            {"name": "www", "configMap": {"name": "site", "items": [{"key": "index.html", "path": "index.html"}]}},
            {"name": "work", "emptyDir": {}},
            {"name": "creds", "secret": {"secretName": "creds"}},
        ],
    )
    assert init_containers
    proj = with_objects(project(unique_name, [web]), [secret, cm])
    result = deploy(target, proj, "web")
    assert result.changed
    logs = LogCollector(target, proj, "web")
    try:
        status = wait_phase(target, proj, "web", Phase.READY)
        assert status.ready_replicas == 1 and len(status.containers) == 2
        logs.wait_text("hello from httpd", "/client")
        client_lines = logs.texts("/client")
        assert client_lines[:2] == ["one", "two"]
        pod = status.containers[0].pod
        assert f"env=hi/s3cret/blue/{pod}/default" in client_lines
        assert "tok-1" in client_lines
        # init containers' logs are followed too, and no line comes twice
        logs.wait_text("init-two", "/second")
        assert logs.texts("/first") == ["init-one"]
    finally:
        logs.close()
    names = [c.name for c in docker_client.containers.list(all=True, filters={"label": f"{L.PROJECT}={unique_name}"})]
    assert all(n.startswith(f"{unique_name}-web-") for n in names), names


def test_services_resolve_between_workloads_and_port_warning(
    target: DockerTarget, unique_name: str, busybox_image: str
) -> None:
    cm = configmap("page", {"index.html": "backend-page"})
    backend = deployment(
        "backend",
        [
            {
                "name": "httpd",
                "image": busybox_image,
                "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
                "ports": [{"name": "http", "containerPort": 8080}],
                "volumeMounts": [{"name": "www", "mountPath": "/www"}],
            }
        ],
        volumes=[{"name": "www", "configMap": {"name": "page"}}],
    )
    frontend = deployment(
        "frontend",
        [
            {
                "name": "main",
                "image": busybox_image,
                "command": [
                    "sh",
                    "-c",
                    "until wget -q -O - http://api:8080/ && echo && "
                    "wget -q -O - http://api.default.svc.cluster.local:8080/ && echo; do sleep 0.3; done; "
                    "echo resolved; exec sleep 3600",
                ],
            }
        ],
    )
    svc = service("api", {"app": "backend"}, 8080)
    renamed = service("web", {"app": "backend"}, 80, "http")
    proj = with_objects(project(unique_name, [backend, frontend]), [cm, svc, renamed])
    result = deploy(target, proj, "backend")
    warnings = [w for w in result.warnings if "Service web" in w]
    assert len(warnings) == 1 and "port 80" in warnings[0] and "targetPort http (8080)" in warnings[0]
    deploy(target, proj, "frontend")
    logs = LogCollector(target, proj, "frontend")
    try:
        logs.wait_text("resolved")
        assert logs.texts().count("backend-page") == 2
    finally:
        logs.close()


def test_readiness_probes_gate_ready(target: DockerTarget, unique_name: str, busybox_image: str) -> None:
    web = deployment(
        "probed",
        [
            {
                "name": "web",
                "image": busybox_image,
                "command": ["sh", "-c", "mkdir -p /www && exec httpd -f -p 8080 -h /www"],
                "readinessProbe": {
                    "httpGet": {"path": "/ready.html", "port": 8080},
                    "periodSeconds": 1,
                    "failureThreshold": 1,
                },
            },
            {
                "name": "side",
                "image": busybox_image,
                "command": ["sleep", "3600"],
                "readinessProbe": {"exec": {"command": ["cat", "/ready"]}, "periodSeconds": 1},
            },
            {
                "name": "tcp",
                "image": busybox_image,
                "command": ["sleep", "3600"],
                "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
            },
        ],
    )
    proj = project(unique_name, [web])
    deploy(target, proj, "probed")
    status = wait_phase(target, proj, "probed", Phase.RUNNING)

    def three() -> Any:
        refs = target.status(proj, proj.resources[0]).containers
        return refs if len(refs) == 3 else None

    containers = {c.name.split("/")[1]: c for c in wait_for(three, "three running containers")}
    # both probes have run (and failed) at least once: the resource is still not ready
    wait_for(lambda: target._runtime(proj)._probes.get(containers["side"].id), "a probe run")
    assert target.status(proj, proj.resources[0]).phase is Phase.RUNNING
    assert target.exec(containers["side"], ["touch", "/ready"], lambda line: None) == 0
    assert target.exec(containers["web"], ["touch", "/www/ready.html"], lambda line: None) == 0
    status = wait_phase(target, proj, "probed", Phase.READY)
    assert status.ready_replicas == 1
    # failing again makes it un-ready
    assert target.exec(containers["web"], ["rm", "/www/ready.html"], lambda line: None) == 0
    wait_phase(target, proj, "probed", Phase.RUNNING)


def test_crash_loop_fails_with_exit_code_and_logs(target: DockerTarget, unique_name: str, busybox_image: str) -> None:
    crash = deployment(
        "crash",
        [{"name": "main", "image": busybox_image, "command": ["sh", "-c", "echo starting; echo boom >&2; exit 3"]}],
    )
    proj = project(unique_name, [crash])
    deploy(target, proj, "crash")
    status = wait_phase(target, proj, "crash", Phase.FAILED)
    assert "crash loop" in status.reason and "exited with code 3" in status.reason, status.reason
    assert "boom" in status.last_logs
    assert status.restarts >= 2


def test_jobs_complete_or_fail(target: DockerTarget, unique_name: str, busybox_image: str) -> None:
    ok = job(
        "ok",
        [{"name": "main", "image": busybox_image, "command": ["sh", "-c", "echo done"]}],
        completions=2,
        parallelism=1,
    )
    bad = job(
        "bad",
        [{"name": "main", "image": busybox_image, "command": ["sh", "-c", "echo failing; exit 4"]}],
        backoffLimit=1,
    )
    proj = project(unique_name, [ok, bad])
    deploy(target, proj, "ok")
    deploy(target, proj, "bad")
    status = wait_phase(target, proj, "ok", Phase.COMPLETED, Phase.FAILED)
    assert status.phase is Phase.COMPLETED, status
    status = wait_phase(target, proj, "bad", Phase.COMPLETED, Phase.FAILED)
    assert status.phase is Phase.FAILED
    assert "exited with code 4" in status.reason and "backoffLimit" in status.reason
    assert "failing" in status.last_logs
    # unchanged: a completed Job is not run again
    assert deploy(target, proj, "ok").changed is False


def test_apply_replaces_only_what_changed(
    target: DockerTarget, unique_name: str, busybox_image: str, docker_client: Any
) -> None:
    def ids() -> set[str]:
        return {
            c.id
            for c in docker_client.containers.list(
                all=True, filters={"label": [f"{L.RESOURCE}=app", f"{L.PROJECT}={unique_name}"]}
            )
        }

    def app(env: str, replicas: int = 1) -> Any:
        return deployment(
            "app",
            [
                {
                    "name": "main",
                    "image": busybox_image,
                    "command": ["sleep", "3600"],
                    "env": [{"name": "V", "value": env}],
                    "livenessProbe": {"exec": {"command": ["true"]}},
                }
            ],
            replicas=replicas,
            volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
        )

    proj = project(unique_name, [app("1")])
    first = deploy(target, proj, "app")
    assert first.changed
    unsupported = [w for w in first.warnings if "ignores these fields" in w]
    assert len(unsupported) == 1 and "livenessProbe" in unsupported[0]
    wait_phase(target, proj, "app", Phase.READY)
    before = ids()
    assert deploy(target, proj, "app").changed is False
    assert ids() == before
    # a second target (another devloop run) finds the same containers by label
    other = DockerTarget(docker_client)
    try:
        assert deploy(other, proj, "app").changed is False
    finally:
        other.close()
    assert ids() == before
    proj2 = project(unique_name, [app("2", replicas=2)])
    changed = deploy(target, proj2, "app")
    assert changed.changed
    status = wait_phase(target, proj2, "app", Phase.READY)
    assert status.ready_replicas == 2
    assert not (ids() & before)
    # down removes everything of the project, the claim volume too
    removed = target.down(unique_name)
    assert any(r.startswith("volume") and "pvc" in r for r in removed), removed
    assert any(r.startswith("network") for r in removed)
    assert _leftovers(docker_client, unique_name) == []


def test_sigterm_ignoring_pid1_is_detected(docker_client: Any, busybox_image: str) -> None:
    """busybox `sleep` as PID 1 installs no SIGTERM handler, so SIGTERM cannot stop it: devloop stops such
    containers at once instead of waiting the grace period; a shell that traps TERM is waited for."""
    from devloop.targets.docker.process import ignores_sigterm

    plain = docker_client.containers.run(busybox_image, ["sleep", "60"], detach=True)
    trapping = docker_client.containers.run(
        busybox_image, ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"], detach=True
    )
    try:
        assert ignores_sigterm(docker_client.api, plain.id) is True
        assert ignores_sigterm(docker_client.api, trapping.id) is False
        assert ignores_sigterm(docker_client.api, "0" * 64) is False  # unknown container: cannot tell
    finally:
        plain.remove(force=True)
        trapping.remove(force=True)


def test_pod_that_lost_its_container_is_recreated(
    target: DockerTarget, unique_name: str, busybox_image: str, docker_client: Any
) -> None:
    """An app container removed behind devloop's back comes back, as a ReplicaSet would re-create its pod."""
    app = deployment("keep", [{"name": "main", "image": busybox_image, "command": ["sleep", "3600"]}])
    proj = project(unique_name, [app])
    deploy(target, proj, "keep")
    (before,) = wait_phase(target, proj, "keep", Phase.READY).containers
    docker_client.containers.get(before.id).remove(force=True)

    def replaced() -> Any:
        status = target.status(proj, proj.resources[-1])
        ids = [c.id for c in status.containers]
        return status if status.phase is Phase.READY and ids and before.id not in ids else None

    wait_for(replaced, "a re-created pod", timeout=30)


class _LaggingLogs:
    """An engine whose log copy of an exited container is still catching up (failure injection: a busy engine
    marks a container exited after 2 s even when its output streams are not copied yet)."""

    def __init__(self, reads: list[bytes]) -> None:
        self.reads = reads
        self.calls = 0

    def logs(self, cid: str, **kwargs: Any) -> bytes:
        self.calls += 1
        return self.reads[min(self.calls, len(self.reads)) - 1]


def test_a_failed_containers_last_log_line_is_kept_when_the_log_lags() -> None:
    from devloop.targets.docker.runtime import ProjectRuntime

    api = _LaggingLogs([b"starting\n", b"starting\ndying\n", b"starting\ndying\n"])
    runtime = ProjectRuntime(api, "p", "net")
    assert runtime.failure_logs("c1") == ("starting", "dying")  # before: ("starting",), the reason lost
    quiet = _LaggingLogs([b"starting\ndying\n"])
    assert ProjectRuntime(quiet, "p", "net").failure_logs("c2") == ("starting", "dying") and quiet.calls == 2
