"""Target resolution (cli.md, "Target resolution"): pure decision plus the cheap probes it needs."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from devloop.errors import ContextRefusedError, TargetUnavailableError, UsageError
from devloop.exit_status import ExitStatus

LOCAL_CONTEXT_NAMES = ("docker-desktop", "docker-for-desktop", "rancher-desktop", "orbstack", "minikube", "microk8s")
LOCAL_CONTEXT_PREFIXES = ("kind-", "k3d-", "colima")


@dataclass(frozen=True)
class KubeContext:
    name: str
    server: str
    namespace: str | None = None


def is_local_context(context: KubeContext) -> bool:
    """Contexts recognised as local by name, or whose API server is on a loopback address."""
    name = context.name
    if name in LOCAL_CONTEXT_NAMES or name.startswith(LOCAL_CONTEXT_PREFIXES):
        return True
    host = urlparse(context.server).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_context_allowed(context: KubeContext, allow: tuple[str, ...]) -> None:
    """Refuse (exit 2) a context that is neither local nor allowed, before any connection."""
    if is_local_context(context) or context.name in allow:
        return
    raise ContextRefusedError(
        f"refusing to deploy to Kubernetes context `{context.name}` (server {context.server or 'unknown'}): "
        "it is not recognised as a local cluster. If you really mean it, add it to "
        "kubernetes.allow_contexts in devloop.yaml, or pick a local context with --context."
    )


def read_kube_context(env: Mapping[str, str], wanted: str | None) -> KubeContext | None:
    """The kubeconfig context devloop would use (wanted, else current-context), or None.

    Reads the kubeconfig files named by KUBECONFIG (else ~/.kube/config) as plain YAML;
    never connects to anything.
    """
    import yaml

    paths = [p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    if not paths:
        paths = [str(Path(env.get("HOME", str(Path.home()))) / ".kube" / "config")]
    contexts: dict[str, dict[str, object]] = {}
    clusters: dict[str, dict[str, object]] = {}
    current: str | None = None
    for path in paths:
        try:
            data = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(data, dict):
            continue
        current = current or data.get("current-context") or None
        for item in data.get("contexts") or []:
            if isinstance(item, dict) and isinstance(item.get("context"), dict):
                contexts.setdefault(str(item.get("name")), item["context"])
        for item in data.get("clusters") or []:
            if isinstance(item, dict) and isinstance(item.get("cluster"), dict):
                clusters.setdefault(str(item.get("name")), item["cluster"])
    name = wanted or current
    if not name or name not in contexts:
        return None
    ctx = contexts[name]
    cluster = clusters.get(str(ctx.get("cluster")), {})
    namespace = ctx.get("namespace")
    return KubeContext(
        name=name, server=str(cluster.get("server", "")), namespace=str(namespace) if namespace else None
    )


Choice = Literal["kubernetes", "docker"]


def resolve_target(
    choice: str,
    *,
    kube_context: KubeContext | None,
    docker_answers: bool,
    docker_host: str,
) -> Choice:
    """auto: kubernetes when a context is usable, else docker
    when the engine answers, else exit 2 saying how to get either."""
    if choice not in ("auto", "kubernetes", "docker"):
        raise UsageError(f"unknown target `{choice}`: expected auto, kubernetes or docker.")
    if choice == "kubernetes" or (choice == "auto" and kube_context is not None):
        return "kubernetes"
    if choice == "docker":
        if not docker_answers:
            raise TargetUnavailableError(docker_unreachable(docker_host))
        return "docker"
    if docker_answers:
        return "docker"
    raise TargetUnavailableError(
        "no target available: no usable Kubernetes context and " + docker_unreachable(docker_host),
        exit_code=ExitStatus.USAGE,
    )


def docker_unreachable(docker_host: str) -> str:
    from devloop.build.docker_client import unreachable

    return unreachable(docker_host)
