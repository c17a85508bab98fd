"""`devloop up`: build, deploy and watch until stopped; stopping leaves the workloads running."""

from __future__ import annotations

from devloop.commands.common import load_project
from devloop.context import Environment
from devloop.engine.loop import EngineOptions, select_resources
from devloop.engine.sink import PlainSink
from devloop.errors import EXIT_INTERRUPTED
from devloop.session import build_engine, open_session


def run(env: Environment, *, resources: tuple[str, ...], watch: bool, parallel: int) -> int:
    with open_session(env) as session:
        project = session.project
        sink = PlainSink(env.stdout)
        sink.set_width([*select_resources(project, resources), "devloop"])
        options = EngineOptions(mode="up", watch=watch, parallel=parallel, only=resources)
        engine = build_engine(env, session, sink, options, reload=lambda: load_project(env))
        where = session.target.describe()
        what = "watching for changes" if watch else "not watching (--no-watch)"
        sink.message(f"{project.name} on {where}: {what}; Ctrl-C stops devloop and leaves the workloads running")
        try:
            return engine.run()
        except KeyboardInterrupt:
            sink.message("stopped; the workloads keep running (`devloop down` removes them)")
            return EXIT_INTERRUPTED
