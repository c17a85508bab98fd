"""The kubernetes target's pure decisions: context safety, image delivery, status reasons, the restart
supervisor, apply rendering. No cluster needed (the supervisor runs in the host's /bin/sh)."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from devloop.config.labels import APPLIED_HASH as HASH_ANNOTATION
from devloop.config.labels import SUPERVISED
from devloop.errors import ConfigError, ContextRefusedError, TargetUnavailableError
from devloop.targets.base import Phase
from devloop.targets.kubernetes import live
from devloop.targets.kubernetes.apply import object_hash, ordered, render
from devloop.targets.kubernetes.context import (
    FrozenKubeconfig,
    choose_namespace,
    frozen_kubeconfig_data,
    pin_context,
)
from devloop.targets.kubernetes.delivery import (
    RegistryHosting,
    decide_delivery,
    no_delivery_error,
    parse_registry_hosting,
    registry_reference,
    split_reference,
)
from devloop.targets.kubernetes.logs import split_timestamp
from devloop.targets.kubernetes.status import runtime_status
from devloop.timestamps import epoch_seconds

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def kubeconfig(
    tmp_path: Path, contexts: dict[str, str], current: str | None = None, namespace: str | None = None
) -> Path:
    """A kubeconfig with one cluster per context (name -> server)."""
    data: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": current or next(iter(contexts)),
        "contexts": [
            {
                "name": n,
                "context": {"cluster": f"c-{n}", "user": f"u-{n}", **({"namespace": namespace} if namespace else {})},
            }
            for n in contexts
        ],
        "clusters": [
            {"name": f"c-{n}", "cluster": {"server": s, "certificate-authority": "certs/ca.crt"}}
            for n, s in contexts.items()
        ],
        "users": [{"name": f"u-{n}", "user": {"token": "t0k3n"}} for n in contexts],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(data))
    return path


# ----------------------------------------------------------------------------------- context safety


@pytest.mark.parametrize(
    ("name", "server", "allowed"),
    [
        ("kind-shop", "https://10.0.0.5:6443", True),
        ("k3d-dev", "https://0.0.0.0:6550", True),
        ("minikube", "https://192.168.49.2:8443", True),
        ("docker-desktop", "https://kubernetes.docker.internal:6443", True),
        ("colima-work", "https://192.168.5.1:6443", True),
        ("my-lab", "https://127.0.0.1:6443", True),
        ("my-lab", "https://localhost:6443", True),
        ("my-lab", "https://[::1]:6443", True),
        ("gke_prod_europe", "https://34.1.2.3", False),
        ("arn:aws:eks:us-east-1:1:cluster/prod", "https://abc.eks.amazonaws.com", False),
        ("dev-gke", "https://34.1.2.4", True),  # listed in allow_contexts
    ],
)
def test_pin_context_refuses_remote_contexts_unless_allowed(
    tmp_path: Path, name: str, server: str, allowed: bool
) -> None:
    path = kubeconfig(tmp_path, {name: server})
    env = {"KUBECONFIG": str(path)}
    if allowed:
        pinned = pin_context(env, None, ("dev-gke",))
        assert (pinned.name, pinned.server) == (name, server)
    else:
        with pytest.raises(ContextRefusedError) as info:
            pin_context(env, None, ("dev-gke",))
        assert name in str(info.value) and "allow_contexts" in str(info.value)
        assert info.value.exit_code == 2


def test_pin_context_prefers_the_wanted_context_and_reports_unknown_ones(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path, {"kind-a": "https://127.0.0.1:1", "kind-b": "https://127.0.0.1:2"}, current="kind-a")
    env = {"KUBECONFIG": str(path)}
    assert pin_context(env, "kind-b", ()).server == "https://127.0.0.1:2"
    assert pin_context(env, None, ()).name == "kind-a"
    with pytest.raises(TargetUnavailableError) as info:
        pin_context(env, "kind-c", ())
    assert "kind-c" in str(info.value) and "kind-a" in str(info.value) and info.value.exit_code == 2


def test_namespace_choice_order() -> None:
    assert choose_namespace("cli", "cfg", None) == "cli"
    assert choose_namespace(None, "cfg", None) == "cfg"
    assert choose_namespace(None, None, None) == "default"


def test_frozen_kubeconfig_holds_only_the_pinned_context_with_absolute_paths(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path, {"kind-a": "https://127.0.0.1:1", "kind-b": "https://127.0.0.1:2"}, namespace="ns1")
    pinned = pin_context({"KUBECONFIG": str(path)}, "kind-b", ())
    frozen = FrozenKubeconfig(pinned, "team")
    try:
        data = yaml.safe_load(frozen.path.read_text())
        assert data["current-context"] == "kind-b"
        assert [c["name"] for c in data["contexts"]] == ["kind-b"]
        assert data["contexts"][0]["context"]["namespace"] == "team"
        assert data["clusters"][0]["cluster"]["certificate-authority"] == str(tmp_path / "certs" / "ca.crt")
        assert oct(frozen.path.stat().st_mode & 0o777) == "0o600"
        assert frozen.env({"PATH": "/bin"}) == {"PATH": "/bin", "KUBECONFIG": str(frozen.path)}
    finally:
        frozen.close()
    assert not frozen.path.exists()
    assert frozen_kubeconfig_data(pinned)["contexts"][0]["context"]["namespace"] == "ns1"


# ----------------------------------------------------------------------------------- image delivery

KEP = {
    "localRegistryHosting.v1": 'host: "localhost:5001"\nhostFromContainerRuntime: "kind-registry:5000"\nhelp: "https://kind.sigs.k8s.io/docs/user/local-registry/"\n'
}


@pytest.mark.parametrize(
    ("context", "env", "registry", "configmap", "expected"),
    [
        ("docker-desktop", {}, None, None, ("shared", "", "")),
        ("docker-desktop", {}, "localhost:5001", None, ("shared", "", "")),
        ("orbstack", {}, None, KEP, ("shared", "", "")),
        ("rancher-desktop", {"DOCKER_HOST": "unix:///home/u/.rd/docker.sock"}, None, None, ("shared", "", "")),
        (
            "minikube",
            {"DOCKER_HOST": "tcp://192.168.49.2:2376", "MINIKUBE_ACTIVE_DOCKERD": "minikube"},
            None,
            None,
            ("shared", "", ""),
        ),
        ("minikube", {}, "localhost:5001", None, ("registry", "localhost:5001", "localhost:5001")),
        ("minikube", {}, None, None, ("minikube", "", "")),  # no docker-env: `minikube image load`
        ("minikube-dev", {}, None, None, ("minikube", "", "")),
        ("kind-shop", {}, None, KEP, ("registry", "localhost:5001", "kind-registry:5000")),
        ("kind-shop", {}, "reg.local:5000", KEP, ("registry", "reg.local:5000", "reg.local:5000")),
        ("kind-shop", {}, None, None, ("kind", "", "")),
        ("kind-shop", {}, None, {"other": "x"}, ("kind", "", "")),
        ("k3d-dev", {}, None, None, ("k3d", "", "")),
        (
            "k3d-dev",
            {},
            None,
            {"localRegistryHosting.v1": "host: localhost:5002\n"},
            ("registry", "localhost:5002", "localhost:5002"),
        ),
        ("my-lab", {}, None, None, ("none", "", "")),
        ("docker-desktop", {"DOCKER_HOST": "tcp://remote:2376"}, None, None, ("none", "", "")),
    ],
)
def test_delivery_decision_table(
    context: str,
    env: dict[str, str],
    registry: str | None,
    configmap: dict[str, str] | None,
    expected: tuple[str, str, str],
) -> None:
    hosting = parse_registry_hosting(configmap)
    decision = decide_delivery(context, env=env, configured_registry=registry, hosting=hosting)
    assert (decision.method, decision.registry, decision.deploy_registry) == expected
    if decision.method in ("kind", "k3d"):
        assert decision.cluster == context.split("-", 1)[1]


def test_registry_hosting_parsing_and_references() -> None:
    assert parse_registry_hosting(KEP) == RegistryHosting(
        "localhost:5001", "kind-registry:5000", "https://kind.sigs.k8s.io/docs/user/local-registry/"
    )
    assert parse_registry_hosting({"localRegistryHosting.v1": "help: no host"}) is None
    assert parse_registry_hosting({"localRegistryHosting.v1": ": ["}) is None
    assert registry_reference("shop/api:devloop-0123", "localhost:5001") == "localhost:5001/shop/api:devloop-0123"
    assert registry_reference("ghcr.io/acme/api:v1", "localhost:5001") == "localhost:5001/acme/api:v1"
    assert split_reference("localhost:5001/api") == ("localhost:5001/api", "latest")
    error = no_delivery_error("my-lab")
    assert isinstance(error, ConfigError) and error.exit_code == 2 and "kubernetes.registry" in str(error)


# ----------------------------------------------------------------------------------- status reasons


def pod(
    name: str = "api-1",
    *,
    phase: str = "Running",
    ready: bool = True,
    statuses: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    owner: str = "rs-new",
    spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    cond = conditions if conditions is not None else [{"type": "Ready", "status": "True" if ready else "False"}]
    return {
        "metadata": {"name": name, "namespace": "dev", "uid": f"uid-{name}", "ownerReferences": [{"uid": owner}]},
        "spec": spec or {"containers": [{"name": "app", "image": "shop/api:devloop-1"}]},
        "status": {
            "phase": phase,
            "conditions": cond,
            "containerStatuses": statuses if statuses is not None else [running("app")],
            **({"initContainerStatuses": init} if init else {}),
        },
    }


def running(name: str, restarts: int = 0) -> dict[str, Any]:
    return {
        "name": name,
        "image": "docker.io/shop/api:devloop-1",
        "restartCount": restarts,
        "state": {"running": {"startedAt": "2025-01-01T11:59:00Z"}},
        "ready": True,
    }


def waiting(
    name: str, reason: str, message: str = "", restarts: int = 0, last: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "image": "shop/api:devloop-1",
        "restartCount": restarts,
        "state": {"waiting": {"reason": reason, "message": message}},
        **({"lastState": {"terminated": last}} if last else {}),
    }


def deployment(replicas: int = 1, generation: int = 2, observed: int = 2) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "api", "uid": "dep", "generation": generation},
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": observed},
    }


def rs(uid: str, revision: int) -> dict[str, Any]:
    return {
        "metadata": {
            "uid": uid,
            "ownerReferences": [{"uid": "dep"}],
            "labels": {"pod-template-hash": uid},
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
        }
    }


REPLICASETS = [rs("rs-old", 1), rs("rs-new", 2)]


def test_ready_counts_only_pods_of_the_newest_replicaset() -> None:
    pods = [pod("api-old", owner="rs-old"), pod("api-new", owner="rs-new", ready=False)]
    status, _ = runtime_status("Deployment", deployment(), pods, REPLICASETS, NOW)
    assert status.phase is Phase.RUNNING and status.detail.startswith("0/1")
    pods[1] = pod("api-new", owner="rs-new")
    status, _ = runtime_status("Deployment", deployment(), pods, REPLICASETS, NOW)
    assert status.phase is Phase.READY
    (ref,) = status.containers
    assert (
        ref.id == "dev/api-new/app"
        and ref.image == "shop/api:devloop-1"
        and ref.started_at == epoch_seconds("2025-01-01T11:59:00Z")
    )


def test_not_ready_until_the_controller_observed_the_new_generation() -> None:
    status, _ = runtime_status("Deployment", deployment(observed=1), [pod()], REPLICASETS, NOW)
    assert status.phase is Phase.RUNNING


def test_run_as_user_becomes_the_container_user() -> None:
    spec = {
        "securityContext": {"runAsUser": 1000, "runAsGroup": 1000},
        "containers": [{"name": "app", "image": "x", "securityContext": {"runAsUser": 2000}}],
    }
    status, _ = runtime_status("Deployment", deployment(), [pod(spec=spec)], REPLICASETS, NOW)
    assert status.containers[0].user == "2000:1000"


@pytest.mark.parametrize(
    ("statuses", "init", "expected"),
    [
        (
            [waiting("app", "CrashLoopBackOff", restarts=3, last={"exitCode": 1, "reason": "Error"})],
            None,
            "crash loop: container app of pod api-1 exited with 1 (3 restarts)",
        ),
        ([waiting("app", "ErrImagePull", "pull access denied")], None, "image pull failed (ErrImagePull)"),
        ([waiting("app", "ImagePullBackOff", "Back-off pulling image")], None, "image pull failed (ImagePullBackOff)"),
        (
            [waiting("app", "CreateContainerConfigError", 'secret "db" not found')],
            None,
            'CreateContainerConfigError for container app of pod api-1: secret "db" not found',
        ),
        ([waiting("app", "RunContainerError", "exec: no such file")], None, "RunContainerError"),
        (
            [waiting("app", "CrashLoopBackOff", restarts=2, last={"exitCode": 137, "reason": "OOMKilled"})],
            None,
            "was OOMKilled",
        ),
        (
            [waiting("app", "PodInitializing")],
            [waiting("migrate", "CrashLoopBackOff", restarts=1, last={"exitCode": 2})],
            "crash loop: init container migrate of pod api-1 exited with 2",
        ),
    ],
)
def test_failure_reasons(statuses: list[dict[str, Any]], init: list[dict[str, Any]] | None, expected: str) -> None:
    status, failure = runtime_status(
        "Deployment", deployment(), [pod(ready=False, statuses=statuses, init=init)], REPLICASETS, NOW
    )
    assert status.phase is Phase.FAILED
    assert expected in status.reason
    assert failure is not None and failure.pod == "api-1"


def test_unschedulable_fails_only_after_a_minute() -> None:
    def unschedulable(since: datetime) -> dict[str, Any]:
        stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        return pod(
            phase="Pending",
            statuses=[],
            conditions=[
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "lastTransitionTime": stamp,
                    "message": "0/1 nodes are available: insufficient cpu.",
                }
            ],
        )

    status, _ = runtime_status(
        "Deployment", deployment(), [unschedulable(NOW - timedelta(seconds=30))], REPLICASETS, NOW
    )
    assert status.phase is Phase.PENDING
    status, _ = runtime_status(
        "Deployment", deployment(), [unschedulable(NOW - timedelta(seconds=90))], REPLICASETS, NOW
    )
    assert status.phase is Phase.FAILED and "insufficient cpu" in status.reason


def test_jobs_complete_or_fail() -> None:
    job = {"kind": "Job", "metadata": {"name": "migrate", "uid": "job"}, "status": {}}
    job_pod = pod(
        "migrate-x",
        owner="job",
        phase="Succeeded",
        ready=False,
        statuses=[{"name": "app", "state": {"terminated": {"exitCode": 0}}}],
    )
    status, _ = runtime_status("Job", job, [job_pod], [], NOW)
    assert status.phase is Phase.PENDING
    done = copy.deepcopy(job)
    done["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    assert runtime_status("Job", done, [job_pod], [], NOW)[0].phase is Phase.COMPLETED
    failed = copy.deepcopy(job)
    failed["status"] = {
        "conditions": [
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
            }
        ]
    }
    bad_pod = pod(
        "migrate-y",
        owner="job",
        phase="Failed",
        ready=False,
        statuses=[{"name": "app", "state": {"terminated": {"exitCode": 3}}}],
    )
    status, failure = runtime_status("Job", failed, [bad_pod], [], NOW)
    assert status.phase is Phase.FAILED and "backoff limit" in status.reason and "exited with 3" in status.reason
    assert failure is not None and failure.container == "app"


def test_statefulset_uses_the_update_revision() -> None:
    sts = {
        "kind": "StatefulSet",
        "metadata": {"name": "db", "uid": "sts"},
        "spec": {"replicas": 1},
        "status": {"updateRevision": "db-2"},
    }
    old = pod("db-0", owner="sts")
    old["metadata"]["labels"] = {"controller-revision-hash": "db-1"}
    assert runtime_status("StatefulSet", sts, [old], [], NOW)[0].phase is Phase.PENDING
    old["metadata"]["labels"] = {"controller-revision-hash": "db-2"}
    assert runtime_status("StatefulSet", sts, [old], [], NOW)[0].phase is Phase.READY


def test_log_timestamps() -> None:
    assert split_timestamp("2025-01-01T00:00:00.123456789Z hello world") == (
        "2025-01-01T00:00:00.123456789Z",
        "hello world",
    )
    assert split_timestamp("no stamp") == ("", "no stamp")


# ----------------------------------------------------------------------------------- restart supervisor


@pytest.mark.parametrize(
    ("container", "entrypoint", "cmd", "expected"),
    [
        (
            {"command": ["python", "-m", "app"], "args": ["--port", "80"]},
            ["ignored"],
            ["x"],
            ["python", "-m", "app", "--port", "80"],
        ),
        ({"command": ["./serve"]}, ["ignored"], ["ignored-too"], ["./serve"]),
        ({"args": ["--debug"]}, ["/entry"], ["cmd"], ["/entry", "--debug"]),
        ({}, ["/entry"], ["cmd", "1"], ["/entry", "cmd", "1"]),
        ({}, [], ["httpd", "-f"], ["httpd", "-f"]),
        ({}, [], [], []),
    ],
)
def test_original_argv_follows_kubernetes_rules(
    container: dict[str, Any], entrypoint: list[str], cmd: list[str], expected: list[str]
) -> None:
    assert live.original_argv(container, entrypoint, cmd) == expected


def test_supervised_command_and_render_annotation() -> None:
    wrapped = live.supervised_command(["httpd", "-f", "-p", "80"])
    assert wrapped[:3] == ["/bin/sh", "-c", live.SUPERVISOR] and wrapped[4:] == ["httpd", "-f", "-p", "80"]
    assert live.is_supervised(wrapped) and not live.is_supervised(["httpd"])
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {
                    "containers": [{"name": "app", "image": "a", "command": ["srv"]}, {"name": "side", "image": "b"}]
                },
            }
        },
    }

    def wrap(c: dict[str, Any]) -> bool:
        if c["image"] != "a":
            return False
        c["command"] = live.supervised_command(c["command"])
        return True

    out = render(body, namespace="dev", namespaced=True, project="shop", wrap=wrap)
    template = out["spec"]["template"]
    assert template["metadata"]["annotations"][SUPERVISED] == "app"
    assert template["spec"]["containers"][0]["command"][-1] == "srv"
    assert "command" not in template["spec"]["containers"][1]


def run_supervised(script: str, tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        live.supervised_command(["/bin/sh", "-c", script]), stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )


def read_until(proc: subprocess.Popen[str], wanted: str, limit: float = 10.0) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
        if line.strip() == wanted:
            return lines
    raise AssertionError(f"{wanted!r} not seen; got {lines}")


def test_supervisor_restarts_the_child_on_usr1_and_keeps_its_exit_code(tmp_path: Path) -> None:
    proc = run_supervised(
        'n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "start $n"; '
        'trap "echo stopping; exit 0" TERM; while :; do sleep 0.1; done',
        tmp_path,
    )
    try:
        read_until(proc, "start 1")
        proc.send_signal(signal.SIGUSR1)
        read_until(proc, "start 2")  # the same supervisor (same "container"), a new child
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    exiting = run_supervised("echo bye; exit 3", tmp_path)
    assert exiting.wait(timeout=10) == 3


def test_supervisor_restarts_print_nothing_into_the_apps_logs(tmp_path: Path) -> None:
    """A child killed by the restart's SIGTERM makes dash (Debian's /bin/sh) report "Terminated" on stderr, which
    is the container's log: the supervisor keeps that to itself, and the child's own stderr still comes through."""
    proc = subprocess.Popen(
        live.supervised_command(["/bin/sh", "-c", "echo started; echo to-stderr >&2; exec sleep 100"]),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    seen: list[str] = []
    try:
        seen += read_until(proc, "started") + read_until(proc, "to-stderr")
        for _ in range(2):
            proc.send_signal(signal.SIGUSR1)
            seen += read_until(proc, "started") + read_until(proc, "to-stderr")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 143
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Terminated" not in "\n".join(seen) + out, (seen, out)


# ----------------------------------------------------------------------------------- rendering and exec status


def test_render_fills_namespace_labels_pods_and_hashes_stably() -> None:
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "labels": {"a": "b"}},
        "spec": {"template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": []}}},
    }
    out = render(body, namespace="dev", namespaced=True, project="shop")
    assert out["metadata"]["namespace"] == "dev"
    assert out["spec"]["template"]["metadata"]["labels"]["devloop.dev/project"] == "shop"
    assert out["metadata"]["annotations"][HASH_ANNOTATION] == object_hash(out)
    assert render(body, namespace="dev", namespaced=True, project="shop") == out
    changed = copy.deepcopy(body)
    changed["spec"]["template"]["spec"]["containers"] = [{"name": "x", "image": "y"}]
    assert render(changed, namespace="dev", namespaced=True, project="shop")["metadata"]["annotations"][
        HASH_ANNOTATION
    ] != object_hash(out)
    role = render(
        {"apiVersion": "v1", "kind": "ClusterRole", "metadata": {"name": "r", "namespace": "x"}},
        namespace="dev",
        namespaced=False,
        project="shop",
    )
    assert "namespace" not in role["metadata"]
    objects = [{"kind": "Deployment"}, {"kind": "Service"}, {"kind": "CustomResourceDefinition"}, {"kind": "Namespace"}]
    kinds = [o["kind"] for o in ordered(objects)]
    assert kinds == ["Namespace", "CustomResourceDefinition", "Service", "Deployment"]


def test_exec_status_parsing() -> None:
    assert live.parse_exec_status(json.dumps({"status": "Success"})) == (0, "")
    failure = {
        "status": "Failure",
        "reason": "NonZeroExitCode",
        "message": "command terminated with non-zero exit code",
        "details": {"causes": [{"reason": "ExitCode", "message": "7"}]},
    }
    assert live.parse_exec_status(json.dumps(failure))[0] == 7
    missing = {"status": "Failure", "message": 'exec: "tar": executable file not found in $PATH'}
    code, message = live.parse_exec_status(json.dumps(missing))
    assert code is None and live.not_found_message(message)


def test_no_heavy_imports_at_start() -> None:
    code = "import sys, devloop.targets.kubernetes; print('kubernetes' in sys.modules, 'docker' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def daemonset(status: dict[str, Any] | None, generation: int = 1) -> dict[str, Any]:
    return {
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "uid": "ds", "generation": generation},
        "spec": {},
        **({"status": status} if status is not None else {}),
    }


def revision(name: str, number: int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"agent-{name}",
            "ownerReferences": [{"uid": "ds"}],
            "labels": {"controller-revision-hash": name},
        },
        "revision": number,
    }


def ds_pod(name: str, revision_hash: str, ready: bool = True, **fields: Any) -> dict[str, Any]:
    body = pod(name, owner="ds", ready=ready, **fields)
    body["metadata"]["labels"] = {"controller-revision-hash": revision_hash}
    return body


def test_a_daemonset_is_not_ready_before_its_controller_acted() -> None:
    """No status yet (0 desired pods would look ready), or a status of an older generation: not ready."""
    status, _ = runtime_status("DaemonSet", daemonset(None), [], [], NOW)
    assert status.phase is not Phase.READY
    old = {"observedGeneration": 1, "desiredNumberScheduled": 1, "numberReady": 1}
    status, _ = runtime_status("DaemonSet", daemonset(old, generation=2), [ds_pod("a-1", "h1")], [], NOW)
    assert status.phase is not Phase.READY
    done = {"observedGeneration": 2, "desiredNumberScheduled": 1, "numberReady": 1}
    status, _ = runtime_status("DaemonSet", daemonset(done, generation=2), [ds_pod("a-1", "h1")], [], NOW)
    assert status.phase is Phase.READY


def test_daemonset_pods_count_only_for_the_newest_revision() -> None:
    current = {"observedGeneration": 2, "desiredNumberScheduled": 1, "numberReady": 1}
    revisions = [revision("h1", 1), revision("h2", 2)]
    crashing = ds_pod("a-old", "h1", ready=False, statuses=[waiting("app", "CrashLoopBackOff", restarts=3)])
    status, _ = runtime_status("DaemonSet", daemonset(current, 2), [crashing, ds_pod("a-new", "h2")], revisions, NOW)
    assert status.phase is Phase.READY, status  # the old revision's pod is going away
    status, _ = runtime_status("DaemonSet", daemonset(current, 2), [ds_pod("a-old", "h1")], revisions, NOW)
    assert status.phase is not Phase.READY  # only a pod of the old template is ready


def test_evicted_and_failed_pods_kept_by_the_replicaset_do_not_fail_a_ready_deployment() -> None:
    evicted = pod("api-evicted", phase="Failed", ready=False, statuses=[])
    evicted["status"].update(reason="Evicted", message="The node was low on resource: memory.")
    failed = pod("api-failed", phase="Failed", ready=False)
    failed["status"]["containerStatuses"] = [
        {"name": "app", "restartCount": 0, "state": {"terminated": {"exitCode": 137, "reason": "Error"}}}
    ]
    status, failure = runtime_status("Deployment", deployment(), [evicted, failed, pod("api-new")], REPLICASETS, NOW)
    assert status.phase is Phase.READY and failure is None, status
    status, _ = runtime_status("Deployment", deployment(), [evicted], REPLICASETS, NOW)
    assert status.phase is not Phase.READY and status.phase is not Phase.FAILED  # waiting for the replacement


def warning(uid: str, reason: str, message: str, stamp: str = "2025-01-01T11:59:30Z") -> dict[str, Any]:
    return {
        "type": "Warning",
        "reason": reason,
        "message": message,
        "involvedObject": {"uid": uid},
        "lastTimestamp": stamp,
    }


def test_failures_that_make_no_pod_are_reported_with_the_events_message() -> None:
    refused = rs("rs-new", 2)
    refused["status"] = {
        "conditions": [
            {
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreate",
                "message": 'pods "api-x" is forbidden: error looking up service account dev/robot: '
                'serviceaccount "robot" not found',
            }
        ]
    }
    status, _ = runtime_status("Deployment", deployment(), [], [rs("rs-old", 1), refused], NOW)
    assert status.phase is Phase.FAILED and 'serviceaccount "robot" not found' in status.reason, status
    assert "cannot create its pods" in status.reason

    job = {"kind": "Job", "metadata": {"name": "migrate", "uid": "job"}, "spec": {"backoffLimit": 6}, "status": {}}
    quota = warning("job", "FailedCreate", "Error creating: pods is forbidden: exceeded quota: compute")
    status, _ = runtime_status("Job", job, [], [], NOW, [quota])
    assert status.phase is Phase.FAILED and "exceeded quota" in status.reason

    stuck = pod("api-new", phase="Pending", ready=False, statuses=[waiting("app", "ContainerCreating")])
    mount = warning(
        "uid-api-new", "FailedMount", 'MountVolume.SetUp failed for volume "cfg" : configmaps "settings" not found'
    )
    status, failure = runtime_status("Deployment", deployment(), [stuck], REPLICASETS, NOW, [mount])
    assert status.phase is not Phase.FAILED  # once may be the kubelet's cache lagging behind a new ConfigMap
    mount["count"] = 2  # reported again at the next retry: it is missing
    status, failure = runtime_status("Deployment", deployment(), [stuck], REPLICASETS, NOW, [mount])
    assert status.phase is Phase.FAILED and 'configmaps "settings" not found' in status.reason
    assert failure is not None and failure.pod == "api-new"
    # the same event about a pod that runs by now (the ConfigMap came) is history
    status, _ = runtime_status("Deployment", deployment(), [pod("api-new")], REPLICASETS, NOW, [mount])
    assert status.phase is Phase.READY


def test_a_job_waiting_to_retry_after_a_failed_pod_fails_at_once() -> None:
    job = {"kind": "Job", "metadata": {"name": "migrate", "uid": "job"}, "spec": {"backoffLimit": 6}, "status": {}}
    failed = pod("migrate-1", phase="Failed", ready=False, owner="job")
    failed["status"]["containerStatuses"] = [
        {"name": "app", "restartCount": 0, "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}
    ]
    status, failure = runtime_status("Job", job, [failed], [], NOW)
    assert status.phase is Phase.FAILED and "waiting to retry" in status.reason and "exited with 2" in status.reason
    assert failure is not None and failure.pod == "migrate-1" and failure.container == "app"
    no_retry = {**job, "spec": {"backoffLimit": 0}}
    status, _ = runtime_status("Job", no_retry, [failed], [], NOW)
    assert (
        status.reason
        == "Job migrate failed: pod migrate-1 failed: container app exited with 2 (backoffLimit 0 reached)"
    )
    retrying = pod("migrate-2", owner="job")
    status, _ = runtime_status("Job", job, [failed, retrying], [], NOW)
    assert status.phase is Phase.RUNNING  # the next attempt runs


def test_events_of_a_resource_and_their_lines() -> None:
    from devloop.targets.kubernetes.logs import about_resource, event_line

    pods = [pod("api-1")]
    on_pod = {"involvedObject": {"kind": "Pod", "name": "api-1", "uid": "uid-api-1"}, "reason": "Unhealthy"}
    on_rs = {"involvedObject": {"kind": "ReplicaSet", "name": "api-7d9f", "uid": "x"}, "reason": "FailedCreate"}
    other = {"involvedObject": {"kind": "Pod", "name": "db-1", "uid": "uid-db-1"}, "reason": "Unhealthy"}
    assert about_resource(on_pod, pods, ("Deployment", "api"))
    assert about_resource(on_rs, pods, ("Deployment", "api"))
    assert not about_resource(other, pods, ("Deployment", "api"))
    event = {**on_pod, "type": "Warning", "message": "Readiness probe failed: 503\n", "count": 3}
    assert event_line(event) == "Warning Unhealthy pod/api-1: Readiness probe failed: 503 (x3)"
