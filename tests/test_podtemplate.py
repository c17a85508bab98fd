"""Pod template accessors and wanted replicas (devloop/config/podtemplate.py), shared by both targets."""

from __future__ import annotations

from typing import Any

import pytest

from devloop.config.model import ManifestObject
from devloop.config.podtemplate import containers, job_spec, pod_labels, pod_spec, pod_template, wanted_replicas

TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "main", "image": "i"}]}}


def body(kind: str, spec: Any, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": "w"}, "spec": spec, **extra}


@pytest.mark.parametrize(
    ("workload", "template"),
    [
        (body("Deployment", {"template": TEMPLATE}), TEMPLATE),
        (body("DaemonSet", {"template": TEMPLATE}), TEMPLATE),
        (body("Job", {"template": TEMPLATE}), TEMPLATE),
        (body("CronJob", {"jobTemplate": {"spec": {"template": TEMPLATE}}}), TEMPLATE),
        (body("CronJob", {"jobTemplate": "oops"}), None),
        (body("Deployment", None), None),
        (body("Deployment", {"template": ["not", "a", "mapping"]}), None),
        (body("ConfigMap", {"template": TEMPLATE}), None),
    ],
)
def test_pod_template_by_kind(workload: dict[str, Any], template: dict[str, Any] | None) -> None:
    assert pod_template(workload) == template
    assert pod_template(ManifestObject(body=workload, source="x.yaml:1")) == template


def test_a_pod_is_its_own_template_and_accessors_read_through_it() -> None:
    pod = body("Pod", {"initContainers": [{"name": "init"}], "containers": [{"name": "main"}, "junk"]})
    pod["metadata"]["labels"] = {"app": 1}
    assert pod_template(pod) is pod
    assert pod_spec(pod) is pod["spec"]
    assert pod_labels(pod) == {"app": "1"}
    assert [c["name"] for c in containers(pod)] == ["main", "init"]
    assert [c["name"] for c in containers(pod, init=False)] == ["main"]
    assert containers(body("Service", {})) == [] and pod_labels(body("Service", {})) == {}


def test_job_spec() -> None:
    assert job_spec(body("Job", {"completions": 2})) == {"completions": 2}
    assert job_spec(body("CronJob", {"jobTemplate": {"spec": {"completions": 3}}})) == {"completions": 3}
    assert job_spec(body("Deployment", {"replicas": 2})) == {}
    assert job_spec({"spec": {"completions": 4}}, "Job") == {"completions": 4}


DAEMONSET = body("DaemonSet", {"replicas": 9}, status={"desiredNumberScheduled": 3})


@pytest.mark.parametrize(
    ("workload", "kind", "written", "live"),
    [
        (None, None, 0, 0),
        (body("Deployment", {"replicas": 3}), None, 3, 3),
        (body("StatefulSet", {"replicas": 0}), None, 0, 0),
        (body("ReplicaSet", {}), None, 1, 1),
        (body("Job", {"completions": 5}), None, 5, 1),
        (body("Job", {}), None, 1, 1),
        (body("CronJob", {"jobTemplate": {"spec": {"completions": 2}}}), None, 2, 1),
        (body("Pod", {"replicas": 4}), None, 1, 1),
        (DAEMONSET, None, 1, 3),
        (body("DaemonSet", {}), None, 1, 0),
        # objects listed by the API carry no kind: the caller says it
        ({"spec": {"replicas": 2}}, "Deployment", 2, 2),
        ({"spec": {"completions": 2}}, "Job", 2, 1),
    ],
)
def test_wanted_replicas(workload: dict[str, Any] | None, kind: str | None, written: int, live: int) -> None:
    assert wanted_replicas(workload, kind) == written
    assert wanted_replicas(workload, kind, live=True) == live


def test_wanted_replicas_of_a_manifest_object() -> None:
    assert wanted_replicas(ManifestObject(body=body("Deployment", {"replicas": 2}), source="x.yaml:1")) == 2
