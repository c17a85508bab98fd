"""Target resolution (cli.md, "Target resolution"): pure decision plus the cheap probes it needs."""

from __future__ import annotations

from typing import Literal

from devloop.errors import TargetUnavailableError, UsageError
from devloop.exit_status import ExitStatus
from devloop.targets.kubeconfig import KubeContext

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
    from devloop.dockerengine import unreachable

    return unreachable(docker_host)
