"""The pod compiler's parts (devloop/targets/docker/podspec/): each concern of a container on its own."""

from __future__ import annotations

import base64
import subprocess
import sys
from typing import Any

import pytest

from devloop.config.model import ManifestObject
from devloop.errors import DeployError
from devloop.targets.docker.pods import ignored_objects, plan_resource, preview_warnings
from devloop.targets.docker.podspec.container import (
    PodContext,
    command_line,
    container_plan,
    container_ports,
    readiness_probe,
)
from devloop.targets.docker.podspec.env import container_env, expand
from devloop.targets.docker.podspec.limits import container_limits, memory_bytes, nano_cpus
from devloop.targets.docker.podspec.mounts import PodVolumes, container_mounts, pod_volumes
from devloop.targets.docker.podspec.plans import FieldRef, FileEntry, MountPlan, Warnings
from devloop.targets.docker.podspec.refs import ConfigRefs, config_data
from devloop.targets.docker.podspec.security import container_security
from devloop.targets.docker.podspec.services import service_aliases
from devloop.targets.docker.podspec.workload import grace_period, workload_run
from tests.support.docker_target import configmap, deployment, job, obj, project, service

WHERE = "Deployment web (test.yaml:1)"
PREFIX = "spec.containers[main]"


def secret(name: str, data: dict[str, str]) -> ManifestObject:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return obj({"kind": "Secret", "metadata": {"name": name}, "data": encoded})


def refs(*objects: ManifestObject, namespace: str = "default") -> ConfigRefs:
    return ConfigRefs(objects, namespace, WHERE)


# --- config data ----------------------------------------------------------------------------------------


def test_config_data_of_configmaps_and_secrets() -> None:
    cm = obj(
        {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "n": None}, "binaryData": {"b": "AAE="}}
    )
    assert config_data(cm) == {"a": b"1", "n": b"", "b": b"\x00\x01"}
    sec = obj({"kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "aGk="}, "stringData": {"t": "plain"}})
    assert config_data(sec) == {"k": b"hi", "t": b"plain"}
    bad = obj({"kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "a"}})
    with pytest.raises(DeployError, match=r"Secret s \(test.yaml:1\): data.k is not valid base64"):
        config_data(bad)


def test_references_record_what_they_used_and_name_what_is_missing() -> None:
    found = refs(configmap("cfg", {"a": "1"}), configmap("elsewhere", {"x": "1"}))
    assert found.data("ConfigMap", "cfg", False, "x") == {"a": b"1"}
    assert list(found.used) == ["ConfigMap/cfg"]
    assert found.data("Secret", "cfg", True, "x") is None
    with pytest.raises(DeployError, match=r"^Deployment web \(test.yaml:1\): spec.volumes\[v\] refers to Secret cfg,"):
        found.data("Secret", "cfg", False, "spec.volumes[v]")
    other_ns = refs(obj({"kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "dev"}, "data": {}}))
    assert other_ns.data("ConfigMap", "cfg", True, "x") is None


# --- environment ----------------------------------------------------------------------------------------


def test_expand_replaces_known_variables_and_unescapes_dollars() -> None:
    env: dict[str, str | FieldRef] = {"A": "1", "IP": FieldRef("status.podIP")}
    assert expand("$(A)-$$(A)-$(IP)-$(B)-$$", env) == "1-$(A)-$(IP)-$(B)-$"


def test_env_in_kubernetes_order_env_from_then_env() -> None:
    found = refs(configmap("cfg", {"A": "from-cm", "B": "b"}), secret("sec", {"TOKEN": "t0k"}))
    raw = {
        "envFrom": [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "sec"}, "prefix": "S_"}],
        "env": [
            {"name": "A", "value": "own-$(B)"},
            {"name": "C", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "TOKEN"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "EMPTY"},
        ],
    }
    warn = Warnings()
    env = container_env(raw, PREFIX, found, warn)
    assert list(env.items()) == [
        ("A", "own-b"),
        ("B", "b"),
        ("S_TOKEN", "t0k"),
        ("C", "t0k"),
        ("POD", FieldRef("metadata.name")),
        ("EMPTY", ""),
    ]
    assert warn == Warnings()
    assert set(found.used) == {"ConfigMap/cfg", "Secret/sec"}


def test_env_optional_references_set_nothing_and_unsupported_sources_are_warned() -> None:
    found = refs(configmap("cfg", {"a": "1"}))
    raw = {
        "envFrom": [{"secretRef": {"name": "absent", "optional": True}}],
        "env": [
            {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nokey", "optional": True}}},
            {"name": "Y", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "a", "optional": True}}},
            {"name": "L", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "R", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        ],
    }
    warn = Warnings()
    assert container_env(raw, PREFIX, found, warn) == {}
    assert warn.unsupported == [
        f"{PREFIX}.env[L].valueFrom.fieldRef.fieldPath=metadata.labels['app']",
        f"{PREFIX}.env[R].valueFrom.resourceFieldRef",
    ]


def test_env_missing_key_names_the_keys_there_are() -> None:
    raw = {"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nokey"}}}]}
    with pytest.raises(DeployError) as err:
        container_env(raw, PREFIX, refs(configmap("cfg", {"b": "1", "a": "2"})), Warnings())
    assert str(err.value) == (
        f"{WHERE}: {PREFIX}.env[X] refers to key 'nokey' of ConfigMap cfg, which has no such key "
        "(it has: a, b); fix the key name."
    )


# --- command, ports, probe ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, (None, None)),
        ({"command": ["run", "$(A)"]}, (("run", "1"), ())),
        ({"args": ["--a=$(A)"]}, (None, ("--a=1",))),
        ({"command": ["sh"], "args": []}, (("sh",), ())),
    ],
)
def test_command_line(raw: dict[str, Any], expected: tuple[Any, Any]) -> None:
    assert command_line(raw, {"A": "1"}) == expected


def test_ports_keep_numbered_ones_with_their_names() -> None:
    raw = {"ports": [{"name": "http", "containerPort": 8080}, {"containerPort": "9090"}, {"name": "x"}]}
    assert container_ports(raw) == (("http", 8080), ("", 9090))


def test_readiness_probe_handlers() -> None:
    warn = Warnings()
    http = {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 2}
    assert readiness_probe({"readinessProbe": http}, PREFIX, warn) == http
    assert readiness_probe({}, PREFIX, warn) is None
    assert readiness_probe({"readinessProbe": {"grpc": {"port": 1}}}, PREFIX, warn) is None
    assert readiness_probe({"readinessProbe": {}}, PREFIX, warn) is None
    assert warn.unsupported == [f"{PREFIX}.readinessProbe.grpc", f"{PREFIX}.readinessProbe.?"]


# --- security -------------------------------------------------------------------------------------------


def test_security_container_overrides_pod_field_by_field() -> None:
    warn = Warnings()
    pod = {"runAsUser": 1000, "runAsGroup": 3000, "privileged": True}
    raw = {
        "securityContext": {
            "runAsUser": 7,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }
    }
    sec = container_security(pod, raw, PREFIX, warn)
    assert (sec.user, sec.privileged, sec.read_only) == ("7:3000", False, True)
    assert (sec.cap_add, sec.cap_drop) == (("NET_ADMIN",), ("ALL",))
    assert warn.unsupported == [f"{PREFIX}.securityContext.seccompProfile"]


def test_security_group_without_user_is_warned() -> None:
    warn = Warnings()
    sec = container_security({"runAsGroup": 5}, {}, PREFIX, warn)
    assert sec.user is None
    assert warn.unsupported == [f"{PREFIX}.securityContext.runAsGroup (without runAsUser)"]


# --- limits ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("64Mi", 64 * 2**20),
        ("1.5Gi", 3 * 2**29),
        ("128M", 128 * 10**6),
        ("2k", 2000),
        (1073741824, 2**30),
        (" 1Ki ", 1024),
        ("1Pi", 2**50),
        ("1e3", 1000),
        ("lots", None),
        ("", None),
        ("-1", None),
        ("nan", None),
    ],
)
def test_memory_quantities(value: object, expected: int | None) -> None:
    assert memory_bytes(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("500m", 500_000_000),
        ("1", 10**9),
        ("0.25", 250_000_000),
        (2, 2 * 10**9),
        (0.5, 500_000_000),
        ("1.5", 1_500_000_000),
        ("many", None),
    ],
)
def test_cpu_quantities(value: object, expected: int | None) -> None:
    assert nano_cpus(value) == expected


def test_reading_a_limit_does_not_import_the_kubernetes_client() -> None:
    """The docker target reads quantities with the client's parser without importing the whole client (half a
    second of a `devloop ci` that never talks to Kubernetes)."""
    code = (
        "import sys\n"
        "from devloop.targets.docker.podspec.limits import memory_bytes, nano_cpus\n"
        "assert (memory_bytes('64Mi'), nano_cpus('500m')) == (64 * 2**20, 500_000_000)\n"
        "print(sorted(m for m in sys.modules if m == 'kubernetes' or m.startswith('kubernetes.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_limits_of_a_container() -> None:
    warn = Warnings()
    raw = {"resources": {"limits": {"memory": "64Mi", "cpu": "250m", "nvidia.com/gpu": 1}, "requests": {"cpu": 4}}}
    assert container_limits(raw, PREFIX, warn) == (64 * 2**20, 250_000_000)
    assert warn.unsupported == [f"{PREFIX}.resources.limits.nvidia.com/gpu"]
    assert container_limits({}, PREFIX, Warnings()) == (None, None)


# --- volumes and mounts ---------------------------------------------------------------------------------


VOLUMES = [
    {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 0o600}},
    {"name": "some", "configMap": {"name": "cfg", "items": [{"key": "b", "path": "d/b.conf", "mode": 0o400}]}},
    {"name": "sec", "secret": {"secretName": "sec"}},
    {"name": "scratch", "emptyDir": {}},
    {"name": "ram", "emptyDir": {"medium": "Memory"}},
    {"name": "data", "persistentVolumeClaim": {"claimName": "pgdata"}},
    {"name": "host", "hostPath": {"path": "/srv"}},
    {"name": "proj", "projected": {"sources": []}},
]


def test_pod_volumes_sort_what_the_pod_needs_and_warn_about_the_rest() -> None:
    warn = Warnings()
    web = deployment("web", [{"name": "main", "image": "i"}], volumes=VOLUMES)
    volumes = pod_volumes(web, {"volumes": VOLUMES}, warn)
    assert volumes.emptydirs == (("scratch", False), ("ram", True))
    assert volumes.claims == ("pgdata",)
    assert volumes.claim_templates == ()
    assert set(volumes.volumes) == {v["name"] for v in VOLUMES}
    assert warn.unsupported == ["spec.volumes[proj].projected"]


def test_mounts_and_files_of_a_container() -> None:
    found = refs(configmap("cfg", {"a": "1", "b": "2"}), secret("sec", {"token": "t"}))
    web = deployment("web", [{"name": "main", "image": "i"}], volumes=VOLUMES)
    volumes = pod_volumes(web, {"volumes": VOLUMES}, Warnings())
    volumes = PodVolumes(volumes.volumes, ("claim",), volumes.emptydirs, volumes.claims)
    raw = {
        "volumeMounts": [
            {"name": "cfg", "mountPath": "/etc/cfg/"},
            {"name": "some", "mountPath": "/etc/some"},
            {"name": "sec", "mountPath": "/run/token", "subPath": "token"},
            {"name": "scratch", "mountPath": "/tmp/../scratch", "subPath": "x"},
            {"name": "ram", "mountPath": "/ram", "readOnly": True},
            {"name": "data", "mountPath": "/var/lib/pg"},
            {"name": "host", "mountPath": "/h", "subPath": "sub", "mountPropagation": "None"},
            {"name": "claim", "mountPath": "/claim"},
            {"name": "proj", "mountPath": "/proj"},
        ]
    }
    warn = Warnings()
    mounts, files = container_mounts(raw, PREFIX, volumes, found, warn)
    assert files == [
        FileEntry("/etc/cfg/a", b"1", 0o600),
        FileEntry("/etc/cfg/b", b"2", 0o600),
        FileEntry("/etc/some/d/b.conf", b"2", 0o400),
        FileEntry("/run/token", b"t", 0o644),
    ]
    assert mounts == [
        MountPlan("emptyDir", "scratch", "/scratch"),
        MountPlan("emptyDir", "ram", "/ram", read_only=True, tmpfs=True),
        MountPlan("pvc", "pgdata", "/var/lib/pg"),
        MountPlan("hostPath", "/srv/sub", "/h"),
        MountPlan("claimTemplate", "claim", "/claim"),
    ]
    assert warn.unsupported == [
        f"{PREFIX}.volumeMounts[scratch].subPath",
        f"{PREFIX}.volumeMounts[host].mountPropagation",
    ]


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        ({"name": "v", "configMap": {"name": "cfg", "items": [{"key": "zz"}]}}, r"items refers to key 'zz' of Conf"),
        ({"name": "v", "configMap": {"name": "cfg", "items": [{"key": "a", "path": "../a"}]}}, r"must stay inside"),
        ({"name": "other", "emptyDir": {}}, r"refers to volume 'v', which is not in spec.volumes"),
    ],
)
def test_mount_errors(volume: dict[str, Any], message: str) -> None:
    volumes = PodVolumes({volume["name"]: volume})
    raw = {"volumeMounts": [{"name": "v", "mountPath": "/v"}]}
    with pytest.raises(DeployError, match=message):
        container_mounts(raw, PREFIX, volumes, refs(configmap("cfg", {"a": "1"})), Warnings())


def test_optional_volume_items_that_are_missing_are_left_out() -> None:
    volume = {"name": "v", "configMap": {"name": "cfg", "optional": True, "items": [{"key": "zz"}, {"key": "a"}]}}
    raw = {"volumeMounts": [{"name": "v", "mountPath": "/v"}]}
    _, files = container_mounts(raw, PREFIX, PodVolumes({"v": volume}), refs(configmap("cfg", {"a": "1"})), Warnings())
    assert files == [FileEntry("/v/a", b"1")]


# --- one container --------------------------------------------------------------------------------------


def test_container_plan_puts_the_parts_together() -> None:
    warn = Warnings()
    pod = PodContext({"runAsUser": 10}, PodVolumes({"s": {"name": "s", "emptyDir": {}}}), refs(), warn)
    raw = {
        "image": "img:1",
        "command": ["$(GREETING)"],
        "workingDir": "/w",
        "env": [{"name": "GREETING", "value": "hi"}],
        "volumeMounts": [{"name": "s", "mountPath": "/s"}],
        "ports": [{"containerPort": 80}],
        "resources": {"limits": {"memory": "1Mi"}},
        "imagePullPolicy": "Always",
        "lifecycle": {},
    }
    plan = container_plan(raw, "init", 1, pod)
    assert (plan.name, plan.role, plan.order, plan.image) == ("init1", "init", 1, "img:1")
    assert (plan.entrypoint, plan.command, plan.working_dir) == (("hi",), (), "/w")
    assert plan.env == (("GREETING", "hi"),) and plan.user == "10" and plan.mem_limit == 2**20
    assert plan.mounts == (MountPlan("emptyDir", "s", "/s"),) and plan.ports == (("", 80),)
    assert warn.unsupported == ["spec.initContainers[init1].lifecycle"]
    with pytest.raises(DeployError, match=r"container main has no image; set spec.containers\[\].image"):
        container_plan({"name": "main"}, "app", 0, pod)


# --- services and the workload --------------------------------------------------------------------------


def test_service_aliases_only_from_services_selecting_the_pod_in_its_namespace() -> None:
    warn = Warnings()
    other_ns = obj(
        {"kind": "Service", "metadata": {"name": "far", "namespace": "prod"}, "spec": {"selector": {"app": "web"}}}
    )
    everything = obj({"kind": "Service", "metadata": {"name": "all"}, "spec": {"selector": {}}})
    web = deployment("web", [{"name": "main", "image": "i", "ports": [{"name": "http", "containerPort": 8080}]}])
    containers = plan_resource("web", web, [web]).containers
    objects = [service("api", {"app": "web"}, 80, "http"), other_ns, everything, service("db", {"app": "db"}, 5432)]
    aliases = service_aliases(objects, "dev", {"app": "web", "tier": "x"}, containers, warn)
    assert aliases == ["api", "api.dev", "api.dev.svc", "api.dev.svc.cluster.local"]
    assert warn.other == [
        "Service api: port 80 -> targetPort http (8080): the docker target cannot remap ports, so clients must "
        "connect to api on the targetPort."
    ]


def test_workload_run_of_each_kind() -> None:
    warn = Warnings()
    web = deployment("web", [], replicas=0, restartPolicy="Never")
    assert workload_run(web, {"restartPolicy": "Never"}, warn) == workload_run(web, {}, warn)
    assert (workload_run(web, {}, warn).replicas, workload_run(web, {}, warn).restart_policy) == (0, "Always")
    batch = job("j", [], completions=4, parallelism=9, backoffLimit=0)
    run = workload_run(batch, {"restartPolicy": "Always"}, warn)
    assert (run.replicas, run.completions, run.parallelism, run.backoff_limit, run.restart_policy) == (
        4,
        4,
        4,
        0,
        "OnFailure",
    )
    pod = obj({"kind": "Pod", "metadata": {"name": "p"}, "spec": {}})
    assert workload_run(pod, {"restartPolicy": "OnFailure"}, warn).restart_policy == "OnFailure"
    assert warn.other == []
    cron = obj({"kind": "CronJob", "metadata": {"name": "c"}, "spec": {"schedule": "@daily", "jobTemplate": {}}})
    assert workload_run(cron, {}, warn).restart_policy == "Never"
    assert warn.other and '"@daily" is not honoured' in warn.other[0]


def test_grace_period() -> None:
    assert grace_period({}) == 2.0
    assert grace_period({"terminationGracePeriodSeconds": 30}) == 30.0
    assert grace_period({"terminationGracePeriodSeconds": -1}) == 0.0


# --- the whole plan -------------------------------------------------------------------------------------


def test_a_pod_is_planned_under_its_own_name_and_hashed_by_its_metadata_and_spec() -> None:
    spec = {"containers": [{"name": "main", "image": "i"}]}
    pod = obj(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "solo", "labels": {"app": "solo"}}, "spec": spec}
    )
    plan = plan_resource("solo", pod, [pod, service("solo", {"app": "solo"}, 80)])
    assert (plan.pod_name(0), plan.pod_name(1), plan.restart_policy) == ("solo", "solo-1", "Always")
    assert "solo" in plan.aliases
    status = {**pod.body, "status": {"phase": "Running"}, "apiVersion": "v2"}
    assert plan_resource("solo", obj(status), [obj(status)]).spec_hash == plan_resource("solo", pod, [pod]).spec_hash


def test_a_statefulset_has_stable_pod_names_claims_and_per_pod_aliases() -> None:
    template = {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "i"}]}}
    spec = {"serviceName": "db", "template": template, "volumeClaimTemplates": [{"metadata": {"name": "data"}}]}
    sts = obj({"kind": "StatefulSet", "metadata": {"name": "db", "namespace": "dev"}, "spec": spec})
    plan = plan_resource("db", sts, [sts])
    assert plan.stateful and plan.service_name == "db" and plan.claim_templates == ("data",)
    assert plan.pod_name(1) == "db-1"
    assert plan.pod_aliases(1) == ("db-1", "db-1.db", "db-1.db.dev", "db-1.db.dev.svc.cluster.local")
    renamed = obj({**sts.body, "spec": {**spec, "serviceName": "other"}})
    assert plan_resource("db", renamed, [renamed]).spec_hash != plan.spec_hash


def test_a_pod_template_without_containers_is_a_clear_error() -> None:
    web = deployment("web", [])
    with pytest.raises(DeployError, match=r"^Deployment web \(test.yaml:1\): the pod template has no containers"):
        plan_resource("web", web, [web])


def test_ignored_objects_and_preview_warnings() -> None:
    web = deployment("web", [{"name": "main", "image": "i", "lifecycle": {}}])
    broken = deployment("broken", [{"name": "main", "image": "i", "envFrom": [{"configMapRef": {"name": "absent"}}]}])
    ingress = obj({"kind": "Ingress", "metadata": {"name": "web"}})
    assert ignored_objects("web", [web, ingress, configmap("c", {})]) == [
        "resource web: the docker target ignores these objects: Ingress/web"
    ]
    assert ignored_objects("web", [web]) == []
    proj = project("p", [web, broken])
    warnings = preview_warnings(proj)
    assert warnings[0].startswith("resource web: the docker target ignores these fields of Deployment web")
    assert warnings[1].startswith("resource broken: Deployment broken (test.yaml:1): spec.containers[main].envFrom")
