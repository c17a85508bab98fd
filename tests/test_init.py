"""`devloop init` (cli.md): a devloop.yaml from what the folder holds, that `devloop plan` accepts; never overwrites."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from devloop.scaffold import scan
from tests.support.projects import container, deployment

DEPLOYMENT = yaml.safe_dump(deployment("api", [container("api", "shop/api:1.0")]))


def devloop(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devloop", *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def layout(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def init_and_plan(root: Path) -> tuple[dict[str, Any], str]:
    result = devloop(root, "init")
    assert result.returncode == 0, result.stderr
    assert "assuming that:" in result.stdout
    plan = devloop(root, "plan")
    assert plan.returncode == 0, plan.stderr
    assert "warning" not in plan.stderr
    return yaml.safe_load((root / "devloop.yaml").read_text()), result.stdout


def test_manifests_and_a_dockerfile_become_manifests_and_an_image(tmp_path: Path) -> None:
    root = layout(
        tmp_path / "shop",
        {
            "k8s/api.yaml": DEPLOYMENT,
            "k8s/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n",
            "api/Dockerfile": "FROM scratch\n",
            "compose.yaml": "services: {api: {build: api}}\n",
        },
    )
    config, out = init_and_plan(root)
    assert config == {
        "version": 1,
        "name": "shop",
        "manifests": ["k8s/*.yaml"],
        "images": [{"ref": "shop/api", "context": "api"}],
    }
    assert "api/Dockerfile builds shop/api, the image the manifests run" in out
    assert "compose.yaml is not used" in out


def test_compose_services_become_workloads(tmp_path: Path) -> None:
    compose = """\
services:
  web_app:
    build: .
    ports: ["8080:80"]
    environment: [MODE=dev, "GREETING=hi there"]
    command: ["httpd", "-f", "-p", "80"]
    depends_on: [cache]
  worker:
    build: {context: ., dockerfile: Dockerfile}
    command: sleep 1000
  cache:
    image: redis:7
    volumes: [data:/data]
"""
    root = layout(tmp_path / "site", {"compose.yaml": compose, "Dockerfile": "FROM scratch\n"})
    config, out = init_and_plan(root)
    assert config["workloads"] == {
        "web-app": {
            "type": "web",
            "build": ".",
            "port": 80,
            "command": ["httpd", "-f", "-p", "80"],
            "env": {"MODE": "dev", "GREETING": "hi there"},
        },
        "worker": {"type": "worker", "image": "site/worker", "command": "sleep 1000"},
        "cache": {"type": "worker", "image": "redis:7"},
    }
    assert config["images"] == [{"ref": "site/worker", "context": ".", "dockerfile": "Dockerfile"}]
    assert config["resources"] == {"web-app": {"port_forwards": ["8080:80"], "depends_on": ["cache"]}}
    assert "the volumes of compose service cache are not carried over" in out


def test_dockerfiles_and_recipe_folders_become_workloads(tmp_path: Path) -> None:
    root = layout(
        tmp_path / "one", {"api/Dockerfile": "FROM scratch\nEXPOSE 9000\n", "jobs/Dockerfile": "FROM scratch\n"}
    )
    config, _ = init_and_plan(root)
    assert config["workloads"] == {
        "api": {"type": "web", "build": "api", "port": 9000},
        "jobs": {"type": "worker", "build": "jobs"},
    }
    root = layout(tmp_path / "two", {"requirements.txt": "", "app.py": "", "site/index.html": "hi"})
    config, out = init_and_plan(root)
    assert config["workloads"] == {"two": {"type": "web", "build": ".", "port": 8000}}
    assert "built by the python recipe" in out


def test_kustomize_overlay_and_chart_are_found(tmp_path: Path) -> None:
    root = layout(
        tmp_path / "p",
        {
            "deploy/base/kustomization.yaml": "resources: [d.yaml]\n",
            "deploy/base/d.yaml": DEPLOYMENT,
            "deploy/overlays/prod/kustomization.yaml": "resources: [../../base]\n",
            "deploy/overlays/dev/kustomization.yaml": "resources: [../../base]\n",
            "charts/shop/Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
            "charts/shop/templates/d.yaml": DEPLOYMENT,
        },
    )
    scaffold = scan(root)
    assert scaffold.config["manifests"] == [{"kustomize": "deploy/overlays/dev"}, {"helm": {"chart": "charts/shop"}}]
    assert any("one overlay is enough for development" in line for line in scaffold.assumptions)


@pytest.mark.skipif(shutil.which("kustomize") is None and shutil.which("kubectl") is None, reason="no kustomize")
def test_a_kustomize_overlay_and_its_dockerfile_pass_plan(tmp_path: Path) -> None:
    root = layout(
        tmp_path / "shop",
        {
            "deploy/base/kustomization.yaml": "resources: [d.yaml]\n",
            "deploy/base/d.yaml": DEPLOYMENT,
            "deploy/overlays/dev/kustomization.yaml": "resources: [../../base]\n",
            "api/Dockerfile": "FROM scratch\n",
        },
    )
    config, out = init_and_plan(root)
    assert "api/Dockerfile builds shop/api, the image the manifests run" in out
    assert config["manifests"] == [{"kustomize": "deploy/overlays/dev"}]
    assert config["images"] == [{"ref": "shop/api", "context": "api"}]


def test_init_never_overwrites_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "devloop.yaml").write_text("version: 1\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    result = devloop(tmp_path, "init")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"devloop: {tmp_path / 'devloop.yaml'} already exists, and devloop init never overwrites it; edit it "
        "(devloop plan checks it), or move it away and run devloop init again."
    )
    assert (tmp_path / "devloop.yaml").read_text() == "version: 1\n"


@pytest.mark.parametrize("files", [{}, {"README.md": "hello"}])
def test_an_empty_folder_is_one_sentence(tmp_path: Path, files: dict[str, str]) -> None:
    layout(tmp_path, files)
    result = devloop(tmp_path, "init")
    assert result.returncode == 2
    assert "cannot tell what to run" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "devloop.yaml").exists()


# ------------------------------------------------------------------------------- in process: the edges


def init_in_process(cwd: Path, file: str | None = None) -> tuple[int, str]:
    import io

    from devloop.commands import init
    from devloop.context import Environment, GlobalOptions

    out = io.StringIO()
    env = Environment(stdout=out, stderr=io.StringIO(), env={}, cwd=cwd, options=GlobalOptions(file=file))
    return init.run(env), out.getvalue()


def test_init_into_a_folder_that_does_not_exist_says_so(tmp_path: Path) -> None:
    from devloop.errors import UsageError

    with pytest.raises(UsageError, match=r"the folder .*/missing does not exist; create it"):
        init_in_process(tmp_path, "missing/devloop.yaml")
    assert not (tmp_path / "missing").exists()


def test_init_writes_the_config_and_notes_a_tool_plan_will_need(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chart needs helm to render; without helm on PATH init still writes the file and says what is missing."""
    layout(
        tmp_path,
        {
            "charts/shop/Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
            "charts/shop/templates/d.yaml": "kind: Deployment\n",
        },
    )
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    code, out = init_in_process(tmp_path, str(tmp_path))
    assert code == 0
    assert (tmp_path / "devloop.yaml").is_file()
    assert out.startswith(f"Wrote {tmp_path / 'devloop.yaml'}, assuming that:")
    assert "note: devloop plan will need a tool that is missing here:" in out
    assert "helm" in out
