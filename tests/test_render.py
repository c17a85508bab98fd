"""`devloop render` against the real registry of the test setup (cli.md, `render`).

A project with a manifest (a Deployment of an images[] entry, a ConfigMap) and a web workload built from a
busybox Dockerfile: the output pins every built image by the digest the registry serves, carries no devloop
label and no dev-only setting, is byte-identical across runs, and nothing is written when a test stage fails.
Applying the rendered files on the docker target runs the very images that were pushed.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import images, registry
from tests.support.e2e import Project, output, run_devloop
from tests.support.projects import configmap, container, deployment, free_port


@pytest.fixture
def render_project(project: Project, registry_addr: str) -> Iterator[Project]:
    """``project`` whose images (local tags and the test registry's manifests) are removed at the end."""
    yield project
    for image in project.client.images.list(filters={"label": f"devloop.dev/built-for={project.name}"}):
        for tag in image.tags:
            with contextlib.suppress(Exception):
                project.client.images.remove(tag, force=True)
    for repository in registry.catalog(registry_addr):
        if project.name in repository.split("/"):
            for tag in registry.tags(registry_addr, repository):
                found = registry.manifest(registry_addr, repository, tag)
                if found is not None:
                    registry.delete(registry_addr, repository, found.digest)


def write(p: Project, *, test_cmd: str | None = None) -> None:
    images.write_busybox_context(p.root / "api", ["COPY www /www"], {"www/index.html": "api\n"})
    images.write_busybox_context(p.root / "web", ["COPY www /www"], {"www/index.html": "web\n"})
    objects = [
        deployment("api", [container("api", f"{p.name}/api", ["httpd", "-f", "-p", "8080", "-h", "/www"])]),
        configmap("api-config", {"mode": "production"}),
    ]
    (p.root / "k8s.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
    api: dict[str, Any] = {
        "ref": f"{p.name}/api",
        "context": "api",
        "live_update": {"sync": [{"src": "www", "dest": "/www"}], "restart": True},
    }
    if test_cmd is not None:
        api["test"] = {"cmd": test_cmd}
    data = {
        "version": 1,
        "name": p.name,
        "manifests": ["k8s.yaml"],
        "images": [api],
        "workloads": {
            "web": {"type": "web", "build": "web", "port": 8080, "command": ["httpd", "-f", "-p", "8080", "-h", "/www"]}
        },
    }
    (p.root / "devloop.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def images_of(docs: list[dict[str, Any]]) -> dict[str, str]:
    return {
        c["name"]: c["image"]
        for d in docs
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    }


def test_render_pins_registry_digests_without_dev_settings(render_project: Project, registry_addr: str) -> None:
    p = render_project
    write(p)
    first = run_devloop(p.root, "render", "--registry", registry_addr)
    assert first.returncode == 0, output(first)
    docs = [d for d in yaml.safe_load_all(first.stdout) if d]
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("ConfigMap", "api-config"),  # attached to no workload: uncategorized, first
        ("Deployment", "api"),
        ("Deployment", "web"),
        ("Service", "web"),
    ]
    pinned = images_of(docs)
    for name, image in pinned.items():
        match = re.fullmatch(re.escape(registry_addr) + r"/(.+)@(sha256:[0-9a-f]{64})", image)
        assert match is not None, image
        assert match.group(1) == f"{p.name}/{name}"
        found = registry.manifest(registry_addr, match.group(1), match.group(2))
        assert found is not None and found.digest == match.group(2)  # the pinned digest exists in the registry
    assert "devloop.dev/" not in first.stdout and "managed-by" not in first.stdout
    assert "IfNotPresent" not in first.stdout and "imagePullPolicy" not in first.stdout
    assert "devloop-supervisor" not in first.stdout

    second = run_devloop(p.root, "render", "--registry", registry_addr)
    assert second.returncode == 0, output(second)
    assert second.stdout == first.stdout  # byte-identical for the same inputs

    local = run_devloop(p.root, "render", "--no-push")
    assert local.returncode == 0, output(local)
    for name, image in images_of([d for d in yaml.safe_load_all(local.stdout) if d]).items():
        assert re.fullmatch(rf"{p.name}/{name}:devloop-[0-9a-f]{{16}}", image), image


def test_render_to_a_registry_with_a_path(render_project: Project, registry_addr: str) -> None:
    p = render_project
    write(p)
    result = run_devloop(p.root, "render", "--registry", f"{registry_addr}/team")
    assert result.returncode == 0, output(result)
    image = images_of([d for d in yaml.safe_load_all(result.stdout) if d])["web"]
    repository, digest = image.split("@")
    assert repository == f"{registry_addr}/team/{p.name}/web"
    found = registry.manifest(registry_addr, f"team/{p.name}/web", digest)
    assert found is not None and found.digest == digest


def test_render_to_a_folder_and_apply_it_on_the_docker_target(render_project: Project, registry_addr: str) -> None:
    p = render_project
    write(p)
    out = p.root / "deploy"
    result = run_devloop(p.root, "render", "--registry", registry_addr, "-o", str(out))
    assert result.returncode == 0, output(result)
    assert result.stdout == ""
    files = sorted(f.name for f in out.iterdir())
    assert files == ["01-uncategorized.yaml", "02-api.yaml", "03-web.yaml"]
    stream = run_devloop(p.root, "render", "--registry", registry_addr)
    pieces = [(out / name).read_text() for name in files]
    header = pieces[0].splitlines()[0]
    assert stream.stdout == header + "\n" + "".join(piece.split("\n", 1)[1] for piece in pieces)

    # a second render replaces the folder; a folder with files render did not write is refused (exit 2)
    again = run_devloop(p.root, "render", "--registry", registry_addr, "-o", str(out))
    assert again.returncode == 0 and sorted(f.name for f in out.iterdir()) == files, output(again)
    (out / "notes.txt").write_text("mine\n")
    refused = run_devloop(p.root, "render", "--registry", registry_addr, "-o", str(out))
    assert refused.returncode == 2 and "holds files that devloop render did not write (notes.txt)" in refused.stderr
    (out / "notes.txt").unlink()

    # the rendered files, applied as a project of their own on the docker target, run the pushed images
    pinned = images_of([d for piece in pieces for d in yaml.safe_load_all(piece) if d])
    applied = p.root / "applied"
    applied.mkdir()
    (applied / "devloop.yaml").write_text(
        yaml.safe_dump({"version": 1, "name": p.name, "manifests": ["../deploy/*.yaml"]}, sort_keys=False)
    )
    ci = run_devloop(applied, "ci", "--timeout", "90s")
    try:
        assert ci.returncode == 0, output(ci)
        running = {
            c.labels.get("devloop.dev/resource"): c.attrs["Config"]["Image"]
            for c in p.containers()
            if c.labels.get("devloop.dev/role") == "app"
        }
        assert running == pinned
    finally:
        run_devloop(applied, "down")


def test_a_failing_test_stage_writes_nothing(render_project: Project, registry_addr: str) -> None:
    p = render_project
    write(p)
    out = p.root / "deploy"
    assert run_devloop(p.root, "render", "--no-push", "-o", str(out)).returncode == 0
    before = {f.name: f.read_text() for f in out.iterdir()}

    write(p, test_cmd="echo 'the tests fail'; exit 3")
    (p.root / "web" / "www" / "index.html").write_text("changed\n")
    failed = run_devloop(p.root, "render", "--no-push", "-o", str(out))
    assert failed.returncode == 1, output(failed)
    assert "the tests fail" in failed.stderr
    assert {f.name: f.read_text() for f in out.iterdir()} == before  # untouched
    fresh = run_devloop(p.root, "render", "--no-push", "-o", str(p.root / "new"))
    assert fresh.returncode == 1 and not (p.root / "new").exists()
    assert sorted(f.name for f in p.root.iterdir() if f.name.startswith(".")) == []  # no staging folder left
    streamed = run_devloop(p.root, "render", "--no-push")
    assert streamed.returncode == 1 and streamed.stdout == ""


def test_render_without_a_registry_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "index.html").write_text("hi\n")
    workload = "workloads:\n  web: {type: web, build: web, port: 8080}\n"
    (tmp_path / "devloop.yaml").write_text("version: 1\nname: shop\n" + workload)
    result = run_devloop(tmp_path, "render")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "devloop: render pushes the built images to a registry, and none is set: pass --registry HOST[:PORT], "
        "set kubernetes.registry in devloop.yaml, or pass --no-push to pin the local content tags instead."
    )


def test_a_failing_push_writes_nothing(render_project: Project) -> None:
    p = render_project
    write(p)
    out = p.root / "deploy"
    closed = f"127.0.0.1:{free_port()}"  # nothing listens there
    result = run_devloop(p.root, "render", "--registry", closed, "-o", str(out))
    assert result.returncode == 1, output(result)
    assert f"to registry {closed} failed" in result.stderr
    assert not out.exists()


@pytest.mark.skipif(shutil.which("kustomize") is None and shutil.which("kubectl") is None, reason="no kustomize")
def test_render_includes_kustomize_output_as_written(tmp_path: Path) -> None:
    base = tmp_path / "deploy"
    base.mkdir()
    cache = configmap("cache-config", {"maxmemory": "64mb"})
    cache["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "kustomize"}
    (base / "cache.yaml").write_text(yaml.safe_dump_all([deployment("cache", [container("cache", "redis:7")]), cache]))
    (base / "kustomization.yaml").write_text("resources: [cache.yaml]\nnamePrefix: shop-\n")
    (tmp_path / "devloop.yaml").write_text("version: 1\nname: shop\nmanifests: [{kustomize: deploy}]\n")
    first = run_devloop(tmp_path, "render", "--no-push")
    assert first.returncode == 0, output(first)
    docs = [d for d in yaml.safe_load_all(first.stdout) if d]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in docs) == [
        ("ConfigMap", "shop-cache-config"),
        ("Deployment", "shop-cache"),
    ]
    labels = {d["metadata"]["name"]: d["metadata"].get("labels") for d in docs}
    assert labels["shop-cache-config"] == {"app.kubernetes.io/managed-by": "kustomize"}  # as written, not devloop's
    assert "devloop.dev/" not in first.stdout
    assert run_devloop(tmp_path, "render", "--no-push").stdout == first.stdout
