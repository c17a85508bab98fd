"""Wires the real parts together for `up` and `ci`: project, target, builder, watcher, engine.

The commands stay thin: they parse options, call :func:`open_session`, run the engine and
print. Tests can build an :class:`~devloop.engine.loop.Engine` with other parts directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devloop.config.model import ImageSpec, Project
from devloop.context import Environment
from devloop.engine.events import FilesChanged
from devloop.engine.loop import Builder, Engine, EngineOptions
from devloop.engine.sink import Sink
from devloop.targets.base import Target

if TYPE_CHECKING:
    from devloop.engine.ignore import WatchIgnore
    from devloop.targets.resolve import KubeContext


@dataclass
class Session:
    project: Project
    target: Target
    builder: Builder
    config_path: Path


def docker_host(env: Environment) -> str:
    return env.env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def choose_target(env: Environment, project: Project) -> str:
    from devloop.targets.docker import docker_available
    from devloop.targets.resolve import read_kube_context, resolve_target

    choice = env.target_choice(project.config.target)
    kube = None
    if choice in ("auto", "kubernetes"):
        kube = read_kube_context(env.env, env.options.context or project.config.kubernetes.context)
        if choice == "auto" and kube is not None and not _context_allowed(kube, project):
            kube = None  # auto never picks a context that is neither local nor allowed (cli.md)
    answers = choice != "kubernetes" and docker_available(env.env)
    return resolve_target(choice, kube_context=kube, docker_answers=answers, docker_host=docker_host(env))


def make_target(env: Environment, project: Project) -> Target:
    name = choose_target(env, project)
    if name == "docker":
        from devloop.targets.docker import DockerTarget

        return DockerTarget(env=env.env)
    from devloop.targets.kubernetes import KubernetesTarget

    # KubernetesTarget pins the context and refuses (exit 2) one that is neither local nor allowed before
    # anything connects: the constructor only reads the kubeconfig.
    return KubernetesTarget(
        env=env.env, context=env.options.context, namespace=env.options.namespace, config=project.config
    )


def _context_allowed(kube: KubeContext, project: Project) -> bool:
    from devloop.targets.resolve import is_local_context

    return is_local_context(kube) or kube.name in project.config.kubernetes.allow_contexts


def make_builder(env: Environment, project: Project) -> Builder:
    from devloop.build.builder import ImageBuilder

    return ImageBuilder(project.name, env=env.env)


@contextmanager
def open_session(env: Environment) -> Iterator[Session]:
    from devloop.commands.common import load_project
    from devloop.config.loader import find_config

    config_path = find_config(env.options.file, env.cwd)
    project = load_project(env)
    target = make_target(env, project)
    try:
        yield Session(project=project, target=target, builder=make_builder(env, project), config_path=config_path)
    finally:
        target.close()


def config_files(project: Project) -> list[Path]:
    """devloop.yaml and every manifest file or folder it uses (a change to one reloads the config)."""
    from devloop.config.manifests import manifest_paths

    return sorted({project.config.path, *manifest_paths(project.config)})


class IgnoreCache:
    """The watch ignore rules of the current project, rebuilt when the project is reloaded or one of
    the files they were read from (.devloopignore, an image's .dockerignore) changes."""

    def __init__(self) -> None:
        self._key: tuple[object, ...] | None = None
        self._rules: WatchIgnore | None = None

    def rules(self, project: Project) -> WatchIgnore:
        from devloop.config.manifests import manifest_paths
        from devloop.engine.ignore import WatchIgnore

        if self._rules is None or self._key != self._stamp(project, self._rules):
            self._rules = WatchIgnore.from_config(project.config, manifest_paths(project.config))
            self._key = self._stamp(project, self._rules)
        return self._rules

    @staticmethod
    def _stamp(project: Project, rules: WatchIgnore) -> tuple[object, ...]:
        stamps: list[object] = [id(project)]
        for path in sorted(rules.rule_files()):
            try:
                stamps.append(path.stat().st_mtime_ns)
            except OSError:
                stamps.append(None)
        return tuple(stamps)


def build_engine(
    env: Environment,
    session: Session,
    sink: Sink,
    options: EngineOptions,
    *,
    reload: Callable[[], Project] | None = None,
) -> Engine:
    from devloop.engine.watcher import Watcher

    cache = IgnoreCache()

    def watcher_factory(project: Project, post: Callable[[FilesChanged], None]) -> Watcher:
        def ignored(path: Path, is_dir: bool = False) -> bool:
            return cache.rules(engine.project)(path, is_dir)

        return Watcher(
            project.config.root,
            ignored,
            lambda batch: post(FilesChanged(frozenset(batch.changed), frozenset(batch.deleted), batch.overflow)),
            debounce_ms=project.config.watch.debounce_ms,
        )

    def ignored_for_image(path: Path, image: ImageSpec) -> bool:
        return cache.rules(engine.project).ignored_for_image(path, image)

    engine = Engine(
        session.project,
        session.target,
        session.builder,
        sink,
        options,
        watcher_factory=watcher_factory if options.watch else None,
        reload_project=reload,
        ignored_for_image=ignored_for_image,
        config_files=config_files,
    )
    return engine


def names(values: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(values or ())
