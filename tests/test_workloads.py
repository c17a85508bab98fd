"""workloads: (config.md, "Workloads"): loading, precise errors, the generated objects, recipes, `plan -o yaml`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devloop.build.digest import image_tag
from devloop.config.loader import load_config, parse_config
from devloop.config.model import PortForward, SyncRule
from devloop.config.project import all_objects, load_project
from devloop.config.recipes import LOOKED_FOR
from devloop.errors import ConfigError
from tests import test_config_fuzz as fuzz
from tests.support.examples import examples


def write(root: Path, config: str, files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "devloop.yaml").write_text(config)
    return root / "devloop.yaml"


SHOP = """\
version: 1
name: shop
workloads:
  api:
    type: web
    build: api
    port: 8000
    health: /healthz
    command: python -m api
    env: {LOG_LEVEL: debug}
    replicas: 2
  worker:
    type: worker
    image: shop/api
    command: [python, -m, api.worker]
  migrate:
    type: job
    image: busybox:1.36
"""


def bodies(config_path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o.kind, o.name): o.body for o in all_objects(load_config(config_path))}


def test_generated_objects_are_plain_kubernetes(tmp_path: Path) -> None:
    path = write(tmp_path / "shop", SHOP, {"api/Dockerfile": "FROM scratch\n"})
    objects = bodies(path)
    assert list(objects) == [("Deployment", "api"), ("Service", "api"), ("Deployment", "worker"), ("Job", "migrate")]
    labels = {"app.kubernetes.io/name": "api", "app.kubernetes.io/part-of": "shop"}

    deployment = objects[("Deployment", "api")]
    assert deployment["metadata"] == {"name": "api", "labels": labels}
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "api"}}
    assert deployment["spec"]["template"]["metadata"]["labels"] == labels
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "api"
    assert container["image"] == "shop/api"  # the implicit image: <project>/<workload>
    assert container["command"] == ["/bin/sh", "-c", "python -m api"]
    assert container["env"] == [{"name": "LOG_LEVEL", "value": "debug"}, {"name": "PORT", "value": "8000"}]
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}

    service = objects[("Service", "api")]
    assert service["spec"] == {
        "selector": {"app.kubernetes.io/name": "api"},
        "ports": [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}],
    }

    worker = objects[("Deployment", "worker")]["spec"]["template"]["spec"]["containers"][0]
    assert worker["command"] == ["python", "-m", "api.worker"]
    assert "ports" not in worker and "readinessProbe" not in worker and "env" not in worker

    job = objects[("Job", "migrate")]
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["template"]["spec"]["containers"][0] == {"name": "migrate", "image": "busybox:1.36"}


def test_workloads_become_resources_with_images_and_a_default_port_forward(tmp_path: Path) -> None:
    path = write(tmp_path / "shop", SHOP, {"api/Dockerfile": "FROM scratch\n"})
    project = load_project(path)
    assert [r.name for r in project.resources] == ["api", "worker", "migrate"]
    api = project.resource("api")
    assert api is not None and api.images == ("shop/api",)
    assert [o.kind for o in api.objects] == ["Deployment", "Service"]
    assert api.settings.port_forwards == (PortForward(8000, 8000),)
    worker = project.resource("worker")
    assert worker is not None and worker.images == ("shop/api",)  # image: names the implicit image
    (image,) = project.config.images
    assert (image.ref, image.context, image.origin, image.recipe) == (
        "shop/api",
        path.parent / "api",
        "workloads.api",
        None,
    )
    assert project.warnings == ()
    # devloop's labels are added like for any manifest
    labels = api.objects[0].body["metadata"]["labels"]
    assert labels["devloop.dev/resource"] == "api" and labels["app.kubernetes.io/managed-by"] == "devloop"


def test_resources_settings_apply_to_workloads(tmp_path: Path) -> None:
    config = (
        SHOP
        + 'resources:\n  api:\n    port_forwards: ["9000:8000"]\n    depends_on: [migrate]\n'
        + "  worker: {trigger: manual}\n"
    )
    project = load_project(write(tmp_path / "shop", config, {"api/Dockerfile": "FROM scratch\n"}))
    assert [r.name for r in project.resources] == ["worker", "migrate", "api"]
    api, worker = project.resource("api"), project.resource("worker")
    assert api is not None and api.settings.port_forwards == (PortForward(9000, 8000),)
    assert worker is not None and worker.settings.trigger == "manual"
    # an explicit empty list turns the default forward off
    project = load_project(
        write(
            tmp_path / "off", SHOP + "resources:\n  api:\n    port_forwards: []\n", {"api/Dockerfile": "FROM scratch\n"}
        )
    )
    api = project.resource("api")
    assert api is not None and api.settings.port_forwards == ()
    # an empty value counts as absent: the default applies
    project = load_project(
        write(
            tmp_path / "null", SHOP + "resources:\n  api:\n    port_forwards:\n", {"api/Dockerfile": "FROM scratch\n"}
        )
    )
    api = project.resource("api")
    assert api is not None and api.settings.port_forwards == (PortForward(8000, 8000),)


def test_build_with_image_names_the_ref_and_keeps_live_update(tmp_path: Path) -> None:
    config = """\
version: 1
name: shop
workloads:
  api:
    type: worker
    build: .
    image: registry.example.com/team/api
    live_update:
      sync: [{src: app, dest: /srv/app}]
      restart: true
"""
    path = write(tmp_path / "shop", config, {"Dockerfile": "FROM scratch\n", "app/main.py": ""})
    (image,) = load_config(path).images
    assert image.ref == "registry.example.com/team/api"
    assert image.live_update is not None and image.live_update.sync == (SyncRule("app", "/srv/app"),)


def fails(tmp_path: Path, config: str, files: dict[str, str] | None = None) -> str:
    path = write(tmp_path / "p", "version: 1\nname: shop\n" + config, files)
    with pytest.raises(ConfigError) as info:
        load_project(path)
    assert info.value.exit_code == 2
    return str(info.value)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            "workloads:\n  api:\n    build: .\n",
            "devloop.yaml:5:5: workloads.api.type: expected the kind of workload: web (Deployment + Service), "
            "worker (Deployment) or job (Job run to completion), got no type; add `type: web`",
        ),
        (
            "workloads:\n  api:\n    type: server\n    build: .\n",
            'devloop.yaml:5:11: workloads.api.type: expected web, worker or job, got "server"',
        ),
        (
            "workloads:\n  api:\n    type: web\n    build: .\n",
            "devloop.yaml:5:5: workloads.api.port: expected the port the process listens on, got no port; "
            "add `port: 8000`",
        ),
        (
            "workloads:\n  api:\n    type: web\n    build: .\n    port: 80000\n",
            "devloop.yaml:7:11: workloads.api.port: expected a port number from 1 to 65535, got 80000 (a number)",
        ),
        (
            "workloads:\n  api:\n    type: worker\n    build: .\n    port: 80\n",
            "devloop.yaml:7:11: workloads.api.port: applies to web workloads, not to a worker; remove it, or use "
            "`type: web` to get a Service and a port forward",
        ),
        (
            "workloads:\n  api:\n    type: job\n    build: .\n    replicas: 2\n",
            "workloads.api.replicas: applies to web and worker workloads, not to a job",
        ),
        (
            "workloads:\n  api:\n    type: web\n    build: .\n    port: 80\n    comand: x\n",
            "devloop.yaml:8:5: workloads.api.comand: expected one of type, build, image, base, port, command, env, "
            "replicas, health, live_update, got unknown key `comand`; did you mean `command`?",
        ),
        (
            "workloads:\n  Api_1:\n    type: worker\n    build: .\n",
            "devloop.yaml:4:3: workloads.Api_1: expected a workload name that Kubernetes accepts for a Deployment and "
            "a Service (lowercase letters, digits and '-', starting with a letter, at most 63 characters), got "
            '"Api_1"; try "api-1"',
        ),
        (
            "workloads:\n  api:\n    type: worker\n",
            "devloop.yaml:5:5: workloads.api: expected `build: FOLDER` (a folder to build) or `image: NAME` "
            "(an image to run), got neither; add one",
        ),
        (
            "workloads:\n  api:\n    type: worker\n    build: nowhere\n",
            "devloop.yaml:6:12: workloads.api.build: expected a folder to build, relative to devloop.yaml, got "
            '"nowhere", but nowhere does not exist; create it or fix the path',
        ),
        (
            "workloads:\n  api:\n    type: worker\n    image: busybox\n    live_update: {restart: true}\n",
            "workloads.api.live_update: applies to the image devloop builds from `build:`, and this workload has "
            "none; add `build: FOLDER`, or set live_update on the images[] entry of busybox",
        ),
        (
            "workloads:\n  api:\n    type: web\n    port: 80\n    image: Shop/API\n",
            "workloads.api.image: expected an image reference such as shop/api",
        ),
        (
            "workloads:\n  api:\n    type: web\n    port: 80\n    build: .\n    health: healthz\n",
            'workloads.api.health: expected an HTTP path starting with / (e.g. /healthz), got "healthz"',
        ),
        (
            "images:\n  - ref: shop/api\nworkloads:\n  api:\n    type: worker\n    build: .\n",
            "devloop.yaml:8:12: workloads.api.build: builds the image shop/api, which images[0] builds too; "
            "remove one of them, or set `image:` to another name",
        ),
        (
            "workloads:\n  api:\n    type: web\n    port: 8000\n    build: .\n"
            "  web:\n    type: web\n    port: 8000\n    image: busybox\n",
            "devloop.yaml:10:11: workloads.web.port: the web workload web gets a port forward from local port 8000, "
            'which api forwards already; set resources.web.port_forwards to another local port, e.g. ["8001:8000"]',
        ),
        (
            "workloads:\n  api:\n    type: web\n    port: 80\n    build: .\n    base: python:3.12-slim\n",
            "workloads.api.base: applies to recipes only, but Dockerfile exists and its FROM line chooses the base "
            "image; remove `base:` or change the Dockerfile",
        ),
        (
            "workloads:\n  api:\n    type: web\n    port: 80\n    build: .\nresources:\n  apj: {}\n",
            "resources.apj: there is no resource named 'apj' (did you mean 'api'?)",
        ),
    ],
)
def test_workload_errors_are_located_sentences(tmp_path: Path, config: str, expected: str) -> None:
    message = fails(tmp_path, config, {"Dockerfile": "FROM scratch\n"})
    assert expected in message, message


def test_a_name_taken_by_a_manifest_workload_names_both(tmp_path: Path) -> None:
    manifest = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: api}\nspec: {template: {spec: {}}}\n"
    config = "manifests: [k8s.yaml]\nworkloads:\n  api:\n    type: worker\n    image: busybox\n"
    message = fails(tmp_path, config, {"k8s.yaml": manifest})
    assert message == (
        "devloop.yaml:5:3: workloads.api: the worker workload api generates a Deployment named api, but the "
        "manifests already define the StatefulSet api (k8s.yaml:1); rename the workload or the StatefulSet"
    )
    service = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {}\n"
    config = "manifests: [k8s.yaml]\nworkloads:\n  web:\n    type: web\n    port: 80\n    image: busybox\n"
    message = fails(tmp_path, config, {"k8s.yaml": service})
    assert "generates a Deployment and a Service named web, but the manifests already define the Service web" in message


# --------------------------------------------------------------------------------------------- recipes


def recipe_config(folder: str = "api", kind: str = "web", extra: str = "") -> str:
    port = "    port: 8000\n" if kind == "web" else ""
    return f"version: 1\nname: shop\nworkloads:\n  api:\n    type: {kind}\n    build: {folder}\n{port}{extra}"


def test_python_recipe(tmp_path: Path) -> None:
    path = write(tmp_path / "p", recipe_config(), {"api/requirements.txt": "flask\n", "api/app.py": ""})
    (image,) = load_config(path).images
    assert image.recipe == "python"
    assert image.dockerfile_text is not None
    lines = image.dockerfile_text.splitlines()
    assert "FROM python:3.12-slim" in lines
    assert 'CMD ["python", "app.py"]' in lines and "EXPOSE 8000" in lines
    assert any("pip install --no-cache-dir -r requirements.txt" in line for line in lines)
    live = image.live_update
    assert live is not None
    assert live.sync == (SyncRule(".", "/app"),) and live.restart
    assert live.fall_back_on == ("requirements.txt", "pyproject.toml")
    assert not (path.parent / "api" / "Dockerfile").exists()  # never written into the project


def test_recipe_base_and_workload_live_update_are_settings(tmp_path: Path) -> None:
    extra = "    base: python:3.11-alpine\n    live_update: {sync: [{src: app.py, dest: /app/app.py}]}\n"
    path = write(tmp_path / "p", recipe_config(extra=extra), {"api/pyproject.toml": "", "api/app.py": ""})
    (image,) = load_config(path).images
    assert image.dockerfile_text is not None and "FROM python:3.11-alpine" in image.dockerfile_text
    assert "pip install --no-cache-dir -e ." in image.dockerfile_text
    assert image.live_update is not None and image.live_update.sync == (SyncRule("app.py", "/app/app.py"),)
    assert not image.live_update.restart


def test_node_recipe_dockerfile(tmp_path: Path) -> None:
    # no node base image can be made here: the generated Dockerfile is checked, not built
    files = {"api/package.json": '{"scripts": {"start": "node server.js"}}', "api/server.js": ""}
    (image,) = load_config(write(tmp_path / "p", recipe_config(), files)).images
    assert image.recipe == "node"
    assert image.dockerfile_text is not None
    lines = image.dockerfile_text.splitlines()
    assert lines[1:] == [
        "FROM node:22-slim",
        "WORKDIR /app",
        "COPY . /app",
        "RUN if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi",
        "EXPOSE 8000",
        'CMD ["npm", "start"]',
    ]
    assert "node_modules" in image.ignore
    assert image.live_update is not None and image.live_update.fall_back_on == ("package.json", "package-lock.json")


def test_static_recipe_dockerfile(tmp_path: Path) -> None:
    (image,) = load_config(write(tmp_path / "p", recipe_config(), {"api/index.html": "hi"})).images
    assert image.recipe == "static"
    assert image.dockerfile_text is not None
    assert 'CMD ["httpd", "-f", "-v", "-p", "8000", "-h", "/srv/www"]' in image.dockerfile_text
    assert image.live_update is not None and image.live_update.sync == (SyncRule(".", "/srv/www"),)
    assert not image.live_update.restart


@pytest.mark.parametrize(
    ("files", "kind", "expected"),
    [
        ({"api/README.md": ""}, "web", f"the folder api has none of the files devloop looks for: {LOOKED_FOR}"),
        (
            {"api/requirements.txt": ""},
            "web",
            "the folder api is a Python project but has no app.py, main.py, server.py or manage.py to start; set "
            "`command:` on the workload (e.g. `command: python -m myapp`)",
        ),
        ({"api/package.json": "{}"}, "web", 'its package.json has no "start" script and there is no server.js'),
        ({"api/index.html": ""}, "worker", "only a web workload can serve; use `type: web`"),
        ({"api/package.json": "{}", "api/requirements.txt": ""}, "web", "cannot tell which recipe to use"),
    ],
)
def test_recipe_errors(tmp_path: Path, files: dict[str, str], kind: str, expected: str) -> None:
    path = write(tmp_path / "p", recipe_config(kind=kind), files)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith("devloop.yaml:6:12: workloads.api.build: ")
    assert expected in str(info.value)


def test_the_generated_dockerfile_counts_in_the_digest(tmp_path: Path) -> None:
    files = {"api/index.html": "hi"}
    first = image_tag(load_config(write(tmp_path / "p", recipe_config(), files)).images[0], use_cache=False)
    again = image_tag(load_config(write(tmp_path / "p", recipe_config(), files)).images[0], use_cache=False)
    other = recipe_config(extra="    base: busybox:1.36\n")
    based = image_tag(load_config(write(tmp_path / "p", other, files)).images[0], use_cache=False)
    assert first == again and first != based


# --------------------------------------------------------------------------------------------- plan


def test_plan_prints_the_generated_objects_and_dockerfile(tmp_path: Path) -> None:
    path = write(tmp_path / "shop", SHOP.replace("build: api", "build: site"), {"site/index.html": "hi"})
    result = subprocess.run(
        [sys.executable, "-m", "devloop", "-f", str(path), "plan", "-o", "yaml"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "# Dockerfile of image shop/api (static recipe, workloads.api.build):" in result.stdout
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("Deployment", "api"),
        ("Service", "api"),
        ("Deployment", "worker"),
        ("Job", "migrate"),
    ]
    data = json.loads(
        subprocess.run(
            [sys.executable, "-m", "devloop", "-f", str(path), "plan", "-o", "json"], capture_output=True, text=True
        ).stdout
    )
    assert [(w["name"], w["type"], w["image"], w["build"]) for w in data["workloads"]] == [
        ("api", "web", "shop/api", True),
        ("worker", "worker", "shop/api", False),
        ("migrate", "job", "busybox:1.36", False),
    ]
    text = subprocess.run(
        [sys.executable, "-m", "devloop", "-f", str(path), "plan"], capture_output=True, text=True
    ).stdout
    assert "workloads.api.build: context site, static recipe, Dockerfile below" in text
    assert "1. api  (Deployment)  [workloads.api: web, no Kubernetes YAML]" in text
    assert "COPY . /srv/www" in text


# --------------------------------------------------------------------------------------------- fuzz

FUZZ_TEXT = """\
version: 1
name: shop
workloads:
  api:
    type: web
    build: web
    port: 8000
    health: /healthz
    command: [python, -m, api]
    env: {A: "1", B: two}
    replicas: 2
    live_update:
      sync: [{src: ., dest: /app}]
      restart: true
  worker:
    type: worker
    image: shop/api
    command: run it
  once:
    type: job
    build: api
    image: shop/once
resources:
  api:
    port_forwards: ["9000:8000"]
"""


@settings(max_examples=examples(1500), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(fuzz.mutation_for(FUZZ_TEXT), min_size=1, max_size=4))
def test_mutated_workloads_load_or_fail_with_a_location(mutations: list[tuple[object, ...]]) -> None:
    assert len(parse_config(FUZZ_TEXT, fuzz.CONFIG).workloads) == 3  # the unmutated text loads
    text = FUZZ_TEXT
    for mutation in mutations:
        text = fuzz.mutate(text, mutation)
    fuzz.check(text)
