"""`local:` in devloop.yaml: what the loader accepts, its errors (file:line:col and key path), and the resources
it makes (ordered with cluster resources by depends_on, both ways)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devloop.config.loader import parse_config
from devloop.config.resources import assemble
from devloop.config.workloads import workload_objects
from devloop.errors import ConfigError
from devloop.plan import plan_data, render_plan

WEB = "workloads:\n  api:\n    type: worker\n    image: busybox\n"


def config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "web").mkdir(exist_ok=True)
    path = tmp_path / "devloop.yaml"
    path.write_text(text)
    return path


def test_local_resources_are_loaded_ordered_and_planned(tmp_path: Path) -> None:
    path = config(
        tmp_path,
        "version: 1\nname: shop\n" + WEB + "local:\n"
        "  codegen:\n    cmd: make proto\n    deps: [proto, '*.proto']\n"
        "  frontend:\n    serve: npm run dev\n    dir: web\n    env: {PORT: '5173'}\n"
        "    readiness: {http: 'http://127.0.0.1:5173/'}\n"
        "resources:\n  api:\n    depends_on: [codegen]\n  frontend:\n    depends_on: [api]\n    trigger: manual\n",
    )
    cfg = parse_config(path.read_text(), path)
    (codegen, frontend) = cfg.local
    assert codegen.cmd == "make proto" and codegen.deps == ("proto", "*.proto") and codegen.dir == tmp_path.resolve()
    assert frontend.serve == "npm run dev" and frontend.dir == (tmp_path / "web").resolve()
    assert frontend.env == (("PORT", "5173"),) and frontend.readiness == ("http", "http://127.0.0.1:5173/")
    project = assemble(cfg, workload_objects(cfg))
    assert [r.name for r in project.resources] == ["codegen", "api", "frontend"]
    resource = project.resource("frontend")
    assert resource is not None and resource.kind == "local" and resource.settings.trigger == "manual"
    text = render_plan(project)
    assert "frontend  (local: runs on this machine, devloop.yaml:11)  [manual trigger]" in text
    assert "serve: npm run dev" in text and "readiness: http http://127.0.0.1:5173/" in text
    data = plan_data(project)
    assert data["deploy_order"] == ["codegen", "api", "frontend"]
    assert data["resources"][2]["local"]["dir"] == "web"
    assert data["resources"][0]["local"]["deps"] == ["proto", "*.proto"]


# (text after `version: 1\n`, the start of the message)
BROKEN = [
    ("local:\n  gen:\n    deps: [src]\n", "devloop.yaml:4:5: local.gen: expected `cmd`"),
    ("local:\n  gen:\n    cmd: x\n    sevre: y\n", "devloop.yaml:5:5: local.gen.sevre: expected one of cmd, serve"),
    ("local:\n  gen:\n    cmd: x\n    readiness: {tcp: 80}\n", "devloop.yaml:5:16: local.gen.readiness: applies to"),
    ("local:\n  s:\n    serve: x\n    readiness: {tcp: 0}\n", "devloop.yaml:5:22: local.s.readiness.tcp: expected"),
    ("local:\n  s:\n    serve: x\n    readiness: {http: ftp://x}\n", "devloop.yaml:5:23: local.s.readiness.http:"),
    ("local:\n  s:\n    serve: x\n    readiness: {}\n", "devloop.yaml:5:16: local.s.readiness: expected one of"),
    ("local:\n  s:\n    serve: x\n    dir: nowhere\n", "devloop.yaml:5:10: local.s.dir: expected a folder"),
    ("local:\n  s:\n    cmd: x\n    deps: [../up]\n", "devloop.yaml:5:12: local.s.deps[0]: expected a path inside"),
    ("local:\n  'a b':\n    cmd: x\n", "devloop.yaml:3:3: local.a b: expected a resource name"),
    ("local: [x]\n", "devloop.yaml:2:8: local: expected a mapping"),
]


@pytest.mark.parametrize(("text", "start"), BROKEN)
def test_broken_local_resources_say_where_and_what(tmp_path: Path, text: str, start: str) -> None:
    path = config(tmp_path, "version: 1\n" + text)
    with pytest.raises(ConfigError) as info:
        parse_config(path.read_text(), path)
    assert str(info.value).startswith(start), str(info.value)


def test_a_local_resource_named_like_a_workload_names_both(tmp_path: Path) -> None:
    path = config(tmp_path, "version: 1\n" + WEB + "local:\n  api:\n    cmd: x\n")
    cfg = parse_config(path.read_text(), path)
    with pytest.raises(ConfigError) as info:
        assemble(cfg, workload_objects(cfg))
    message = str(info.value)
    assert message.startswith("devloop.yaml:7:3: local.api: the local resource api has the name of the Deployment api")
    assert "rename one of them" in message


def test_depends_on_may_name_local_resources_and_cycles_through_them_are_errors(tmp_path: Path) -> None:
    path = config(
        tmp_path,
        "version: 1\n" + WEB + "local:\n  gen:\n    cmd: x\n"
        "resources:\n  api:\n    depends_on: [gen]\n  gen:\n    depends_on: [api]\n",
    )
    cfg = parse_config(path.read_text(), path)
    with pytest.raises(ConfigError) as info:
        assemble(cfg, workload_objects(cfg))
    assert "depends_on forms a cycle: " in str(info.value)


def test_render_writes_no_file_for_local_resources(tmp_path: Path) -> None:
    from devloop.render import render_documents

    path = config(tmp_path, "version: 1\n" + WEB + "local:\n  gen:\n    cmd: x\n")
    cfg = parse_config(path.read_text(), path)
    raw = workload_objects(cfg)
    rendered = render_documents(assemble(cfg, raw), raw, {})
    assert [(r.resource, r.file_name) for r in rendered] == [("api", "01-api.yaml")]
