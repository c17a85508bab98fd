"""kustomize and helm run with a kubeconfig frozen to the pinned context (cli.md: "Subprocesses devloop runs
(helm, kustomize, kind, k3d) get a kubeconfig frozen to that context"), against the Kubernetes API double.

Stand-in `helm` and `kustomize` scripts (neither is installed here) record the KUBECONFIG they were given and a copy
of that file, and print one ConfigMap each. The user's KUBECONFIG names two files: the double's and one with
another context, current in neither; devloop.yaml pins the double's context.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.e2e import output, run_devloop

OTHER = {
    "apiVersion": "v1",
    "kind": "Config",
    "current-context": "prod",
    "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod"}}],
    "clusters": [{"name": "prod", "cluster": {"server": "https://prod.example.com:6443"}}],
    "users": [{"name": "prod", "user": {"token": "not-a-real-token"}}],
}


def _configmap(name: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})


@dataclass
class ToolsProject:
    root: Path
    record: Path
    env: dict[str, str]
    kubeconfig: str  # the user's KUBECONFIG (two files)
    double: Any


def _stand_in(bin_dir: Path, tool: str, record: Path, rendered: str) -> None:
    """A `tool` that writes $KUBECONFIG's path to record/<tool>.path and its content to record/<tool>.yaml."""
    out = record / f"{tool}.out"
    out.write_text(rendered)
    script = bin_dir / tool
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s" "$KUBECONFIG" > {record}/{tool}.path\n'
        f'if [ -f "$KUBECONFIG" ]; then cat "$KUBECONFIG" > {record}/{tool}.yaml; fi\n'
        f"cat {out}\n"
    )
    script.chmod(0o755)


@pytest.fixture
def tools_project(tmp_path: Path, unique_name: str, kube_double: Any) -> Iterator[ToolsProject]:
    bin_dir, record, root = tmp_path / "bin", tmp_path / "record", tmp_path / unique_name
    for folder in (bin_dir, record, root / "chart", root / "overlay"):
        folder.mkdir(parents=True)
    (root / "overlay" / "kustomization.yaml").write_text("resources: []\n")
    (root / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: chart\nversion: 0.1.0\n")
    _stand_in(bin_dir, "helm", record, _configmap("from-helm"))
    _stand_in(bin_dir, "kustomize", record, _configmap("from-kustomize"))
    config = {
        "version": 1,
        "name": unique_name,
        "kubernetes": {"context": kube_double.context, "namespace": unique_name},
        "manifests": [{"kustomize": "overlay"}, {"helm": {"chart": "chart", "release": "r"}}],
    }
    (root / "devloop.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    other = tmp_path / "other-kubeconfig.yaml"
    other.write_text(yaml.safe_dump(OTHER))
    kubeconfig = os.pathsep.join([str(other), str(kube_double.kubeconfig_path)])
    env = {"KUBECONFIG": kubeconfig, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    yield ToolsProject(root, record, env, kubeconfig, kube_double)
    run_devloop(root, "down", "--delete-namespaces", target="kubernetes", env=env)


def test_ci_renders_with_a_kubeconfig_frozen_to_the_pinned_context(tools_project: ToolsProject) -> None:
    from kubernetes import client, config

    p = tools_project
    result = run_devloop(p.root, "ci", target="kubernetes", env=p.env)
    assert result.returncode == 0, output(result)
    for tool in ("kustomize", "helm"):
        path = (p.record / f"{tool}.path").read_text()
        assert path and path != p.kubeconfig and os.pathsep not in path, (tool, path)
        frozen = yaml.safe_load((p.record / f"{tool}.yaml").read_text())
        assert frozen["current-context"] == p.double.context
        assert [c["name"] for c in frozen["contexts"]] == [p.double.context]
        assert len(frozen["clusters"]) == 1 and len(frozen["users"]) == 1
        assert "prod.example.com" not in (p.record / f"{tool}.yaml").read_text()
        assert not Path(path).exists(), f"{tool}'s frozen kubeconfig {path} was left behind"
    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(p.double.kubeconfig_path), context=p.double.context, client_configuration=configuration
    )
    with client.ApiClient(configuration) as api:
        items: list[Any] = client.CoreV1Api(api).list_namespaced_config_map(p.root.name).items
    names = {c.metadata.name for c in items}
    assert {"from-helm", "from-kustomize"} <= names


def test_plan_renders_with_the_users_kubeconfig_and_connects_nowhere(tools_project: ToolsProject) -> None:
    p = tools_project
    result = run_devloop(p.root, "plan", target="kubernetes", env=p.env)
    assert result.returncode == 0, output(result)
    assert (p.record / "helm.path").read_text() == p.kubeconfig
    assert (p.record / "kustomize.path").read_text() == p.kubeconfig
