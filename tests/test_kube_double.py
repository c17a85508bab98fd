"""The Kubernetes API double (tests/kube_double) driven by the real ``kubernetes`` client over real HTTP.

Pods run as real Docker containers from an image pushed to the real test registry, so these tests need the
engine and the registry (skipped with the reason otherwise, failed with CI=true).
"""

from __future__ import annotations

import copy
import io
import json
import secrets
import socket
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests.kube_double.server import DOUBLE_LABEL, KubeDouble, start_double

kubernetes = pytest.importorskip("kubernetes")
from kubernetes.client.exceptions import ApiException  # noqa: E402
from kubernetes.stream import portforward, stream  # noqa: E402

APPLY = "application/apply-patch+yaml"
T = TypeVar("T")


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll ``fn`` until it returns something truthy (a generous bound, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def api(kube_double: KubeDouble) -> Any:
    client = kubernetes.config.new_client_from_config(
        config_file=str(kube_double.kubeconfig_path), context=kube_double.context
    )
    yield client
    client.close()


@pytest.fixture(scope="module")
def core(api: Any) -> Any:
    return kubernetes.client.CoreV1Api(api)


@pytest.fixture(scope="module")
def apps(api: Any) -> Any:
    return kubernetes.client.AppsV1Api(api)


@pytest.fixture(scope="module")
def batch(api: Any) -> Any:
    return kubernetes.client.BatchV1Api(api)


@pytest.fixture
def ns(core: Any) -> str:
    name = "kd-" + secrets.token_hex(4)
    core.create_namespace({"metadata": {"name": name}})
    return name


@pytest.fixture(scope="module")
def image(docker_client: Any, busybox_image: str, registry_addr: str, test_labels: dict[str, str]) -> Iterator[str]:
    """The busybox test image pushed to the registry, as a pod would reference it."""
    repo = f"{registry_addr}/devloop-kube-double"
    tag = f"t{secrets.token_hex(4)}"
    docker_client.images.get(busybox_image).tag(repo, tag)
    for line in docker_client.api.push(repo, tag=tag, stream=True, decode=True):
        assert "error" not in line, line
    ref = f"{repo}:{tag}"
    docker_client.images.remove(ref)  # the double must pull it from the registry
    yield ref
    with __import__("contextlib").suppress(Exception):
        docker_client.images.remove(ref, force=True)


def apply(
    api_method: Callable[..., Any],
    name: str,
    ns: str | None,
    body: dict[str, Any],
    manager: str = "devloop",
    force: bool = True,
) -> Any:
    args = (name, ns, body) if ns is not None else (name, body)
    return api_method(*args, field_manager=manager, force=force, _content_type=APPLY)


def raw(api: Any, method: str, path: str, body: bytes, content_type: str) -> Any:
    """A request the generated client would not send (YAML bodies, unknown content types)."""
    client = api.api_client
    return client.rest_client.pool_manager.request(
        method, client.configuration.host + path, body=body, headers={"Content-Type": content_type}
    )


def configmap(name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def deployment(name: str, image: str, command: list[str], replicas: int = 1, probe: bool = True) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "command": command,
        "ports": [{"containerPort": 8080, "name": "http"}],
    }
    if probe:
        container["readinessProbe"] = {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"terminationGracePeriodSeconds": 0, "containers": [container]},
            },
        },
    }


def ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def container_status(core: Any, ns: str, name: str) -> Any:
    pod = core.read_namespaced_pod(name, ns)
    statuses = pod.status.container_statuses or []
    return statuses[0] if statuses else None


HTTPD = [
    "sh",
    "-c",
    "echo hello from $HOSTNAME; mkdir -p /www; echo served > /www/index.html; exec httpd -f -p 8080 -h /www",
]


# --- API semantics ------------------------------------------------------------------------------------


def test_discovery_kubeconfig_and_registry_hosting(
    kube_double: KubeDouble, api: Any, core: Any, registry_addr: str
) -> None:
    config = yaml.safe_load(Path(kube_double.kubeconfig_path).read_text())
    assert config["current-context"] == "devloop-double"
    assert config["clusters"][0]["cluster"]["server"] == kube_double.url
    assert kube_double.url.startswith("http://127.0.0.1:")
    assert kubernetes.client.VersionApi(api).get_code().major == "1"
    assert {"default", "kube-public", "kube-system"} <= {n.metadata.name for n in core.list_namespace().items}
    hosting = core.read_namespaced_config_map("local-registry-hosting", "kube-public")
    assert yaml.safe_load(hosting.data["localRegistryHosting.v1"])["host"] == registry_addr
    groups = {g.name for g in kubernetes.client.ApisApi(api).get_api_versions().groups}
    assert {"apps", "batch"} <= groups
    resources = {r.name for r in kubernetes.client.CoreV1Api(api).get_api_resources().resources}
    assert {"pods", "pods/log", "pods/exec", "pods/portforward", "configmaps", "secrets"} <= resources
    dynamic = kubernetes.dynamic.DynamicClient(api)
    deployments = dynamic.resources.get(api_version="apps/v1", kind="Deployment")
    assert deployments.namespaced


def test_server_side_apply_create_update_noop_and_conflicts(core: Any, apps: Any, ns: str) -> None:
    created = apply(core.patch_namespaced_config_map, "cfg", ns, configmap("cfg", {"a": "1", "b": "2"}))
    assert created.data == {"a": "1", "b": "2"}
    assert created.metadata.managed_fields[0].manager == "devloop"
    again = apply(core.patch_namespaced_config_map, "cfg", ns, configmap("cfg", {"a": "1", "b": "2"}))
    assert again.metadata.resource_version == created.metadata.resource_version  # no-op
    changed = apply(core.patch_namespaced_config_map, "cfg", ns, configmap("cfg", {"a": "9"}))
    assert changed.data == {"a": "9"}  # b was owned by devloop and left the config: removed
    assert int(changed.metadata.resource_version) > int(created.metadata.resource_version)
    # another manager setting the same field to another value conflicts unless forced
    with pytest.raises(ApiException) as exc:
        apply(core.patch_namespaced_config_map, "cfg", ns, configmap("cfg", {"a": "7"}), manager="other", force=False)
    assert exc.value.status == 409
    assert "conflict" in json.loads(str(exc.value.body))["message"]
    forced = apply(core.patch_namespaced_config_map, "cfg", ns, configmap("cfg", {"a": "7"}), manager="other")
    assert forced.data["a"] == "7"
    # YAML bodies are accepted too
    yaml_body = yaml.safe_dump(configmap("yml", {"k": "v"})).encode()
    resp = raw(core, "PATCH", f"/api/v1/namespaces/{ns}/configmaps/yml?fieldManager=devloop", yaml_body, APPLY)
    assert resp.status == 201, resp.data
    assert core.read_namespaced_config_map("yml", ns).data == {"k": "v"}
    # generation follows the spec, not the metadata
    dep = deployment("gen", "busybox", ["true"], replicas=0, probe=False)
    first = apply(apps.patch_namespaced_deployment, "gen", ns, dep)
    dep["metadata"]["labels"] = {"x": "y"}
    labelled = apply(apps.patch_namespaced_deployment, "gen", ns, dep)
    assert labelled.metadata.generation == first.metadata.generation == 1
    dep["spec"]["template"]["spec"]["containers"][0]["command"] = ["false"]
    assert apply(apps.patch_namespaced_deployment, "gen", ns, dep).metadata.generation == 2
    assert apps.read_namespaced_deployment_status("gen", ns).metadata.name == "gen"


def test_errors_like_a_real_api_server(core: Any, apps: Any, ns: str) -> None:
    with pytest.raises(ApiException) as missing_ns:
        apply(core.patch_namespaced_config_map, "x", "no-such-namespace", configmap("x", {}))
    assert missing_ns.value.status == 404
    body = json.loads(str(missing_ns.value.body))
    assert body["kind"] == "Status" and body["reason"] == "NotFound" and "no-such-namespace" in body["message"]
    core.create_namespaced_config_map(ns, configmap("dup", {}))
    with pytest.raises(ApiException) as conflict:
        core.create_namespaced_config_map(ns, configmap("dup", {}))
    assert conflict.value.status == 409 and json.loads(str(conflict.value.body))["reason"] == "AlreadyExists"
    # the client refuses unknown patch types itself, so send one by hand
    media = raw(core, "PATCH", f"/api/v1/namespaces/{ns}/configmaps/dup", b"data: {}", "application/x-yaml")
    assert media.status == 415 and json.loads(media.data)["reason"] == "UnsupportedMediaType"
    with pytest.raises(ApiException) as not_found:
        core.read_namespaced_config_map("nope", ns)
    assert not_found.value.status == 404
    bad = deployment("bad", "busybox", ["true"])
    bad["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    with pytest.raises(ApiException) as invalid:
        apply(apps.patch_namespaced_deployment, "bad", ns, bad)
    assert invalid.value.status == 422
    merged = core.patch_namespaced_config_map("dup", ns, {"data": {"a": "b"}})  # strategic merge
    assert merged.data == {"a": "b"}


def test_list_with_label_and_field_selectors(core: Any, ns: str) -> None:
    for name, labels in (
        ("one", {"tier": "web", "env": "dev"}),
        ("two", {"tier": "db", "env": "dev"}),
        ("three", {"tier": "web"}),
    ):
        core.create_namespaced_config_map(ns, configmap(name, {}, labels))

    def names(**kw: Any) -> list[str]:
        result = core.list_namespaced_config_map(ns, **kw)
        assert result.metadata.resource_version
        return sorted(i.metadata.name for i in result.items)

    assert names(label_selector="tier=web") == ["one", "three"]
    assert names(label_selector="tier!=web") == ["two"]
    assert names(label_selector="tier in (db, web),env") == ["one", "two"]
    assert names(label_selector="tier notin (web)") == ["two"]
    assert names(label_selector="!env") == ["three"]
    assert names(field_selector="metadata.name=two") == ["two"]
    assert names(label_selector="tier=web", field_selector="metadata.name!=one") == ["three"]


def test_watch_streams_events_from_a_resource_version(core: Any, ns: str) -> None:
    listed = core.list_namespaced_config_map(ns)
    core.create_namespaced_config_map(ns, configmap("w", {"a": "1"}))
    core.patch_namespaced_config_map("w", ns, {"data": {"a": "2"}})
    core.delete_namespaced_config_map("w", ns)
    watch = kubernetes.watch.Watch()
    seen = []
    for event in watch.stream(
        core.list_namespaced_config_map, ns, resource_version=listed.metadata.resource_version, timeout_seconds=2
    ):
        seen.append((event["type"], event["object"].metadata.name, (event["object"].data or {}).get("a")))
        if len(seen) == 3:
            watch.stop()
    assert seen == [("ADDED", "w", "1"), ("MODIFIED", "w", "2"), ("DELETED", "w", "2")]


# --- workloads running as containers ------------------------------------------------------------------


def test_deployment_pod_logs_exec_and_portforward(core: Any, apps: Any, ns: str, image: str) -> None:
    apply(apps.patch_namespaced_deployment, "web", ns, deployment("web", image, HTTPD))
    pod = wait_for(
        "a Ready pod",
        lambda: next((p for p in core.list_namespaced_pod(ns, label_selector="app=web").items if ready(p)), None),
    )
    name = pod.metadata.name
    assert pod.metadata.owner_references[0].kind == "ReplicaSet"
    assert pod.metadata.labels["pod-template-hash"]
    assert pod.status.phase == "Running" and pod.status.pod_ip
    cs = pod.status.container_statuses[0]
    assert cs.ready and cs.state.running.started_at and cs.image == image
    status = wait_for(
        "deployment status",
        lambda: (s := apps.read_namespaced_deployment_status("web", ns).status) and s.ready_replicas == 1 and s,
    )
    assert status.updated_replicas == 1 and status.available_replicas == 1 and status.observed_generation == 1

    # logs, then a follow that sees a line written later
    assert "hello from" in core.read_namespaced_pod_log(name, ns)
    assert core.read_namespaced_pod_log(name, ns, tail_lines=1, timestamps=True)[:2] == "20"
    follow = core.read_namespaced_pod_log(name, ns, follow=True, _preload_content=False)

    def run(command: list[str], stdin: bytes | None = None) -> tuple[int, str, str]:
        ws = stream(
            core.connect_get_namespaced_pod_exec,
            name,
            ns,
            command=command,
            stdin=stdin is not None,
            stdout=True,
            stderr=True,
            tty=False,
            _preload_content=False,
            binary=True,
        )
        if stdin is not None:
            ws.write_stdin(stdin)
            ws.close_channel(0)
        out, err = b"", b""
        while ws.is_open():
            ws.update(timeout=1)
            out += ws.read_stdout(timeout=0) or b""
            err += ws.read_stderr(timeout=0) or b""
        out += ws.read_stdout(timeout=0) or b""
        err += ws.read_stderr(timeout=0) or b""
        code = ws.returncode
        ws.close()
        return code, out.decode(), err.decode()

    assert run(["sh", "-c", "echo later >> /proc/1/fd/1"])[0] == 0
    lines = follow.stream(64)
    text = b""
    while b"later" not in text:
        text += next(lines)
    follow.close()

    assert run(["sh", "-c", "echo out; echo err >&2; exit 3"]) == (3, "out\n", "err\n")
    missing = stream(
        core.connect_get_namespaced_pod_exec,
        name,
        ns,
        command=["no-such-tool"],
        stdout=True,
        stderr=True,
        _preload_content=False,
    )
    missing.run_forever(timeout=10)
    error = json.loads(missing.read_channel(3))  # a real cluster answers InternalError, not an exit code
    assert error["reason"] == "InternalError" and "no-such-tool" in error["message"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"synced over exec\n"
        info = tarfile.TarInfo("sub/file.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert run(["tar", "-x", "-f", "-", "-C", "/www"], stdin=buf.getvalue())[0] == 0
    assert run(["cat", "/www/sub/file.txt"]) == (0, "synced over exec\n", "")
    assert run(["cat"], stdin=b"through stdin")[1] == "through stdin"

    # port forward to httpd through the API
    pf = portforward(core.connect_get_namespaced_pod_portforward, name, ns, ports="8080")
    sock = pf.socket(8080)
    sock.settimeout(10)
    sock.sendall(b"GET /sub/file.txt HTTP/1.0\r\nHost: x\r\n\r\n")
    response = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        response += chunk
    sock.close()
    assert b"200 OK" in response and b"synced over exec" in response

    # a changed template makes a new ReplicaSet whose pod replaces the old one
    changed = deployment("web", image, HTTPD)
    changed["spec"]["template"]["metadata"]["labels"]["rev"] = "2"
    apply(apps.patch_namespaced_deployment, "web", ns, changed)

    def rolled() -> bool:
        pods = core.list_namespaced_pod(ns, label_selector="app=web").items
        return len(pods) == 1 and pods[0].metadata.labels.get("rev") == "2" and ready(pods[0])

    wait_for("the new pod to replace the old one", rolled)
    replicasets = apps.list_namespaced_replica_set(ns).items
    assert len(replicasets) == 2
    assert sorted(rs.spec.replicas for rs in replicasets) == [0, 1]
    assert sorted(rs.metadata.annotations["deployment.kubernetes.io/revision"] for rs in replicasets) == ["1", "2"]
    status = wait_for(
        "observed generation 2",
        lambda: (s := apps.read_namespaced_deployment("web", ns).status).observed_generation == 2 and s,
    )
    assert status.updated_replicas == 1


def test_crash_loop_and_image_pull_failure(core: Any, ns: str, image: str, registry_addr: str) -> None:
    crash = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "crash"},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "main", "image": image, "command": ["sh", "-c", "echo dying; exit 3"]}],
        },
    }
    missing = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "missing"},
        "spec": {"containers": [{"name": "main", "image": f"{registry_addr}/devloop-kube-double/none:nope"}]},
    }
    apply(core.patch_namespaced_pod, "crash", ns, crash)
    created_rv = apply(core.patch_namespaced_pod, "missing", ns, missing).metadata.resource_version

    def crash_looping() -> Any:
        cs = container_status(core, ns, "crash")
        waiting = cs and cs.state.waiting
        return waiting and waiting.reason == "CrashLoopBackOff" and cs

    cs = wait_for("CrashLoopBackOff", crash_looping)
    assert cs.restart_count >= 1
    assert cs.last_state.terminated.exit_code == 3 and not cs.ready
    assert "dying" in core.read_namespaced_pod_log("crash", ns, previous=True)

    # every state the pod went through, from a watch starting at its creation
    reasons: list[str] = []
    watch = kubernetes.watch.Watch()
    for event in watch.stream(
        core.list_namespaced_pod,
        ns,
        field_selector="metadata.name=missing",
        resource_version=created_rv,
        timeout_seconds=30,
    ):
        statuses = event["object"].status.container_statuses or []
        waiting = statuses[0].state.waiting if statuses else None
        if waiting and waiting.reason not in reasons:
            reasons.append(waiting.reason)
        if "ImagePullBackOff" in reasons:
            watch.stop()
    assert reasons[-2:] == ["ErrImagePull", "ImagePullBackOff"]
    assert core.read_namespaced_pod("missing", ns).status.phase == "Pending"


def test_jobs_complete_and_fail(batch: Any, core: Any, ns: str, image: str) -> None:
    def job(name: str, code: int) -> dict[str, Any]:
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "terminationGracePeriodSeconds": 0,
                        "containers": [
                            {"name": "main", "image": image, "command": ["sh", "-c", f"echo job; exit {code}"]}
                        ],
                    }
                },
            },
        }

    apply(batch.patch_namespaced_job, "ok", ns, job("ok", 0))
    apply(batch.patch_namespaced_job, "bad", ns, job("bad", 1))

    def condition(name: str, ctype: str) -> Any:
        j = batch.read_namespaced_job_status(name, ns)
        return any(c.type == ctype and c.status == "True" for c in j.status.conditions or []) and j

    ok = wait_for("Job ok Complete", lambda: condition("ok", "Complete"))
    assert ok.status.succeeded == 1 and ok.status.completion_time
    bad = wait_for("Job bad Failed", lambda: condition("bad", "Failed"))
    assert bad.status.failed == 1 and not bad.status.succeeded
    pods = core.list_namespaced_pod(ns, label_selector="job-name=ok").items
    assert [p.status.phase for p in pods] == ["Succeeded"]
    assert pods[0].status.container_statuses[0].state.terminated.exit_code == 0
    assert "job" in core.read_namespaced_pod_log(pods[0].metadata.name, ns)


def test_immutable_fields_are_refused_like_a_real_api_server(batch: Any, core: Any, ns: str, image: str) -> None:
    """A Job's template and a Pod's spec (but its images) cannot change: 422 Invalid, "field is immutable"."""
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "main", "image": image, "command": ["sh", "-c", "sleep 3600"]}],
    }
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "fixed"},
        "spec": {"template": {"spec": spec}},
    }
    apply(batch.patch_namespaced_job, "fixed", ns, body)
    changed = copy.deepcopy(body)
    changed["spec"]["template"]["spec"]["containers"][0]["command"] = ["true"]
    with pytest.raises(ApiException) as job_error:
        apply(batch.patch_namespaced_job, "fixed", ns, changed)
    assert job_error.value.status == 422 and "field is immutable" in json.loads(str(job_error.value.body))["message"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare"}, "spec": copy.deepcopy(spec)}
    apply(core.patch_namespaced_pod, "bare", ns, pod)
    pod["spec"]["containers"][0]["env"] = [{"name": "A", "value": "b"}]
    with pytest.raises(ApiException) as pod_error:
        apply(core.patch_namespaced_pod, "bare", ns, pod)
    assert pod_error.value.status == 422 and "may not change fields" in json.loads(str(pod_error.value.body))["message"]
    pod["spec"]["containers"][0].pop("env")
    pod["spec"]["containers"][0]["image"] = image + "-other"  # the image may change: the kubelet restarts it
    assert apply(core.patch_namespaced_pod, "bare", ns, pod).spec.containers[0].image == image + "-other"


def test_delete_with_propagation_and_namespace_deletion(core: Any, apps: Any, ns: str, image: str) -> None:
    sleeper = ["sh", "-c", "exec sleep 600"]
    apply(apps.patch_namespaced_deployment, "orphan", ns, deployment("orphan", image, sleeper, probe=False))
    apply(apps.patch_namespaced_deployment, "gone", ns, deployment("gone", image, sleeper, probe=False))
    wait_for(
        "two running pods", lambda: sum(p.status.phase == "Running" for p in core.list_namespaced_pod(ns).items) == 2
    )
    apps.delete_namespaced_deployment("orphan", ns, propagation_policy="Orphan")
    apps.delete_namespaced_deployment("gone", ns, propagation_policy="Background")
    wait_for(
        "the background-deleted pods to go", lambda: not core.list_namespaced_pod(ns, label_selector="app=gone").items
    )
    orphans = apps.list_namespaced_replica_set(ns, label_selector="app=orphan").items
    assert len(orphans) == 1 and not orphans[0].metadata.owner_references
    assert len(core.list_namespaced_pod(ns, label_selector="app=orphan").items) == 1
    assert not apps.list_namespaced_replica_set(ns, label_selector="app=gone").items
    core.delete_namespace(ns)

    def namespace_gone() -> bool:
        try:
            core.read_namespace(ns)
        except ApiException as exc:
            return bool(exc.status == 404)
        return False

    wait_for("the namespace to go", namespace_gone)


def test_stop_removes_every_container(docker_client: Any, registry_addr: str, image: str) -> None:
    double = start_double(registry_addr, docker_client=docker_client)
    label = {"label": f"{DOUBLE_LABEL}={double.id}"}
    try:
        client = kubernetes.config.new_client_from_config(
            config_file=str(double.kubeconfig_path), context=double.context
        )
        core = kubernetes.client.CoreV1Api(client)
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "main", "image": image, "command": ["sleep", "600"]}]},
        }
        apply(core.patch_namespaced_pod, "p", "default", pod)
        wait_for("the pod to run", lambda: core.read_namespaced_pod("p", "default").status.phase == "Running")
        assert docker_client.containers.list(filters=label)
        client.close()
    finally:
        double.stop()
    assert not docker_client.containers.list(all=True, filters=label)
    assert not docker_client.networks.list(filters=label)
    assert not Path(double.kubeconfig_path).exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", double.port), timeout=2).close()


def test_statefulset_and_daemonset(core: Any, apps: Any, ns: str, image: str) -> None:
    template = {
        "metadata": {"labels": {"app": "db"}},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "command": ["sh", "-c", "exec sleep 600"],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
        },
    }
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 2,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": template,
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    }
    ds_template = {
        "metadata": {"labels": {"app": "agent"}},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "main", "image": image, "command": ["sleep", "600"]}],
        },
    }
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": ds_template},
    }
    apply(apps.patch_namespaced_stateful_set, "db", ns, sts)
    apply(apps.patch_namespaced_daemon_set, "agent", ns, ds)
    status = wait_for(
        "2 ready StatefulSet pods",
        lambda: (s := apps.read_namespaced_stateful_set("db", ns).status).ready_replicas == 2 and s,
    )
    assert status.current_revision == status.update_revision and status.observed_generation == 1
    pods = sorted(p.metadata.name for p in core.list_namespaced_pod(ns, label_selector="app=db").items)
    assert pods == ["db-0", "db-1"]
    claims = sorted(c.metadata.name for c in core.list_namespaced_persistent_volume_claim(ns).items)
    assert claims == ["data-db-0", "data-db-1"]
    ds_status = wait_for(
        "the DaemonSet pod ready",
        lambda: (s := apps.read_namespaced_daemon_set("agent", ns).status).number_ready == 1 and s,
    )
    assert ds_status.desired_number_scheduled == 1 and ds_status.updated_number_scheduled == 1
