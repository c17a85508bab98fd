"""`devloop up`: build, deploy and watch until stopped; stopping leaves the workloads running.

On a terminal it shows the dashboard (`--tui` forces it, `--no-tui` gives plain lines); other shells
reach the running `up` through its control endpoint (`devloop status`, `logs`, `trigger`).
"""

from __future__ import annotations

import sys

from devloop.commands.common import load_project
from devloop.context import Environment
from devloop.engine.logstore import LogSink, LogStore, TeeSink
from devloop.engine.loop import EngineOptions, select_resources
from devloop.engine.sink import PlainSink, Sink
from devloop.errors import EXIT_INTERRUPTED
from devloop.session import build_engine, open_session


def use_dashboard(env: Environment, tui: bool | None) -> bool:
    """--tui/--no-tui win; otherwise the dashboard when stdout is a terminal (and not a dumb one)."""
    if tui is not None:
        return tui
    return env.stdout_isatty and env.env.get("TERM", "") not in ("", "dumb")


def run(env: Environment, *, resources: tuple[str, ...], watch: bool, parallel: int, tui: bool | None = None) -> int:
    from devloop.control.server import serve_control

    with open_session(env) as session:
        project = session.project
        store = LogStore()
        dashboard_on = use_dashboard(env, tui)
        plain = PlainSink(env.stdout)
        plain.set_width([*select_resources(project, resources), "devloop"])
        sink: Sink = TeeSink(LogSink(store)) if dashboard_on else TeeSink(plain, LogSink(store))
        options = EngineOptions(mode="up", watch=watch, parallel=parallel, only=resources)
        engine = build_engine(env, session, sink, options, reload=lambda: load_project(env))
        control = serve_control(project.name, session.config_path, engine, store, env=env.env)
        where = session.target.describe()
        what = "watching for changes" if watch else "not watching (--no-watch)"
        sink.message(f"{project.name} on {where}: {what}; Ctrl-C stops devloop and leaves the workloads running")
        dashboard = None
        try:
            if dashboard_on:
                from rich.console import Console

                from devloop.ui.dashboard import Dashboard

                console = Console(file=env.stdout, no_color=env.no_color or None)
                dashboard = Dashboard(engine.snapshot, store, engine.trigger, engine.stop, console, sys.stdin)
                dashboard.start()
            code = engine.run()
        except KeyboardInterrupt:
            code = EXIT_INTERRUPTED
        finally:
            if dashboard is not None:
                dashboard.stop()
            control.close()
        if code == EXIT_INTERRUPTED:
            env.out("devloop: stopped; the workloads keep running (`devloop down` removes them)")
        elif dashboard_on:
            env.out("devloop: quit; the workloads keep running (`devloop down` removes them)")
        return code
