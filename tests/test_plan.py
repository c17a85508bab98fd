"""`devloop plan`: load_project on the two-services sample, plan_data (JSON) and render_plan (text)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from devloop.config.model import (
    UNCATEGORIZED,
    Config,
    ImageSpec,
    LiveUpdate,
    ManifestObject,
    ObjectSelector,
    PortForward,
    ResourceSettings,
    RunStep,
    SyncRule,
    TestStage,
)
from devloop.config.project import load_project
from devloop.config.resources import assemble
from devloop.errors import ConfigError
from devloop.plan import live_update_summary, plan_data, render_plan

TWO_SERVICES = Path(__file__).parent / "data" / "projects" / "two-services"


@pytest.fixture
def two_services(tmp_path: Path) -> Path:
    target = tmp_path / "two-services"
    shutil.copytree(TWO_SERVICES, target)
    return target


def test_plan_data_of_the_two_services_project(two_services: Path) -> None:
    project = load_project(two_services / "devloop.yaml")
    data = plan_data(project)
    assert json.loads(json.dumps(data)) == data  # JSON-serialisable as is
    assert data["project"] == "two-services"
    assert data["target"] == "auto"
    assert data["deploy_order"] == ["api", "web"]
    assert data["warnings"] == []
    api, web = data["resources"]
    assert api == {
        "name": "api",
        "kind": "Deployment",
        "images": ["two-services/api"],
        "objects": [
            {"kind": "Deployment", "name": "api", "source": "k8s/api.yaml:8"},
            {"kind": "ConfigMap", "name": "api-config", "source": "k8s/api.yaml:1"},
            {"kind": "Service", "name": "api", "source": "k8s/api.yaml:36"},
        ],
        "port_forwards": [{"local": 18000, "container": 8080, "host": "127.0.0.1", "spec": "18000:8080"}],
        "depends_on": [],
        "labels": ["backend"],
        "trigger": "auto",
        "readiness_timeout": 300.0,
        "local": None,
    }
    assert web["depends_on"] == ["api"]
    assert [o["kind"] + "/" + o["name"] for o in web["objects"]] == [
        "Deployment/web",
        "ConfigMap/web-config",
        "Service/web",
    ]
    images = {image["ref"]: image for image in data["images"]}
    assert images["two-services/api"] == {
        "ref": "two-services/api",
        "defined_by": "images[0]",
        "context": "api",
        "dockerfile": "Dockerfile",
        "recipe": None,
        "generated_dockerfile": None,
        "target": None,
        "args": {},
        "ignore": [],
        "test": None,
        "live_update": {
            "sync": [{"src": "app", "dest": "/srv/app"}],
            "run": [],
            "fall_back_on": [],
            "restart": False,
            "summary": "sync app -> /srv/app",
        },
        "used_by": ["api"],
    }
    assert images["two-services/web"]["live_update"]["summary"] == "sync app -> /srv/www; restart"


def test_render_plan_of_the_two_services_project(two_services: Path) -> None:
    text = render_plan(load_project(two_services / "devloop.yaml"))
    assert text == textwrap.dedent(
        """\
        Project two-services (devloop.yaml)
          target: auto
          namespace: the context's namespace   docker network: devloop-two-services

        Resources, in deploy order (2):
          1. api  (Deployment)
               images: two-services/api
               objects: Deployment/api, ConfigMap/api-config, Service/api
               port forwards: 127.0.0.1:18000 -> 8080
               labels: backend
          2. web  (Deployment)
               images: two-services/web
               objects: Deployment/web, ConfigMap/web-config, Service/web
               port forwards: 127.0.0.1:18080 -> 8080
               depends on: api
               labels: frontend

        Images (2):
          two-services/api
               build: context api, dockerfile Dockerfile
               live update: sync app -> /srv/app
               used by: api
          two-services/web
               build: context web, dockerfile Dockerfile
               live update: sync app -> /srv/www; restart
               used by: web
        """
    )


def test_plan_loads_no_docker_or_kubernetes_library() -> None:
    """plan touches nothing: loading and rendering never import the docker or kubernetes clients."""
    code = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        from devloop.config.project import load_project
        from devloop.plan import plan_data, render_plan
        project = load_project(Path({str(TWO_SERVICES / "devloop.yaml")!r}))
        render_plan(project); json.dumps(plan_data(project))
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("docker", "kubernetes", "watchdog", "rich"))
        print(json.dumps(heavy))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_load_project_reports_manifest_problems_with_locations(two_services: Path) -> None:
    (two_services / "devloop.yaml").write_text(
        (two_services / "devloop.yaml").read_text().replace("  - k8s/*.yaml", "  - k8s/*.yaml\n  - deploy/*.yaml")
    )
    with pytest.raises(ConfigError) as info:
        load_project(two_services / "devloop.yaml")
    assert str(info.value).startswith(
        "devloop.yaml:9:5: manifests[1]: the manifest pattern 'deploy/*.yaml' matched no file"
    )

    (two_services / "devloop.yaml").write_text(
        (two_services / "devloop.yaml").read_text().replace("  - deploy/*.yaml\n", "")
    )
    (two_services / "k8s" / "web.yaml").write_text("kind: ConfigMap\nmetadata:\n  name: [x\n")
    with pytest.raises(ConfigError) as info:
        load_project(two_services / "devloop.yaml")
    assert str(info.value).startswith("k8s/web.yaml:4:1: manifest is not valid YAML")


def test_load_project_checks_references(two_services: Path) -> None:
    path = two_services / "devloop.yaml"
    path.write_text(path.read_text().replace("depends_on: [api]", "depends_on: [apy]"))
    with pytest.raises(ConfigError) as info:
        load_project(path)
    assert str(info.value).startswith(
        "devloop.yaml:31:18: resources.web.depends_on[0]: depends on 'apy', which is not a resource "
        "(did you mean 'api'?); resources are: api, web, uncategorized"
    )


def _rich_project() -> tuple[Config, list[ManifestObject]]:
    root = Path("/p")
    live = LiveUpdate(
        sync=(SyncRule("src", "/app/src"), SyncRule("static", "/app/static")),
        run=(RunStep("pip install -r requirements.txt", ("requirements.txt",)), RunStep(("make", "assets"))),
        fall_back_on=("Dockerfile.base",),
        restart=True,
    )
    config = Config(
        path=root / "devloop.yaml",
        name="shop",
        images=(
            ImageSpec(
                ref="shop/api",
                context=root / "api",
                dockerfile=root / "api" / "docker" / "Dockerfile.dev",
                target="dev",
                args=(("PY", "3.12"),),
                test=TestStage("pytest -q"),
                live_update=live,
            ),
            ImageSpec(ref="shop/unused", context=root, dockerfile=root / "Dockerfile", index=1),
        ),
        resources=(
            (
                "api",
                ResourceSettings(
                    port_forwards=(PortForward(8000, 8000), PortForward(9000, 8080)),
                    trigger="manual",
                    objects=(ObjectSelector("shop-config", "configmap"),),
                ),
            ),
        ),
    )
    objects = [
        ManifestObject({"kind": "Namespace", "metadata": {"name": "shop"}}, "k8s/ns.yaml:1"),
        ManifestObject({"kind": "ConfigMap", "metadata": {"name": "shop-config", "namespace": "shop"}}, "k8s/c.yaml:1"),
        ManifestObject(
            {
                "kind": "Deployment",
                "metadata": {"name": "api", "namespace": "shop"},
                "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "shop/api:1"}]}}},
            },
            "k8s/api.yaml:1",
        ),
    ]
    return config, objects


def test_plan_with_uncategorized_manual_trigger_test_stage_and_warnings() -> None:
    config, objects = _rich_project()
    project = assemble(config, objects)
    data = plan_data(project)
    assert data["deploy_order"] == [UNCATEGORIZED, "api"]
    assert data["resources"][0]["kind"] is None
    assert data["resources"][1]["trigger"] == "manual"
    assert data["resources"][1]["objects"][1] == {
        "kind": "ConfigMap",
        "name": "shop-config",
        "namespace": "shop",
        "source": "k8s/c.yaml:1",
    }
    api_image = data["images"][0]
    assert api_image["dockerfile"] == "docker/Dockerfile.dev"
    assert api_image["context"] == "api"
    assert api_image["test"] == "pytest -q"
    assert api_image["live_update"]["run"] == [
        {"cmd": "pip install -r requirements.txt", "trigger": ["requirements.txt"]},
        {"cmd": ["make", "assets"], "trigger": []},
    ]
    assert data["images"][1]["used_by"] == []
    assert len(data["warnings"]) == 1 and "shop/unused" in data["warnings"][0]

    text = render_plan(project, console_width=80)
    assert "  1. uncategorized  (objects without a workload, deployed first)" in text
    assert "  2. api  (Deployment)  [manual trigger]" in text
    assert "       port forwards: 127.0.0.1:8000 -> 8000, 127.0.0.1:9000 -> 8080" in text
    assert "       objects: Deployment/api (ns shop), ConfigMap/shop-config (ns shop)" in text
    assert (
        "       build: context api, dockerfile docker/Dockerfile.dev, target dev, args\n              PY=3.12\n" in text
    )
    assert "       test: pytest -q" in text
    assert "       used by: no resource" in text
    assert "Warnings (1):" in text
    assert "  ! devloop.yaml:1:1: images[1].ref: no container in the manifests uses the\n    image shop/unused;" in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_live_update_summary() -> None:
    config, _ = _rich_project()
    assert live_update_summary(config.images[0].live_update) == (
        "sync src -> /app/src, static -> /app/static; run `pip install -r requirements.txt` "
        "(on requirements.txt); run `make assets`; restart; full build on Dockerfile.base"
    )
    assert live_update_summary(None) == "none (every change rebuilds)"
    assert live_update_summary(LiveUpdate()) == "nothing to do (every change rebuilds)"


def test_render_plan_of_an_empty_project() -> None:
    project = assemble(Config(path=Path("/p/devloop.yaml"), name="empty"), [])
    text = render_plan(project)
    assert "Resources, in deploy order (0):\n  (none: the manifests have no objects)" in text
    assert "Images (0):\n  (none: every container runs an image as written in the manifests)" in text
    assert plan_data(project)["resources"] == []
