"""Resource assembly, references, deploy order, labels and image rewriting (pure functions)."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devloop.config.labels import MANAGED_BY as LABEL_MANAGED_BY
from devloop.config.labels import PROJECT as LABEL_PROJECT
from devloop.config.labels import RESOURCE as LABEL_RESOURCE
from devloop.config.manifests import parse_manifests
from devloop.config.model import (
    UNCATEGORIZED,
    Config,
    ImageSpec,
    KubernetesSettings,
    ManifestObject,
    ObjectSelector,
    Project,
    ResourceSettings,
)
from devloop.config.podtemplate import containers, pod_spec, pod_template
from devloop.config.resources import (
    add_labels,
    assemble,
    deploy_order,
    image_name,
    image_refs,
    label_value,
    referenced_objects,
    rewrite_images,
)
from devloop.errors import ConfigError
from devloop.exit_status import ExitStatus
from tests.support.examples import examples

ROOT = Path("/project")


def obj(body: dict[str, Any], source: str = "k8s/all.yaml:1") -> ManifestObject:
    return ManifestObject(body=body, source=source)


def workload(
    name: str,
    kind: str = "Deployment",
    *,
    labels: dict[str, str] | None = None,
    image: str = "busybox",
    namespace: str | None = None,
    pod: dict[str, Any] | None = None,
) -> ManifestObject:
    labels = labels if labels is not None else {"app": name}
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": image}], **(pod or {})}
    template = {"metadata": {"labels": dict(labels)}, "spec": spec}
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    body: dict[str, Any]
    if kind == "Pod":
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {**metadata, "labels": dict(labels)}, "spec": spec}
    elif kind == "CronJob":
        body = {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": metadata,
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}},
        }
    else:
        api = "batch/v1" if kind == "Job" else "apps/v1"
        spec_body: dict[str, Any] = {"template": template}
        if kind != "Job":
            spec_body["selector"] = {"matchLabels": dict(labels)}
        body = {"apiVersion": api, "kind": kind, "metadata": metadata, "spec": spec_body}
    return obj(body, f"k8s/{name}.yaml:1")


def simple(kind: str, name: str, namespace: str | None = None, **extra: Any) -> ManifestObject:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return obj({"apiVersion": "v1", "kind": kind, "metadata": metadata, **extra}, f"k8s/{name}.yaml:1")


def service(name: str, selector: dict[str, str] | None, namespace: str | None = None) -> ManifestObject:
    spec: dict[str, Any] = {"ports": [{"port": 80}]}
    if selector is not None:
        spec["selector"] = selector
    return simple("Service", name, namespace, spec=spec)


def config(
    resources: dict[str, ResourceSettings] | None = None,
    images: tuple[str, ...] = (),
    positions: tuple[tuple[str, int, int], ...] = (),
    namespace: str | None = None,
) -> Config:
    return Config(
        path=ROOT / "devloop.yaml",
        name="shop",
        kubernetes=KubernetesSettings(namespace=namespace),
        images=tuple(
            ImageSpec(ref=ref, context=ROOT, dockerfile=ROOT / "Dockerfile", index=i) for i, ref in enumerate(images)
        ),
        resources=tuple((resources or {}).items()),
        positions=positions,
    )


def layout(project: Project) -> dict[str, list[str]]:
    return {r.name: [f"{o.kind}/{o.name}" for o in r.objects] for r in project.resources}


# ------------------------------------------------------------------------------------------ assembly

ENV_CM = {"containers": [{"name": "m", "image": "x", "env": [
    {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "a"}}},
    {"name": "B", "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "b"}}},
    {"name": "C", "value": "plain"},
]}]}  # fmt: skip
ENV_FROM = {"containers": [{"name": "m", "image": "x", "envFrom": [
    {"secretRef": {"name": "all-secret"}}, {"configMapRef": {"name": "all-cm"}},
]}]}  # fmt: skip
VOLUMES = {"volumes": [
    {"name": "a", "configMap": {"name": "vol-cm"}},
    {"name": "b", "secret": {"secretName": "vol-secret"}},
    {"name": "c", "persistentVolumeClaim": {"claimName": "data"}},
    {"name": "d", "projected": {"sources": [{"configMap": {"name": "proj-cm"}}, {"secret": {"name": "proj-secret"}}]}},
    {"name": "e", "emptyDir": {}},
]}  # fmt: skip
ACCOUNTS = {"serviceAccountName": "runner", "imagePullSecrets": [{"name": "pull"}]}

CASES: list[tuple[str, list[ManifestObject], dict[str, ResourceSettings], dict[str, list[str]]]] = [
    (
        "service attaches by selector, others stay uncategorized",
        [
            simple("Namespace", "shop"),
            workload("api"),
            service("api", {"app": "api"}),
            service("nobody", {"app": "nobody"}),
            service("external", None),
        ],
        {},
        {
            UNCATEGORIZED: ["Namespace/shop", "Service/nobody", "Service/external"],
            "api": ["Deployment/api", "Service/api"],
        },
    ),
    (
        "selector must be a subset of the pod labels",
        [
            workload("api", labels={"app": "api", "tier": "be"}),
            service("s1", {"tier": "be"}),
            service("s2", {"app": "api", "x": "y"}),
        ],
        {},
        {UNCATEGORIZED: ["Service/s2"], "api": ["Deployment/api", "Service/s1"]},
    ),
    (
        "a service in another namespace does not select",
        [workload("api", namespace="a"), service("api", {"app": "api"}, namespace="b")],
        {},
        {UNCATEGORIZED: ["Service/api"], "api": ["Deployment/api"]},
    ),
    (
        "configmaps and secrets through env valueFrom",
        [
            simple("ConfigMap", "env-cm"),
            simple("Secret", "env-secret"),
            simple("ConfigMap", "unused"),
            workload("api", pod=ENV_CM),
        ],
        {},
        {UNCATEGORIZED: ["ConfigMap/unused"], "api": ["Deployment/api", "ConfigMap/env-cm", "Secret/env-secret"]},
    ),
    (
        "envFrom",
        [simple("Secret", "all-secret"), simple("ConfigMap", "all-cm"), workload("api", pod=ENV_FROM)],
        {},
        {"api": ["Deployment/api", "Secret/all-secret", "ConfigMap/all-cm"]},
    ),
    (
        "volumes: configMap, secret, PVC, projected",
        [
            simple("PersistentVolumeClaim", "data"),
            simple("ConfigMap", "vol-cm"),
            simple("Secret", "vol-secret"),
            simple("ConfigMap", "proj-cm"),
            simple("Secret", "proj-secret"),
            workload("db", "StatefulSet", pod=VOLUMES),
        ],
        {},
        {
            "db": [
                "StatefulSet/db",
                "PersistentVolumeClaim/data",
                "ConfigMap/vol-cm",
                "Secret/vol-secret",
                "ConfigMap/proj-cm",
                "Secret/proj-secret",
            ]
        },
    ),
    (
        "service account and image pull secrets",
        [simple("ServiceAccount", "runner"), simple("Secret", "pull"), workload("agent", "DaemonSet", pod=ACCOUNTS)],
        {},
        {"agent": ["DaemonSet/agent", "ServiceAccount/runner", "Secret/pull"]},
    ),
    (
        "a reference of the wrong kind does not attach",
        [simple("Secret", "env-cm"), workload("api", pod=ENV_CM)],
        {},
        {UNCATEGORIZED: ["Secret/env-cm"], "api": ["Deployment/api"]},
    ),
    (
        "resources.X.objects attaches by NAME and NAME:KIND",
        [
            simple("Ingress", "web"),
            simple("ConfigMap", "shared"),
            simple("Secret", "shared"),
            simple("ConfigMap", "tls"),
            simple("Secret", "tls"),
            workload("api"),
        ],
        {
            "api": ResourceSettings(
                objects=(ObjectSelector("web"), ObjectSelector("shared"), ObjectSelector("tls", "secret"))
            )
        },
        {
            UNCATEGORIZED: ["ConfigMap/tls"],
            "api": ["Deployment/api", "Ingress/web", "ConfigMap/shared", "Secret/shared", "Secret/tls"],
        },
    ),
    (
        "objects: wins over a selector match",
        [workload("api"), workload("web"), service("api", {"app": "api"})],
        {"web": ResourceSettings(objects=(ObjectSelector("api", "Service"),))},
        {"api": ["Deployment/api"], "web": ["Deployment/web", "Service/api"]},
    ),
    (
        "objects: can pin an object to uncategorized",
        [simple("ConfigMap", "env-cm"), workload("api", pod=ENV_CM)],
        {UNCATEGORIZED: ResourceSettings(objects=(ObjectSelector("env-cm"),))},
        {UNCATEGORIZED: ["ConfigMap/env-cm"], "api": ["Deployment/api"]},
    ),
    (
        "two kinds share a name: name:kind",
        [workload("api"), workload("api", "Job"), service("api", {"app": "api"}), workload("db", "StatefulSet")],
        {},
        {
            "api:deployment": ["Deployment/api", "Service/api"],
            "api:job": ["Job/api"],
            "db": ["StatefulSet/db"],
        },
    ),
    (
        "one kind and name in two namespaces: name@namespace",
        [workload("cache", namespace="a"), workload("cache", namespace="b"), service("cache", {"app": "cache"}, "b")],
        {},
        {"cache@a": ["Deployment/cache"], "cache@b": ["Deployment/cache", "Service/cache"]},
    ),
    (
        "cronjob: the pod template is spec.jobTemplate.spec.template",
        [simple("Secret", "all-secret"), simple("ConfigMap", "all-cm"), workload("nightly", "CronJob", pod=ENV_FROM)],
        {},
        {"nightly": ["CronJob/nightly", "Secret/all-secret", "ConfigMap/all-cm"]},
    ),
    (
        "pod: the spec is the pod's own, labels are its metadata labels",
        [workload("debug", "Pod", pod=VOLUMES), service("debug", {"app": "debug"}), simple("ConfigMap", "vol-cm")],
        {},
        {"debug": ["Pod/debug", "Service/debug", "ConfigMap/vol-cm"]},
    ),
    (
        "replicaset and job",
        [workload("rs", "ReplicaSet"), workload("migrate", "Job", pod=ENV_FROM), simple("ConfigMap", "all-cm")],
        {},
        {"rs": ["ReplicaSet/rs"], "migrate": ["Job/migrate", "ConfigMap/all-cm"]},
    ),
    (
        "a configmap used by two workloads goes to the first in deploy order",
        [simple("ConfigMap", "all-cm"), workload("web", pod=ENV_FROM), workload("api", pod=ENV_FROM)],
        {"web": ResourceSettings(depends_on=("api",))},
        {"api": ["Deployment/api", "ConfigMap/all-cm"], "web": ["Deployment/web"]},
    ),
    (
        "a workload named uncategorized",
        [workload("uncategorized"), simple("Namespace", "x")],
        {},
        {UNCATEGORIZED: ["Namespace/x"], "uncategorized:deployment": ["Deployment/uncategorized"]},
    ),
    ("no objects at all", [], {}, {}),
]


@pytest.mark.parametrize(("objects", "settings", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_assembly(
    objects: list[ManifestObject], settings: dict[str, ResourceSettings], expected: dict[str, list[str]]
) -> None:
    project = assemble(config(settings), objects)
    assert layout(project) == expected
    for resource in project.resources:
        assert resource.kind == ("" if resource.name == UNCATEGORIZED else resource.objects[0].kind)
        assert resource.settings == config(settings).resource_settings(resource.name)


def test_service_selecting_several_workloads_goes_to_the_first_and_warns() -> None:
    objects = [
        workload("a", labels={"tier": "be"}),
        workload("b", labels={"tier": "be"}),
        service("be", {"tier": "be"}),
    ]
    project = assemble(config(), objects)
    assert layout(project) == {"a": ["Deployment/a", "Service/be"], "b": ["Deployment/b"]}
    assert len(project.warnings) == 1
    assert project.warnings[0].startswith("k8s/be.yaml:1: Service be selects the pods of several resources (a, b)")


def test_namespace_defaults_to_the_project_namespace_when_matching() -> None:
    objects = [workload("api", namespace="shop-dev"), service("api", {"app": "api"})]
    assert layout(assemble(config(namespace="shop-dev"), objects))["api"] == ["Deployment/api", "Service/api"]
    assert layout(assemble(config(namespace="other"), objects))[UNCATEGORIZED] == ["Service/api"]


def test_resource_images_match_any_tag_digest_and_registry_port() -> None:
    pod = {
        "initContainers": [{"name": "init", "image": "localhost:5000/shop/init:1.2"}],
        "containers": [
            {"name": "a", "image": "shop/api@sha256:" + "0" * 64},
            {"name": "b", "image": "shop/api:v1"},
            {"name": "c", "image": "redis:7"},
        ],
    }
    objects = [workload("api", pod=pod), workload("other", image="shop/api-extra:1")]
    project = assemble(config(images=("shop/api", "localhost:5000/shop/init", "shop/unused")), objects)
    api = project.resource("api")
    assert api is not None and api.images == ("shop/api", "localhost:5000/shop/init")
    other = project.resource("other")
    assert other is not None and other.images == ()


def test_unused_image_ref_is_a_warning_naming_the_ref_and_location() -> None:
    positions = (("images", 5, 1), ("images[0].ref", 6, 10), ("images[1].ref", 8, 10))
    objects = [workload("api", image="shop/api:dev")]
    project = assemble(config(images=("shop/api", "shop/apl"), positions=positions), objects)
    assert len(project.warnings) == 1
    warning = project.warnings[0]
    assert warning.startswith("devloop.yaml:8:10: images[1].ref: no container in the manifests uses the image shop/apl")
    assert "did you mean 'shop/api'?" in warning
    assert "`image: shop/apl`" in warning


# ----------------------------------------------------------------------------------- reference errors


def assert_config_error(error: ConfigError, text: str) -> None:
    assert str(error) == text, str(error)
    assert error.exit_code == ExitStatus.USAGE


POSITIONS = (
    ("resources", 10, 1),
    ("resources.api", 11, 3),
    ("resources.api.depends_on", 12, 5),
    ("resources.api.depends_on[0]", 12, 18),
    ("resources.api.objects", 13, 5),
    ("resources.api.objects[0]", 13, 15),
    ("resources.api.objects[1]", 13, 30),
    ("resources.web", 14, 3),
    ("resources.web.depends_on[0]", 15, 18),
    ("resources.web.objects[0]", 16, 15),
    ("resources.db", 17, 3),
    ("resources.db.depends_on[0]", 18, 18),
    ("resources.apl", 19, 3),
)
THREE = [workload("api"), workload("web"), workload("db", "StatefulSet"), simple("ConfigMap", "settings")]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"apl": ResourceSettings()},
            "devloop.yaml:19:3: resources.apl: there is no resource named 'apl' (did you mean 'api'?); "
            "resources are named after the workloads in the manifests, in workloads: and in local: (api, web, db)",
        ),
        (
            {"api": ResourceSettings(depends_on=("dbs",))},
            "devloop.yaml:12:18: resources.api.depends_on[0]: depends on 'dbs', which is not a resource "
            "(did you mean 'db'?); resources are: api, web, db, uncategorized",
        ),
        (
            {"api": ResourceSettings(depends_on=("web",)), "web": ResourceSettings(depends_on=("api",))},
            "devloop.yaml:12:18: resources.api.depends_on[0]: depends_on forms a cycle: api -> web -> api; "
            "remove one of these dependencies",
        ),
        (
            {
                "web": ResourceSettings(depends_on=("db",)),
                "db": ResourceSettings(depends_on=("api",)),
                "api": ResourceSettings(depends_on=("web",)),
            },
            "devloop.yaml:12:18: resources.api.depends_on[0]: depends_on forms a cycle: api -> web -> db -> api; "
            "remove one of these dependencies",
        ),
        (
            {"web": ResourceSettings(depends_on=("web",))},
            "devloop.yaml:15:18: resources.web.depends_on[0]: depends_on forms a cycle: web -> web; "
            "remove one of these dependencies",
        ),
        (
            {"api": ResourceSettings(objects=(ObjectSelector("settings", "secret"),))},
            "devloop.yaml:13:15: resources.api.objects[0]: no object in the manifests is named settings:secret "
            "(did you mean 'settings:configmap'?); write NAME or NAME:KIND of an object in the manifests",
        ),
        (
            {"api": ResourceSettings(objects=(ObjectSelector("settings"), ObjectSelector("db")))},
            "devloop.yaml:13:30: resources.api.objects[1]: db names the StatefulSet db, which is a resource of "
            "its own; only objects that are not workloads can be attached",
        ),
        (
            {
                "api": ResourceSettings(objects=(ObjectSelector("settings"),)),
                "web": ResourceSettings(objects=(ObjectSelector("settings", "ConfigMap"),)),
            },
            "devloop.yaml:16:15: resources.web.objects[0]: the ConfigMap settings is already attached to "
            "resource api; attach it to one resource only",
        ),
    ],
    ids=["unknown-key", "unknown-dependency", "cycle-2", "cycle-3", "self-cycle", "objects-no-match",
         "objects-workload", "objects-twice"],
)  # fmt: skip
def test_reference_errors(settings: dict[str, ResourceSettings], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        assemble(config(settings, positions=POSITIONS), THREE)
    assert_config_error(info.value, message)


def test_locations_fall_back_to_the_parent_key() -> None:
    positions = (("resources", 10, 1), ("resources.api", 11, 3))
    with pytest.raises(ConfigError) as info:
        assemble(config({"api": ResourceSettings(depends_on=("nope",))}, positions=positions), THREE)
    assert str(info.value).startswith("devloop.yaml:11:3: resources.api.depends_on[0]: depends on 'nope'")


def test_the_same_object_twice_is_an_error() -> None:
    objects = [simple("ConfigMap", "a"), workload("api"), obj(simple("ConfigMap", "a").body, "k8s/other.yaml:7")]
    with pytest.raises(ConfigError) as info:
        assemble(config(), objects)
    assert_config_error(
        info.value,
        "k8s/other.yaml:7: the ConfigMap a (namespace default) is defined twice, here and at k8s/a.yaml:1; "
        "remove one of them or give them different names",
    )
    # same name in different namespaces, or of different kinds, is fine
    fine = [simple("ConfigMap", "a"), simple("ConfigMap", "a", namespace="x"), simple("Secret", "a")]
    assert len(assemble(config(), fine).resources[0].objects) == 3


def test_real_devloop_yaml_positions(tmp_path: Path) -> None:
    """The same checks on a devloop.yaml read by the loader: the location is the entry's own."""
    from devloop.config.loader import parse_config

    text = textwrap.dedent(
        """\
        version: 1
        name: shop
        resources:
          api:
            depends_on: [web]
          web:
            depends_on:
              - db
              - api
        """
    )
    cfg = parse_config(text, tmp_path / "devloop.yaml")
    with pytest.raises(ConfigError) as info:
        assemble(cfg, THREE)
    assert str(info.value).startswith(
        "devloop.yaml:5:18: resources.api.depends_on[0]: depends_on forms a cycle: api -> web -> api"
    )


# -------------------------------------------------------------------------------------- deploy order


def test_deploy_order_uncategorized_first_then_stable_topological() -> None:
    objects = [
        workload("web"),
        workload("api"),
        simple("Namespace", "shop"),
        workload("db", "StatefulSet"),
        workload("cache"),
        workload("worker"),
    ]
    settings = {
        "web": ResourceSettings(depends_on=("api", "cache")),
        "api": ResourceSettings(depends_on=("db", UNCATEGORIZED)),
        "worker": ResourceSettings(depends_on=("db", "db")),
    }
    project = assemble(config(settings), objects)
    assert [r.name for r in project.resources] == [UNCATEGORIZED, "db", "api", "cache", "web", "worker"]
    assert deploy_order(project) == [UNCATEGORIZED, "db", "api", "cache", "web", "worker"]
    assert deploy_order(project, ["web"]) == [UNCATEGORIZED, "db", "api", "cache", "web"]
    assert deploy_order(project, ["worker"]) == ["db", "worker"]


def test_without_depends_on_the_order_is_the_manifest_order() -> None:
    objects = [workload(n) for n in ("z", "b", "m", "a")]
    assert [r.name for r in assemble(config(), objects).resources] == ["z", "b", "m", "a"]


# ----------------------------------------------------------------------------------------- labels


def test_every_object_is_a_labelled_copy_and_selectors_are_untouched() -> None:
    objects = [
        simple("Namespace", "shop"),
        workload("api", pod=ENV_FROM),
        simple("ConfigMap", "all-cm"),
        service("api", {"app": "api"}),
        workload("nightly", "CronJob"),
        workload("debug", "Pod"),
        workload("api", "Job"),
    ]
    before = copy.deepcopy([o.body for o in objects])
    project = assemble(config(), objects)
    assert [o.body for o in objects] == before  # inputs untouched

    for resource in project.resources:
        for o in resource.objects:
            assert o.labels[LABEL_MANAGED_BY] == "devloop"
            assert o.labels[LABEL_PROJECT] == "shop"
            assert o.labels[LABEL_RESOURCE] == label_value(resource.name)
    api = project.resource("api:deployment")
    assert api is not None
    deployment = api.objects[0].body
    assert deployment["metadata"]["labels"][LABEL_RESOURCE] == "api_deployment"
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"app": "api", LABEL_RESOURCE: "api_deployment"}
    assert deployment["spec"]["selector"] == {"matchLabels": {"app": "api"}}
    svc = api.objects[2].body
    assert svc["spec"]["selector"] == {"app": "api"}
    cron = project.resource("nightly")
    assert cron is not None
    template = cron.objects[0].body["spec"]["jobTemplate"]["spec"]["template"]
    assert template["metadata"]["labels"][LABEL_RESOURCE] == "nightly"
    pod = project.resource("debug")
    assert pod is not None and pod.objects[0].labels == {
        "app": "debug",
        LABEL_MANAGED_BY: "devloop",
        LABEL_PROJECT: "shop",
        LABEL_RESOURCE: "debug",
    }


def test_add_labels_creates_missing_metadata_and_template_labels() -> None:
    bare = obj({"kind": "Deployment", "metadata": {"name": "x"}, "spec": {"template": {"spec": {"containers": []}}}})
    labelled = add_labels(bare, "shop", "x").body
    assert labelled["metadata"]["labels"][LABEL_RESOURCE] == "x"
    assert labelled["spec"]["template"]["metadata"] == {"labels": {LABEL_RESOURCE: "x"}}
    assert "labels" not in bare.body["metadata"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("api", "api"),
        ("api:deployment", "api_deployment"),
        ("cache:deployment@team-a", "cache_deployment_team-a"),
        ("-x-", "x"),
    ],
)
def test_label_value(text: str, value: str) -> None:
    assert label_value(text) == value


def test_long_label_values_are_cut_with_a_hash() -> None:
    first, second = label_value("a" * 70), label_value("a" * 71)
    assert len(first) == len(second) == 63
    assert first.startswith("a" * 52 + "-") and first != second


# ------------------------------------------------------------------------------------- rewriting


@pytest.mark.parametrize(
    ("image", "rewritten"),
    [
        ("shop/api", True),
        ("shop/api:latest", True),
        ("shop/api:1.2.3", True),
        ("shop/api@sha256:" + "a" * 64, True),
        ("shop/api:v1@sha256:" + "a" * 64, True),
        ("shop/api-worker", False),
        ("other/shop/api", False),
        ("shop/ap", False),
        ("localhost:5000/shop/api", False),
        ("redis:7", False),
    ],
)
def test_rewrite_matches_the_image_name_with_any_tag_or_digest(image: str, rewritten: bool) -> None:
    built = {"shop/api": "shop/api:devloop-0123456789abcdef"}
    result = rewrite_images(workload("api", image=image), built)
    container = result.body["spec"]["template"]["spec"]["containers"][0]
    if rewritten:
        assert container == {"name": "main", "image": built["shop/api"], "imagePullPolicy": "IfNotPresent"}
    else:
        assert container == {"name": "main", "image": image}


@pytest.mark.parametrize(
    ("ref", "image"),
    [
        ("docker.io/example/hello", "example/hello:1"),
        ("example/hello", "docker.io/example/hello"),
        ("example/hello", "index.docker.io/example/hello:2"),
        ("docker.io/library/redis", "redis:7"),
        ("redis", "docker.io/library/redis:7"),
        ("library/redis", "redis"),
        ("redis", "index.docker.io/library/redis@sha256:" + "a" * 64),
    ],
)
def test_refs_match_images_as_docker_normalizes_them(ref: str, image: str) -> None:
    built = {ref: f"{ref}:devloop-0123456789abcdef"}
    result = rewrite_images(workload("api", image=image), built)
    assert result.body["spec"]["template"]["spec"]["containers"][0]["image"] == built[ref]
    assert image_refs(workload("api", image=image), [ref]) == [ref]
    project = assemble(config(images=(ref,)), [workload("api", image=image)])
    assert project.resources[0].images == (ref,) and project.warnings == ()
    assert project.config.image(image_name(image)) is not None


@pytest.mark.parametrize(
    ("ref", "image"),
    [
        ("docker.io/example/hello", "ghcr.io/example/hello"),
        ("redis", "docker.io/other/redis"),
        ("localhost:5000/redis", "redis"),
        ("library/redis/x", "redis/x"),
    ],
)
def test_other_registries_and_paths_do_not_match(ref: str, image: str) -> None:
    result = rewrite_images(workload("api", image=image), {ref: f"{ref}:devloop-x"})
    assert result.body["spec"]["template"]["spec"]["containers"][0]["image"] == image


def test_rewrite_registry_with_port_init_and_ephemeral_containers_and_keeps_input() -> None:
    pod = {
        "initContainers": [{"name": "init", "image": "localhost:5000/shop/init:old", "imagePullPolicy": "Always"}],
        "containers": [
            {"name": "a", "image": "localhost:5000/shop/api"},
            {"name": "b", "image": "busybox:1.36"},
        ],
        "ephemeralContainers": [{"name": "dbg", "image": "localhost:5000/shop/api:x"}],
    }
    original = workload("api", pod=pod)
    before = copy.deepcopy(original.body)
    built = {
        "localhost:5000/shop/api": "localhost:5000/shop/api:devloop-1111111111111111",
        "localhost:5000/shop/init": "localhost:5000/shop/init:devloop-2222222222222222",
    }
    result = rewrite_images(original, built)
    assert original.body == before
    assert result is not original and result.source == original.source
    spec = result.body["spec"]["template"]["spec"]
    assert spec["initContainers"][0]["image"] == built["localhost:5000/shop/init"]
    assert spec["initContainers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert spec["containers"][0] == {
        "name": "a",
        "image": built["localhost:5000/shop/api"],
        "imagePullPolicy": "IfNotPresent",
    }
    assert spec["containers"][1] == {"name": "b", "image": "busybox:1.36"}
    assert spec["ephemeralContainers"][0]["image"] == built["localhost:5000/shop/api"]


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"])
def test_rewrite_every_workload_kind(kind: str) -> None:
    result = rewrite_images(workload("w", kind, image="shop/api:dev"), {"shop/api": "shop/api:devloop-x"})
    assert [c["image"] for c in containers(result)] == ["shop/api:devloop-x"]
    assert [c["imagePullPolicy"] for c in containers(result)] == ["IfNotPresent"]


def test_rewrite_leaves_other_objects_alone() -> None:
    cm = simple("ConfigMap", "c", data={"image": "shop/api"})
    assert rewrite_images(cm, {"shop/api": "shop/api:devloop-x"}).body == cm.body


# --------------------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("busybox", "busybox"),
        ("busybox:1.36", "busybox"),
        ("shop/api@sha256:abc", "shop/api"),
        ("shop/api:v1@sha256:abc", "shop/api"),
        ("localhost:5000/x", "localhost:5000/x"),
        ("localhost:5000/x:tag", "localhost:5000/x"),
        ("localhost:5000/team/x:tag@sha256:abc", "localhost:5000/team/x"),
        ("registry.example.com:443/a/b/c:1", "registry.example.com:443/a/b/c"),
    ],
)
def test_image_name(image: str, name: str) -> None:
    assert image_name(image) == name


def test_pod_template_and_spec_per_kind() -> None:
    deployment = workload("d")
    assert pod_template(deployment) is deployment.body["spec"]["template"]
    cron = workload("c", "CronJob")
    assert pod_template(cron) is cron.body["spec"]["jobTemplate"]["spec"]["template"]
    pod = workload("p", "Pod")
    assert pod_template(pod) is pod.body
    assert pod_spec(pod) is pod.body["spec"]
    assert pod_template(simple("ConfigMap", "x")) is None
    assert pod_template(obj({"kind": "Deployment", "metadata": {"name": "x"}, "spec": "broken"})) is None
    assert containers(simple("Service", "s")) == []


def test_containers_order_and_filters() -> None:
    pod = {
        "initContainers": [{"name": "i"}],
        "containers": [{"name": "a"}, {"name": "b"}],
        "ephemeralContainers": [{"name": "e"}],
    }
    w = workload("w", pod=pod)
    assert [c["name"] for c in containers(w)] == ["a", "b", "i", "e"]
    assert [c["name"] for c in containers(w, init=False, ephemeral=False)] == ["a", "b"]


def test_referenced_objects_lists_each_once_in_order() -> None:
    pod = {**ENV_CM, **VOLUMES, **ACCOUNTS}
    assert referenced_objects(workload("w", pod=pod)) == [
        ("ConfigMap", "vol-cm"),
        ("Secret", "vol-secret"),
        ("PersistentVolumeClaim", "data"),
        ("ConfigMap", "proj-cm"),
        ("Secret", "proj-secret"),
        ("ConfigMap", "env-cm"),
        ("Secret", "env-secret"),
        ("ServiceAccount", "runner"),
        ("Secret", "pull"),
    ]


def test_assembly_from_parsed_manifests_keeps_sources() -> None:
    text = textwrap.dedent(
        """\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: cfg}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: api}
        spec:
          selector: {matchLabels: {app: api}}
          template:
            metadata: {labels: {app: api}}
            spec:
              containers:
                - name: api
                  image: shop/api
                  envFrom: [{configMapRef: {name: cfg}}]
        """
    )
    project = assemble(config(images=("shop/api",)), parse_manifests(text, "k8s/api.yaml"))
    api = project.resource("api")
    assert api is not None
    assert [o.source for o in api.objects] == ["k8s/api.yaml:5", "k8s/api.yaml:1"]
    assert api.images == ("shop/api",)
    assert project.warnings == ()


# ------------------------------------------------------------------------------------ property test

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["", "a", "x", "env-cm", "shop/api:1", "all-cm"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(
            ["spec", "template", "containers", "initContainers", "image", "volumes", "configMap", "name", "env",
             "envFrom", "configMapRef", "selector", "labels", "metadata", "jobTemplate", "app", "valueFrom",
             "secretRef", "projected", "sources", "serviceAccountName", "imagePullSecrets"]
        ),
        inner,
        max_size=4,
    ),
    max_leaves=20,
)  # fmt: skip


CONTAINER = st.dictionaries(
    st.sampled_from(["name", "image", "env", "envFrom"]), JSON | st.sampled_from(["shop/api:1", "shop/api"]), max_size=4
)
POD_SPEC = JSON | st.fixed_dictionaries(
    {"containers": st.lists(CONTAINER, max_size=2) | JSON},
    optional={"initContainers": st.lists(CONTAINER, max_size=2), "volumes": JSON, "serviceAccountName": JSON},
)
TEMPLATE = st.fixed_dictionaries({"spec": POD_SPEC}, optional={"metadata": JSON})
SPEC = st.one_of(
    JSON,
    POD_SPEC,
    st.fixed_dictionaries({"template": TEMPLATE}, optional={"selector": JSON}),
    st.fixed_dictionaries(
        {"jobTemplate": st.fixed_dictionaries({"spec": st.fixed_dictionaries({"template": TEMPLATE})})}
    ),
)


@settings(max_examples=examples(400), deadline=None)
@given(
    bodies=st.lists(
        st.tuples(
            st.sampled_from(["Deployment", "CronJob", "Pod", "Service", "ConfigMap", "Secret", "Job"]),
            st.sampled_from(["a", "b", "env-cm", "all-cm"]),
            SPEC,
        ),
        max_size=6,
    )
)
def test_odd_object_shapes_never_crash(bodies: list[tuple[str, str, Any]]) -> None:
    objects = [
        obj({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, "spec": spec}, f"k8s/{i}.yaml:1")
        for i, (kind, name, spec) in enumerate(bodies)
    ]
    try:
        project = assemble(config(images=("shop/api",)), objects)
    except ConfigError as error:
        assert "defined twice" in str(error)
        return
    built = {"shop/api": "shop/api:devloop-0"}
    for resource in project.resources:
        for o in resource.objects:
            rewritten = rewrite_images(o, built)
            assert all(c.get("image") != "shop/api:1" for c in containers(rewritten))
