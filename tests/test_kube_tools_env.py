"""Rendering (kustomize, helm) can never reach a cluster: the tools run with an empty kubeconfig (no server, no
credential plugin) and without the in-cluster variables, whatever the command and the target; helm is told the
namespace (--namespace on the command line first). Against the Kubernetes API double.

Stand-in `helm` and `kustomize` scripts (neither is installed here) record the KUBECONFIG they were given, a copy
of that file and their arguments, and print one ConfigMap each. A stand-in `kubectl` behaves like a version
dispatcher (the one gcloud installs): before running `kubectl kustomize` it asks the current context's server for
its version, running the context's credential plugin first; it records what it would contact.
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
        f'printf "%s\\n" "$@" > {record}/{tool}.args\n'
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


def test_ci_renders_for_the_namespace_with_a_kubeconfig_that_reaches_nothing(tools_project: ToolsProject) -> None:
    from kubernetes import client, config

    p = tools_project
    namespace = f"{p.root.name}-cli"
    result = run_devloop(p.root, "ci", "--namespace", namespace, target="kubernetes", env=p.env)
    assert result.returncode == 0, output(result)
    for tool in ("kustomize", "helm"):
        assert (p.record / f"{tool}.path").read_text() == os.devnull, tool
    args = (p.record / "helm.args").read_text().splitlines()
    assert args[args.index("--namespace") + 1] == namespace  # --namespace wins over kubernetes.namespace
    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(p.double.kubeconfig_path), context=p.double.context, client_configuration=configuration
    )
    with client.ApiClient(configuration) as api:
        items: list[Any] = client.CoreV1Api(api).list_namespaced_config_map(namespace).items
    names = {c.metadata.name for c in items}
    assert {"from-helm", "from-kustomize"} <= names
    run_devloop(p.root, "down", "--delete-namespaces", "--namespace", namespace, target="kubernetes", env=p.env)


def test_plan_renders_with_a_kubeconfig_that_reaches_nothing(tools_project: ToolsProject) -> None:
    p = tools_project
    result = run_devloop(p.root, "plan", "--namespace", "elsewhere", target="kubernetes", env=p.env)
    assert result.returncode == 0, output(result)
    assert (p.record / "helm.path").read_text() == os.devnull
    assert (p.record / "kustomize.path").read_text() == os.devnull
    args = (p.record / "helm.args").read_text().splitlines()
    assert args[args.index("--namespace") + 1] == "elsewhere"


DISPATCHER = """#!{python}
# A kubectl version dispatcher: it asks the current context's server for its version first (running the
# context's credential plugin to get a token), then runs the kubectl of that version.
import os, subprocess, sys
from pathlib import Path
import yaml
record = Path({record!r})
paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
paths = paths or [str(Path(os.environ.get("HOME", "/")) / ".kube" / "config")]
current, contexts, clusters, users = None, {{}}, {{}}, {{}}
for path in paths:
    try:
        data = yaml.safe_load(Path(path).read_text()) or {{}}
    except OSError:
        continue
    if not isinstance(data, dict):
        continue
    current = current or data.get("current-context")
    sections = (("contexts", contexts, "context"), ("clusters", clusters, "cluster"), ("users", users, "user"))
    for section, store, inner in sections:
        for item in data.get(section) or []:
            store.setdefault(item["name"], item.get(inner) or {{}})
with record.open("a") as out:
    ctx = contexts.get(current)
    if ctx:
        user = users.get(ctx.get("user")) or {{}}
        if user.get("exec"):
            subprocess.run([user["exec"]["command"], *(user["exec"].get("args") or [])], check=False)
            out.write("ran credential plugin\\n")
        server = (clusters.get(ctx.get("cluster")) or {{}}).get("server")
        if server:
            out.write(f"contacted {{server}}\\n")
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        out.write("contacted the in-cluster server\\n")
    out.write("rendered\\n")
sys.stdout.write({rendered!r})
"""


@pytest.mark.parametrize("target", ["auto", "docker"])
def test_rendering_through_a_dispatching_kubectl_contacts_no_cluster(tmp_path: Path, target: str) -> None:
    """No standalone kustomize: `kubectl kustomize` renders, and the kubectl on PATH is a version dispatcher. The
    user's current context is a remote cluster with a credential plugin; `plan` must reach neither."""
    import sys

    bin_dir, record, root = tmp_path / "bin", tmp_path / "record", tmp_path / "proj"
    for folder in (bin_dir, root / "overlay", tmp_path / "home"):
        folder.mkdir(parents=True)
    (root / "overlay" / "kustomization.yaml").write_text("resources: []\n")
    config = {"version": 1, "name": "render-safety", "manifests": [{"kustomize": "overlay"}]}
    (root / "devloop.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    plugin = bin_dir / "credential-plugin"
    plugin.write_text(f"#!/bin/sh\ntouch {tmp_path}/plugin-ran\necho '{{}}'\n")
    plugin.chmod(0o755)
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(DISPATCHER.format(python=sys.executable, record=str(record), rendered=_configmap("rendered")))
    kubectl.chmod(0o755)
    remote = {
        **OTHER,
        "users": [
            {
                "name": "prod",
                "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin)}},
            }
        ],
    }
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(remote))
    path = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "kustomize").exists())
    env = {
        "KUBECONFIG": str(kubeconfig),
        "HOME": str(tmp_path / "home"),
        "PATH": f"{bin_dir}{os.pathsep}{path}",
        "KUBERNETES_SERVICE_HOST": "10.96.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
    }
    result = run_devloop(root, "plan", target=target, env=env)
    assert result.returncode == 0, output(result)
    assert "rendered" in result.stdout, output(result)  # the ConfigMap the overlay rendered is in the plan
    assert record.read_text() == "rendered\n", record.read_text()
    assert not (tmp_path / "plugin-ran").exists()
