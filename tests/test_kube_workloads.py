"""Workloads and `devloop render` on the kubernetes target: the Kubernetes API double (or the real cluster of
DEVLOOP_TEST_KUBE_CONTEXT), whose pods run as real containers and pull registry images for real.

A project without Kubernetes YAML deploys and gets ready; its rendered output, applied as a project of its own,
runs the very images render pushed (the double always pulls references that name a registry).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.support import docker_env, images
from tests.support.e2e import HANG, get, output, poll, run_devloop
from tests.support.projects import free_port
from tests.test_kube_target import Cluster, KubeProject, cluster, kproject

__all__ = ["cluster", "kproject"]  # fixtures


def write_config(p: KubeProject, root: Path, name: str, **fields: Any) -> None:
    data = {
        "version": 1,
        "name": name,
        "kubernetes": {"context": p.cluster.context, "namespace": p.namespace},
        **fields,
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "devloop.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def pod_images(p: KubeProject, cluster: Cluster) -> dict[str, str]:
    return {c.name: c.image for pod in p.pods() if pod.status.phase == "Running" for c in pod.spec.containers}


def test_workloads_run_on_kubernetes_and_the_rendered_output_runs_the_pushed_images(
    kproject: KubeProject, cluster: Cluster, registry_addr: str
) -> None:
    p = kproject
    images.write_busybox_context(p.root / "web", ["COPY www /www"], {"www/index.html": "v1\n"})
    workloads = {
        "web": {
            "type": "web",
            "build": "web",
            "port": 8080,
            "health": "/",
            "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
        },
        "once": {"type": "job", "image": f"{p.name}/web", "command": "echo the job ran"},
    }
    write_config(p, p.root, p.name, workloads=workloads, resources={"web": {"readiness_timeout": 60}})
    result = p.run("ci", "--timeout", "120")
    assert result.returncode == 0, output(result)
    assert p.deployments() == ["web"]
    assert "the job ran" in p.logs("app.kubernetes.io/name=once")
    (web_pod,) = [pod for pod in p.pods() if pod.metadata.labels.get("app.kubernetes.io/name") == "web"]
    assert web_pod.status.container_statuses[0].ready
    assert p.exec(web_pod.metadata.name, "web", ["cat", "/www/index.html"]) == "v1\n"
    down = p.run("down")
    assert down.returncode == 0, output(down)

    rendered = run_devloop(p.root, "render", "--registry", registry_addr, "-o", str(p.root / "deploy"))
    assert rendered.returncode == 0, output(rendered)
    docs = [d for f in sorted((p.root / "deploy").iterdir()) for d in yaml.safe_load_all(f.read_text()) if d]
    pinned = {
        c["name"]: c["image"]
        for d in docs
        if d["kind"] in ("Deployment", "Job")
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert pinned["web"] == pinned["once"] and pinned["web"].startswith(f"{registry_addr}/{p.name}/web@sha256:")

    applied = p.root / "applied"
    write_config(p, applied, p.name, manifests=["../deploy/*.yaml"], resources={"web": {"readiness_timeout": 60}})
    result = run_devloop(applied, "ci", "--timeout", "120", target="kubernetes", env=cluster.env())
    try:
        assert result.returncode == 0, output(result)
        assert pod_images(p, cluster) == {"web": pinned["web"]}
    finally:
        run_devloop(applied, "down", target="kubernetes", env=cluster.env())


def test_a_python_recipe_workload_live_updates_on_kubernetes(kproject: KubeProject, docker_client: Any) -> None:
    if not docker_client.images.list(name="python:3.12-slim"):
        docker_env.unavailable("the python:3.12-slim stand-in is missing: run scripts/make-python-base-image")
    p = kproject
    port = free_port()
    api = p.root / "api"
    api.mkdir(parents=True)
    (api / "requirements.txt").write_text("")
    server = (
        "import http.server, os\n"
        "MESSAGE = 'one'\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write((MESSAGE + '\\n').encode())\n"
        "http.server.HTTPServer(('0.0.0.0', int(os.environ['PORT'])), H).serve_forever()\n"
    )
    (api / "app.py").write_text(server)
    write_config(
        p,
        p.root,
        p.name,
        workloads={"api": {"type": "web", "build": "api", "port": 8000}},
        resources={"api": {"port_forwards": [f"{port}:8000"], "readiness_timeout": 120}},
    )
    up = p.start("up", "--no-tui")
    up.wait_line(r"^api\s+│ ready", timeout=HANG)
    url = f"http://127.0.0.1:{port}/"
    poll(lambda: get(url) == "one\n", f"{url} to answer one", timeout=60)
    before = len(up.lines)
    (api / "app.py").write_text(server.replace("'one'", "'two'"))
    poll(lambda: get(url) == "two\n", f"{url} to answer two after a save (sync + restart in place)", timeout=60)
    assert not [ln for ln in up.lines[before:] if re.match(r"api\s+│ building", ln)], up.text
    assert up.interrupt() in (0, 130)


def test_a_local_resource_runs_beside_a_cluster_resource_on_kubernetes(kproject: KubeProject) -> None:
    """A local cmd writes the page an image copies (the build waits for it); a local serve starts once the
    workload is ready; `ci` waits for both and stops the serve on its way out."""
    p = kproject
    images.write_busybox_context(p.root / "web", ["COPY www /www"], {"www/index.html": "not generated\n"})
    (p.root / "page.txt").write_text("generated here\n")
    port = free_port()
    server = f"import http.server as h; h.HTTPServer(('127.0.0.1', {port}), h.SimpleHTTPRequestHandler).serve_forever()"
    (p.root / "server.py").write_text(server + "\n")
    import sys

    write_config(
        p,
        p.root,
        p.name,
        workloads={"web": {"type": "worker", "build": "web", "command": ["httpd", "-f", "-p", "8080", "-h", "/www"]}},
        local={
            "codegen": {"cmd": "cp page.txt web/www/index.html", "deps": ["page.txt"]},
            "site": {"serve": f"{sys.executable} server.py", "readiness": {"tcp": port}},
        },
        resources={"web": {"depends_on": ["codegen"], "readiness_timeout": 60}, "site": {"depends_on": ["web"]}},
    )
    result = p.run("ci", "--timeout", "120")
    assert result.returncode == 0, output(result)
    for name in ("codegen", "web", "site"):
        assert re.search(rf"^\s+{name}\s+ready", result.stdout, re.M), output(result)
    (pod,) = [pod for pod in p.pods() if pod.metadata.labels.get("app.kubernetes.io/name") == "web"]
    assert (p.root / "web" / "www" / "index.html").read_text() == "generated here\n"
    assert pod.status.phase == "Running"
    assert get(f"http://127.0.0.1:{port}/page.txt") is None, "the serve stops with ci"
