"""A test-only `devloop up` look-alike: the real engine and the real dashboard on a fake target and builder.

``python -m tests.support.dashboard_app DIR`` runs five resources (``api`` and ``worker`` labelled backend,
``web`` labelled frontend, a manual ``docs``, a ``db`` without label); ``worker`` fails to deploy. It wires
things as `up` does: ``LogStore`` + ``LogSink``, ``Dashboard(engine.snapshot, store, engine.trigger,
engine.stop, Console(), sys.stdin)``, started before ``engine.run()`` and stopped after. The exit code is the
engine's (0 after q). Every trigger is also appended to ``DIR/triggers`` so a test can see it arrived.
"""

from __future__ import annotations

import sys
from pathlib import Path

from devloop.build.fake import FakeBuilder
from devloop.config.model import Config, ImageSpec, PortForward, Project, ResourceSettings
from devloop.config.resources import assemble
from devloop.engine.logstore import LogSink, LogStore
from devloop.engine.loop import Engine, EngineOptions
from devloop.targets.fake import FakeTarget
from tests.support.docker_target import simple_deployment as deployment


def make_project(root: Path) -> Project:
    images = tuple(
        ImageSpec(ref=f"shop/{n}", context=root / n, dockerfile=root / n / "Dockerfile") for n in ("api", "web")
    )
    settings = (
        ("api", ResourceSettings(labels=("backend",))),
        ("worker", ResourceSettings(labels=("backend",))),
        ("web", ResourceSettings(labels=("frontend",), port_forwards=(PortForward(local=18080, container=80),))),
        ("docs", ResourceSettings(trigger="manual")),
    )
    config = Config(path=root / "devloop.yaml", name="shop", images=images, resources=settings)
    objects = [
        deployment("db", "postgres"),
        deployment("api", "shop/api"),
        deployment("worker", "shop/api"),
        deployment("web", "shop/web"),
        deployment("docs", "nginx"),
    ]
    return assemble(config, objects)


def main(argv: list[str]) -> int:
    from rich.console import Console

    from devloop.ui.dashboard import Dashboard

    root = Path(argv[0]) if argv else Path.cwd()
    root.mkdir(parents=True, exist_ok=True)
    triggers = root / "triggers"
    store = LogStore()
    target = FakeTarget(fail_apply={"worker": "the Deployment worker was refused: image shop/api has no tag"})
    options = EngineOptions(mode="up", watch=False, poll_interval=0.1)
    builder = FakeBuilder(lines=("Step 1/2 : FROM scratch ({ref} build {count})", "Successfully built {ref}"))
    engine = Engine(make_project(root), target, builder, LogSink(store), options)

    def trigger(name: str) -> None:
        with triggers.open("a") as f:
            f.write(name + "\n")
        engine.trigger(name)

    dashboard = Dashboard(engine.snapshot, store, trigger, engine.stop, Console(), sys.stdin)
    dashboard.start()
    try:
        code = engine.run()
    finally:
        dashboard.stop()
    for error in dashboard.errors:
        print(f"dashboard error: {error!r}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
