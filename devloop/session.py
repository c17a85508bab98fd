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
    from devloop.engine.watcher import Watcher

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


def make_target(env: Environment, project: Project | Config) -> Target:
    """The target for the project (or its devloop.yaml alone: the manifests are not needed to choose it)."""
    from devloop.targets.resolve import choose_target

    config = project.config if isinstance(project, Project) else project
    name = choose_target(env, config)
    if name == "docker":
        from devloop.targets.docker import DockerTarget

        return DockerTarget(env=env.env)
    from devloop.targets.kubernetes import KubernetesTarget

    # KubernetesTarget pins the context and refuses (exit 2) one that is neither local nor allowed before
    # anything connects: the constructor only reads the kubeconfig.
    return KubernetesTarget(env=env.env, context=env.options.context, namespace=env.options.namespace, config=config)


def load_with_target(env: Environment) -> tuple[Project, Target]:
    """devloop.yaml, then the target (a kubernetes context is pinned and checked before any connection),
    then the manifests, rendered for the target's namespace (kustomize and helm never reach a cluster). The caller
    closes the target (its frozen kubeconfig is removed then); it is closed here when loading the manifests fails."""
    from devloop.config.project import config_for_env, project_for_env

    config = config_for_env(env)
    target = make_target(env, config)
    try:
        return project_for_env(env, config, namespace=target.namespace), target
    except BaseException:
        target.close()
        raise


def make_builder(env: Environment, project: Project) -> Builder:
    from devloop.build.builder import ImageBuilder

    builder = ImageBuilder(project.name, env=env.env)
    builder.warm_up()
    return builder


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
            namespace=target.namespace,
        )
    finally:
        target.close()


def config_files(project: Project) -> list[Path]:
    """devloop.yaml, .devloopignore and every manifest file or folder it reads (a change to one, or to a file in
    one of the folders, reloads the config)."""
    from devloop.config.manifests import own_files

    return sorted(set(own_files(project.config)))


def build_engine(
    env: Environment,
    session: Session,
    sink: Sink,
    options: EngineOptions,
    *,
    reload: Callable[[], Project] | None = None,
) -> Engine:
    from devloop.engine.ignore import IgnoreCache

    if reload is not None and session.namespace is not None:
        # reloading renders helm again: for the same namespace as the first load
        reload = session.reload
    cache = IgnoreCache()

    def watcher_factory(project: Project, post: Callable[[FilesChanged], None]) -> Watcher:
        from devloop.engine.watcher import Watcher  # watchdog: only `up` watches

        def ignored(path: Path, is_dir: bool = False) -> bool:
            return cache.rules(engine.project)(path, is_dir)

        # the watcher posts its batches as they are (events.FileBatch), timed by the engine's clock
        return Watcher(
            project.config.root, ignored, post, debounce_ms=project.config.watch.debounce_ms, clock=engine.clock
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
