"""Image delivery to a cluster (cli.md, "Kubernetes safety and image delivery").

:func:`decide_delivery` is the pure decision, in cli.md's order:

1. the cluster shares the local Docker engine (docker-desktop, orbstack, rancher-desktop with moby,
   minikube with its docker-env in use) -> nothing to do;
2. a registry configured (``kubernetes.registry``) or advertised by the cluster's
   ``local-registry-hosting`` ConfigMap in ``kube-public`` (KEP-1755) -> tag and push there (skipped
   when the registry already has the tag), deploy ``hostFromContainerRuntime`` when it is given;
3. kind -> ``kind load docker-image --name <cluster>``;
4. k3d -> ``k3d image import -c <cluster>``;
5. minikube without its docker-env -> ``minikube image load -p <profile>`` (as Skaffold and Tilt do);
6. else exit 2 asking for ``kubernetes.registry``.

:class:`Deliverer` carries the decision out with the docker SDK and the kind/k3d CLIs.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from devloop.errors import ConfigError, DeployError, ToolMissingError

Method = Literal["shared", "registry", "kind", "k3d", "minikube", "none"]

SHARED_ENGINE_CONTEXTS = ("docker-desktop", "docker-for-desktop", "orbstack", "rancher-desktop")
KEP_1755_KEY = "localRegistryHosting.v1"


@dataclass(frozen=True)
class RegistryHosting:
    host: str
    host_from_container_runtime: str | None = None
    help: str = ""


@dataclass(frozen=True)
class Delivery:
    method: Method
    registry: str = ""  # push here (registry method)
    deploy_registry: str = ""  # reference images through this host in manifests
    cluster: str = ""  # kind / k3d cluster name
    why: str = ""

    def describe(self) -> str:
        if self.method == "shared":
            return "images are used from the shared Docker engine"
        if self.method == "registry":
            via = f" (deployed as {self.deploy_registry})" if self.deploy_registry != self.registry else ""
            return f"images are pushed to {self.registry}{via}"
        if self.method == "kind":
            return f"images are loaded into kind cluster {self.cluster}"
        if self.method == "k3d":
            return f"images are imported into k3d cluster {self.cluster}"
        if self.method == "minikube":
            return f"images are loaded into minikube profile {self.cluster}"
        return "no way to deliver images"


def parse_registry_hosting(data: Mapping[str, Any] | None) -> RegistryHosting | None:
    """The KEP-1755 ``localRegistryHosting.v1`` entry of the ConfigMap's data, or None."""
    import yaml

    if not data:
        return None
    raw = data.get(KEP_1755_KEY)
    if not isinstance(raw, str):
        return None
    try:
        parsed = yaml.safe_load(raw)
    except yaml.YAMLError:
        return None
    if not isinstance(parsed, dict) or not parsed.get("host"):
        return None
    runtime = parsed.get("hostFromContainerRuntime")
    return RegistryHosting(
        host=str(parsed["host"]),
        host_from_container_runtime=str(runtime) if runtime else None,
        help=str(parsed.get("help") or ""),
    )


def is_minikube(context: str) -> bool:
    return context == "minikube" or context.startswith("minikube")


def shares_engine(context: str, env: Mapping[str, str]) -> bool:
    """Whether the cluster of ``context`` runs its pods on the Docker engine devloop builds with."""
    docker_host = env.get("DOCKER_HOST", "")
    if is_minikube(context):
        # `eval $(minikube docker-env)` sets these; only then does the build land in minikube's engine
        return env.get("MINIKUBE_ACTIVE_DOCKERD", "") == context and bool(docker_host)
    if context == "rancher-desktop":
        # moby mode exposes its engine at ~/.rd/docker.sock (or the default socket); containerd mode has none
        return not docker_host or ".rd/" in docker_host or docker_host.endswith("docker.sock")
    if context in SHARED_ENGINE_CONTEXTS:
        return not docker_host or docker_host.startswith("unix://") or docker_host.startswith("npipe://")
    return False


def decide_delivery(
    context: str,
    *,
    env: Mapping[str, str],
    configured_registry: str | None,
    hosting: RegistryHosting | None,
    has_kind: bool = True,
    has_k3d: bool = True,
) -> Delivery:
    """Pure: how built images reach the cluster of ``context`` (see the module docstring)."""
    if shares_engine(context, env):
        return Delivery("shared", why=f"context {context} shares the local Docker engine")
    if configured_registry:
        return Delivery(
            "registry", configured_registry, configured_registry, why="kubernetes.registry is set in devloop.yaml"
        )
    if hosting is not None:
        return Delivery(
            "registry",
            hosting.host,
            hosting.host_from_container_runtime or hosting.host,
            why="the cluster advertises a registry (kube-public/local-registry-hosting)",
        )
    if context.startswith("kind-"):
        return Delivery("kind", cluster=context[len("kind-") :], why="kind cluster")
    if context.startswith("k3d-"):
        return Delivery("k3d", cluster=context[len("k3d-") :], why="k3d cluster")
    if is_minikube(context):  # the context is named after the profile
        return Delivery("minikube", cluster=context, why="minikube cluster without its docker-env")
    return Delivery("none", why=f"context {context}")


def no_delivery_error(context: str) -> ConfigError:
    return ConfigError(
        f"devloop cannot tell how built images reach the cluster of context `{context}`: it does not share the "
        "local Docker engine, advertises no registry (kube-public/local-registry-hosting) and is neither kind nor "
        "k3d; set kubernetes.registry in devloop.yaml to a registry the cluster can pull from (e.g. localhost:5001)."
    )


def split_reference(reference: str) -> tuple[str, str]:
    """(repository, tag) of ``name:tag``; the tag defaults to latest."""
    name = reference.split("@", 1)[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :]
    return name, "latest"


def _strip_registry(repository: str) -> str:
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return rest
    return repository


def registry_reference(reference: str, registry: str) -> str:
    """``shop/api:tag`` pushed to ``localhost:5001`` -> ``localhost:5001/shop/api:tag``."""
    repository, tag = split_reference(reference)
    return f"{registry.rstrip('/')}/{_strip_registry(repository)}:{tag}"


def registry_has(registry: str, repository: str, tag: str, timeout: float = 3.0) -> bool:
    """Whether the registry already serves ``repository:tag`` (HEAD /v2/<name>/manifests/<tag>)."""
    return registry_digest(registry, repository, tag, timeout) is not None


def registry_digest(registry: str, repository: str, tag: str, timeout: float = 3.0) -> str | None:
    """The digest (``sha256:...``) under which the registry serves ``repository:tag``, or None when it does not
    (HEAD /v2/<name>/manifests/<tag>, its Docker-Content-Digest header; ``""`` when it serves no such header)."""
    accept = ", ".join(
        [
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.index.v1+json",
        ]
    )
    for scheme in ("http", "https"):
        request = urllib.request.Request(
            f"{scheme}://{registry}/v2/{repository}/manifests/{tag}", method="HEAD", headers={"Accept": accept}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if not 200 <= response.status < 300:
                    return None
                return str(response.headers.get("Docker-Content-Digest") or "")
        except urllib.error.HTTPError:
            return None
        except (urllib.error.URLError, OSError, ValueError):
            continue
    return None


class Deliverer:
    """Carries out a :class:`Delivery` (thread-safe; each reference is delivered once)."""

    def __init__(
        self,
        delivery: Delivery,
        env: Mapping[str, str],
        docker_env: Mapping[str, str],
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        self.delivery = delivery
        self.env = dict(env)  # for subprocesses: KUBECONFIG frozen to the pinned context
        self.docker_env = dict(docker_env)
        self._lock = threading.Lock()
        self._done: dict[str, str] = {}
        self._client: Any = None
        self.on_line = on_line or (lambda line: None)

    def deliver(self, reference: str) -> str:
        with self._lock:
            if reference in self._done:
                return self._done[reference]
        method = self.delivery.method
        if method == "shared":
            deployed = reference
        elif method == "registry":
            deployed = self._push(reference)
        elif method == "kind":
            self._run_tool(["kind", "load", "docker-image", "--name", self.delivery.cluster, reference], reference)
            deployed = reference
        elif method == "k3d":
            self._run_tool(["k3d", "image", "import", "-c", self.delivery.cluster, reference], reference)
            deployed = reference
        elif method == "minikube":
            self._run_tool(["minikube", "image", "load", "-p", self.delivery.cluster, reference], reference)
            deployed = reference
        else:
            raise DeployError("no image delivery method")
        with self._lock:
            self._done[reference] = deployed
        return deployed

    def _docker(self) -> Any:
        from devloop.dockerengine import connect

        if self._client is None:
            self._client = connect(self.docker_env)
        return self._client

    def _push(self, reference: str) -> str:
        import docker.errors

        pushed = registry_reference(reference, self.delivery.registry)
        deployed = registry_reference(reference, self.delivery.deploy_registry)
        repository, tag = split_reference(pushed)
        if registry_has(self.delivery.registry.split("/", 1)[0], _strip_registry(repository), tag):  # host, no path
            return deployed
        client = self._docker()
        try:
            client.api.tag(reference, repository, tag)
            error = ""
            for item in client.api.push(repository, tag, stream=True, decode=True):
                if isinstance(item, dict) and item.get("error"):
                    error = str(item.get("error"))
        except docker.errors.APIError as exc:
            error = str(getattr(exc, "explanation", None) or exc)
        if error:
            raise DeployError(
                f"pushing image {reference} to registry {self.delivery.registry} failed: {error}; check that the "
                "registry runs and that the Docker engine may push to it (insecure-registries for non-localhost)."
            )
        return deployed

    def _run_tool(self, argv: list[str], reference: str) -> None:
        tool = argv[0]
        if shutil.which(tool, path=self.env.get("PATH")) is None:
            hint = ", or run `eval $(minikube docker-env)` before devloop" if tool == "minikube" else ""
            raise ToolMissingError(
                f"`{tool}` is not installed, and devloop needs it to put image {reference} into the {tool} cluster "
                f"{self.delivery.cluster}; install {tool}, or set kubernetes.registry in devloop.yaml{hint}."
            )
        proc = subprocess.run(argv, env=self.env, capture_output=True, text=True, check=False)
        for line in (proc.stdout + proc.stderr).splitlines():
            self.on_line(line)
        if proc.returncode != 0:
            tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            raise DeployError(f"`{' '.join(argv)}` failed with exit code {proc.returncode}: {tail}")

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
