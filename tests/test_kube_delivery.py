"""Image delivery without a registry: `kind load docker-image`, `k3d image import`, `minikube image load`.

The commands are checked with recording stand-ins on PATH (none of the three tools is installed here). The kind path
is also run end to end where a real cluster's containerd is at hand (scripts/local-kubernetes: its own containerd
socket): a stand-in `kind` does what `kind load docker-image` does inside a kind node (`docker save` of the local
image, `ctr -n k8s.io images import`), and a pod with `imagePullPolicy: Never` then runs the image in that cluster.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from devloop.errors import ToolMissingError
from devloop.targets.kubernetes.delivery import Deliverer, Delivery

CONTAINERD = os.environ.get("DEVLOOP_TEST_CONTAINERD", "/run/devloop-kube/containerd.sock")
CLUSTER_KUBECONFIG = os.environ.get("DEVLOOP_TEST_CLUSTER_KUBECONFIG", "/var/lib/devloop-kube/kubeconfig")


def recording_tool(bin_dir: Path, name: str, record: Path) -> None:
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\nprintf "%s|%s\\n" "$KUBECONFIG" "$0 $*" >> {record}\n')
    script.chmod(0o755)


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("kind", "kind load docker-image --name shop shop/api:devloop-1"),
        ("k3d", "k3d image import -c shop shop/api:devloop-1"),
        ("minikube", "minikube image load -p shop shop/api:devloop-1"),
    ],
)
def test_delivery_runs_the_clusters_tool_with_the_frozen_kubeconfig(tmp_path: Path, method: str, expected: str) -> None:
    record = tmp_path / "record"
    recording_tool(tmp_path, method, record)
    env = {"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}", "KUBECONFIG": "/tmp/frozen.yaml"}
    deliverer = Deliverer(Delivery(method, cluster="shop"), env, {})  # type: ignore[arg-type]
    assert deliverer.deliver("shop/api:devloop-1") == "shop/api:devloop-1"
    assert deliverer.deliver("shop/api:devloop-1") == "shop/api:devloop-1"  # once per reference
    kubeconfig, command = record.read_text().splitlines()[0].split("|")
    assert kubeconfig == "/tmp/frozen.yaml"
    assert command.replace(f"{tmp_path}/", "") == expected
    assert len(record.read_text().splitlines()) == 1


def test_minikube_without_its_tool_says_what_to_do(tmp_path: Path) -> None:
    deliverer = Deliverer(Delivery("minikube", cluster="minikube"), {"PATH": str(tmp_path)}, {})
    with pytest.raises(ToolMissingError) as error:
        deliverer.deliver("shop/api:devloop-1")
    assert "minikube docker-env" in str(error.value) and "kubernetes.registry" in str(error.value)


def test_kind_load_imports_into_a_real_containerd_and_a_pod_runs_the_image(tmp_path: Path, busybox_image: str) -> None:
    if not Path(CONTAINERD).exists() or not Path(CLUSTER_KUBECONFIG).exists() or shutil.which("ctr") is None:
        pytest.skip(f"no real cluster's containerd at {CONTAINERD} (scripts/local-kubernetes start)")
    from kubernetes import client, config

    ref = f"devloop-test/imported:{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "tag", busybox_image, ref], check=True)
    kind = tmp_path / "kind"
    kind.write_text(  # what `kind load docker-image --name NAME IMAGE` does in the node
        "#!/bin/sh\nset -e\n"
        '[ "$1 $2 $3" = "load docker-image --name" ] || exit 64\n'
        f'docker save -o {tmp_path}/image.tar "$5"\n'
        f"ctr --address {CONTAINERD} -n k8s.io images import {tmp_path}/image.tar >/dev/null\n"
    )
    kind.chmod(0o755)
    env = {"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    configuration = client.Configuration()
    config.load_kube_config(config_file=CLUSTER_KUBECONFIG, client_configuration=configuration)  # type: ignore[no-untyped-call]
    namespace = f"t-import-{uuid.uuid4().hex[:6]}"
    with client.ApiClient(configuration) as api:
        core = client.CoreV1Api(api)
        try:
            assert Deliverer(Delivery("kind", cluster="devloop"), env, {}).deliver(ref) == ref
            core.create_namespace({"metadata": {"name": namespace}})
            wait_for_default_service_account(core, namespace)
            pod: dict[str, Any] = {
                "metadata": {"name": "imported"},
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 0,
                    "containers": [
                        {"name": "main", "image": ref, "imagePullPolicy": "Never", "command": ["echo", "from-import"]}
                    ],
                },
            }
            core.create_namespaced_pod(namespace, pod)
            deadline = time.monotonic() + 120
            while core.read_namespaced_pod("imported", namespace).status.phase not in ("Succeeded", "Failed"):
                assert time.monotonic() < deadline, core.read_namespaced_pod("imported", namespace).status
                time.sleep(0.5)
            assert core.read_namespaced_pod("imported", namespace).status.phase == "Succeeded"
            assert "from-import" in core.read_namespaced_pod_log("imported", namespace)
        finally:
            with contextlib.suppress(client.ApiException):
                core.delete_namespace(namespace)
            subprocess.run(["docker", "rmi", ref], check=False, capture_output=True)
            subprocess.run(
                ["ctr", "--address", CONTAINERD, "-n", "k8s.io", "images", "rm", f"docker.io/{ref}"],
                check=False,
                capture_output=True,
            )


def wait_for_default_service_account(core: Any, namespace: str) -> None:
    from kubernetes import client

    deadline = time.monotonic() + 60
    while True:
        try:
            core.read_namespaced_service_account("default", namespace)
            return
        except client.ApiException:
            assert time.monotonic() < deadline, "no default ServiceAccount"
            time.sleep(0.3)
