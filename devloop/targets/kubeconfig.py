"""Kubeconfig files and the local-context rules (cli.md, docs/kubernetes.md): the one reader of kubeconfig files
and the one check of which contexts devloop may deploy to.

Pure but for reading the files (KUBECONFIG, else ~/.kube/config) as plain YAML: nothing here connects, and the
module is cheap to import (target resolution uses it before any SDK is loaded).
"""

from __future__ import annotations

import copy
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from devloop.errors import ContextRefusedError

LOCAL_CONTEXT_NAMES = ("docker-desktop", "docker-for-desktop", "rancher-desktop", "orbstack", "minikube", "microk8s")
LOCAL_CONTEXT_PREFIXES = ("kind-", "k3d-", "colima")

#: kubeconfig keys whose values are file paths, relative to the kubeconfig file that holds them.
_PATH_KEYS = ("certificate-authority", "client-certificate", "client-key", "tokenFile")


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


def context_allowed(context: KubeContext, allow: tuple[str, ...]) -> bool:
    """Whether devloop may deploy to ``context``: it is local, or named in ``kubernetes.allow_contexts``."""
    return is_local_context(context) or context.name in allow


def check_context_allowed(context: KubeContext, allow: tuple[str, ...]) -> None:
    """Refuse (exit 2) a context that is neither local nor allowed, before any connection."""
    if context_allowed(context, allow):
        return
    raise ContextRefusedError(
        f"refusing to deploy to Kubernetes context `{context.name}` (server {context.server or 'unknown'}): "
        "it is not recognised as a local cluster. If you really mean it, add it to "
        "kubernetes.allow_contexts in devloop.yaml, or pick a local context with --context."
    )


def kubeconfig_paths(env: Mapping[str, str]) -> list[Path]:
    """The kubeconfig files of ``env``: KUBECONFIG's, else ~/.kube/config."""
    paths = [Path(p) for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    if not paths:
        paths = [Path(env.get("HOME", str(Path.home()))) / ".kube" / "config"]
    return paths


def _absolute(entry: dict[str, Any], base: Path) -> dict[str, Any]:
    entry = copy.deepcopy(entry)
    for key in _PATH_KEYS:
        value = entry.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            entry[key] = str((base / value).resolve())
    exec_cfg = entry.get("exec")
    if isinstance(exec_cfg, dict):
        command = exec_cfg.get("command")
        if isinstance(command, str) and ("/" in command) and not os.path.isabs(command):
            exec_cfg["command"] = str((base / command).resolve())
    return entry


def read_kubeconfig(
    env: Mapping[str, str],
) -> tuple[str | None, dict[str, dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """(current-context, contexts, clusters, users) merged from the kubeconfig files (first one wins); relative
    file references of clusters and users are made absolute. Unreadable or malformed files are skipped."""
    import yaml

    current: str | None = None
    contexts: dict[str, dict[str, Any]] = {}
    clusters: dict[str, Any] = {}
    users: dict[str, Any] = {}
    for path in kubeconfig_paths(env):
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(data, dict):
            continue
        current = current or data.get("current-context") or None
        base = path.parent
        for section, store, inner in (
            ("contexts", contexts, "context"),
            ("clusters", clusters, "cluster"),
            ("users", users, "user"),
        ):
            for item in data.get(section) or []:
                if isinstance(item, dict) and isinstance(item.get(inner), dict) and item.get("name") is not None:
                    value = item[inner] if section == "contexts" else _absolute(item[inner], base)
                    store.setdefault(str(item["name"]), value)
    return current, contexts, clusters, users


def read_kube_context(env: Mapping[str, str], wanted: str | None) -> KubeContext | None:
    """The kubeconfig context devloop would use (wanted, else current-context), or None when there is none."""
    current, contexts, clusters, _users = read_kubeconfig(env)
    name = wanted or current
    if not name or name not in contexts:
        return None
    ctx = contexts[name]
    cluster = clusters.get(str(ctx.get("cluster")), {})
    namespace = ctx.get("namespace")
    return KubeContext(
        name=name, server=str(cluster.get("server", "")), namespace=str(namespace) if namespace else None
    )
