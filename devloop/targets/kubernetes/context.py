"""The pinned Kubernetes context: resolved once, checked for safety before any connection, frozen.

* :func:`pin_context` reads the kubeconfig files (:mod:`devloop.targets.kubeconfig`),
  picks the context (``--context``, else ``kubernetes.context``, else current-context) and refuses a
  context that is neither local nor in ``kubernetes.allow_contexts`` (:class:`ContextRefusedError`,
  exit 2). Nothing here opens a connection.
* :class:`FrozenKubeconfig` writes a kubeconfig holding only that context (as current-context), with
  relative file references made absolute, to a private temp file removed on :meth:`close`. The
  kubernetes client and every subprocess devloop runs (kind, k3d, helm, kustomize) use it, so a
  ``kubectl config use-context`` elsewhere cannot redirect a running devloop.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devloop.errors import TargetUnavailableError
from devloop.exit_status import ExitStatus
from devloop.targets.kubeconfig import KubeContext, check_context_allowed, kubeconfig_paths, read_kubeconfig


@dataclass(frozen=True)
class PinnedContext:
    name: str
    server: str
    namespace: str | None  # the context's namespace, when it has one
    cluster: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    user: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    cluster_name: str = ""
    user_name: str = ""

    @property
    def kube_context(self) -> KubeContext:
        return KubeContext(self.name, self.server, self.namespace)


def pin_context(env: Mapping[str, str], wanted: str | None, allow_contexts: tuple[str, ...]) -> PinnedContext:
    """Resolve the context once and check it is local or allowed. Never connects.

    Raises :class:`TargetUnavailableError` (exit 2) when there is no such context, and
    :class:`~devloop.errors.ContextRefusedError` (exit 2) for a context that is not allowed.
    """
    current, contexts, clusters, users = read_kubeconfig(env)
    name = wanted or current
    where = os.pathsep.join(str(p) for p in kubeconfig_paths(env))
    if not name:
        raise TargetUnavailableError(
            f"no Kubernetes context to deploy to: the kubeconfig ({where}) has no current-context; "
            "pass --context, set kubernetes.context in devloop.yaml, or use --target docker.",
            exit_code=ExitStatus.USAGE,
        )
    if name not in contexts:
        known = ", ".join(sorted(contexts)) or "none"
        raise TargetUnavailableError(
            f"Kubernetes context `{name}` is not in the kubeconfig ({where}; contexts: {known}); "
            "pick one of those with --context or kubernetes.context.",
            exit_code=ExitStatus.USAGE,
        )
    ctx = contexts[name]
    cluster_name = str(ctx.get("cluster") or "")
    user_name = str(ctx.get("user") or "")
    cluster = clusters.get(cluster_name) or {}
    namespace = ctx.get("namespace")
    pinned = PinnedContext(
        name=name,
        server=str(cluster.get("server", "")),
        namespace=str(namespace) if namespace else None,
        cluster=dict(cluster),
        user=dict(users.get(user_name) or {}),
        cluster_name=cluster_name,
        user_name=user_name,
    )
    check_context_allowed(pinned.kube_context, allow_contexts)
    return pinned


def choose_namespace(cli: str | None, configured: str | None, context: PinnedContext | None) -> str:
    """``--namespace``, else ``kubernetes.namespace``, else the context's namespace, else "default"."""
    return cli or configured or (context.namespace if context else None) or "default"


def frozen_kubeconfig_data(ctx: PinnedContext, namespace: str | None = None) -> dict[str, Any]:
    cluster = ctx.cluster_name or ctx.name
    user = ctx.user_name or ctx.name
    context: dict[str, Any] = {"cluster": cluster, "user": user}
    if namespace or ctx.namespace:
        context["namespace"] = namespace or ctx.namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": ctx.name,
        "contexts": [{"name": ctx.name, "context": context}],
        "clusters": [{"name": cluster, "cluster": ctx.cluster}],
        "users": [{"name": user, "user": ctx.user}],
    }


class FrozenKubeconfig:
    """A private kubeconfig file with only the pinned context; removed on :meth:`close`."""

    def __init__(self, ctx: PinnedContext, namespace: str | None = None) -> None:
        import yaml

        self.context = ctx
        fd, name = tempfile.mkstemp(prefix="devloop-kubeconfig-", suffix=".yaml")
        self.path = Path(name)
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(frozen_kubeconfig_data(ctx, namespace), fh, sort_keys=False)
        os.chmod(self.path, 0o600)

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` with KUBECONFIG pointing at the frozen file (for kind, k3d, helm, kustomize)."""
        out = dict(base)
        out["KUBECONFIG"] = str(self.path)
        return out

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


__all__ = ["FrozenKubeconfig", "PinnedContext", "choose_namespace", "pin_context"]
