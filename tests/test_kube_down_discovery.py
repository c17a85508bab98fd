"""`devloop down` from a fresh process finds every kind it may have created: the fixed list, the kinds applied in
the same process, and every namespaced kind API discovery says can be listed and deleted.

The discovery walk is tested as pure functions over recorded discovery documents, over the wire against the
Kubernetes API double (which serves discovery), and end to end: an `Endpoints` object (a kind outside the fixed
list) applied by one `devloop ci` is deleted by a later `devloop down`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devloop.targets.kubernetes.rest import (
    Kube,
    ResourceInfo,
    deletable_kinds,
    make_api_client,
    preferred_group_versions,
)
from tests.support.e2e import output, run_devloop

#: Trimmed from a kind v1.30 cluster's `GET /apis`.
GROUP_LIST: dict[str, Any] = {
    "kind": "APIGroupList",
    "apiVersion": "v1",
    "groups": [
        {
            "name": "apps",
            "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"},
        },
        {
            "name": "autoscaling",
            "versions": [
                {"groupVersion": "autoscaling/v2", "version": "v2"},
                {"groupVersion": "autoscaling/v1", "version": "v1"},
            ],
            "preferredVersion": {"groupVersion": "autoscaling/v2", "version": "v2"},
        },
        {"name": "example.com", "versions": [{"groupVersion": "example.com/v1alpha1", "version": "v1alpha1"}]},
        {"name": "broken"},
    ],
}

#: Trimmed from the same cluster's `GET /api/v1`.
CORE: dict[str, Any] = {
    "kind": "APIResourceList",
    "groupVersion": "v1",
    "resources": [
        {"name": "bindings", "namespaced": True, "kind": "Binding", "verbs": ["create"]},
        {"name": "configmaps", "namespaced": True, "kind": "ConfigMap", "verbs": ["create", "delete", "list"]},
        {"name": "endpoints", "namespaced": True, "kind": "Endpoints", "verbs": ["delete", "get", "list"]},
        {"name": "events", "namespaced": True, "kind": "Event", "verbs": ["delete", "list"]},
        {"name": "namespaces", "namespaced": False, "kind": "Namespace", "verbs": ["delete", "list"]},
        {"name": "nodes", "namespaced": False, "kind": "Node", "verbs": ["delete", "list"]},
        {"name": "pods", "namespaced": True, "kind": "Pod", "verbs": ["delete", "list", "get"]},
        {"name": "pods/log", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
        {"name": "pods/exec", "namespaced": True, "kind": "PodExecOptions", "verbs": ["create", "get"]},
        {"name": "componentstatuses", "namespaced": False, "kind": "ComponentStatus", "verbs": ["get", "list"]},
        {"name": "podmetrics-like", "namespaced": True, "kind": "ReadOnly", "verbs": ["get", "list"]},
    ],
}

CUSTOM: dict[str, Any] = {
    "kind": "APIResourceList",
    "groupVersion": "example.com/v1alpha1",
    "resources": [
        {"name": "widgets", "namespaced": True, "kind": "Widget", "verbs": ["delete", "list", "patch"]},
        {"name": "widgets/status", "namespaced": True, "kind": "Widget", "verbs": ["get", "patch"]},
        {"name": "gadgets", "namespaced": False, "kind": "Gadget", "verbs": ["delete", "list"]},
    ],
}


def test_preferred_group_versions() -> None:
    assert preferred_group_versions(GROUP_LIST) == ["apps/v1", "autoscaling/v2", "example.com/v1alpha1"]
    assert preferred_group_versions({}) == []


def test_deletable_kinds_are_namespaced_listable_deletable_resources() -> None:
    assert deletable_kinds(CORE) == [
        ResourceInfo("v1", "ConfigMap", "configmaps", True),
        ResourceInfo("v1", "Endpoints", "endpoints", True),
        ResourceInfo("v1", "Pod", "pods", True),
    ]  # not: Binding (no list), Event (skipped), Namespace/Node (cluster), subresources, ReadOnly (no delete)
    assert deletable_kinds(CUSTOM) == [ResourceInfo("example.com/v1alpha1", "Widget", "widgets", True)]
    assert ResourceInfo("example.com/v1alpha1", "Gadget", "gadgets", False) in deletable_kinds(
        CUSTOM, namespaced_only=False
    )
    assert deletable_kinds({"resources": [None, {"name": "x"}]}) == []


def test_discovery_walk_over_the_wire(kube_double: Any) -> None:
    from devloop.targets.kubernetes.context import pin_context

    env = {"KUBECONFIG": str(kube_double.kubeconfig_path)}
    pinned = pin_context(env, kube_double.context, ())
    api_client = make_api_client(str(kube_double.kubeconfig_path), kube_double.context)
    try:
        kinds = {(i.api_version, i.kind): i for i in Kube(api_client, pinned).deletable_kinds()}
    finally:
        api_client.close()
    assert kinds[("v1", "Endpoints")] == ResourceInfo("v1", "Endpoints", "endpoints", True)
    assert kinds[("apps/v1", "Deployment")] == ResourceInfo("apps/v1", "Deployment", "deployments", True)
    assert ("batch/v1", "CronJob") in kinds
    assert ("v1", "Event") not in kinds and ("v1", "Namespace") not in kinds and ("v1", "Node") not in kinds


@pytest.fixture
def endpoints_project(tmp_path: Path, unique_name: str, kube_double: Any) -> Iterator[tuple[Path, dict[str, str]]]:
    root = tmp_path / unique_name
    root.mkdir()
    objects = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "b"}},
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": "external-db"},
            "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 5432}]}],
        },
    ]
    (root / "k8s.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
    config = {
        "version": 1,
        "name": unique_name,
        "kubernetes": {"context": kube_double.context, "namespace": unique_name},
        "manifests": ["k8s.yaml"],
    }
    (root / "devloop.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {"KUBECONFIG": str(kube_double.kubeconfig_path)}
    yield root, env
    run_devloop(root, "down", "--delete-namespaces", target="kubernetes", env=env)


def _names(kube_double: Any, namespace: str) -> dict[str, list[str]]:
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kube_double.kubeconfig_path), context=kube_double.context, client_configuration=configuration
    )
    with client.ApiClient(configuration) as api:
        core = client.CoreV1Api(api)
        endpoints: list[Any] = core.list_namespaced_endpoints(namespace).items
        configmaps: list[Any] = core.list_namespaced_config_map(namespace).items
    return {
        "Endpoints": [e.metadata.name for e in endpoints],
        "ConfigMap": [c.metadata.name for c in configmaps],
    }


def test_down_in_a_fresh_process_deletes_a_kind_outside_the_fixed_list(
    endpoints_project: tuple[Path, dict[str, str]], kube_double: Any
) -> None:
    root, env = endpoints_project
    namespace = root.name
    result = run_devloop(root, "ci", target="kubernetes", env=env)
    assert result.returncode == 0, output(result)
    assert _names(kube_double, namespace) == {"Endpoints": ["external-db"], "ConfigMap": ["settings"]}
    result = run_devloop(root, "down", target="kubernetes", env=env)  # a new process: nothing applied in it
    assert result.returncode == 0, output(result)
    assert f"removed Endpoints external-db in {namespace}" in result.stdout, output(result)
    assert _names(kube_double, namespace) == {"Endpoints": [], "ConfigMap": []}
