"""Wires the real parts together for `up` and `ci`: project, target, builder, watcher, engine.

The commands stay thin: they parse options, call :func:`open_session`, run the engine and
print. Tests can build an :class:`~devloop.engine.loop.Engine` with other parts directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devloop.config.model import Config, ImageSpec, Project
from devloop.context import Environment
from devloop.engine.events import FilesChanged
from devloop.engine.loop import Builder, Engine, EngineOptions
from devloop.engine.sink import Sink
from devloop.targets.base import Target

if TYPE_CHECKING:
    from devloop.engine.ignore import WatchIgnore
    from devloop.plan import TargetPreview


@dataclass
class Session:
    project: Project
    target: Target
    builder: Builder
    config_path: Path
    env: Environment | None = None
    #: the target's namespace (kubernetes: --namespace, kubernetes.namespace or the context's): helm renders for it
    namespace: str | None = None

    def reload(self) -> Project:
        """Load the project again (devloop.yaml or a manifest changed), for the same namespace."""
        from devloop.config.project import project_for_env

        assert self.env is not None
        return project_for_env(self.env, namespace=self.namespace)


def docker_host(env: Environment) -> str:
    from devloop.dockerengine import engine_address

    return engine_address(env.env)


def _config(project: Project | Config) -> Config:
    return project.config if isinstance(project, Project) else project


def choose_target(env: Environment, project: Project | Config) -> str:
    from devloop.dockerengine import docker_available
    from devloop.targets.kubeconfig import context_allowed, read_kube_context
    from devloop.targets.resolve import resolve_target

    config = _config(project)
    choice = env.target_choice(config.target)
    kube = None
    if choice in ("auto", "kubernetes"):
        kube = read_kube_context(env.env, env.options.context or config.kubernetes.context)
        if choice == "auto" and kube is not None and not context_allowed(kube, config.kubernetes.allow_contexts):
            kube = None  # auto never picks a context that is neither local nor allowed (cli.md)
    answers = choice != "kubernetes" and docker_available(env.env)
    return resolve_target(choice, kube_context=kube, docker_answers=answers, docker_host=docker_host(env))


def preview_target(env: Environment, config: Config) -> TargetPreview:
    """For `plan`: the target `up` and `ci` would use now, and where, or why none is usable. Reads the
    kubeconfig and asks the Docker engine whether it answers; connects to no cluster. A bad target value
    is a usage error (exit 2), as for every command."""
    from devloop.errors import DevloopError, UsageError
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
        return TargetPreview(choice, name, f"the Docker engine at {docker_host(env)}")
    kube = read_kube_context(env.env, env.options.context or config.kubernetes.context)
    return TargetPreview(choice, name, f"context {kube.name}" if kube is not None else "no kubeconfig context")


def make_target(env: Environment, project: Project | Config) -> Target:
    """The target for the project (or its devloop.yaml alone: the manifests are not needed to choose it)."""
    config = _config(project)
    name = choose_target(env, config)
    if name == "docker":
        from devloop.targets.docker import DockerTarget

        return DockerTarget(env=env.env)
    from devloop.targets.kubernetes import KubernetesTarget

    # KubernetesTarget pins the context and refuses (exit 2) one that is neither local nor allowed before
    # anything connects: the constructor only reads the kubeconfig.
    return KubernetesTarget(env=env.env, context=env.options.context, namespace=env.options.namespace, config=config)


def target_namespace(target: Target) -> str | None:
    """The namespace the target deploys objects without one to (kubernetes), or None (docker)."""
    namespace = getattr(target, "namespace", None)
    return namespace if isinstance(namespace, str) else None


def load_with_target(env: Environment) -> tuple[Project, Target]:
    """devloop.yaml, then the target (a kubernetes context is pinned and checked before any connection),
    then the manifests, rendered for the target's namespace (kustomize and helm never reach a cluster). The caller
    closes the target (its frozen kubeconfig is removed then); it is closed here when loading the manifests fails."""
    from devloop.config.project import config_for_env, project_for_env

    config = config_for_env(env)
    target = make_target(env, config)
    try:
        return project_for_env(env, config, namespace=target_namespace(target)), target
    except BaseException:
        target.close()
        raise


def make_builder(env: Environment, project: Project) -> Builder:
    from devloop.build.builder import ImageBuilder

    return ImageBuilder(project.name, env=env.env)


@contextmanager
def open_session(env: Environment) -> Iterator[Session]:
    from devloop.config.loader import find_config

    config_path = find_config(env.options.file, env.cwd)
    project, target = load_with_target(env)
    try:
        yield Session(
            project=project,
            target=target,
            builder=make_builder(env, project),
            config_path=config_path,
            env=env,
            namespace=target_namespace(target),
        )
    finally:
        target.close()


def config_files(project: Project) -> list[Path]:
    """devloop.yaml, .devloopignore and every manifest file or folder it reads (a change to one, or to a file in
    one of the folders, reloads the config)."""
    from devloop.config.manifests import own_files

    return sorted(set(own_files(project.config)))


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

    if reload is not None and session.namespace is not None:
        # reloading renders helm again: for the same namespace as the first load
        reload = session.reload
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

    from devloop.engine.liverecords import DiskRecords, live_dir

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
        records=DiskRecords(live_dir(env.env)),
    )
    return engine
