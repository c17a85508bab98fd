"""Target resolution and the local-context table of cli.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from devloop.errors import ContextRefusedError, TargetUnavailableError, UsageError
from devloop.targets import kubeconfig, resolve
from devloop.targets.kubeconfig import KubeContext


@pytest.mark.parametrize(
    ("name", "server", "local"),
    [
        ("kind-shop", "https://10.1.2.3:6443", True),
        ("k3d-dev", "https://0.0.0.0:6550", True),
        ("minikube", "https://192.168.49.2:8443", True),
        ("docker-desktop", "https://kubernetes.docker.internal:6443", True),
        ("docker-for-desktop", "", True),
        ("rancher-desktop", "", True),
        ("orbstack", "", True),
        ("colima", "", True),
        ("colima-dev", "", True),
        ("microk8s", "", True),
        ("my-laptop", "https://127.0.0.1:6443", True),
        ("my-laptop", "https://localhost:6443", True),
        ("my-laptop", "https://[::1]:6443", True),
        ("prod-gke", "https://34.1.2.3", False),
        ("kindly-prod", "https://34.1.2.3", False),
    ],
)
def test_local_contexts(name: str, server: str, local: bool) -> None:
    assert kubeconfig.is_local_context(KubeContext(name, server)) is local


def test_refused_context_names_it_and_the_way_out() -> None:
    with pytest.raises(ContextRefusedError) as err:
        kubeconfig.check_context_allowed(KubeContext("prod-gke", "https://34.1.2.3"), ())
    assert "prod-gke" in str(err.value) and "allow_contexts" in str(err.value)
    assert err.value.exit_code == 2
    kubeconfig.check_context_allowed(KubeContext("prod-gke", "https://34.1.2.3"), ("prod-gke",))


def test_read_kube_context_from_kubeconfig(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    cfg.write_text(
        "current-context: kind-a\n"
        "contexts:\n- name: kind-a\n  context: {cluster: c1, namespace: team}\n"
        "- name: other\n  context: {cluster: c2}\n"
        "clusters:\n- name: c1\n  cluster: {server: 'https://127.0.0.1:1234'}\n"
        "- name: c2\n  cluster: {server: 'https://example.org'}\n"
    )
    env = {"KUBECONFIG": str(cfg)}
    assert kubeconfig.read_kube_context(env, None) == KubeContext("kind-a", "https://127.0.0.1:1234", "team")
    assert kubeconfig.read_kube_context(env, "other") == KubeContext("other", "https://example.org", None)
    assert kubeconfig.read_kube_context(env, "missing") is None
    assert kubeconfig.read_kube_context({"KUBECONFIG": str(tmp_path / "nope")}, None) is None


def test_resolution_order() -> None:
    kube = KubeContext("kind-a", "https://127.0.0.1:1")
    assert resolve.resolve_target("auto", kube_context=None, docker_answers=True, docker_host="h") == "docker"
    assert resolve.resolve_target("docker", kube_context=kube, docker_answers=True, docker_host="h") == "docker"
    with pytest.raises(TargetUnavailableError) as err:
        resolve.resolve_target("auto", kube_context=None, docker_answers=False, docker_host="unix:///x.sock")
    assert err.value.exit_code == 2 and "unix:///x.sock" in str(err.value)
    with pytest.raises(TargetUnavailableError) as err:
        resolve.resolve_target("docker", kube_context=None, docker_answers=False, docker_host="h")
    assert err.value.exit_code == 1
    assert resolve.resolve_target("kubernetes", kube_context=kube, docker_answers=True, docker_host="h") == "kubernetes"
    assert resolve.resolve_target("auto", kube_context=kube, docker_answers=True, docker_host="h") == "kubernetes"
    with pytest.raises(UsageError):
        resolve.resolve_target("elsewhere", kube_context=kube, docker_answers=True, docker_host="h")
