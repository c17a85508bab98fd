"""Target resolution (cli.md, "Target resolution"): the pure decision (:func:`resolve_target`), and the choice of a
command with the cheap probes it needs (:func:`choose_target`: the kubeconfig, a ping of the Docker engine; `plan`'s
:func:`preview_target`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from devloop.dockerengine import unreachable
from devloop.errors import TargetUnavailableError, UsageError
from devloop.exit_status import ExitStatus
from devloop.targets.kubeconfig import KubeContext

if TYPE_CHECKING:
    from devloop.config.model import Config
    from devloop.context import Environment
    from devloop.plan import TargetPreview

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
            raise TargetUnavailableError(unreachable(docker_host))
        return "docker"
    if docker_answers:
        return "docker"
    raise TargetUnavailableError(
        "no target available: no usable Kubernetes context and " + unreachable(docker_host),
        exit_code=ExitStatus.USAGE,
    )


def choose_target(env: Environment, config: Config) -> Choice:
    """The target of a command: ``--target``/``DEVLOOP_TARGET``/``target:``, with ``auto`` decided from the
    kubeconfig (a context neither local nor allowed is never picked) and whether the Docker engine answers."""
    from devloop.dockerengine import docker_available, engine_address
    from devloop.targets.kubeconfig import context_allowed, read_kube_context

    choice = env.target_choice(config.target)
    kube = None
    if choice in ("auto", "kubernetes"):
        kube = read_kube_context(env.env, env.options.context or config.kubernetes.context)
        if choice == "auto" and kube is not None and not context_allowed(kube, config.kubernetes.allow_contexts):
            kube = None  # auto never picks a context that is neither local nor allowed (cli.md)
    answers = choice != "kubernetes" and docker_available(env.env)
    return resolve_target(choice, kube_context=kube, docker_answers=answers, docker_host=engine_address(env.env))


def preview_target(env: Environment, config: Config) -> TargetPreview:
    """For `plan`: the target `up` and `ci` would use now, and where, or why none is usable. Reads the
    kubeconfig and asks the Docker engine whether it answers; connects to no cluster. A bad target value
    is a usage error (exit 2), as for every command."""
    from devloop.dockerengine import engine_address
    from devloop.errors import DevloopError
    from devloop.plan import TargetPreview
    from devloop.targets.kubeconfig import read_kube_context

    choice = env.target_choice(config.target)
    try:
        name = choose_target(env, config)
    except UsageError:
        raise
    except DevloopError as exc:
        return TargetPreview(choice, None, str(exc).rstrip("."))
    if name == "docker":
        return TargetPreview(choice, name, f"the Docker engine at {engine_address(env.env)}")
    kube = read_kube_context(env.env, env.options.context or config.kubernetes.context)
    return TargetPreview(choice, name, f"context {kube.name}" if kube is not None else "no kubeconfig context")
