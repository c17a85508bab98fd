"""`devloop up`: build, deploy and watch until stopped; stopping leaves the workloads running.

On a terminal it shows the dashboard (`--tui` forces it, `--no-tui` gives plain lines); other shells
reach the running `up` through its control endpoint (`devloop status`, `logs`, `trigger`).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TextIO, cast

from devloop.context import Environment
from devloop.engine.logstore import LogSink, LogStore, TeeSink
from devloop.engine.loop import EngineOptions, select_resources
from devloop.engine.sink import PlainSink, Sink
from devloop.exit_status import ExitStatus
from devloop.session import build_engine, open_session

if TYPE_CHECKING:
    from devloop.engine.loop import Engine
    from devloop.ui.dashboard import Dashboard
    from devloop.ui.web.server import WebServer


def use_dashboard(env: Environment, tui: bool | None) -> bool:
    """--tui/--no-tui win; otherwise the dashboard when stdout is a terminal (and not a dumb one)."""
    if tui is not None:
        return tui
    return env.stdout_isatty and env.env.get("TERM", "") not in ("", "dumb")


class _MessageWriter:
    """A text stream whose complete lines become devloop's own messages (``devloop: `` prefix dropped)."""

    def __init__(self, message: Callable[[str], None]) -> None:
        self._message = message
        self._partial = ""

    def write(self, text: str) -> int:
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            if line.strip():
                self._message(line.removeprefix("devloop: "))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class _MessageHandler(logging.Handler):
    """Log records of devloop's loggers as devloop's own messages."""

    def __init__(self, message: Callable[[str], None], level: int) -> None:
        super().__init__(level)
        self._message = message

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
            self._message(f"{record.levelname.lower()}: {text}")
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def stderr_to_dashboard(env: Environment, message: Callable[[str], None]) -> Iterator[None]:
    """While the dashboard owns the terminal, what would be written to stderr across it becomes a devloop
    message in the log pane instead: ``env.err`` lines (the warnings of a reloaded devloop.yaml) and the
    records of the ``devloop`` loggers (warnings such as the watcher's; everything with --verbose). Only when
    stderr is a terminal; stderr redirected elsewhere is left alone. Everything is put back on exit."""
    isatty = getattr(env.stderr, "isatty", None)
    if not (isatty and isatty()):
        yield
        return
    saved = env.stderr
    logger = logging.getLogger("devloop")
    moved = [h for h in logger.handlers if isinstance(h, logging.StreamHandler) and h.stream is saved]
    handler = _MessageHandler(message, logging.DEBUG if moved else logging.WARNING)
    for old in moved:
        logger.removeHandler(old)
    logger.addHandler(handler)
    env.stderr = cast(TextIO, _MessageWriter(message))
    try:
        yield
    finally:
        env.stderr = saved
        logger.removeHandler(handler)
        for old in moved:
            logger.addHandler(old)


def run(
    env: Environment,
    *,
    resources: tuple[str, ...],
    watch: bool,
    parallel: int,
    tui: bool | None = None,
    web_port: int | None = None,
) -> int:
    """``web_port``: where to serve the web UI (the next free port when taken, 0: any); None: no web UI."""
    from devloop.control.server import serve_control

    with open_session(env) as session:
        project = session.project
        store = LogStore()
        dashboard_on = use_dashboard(env, tui)
        plain = PlainSink(env.stdout)
        plain.set_width([*select_resources(project, resources), "devloop"])
        sink: Sink = TeeSink(LogSink(store)) if dashboard_on else TeeSink(plain, LogSink(store))
        options = EngineOptions(mode="up", watch=watch, parallel=parallel, only=resources)
        engine = build_engine(env, session, sink, options, reload=session.reload)
        control = serve_control(project.name, session.config_path, engine, store, env=env.env)
        try:
            web = _start_web(web_port, engine, store, sink)
        except BaseException:
            control.close()
            raise
        if web is not None:
            control.web_url = web.url
        where = session.target.describe()
        what = "watching for changes" if watch else "not watching (--no-watch)"
        sink.message(f"{project.name} on {where}: {what}; Ctrl-C stops devloop and leaves the workloads running")
        if web is not None:
            sink.message(f"web UI: {web.url}")
            if dashboard_on:  # also on the terminal's own screen, which the dashboard's alternate screen hides
                env.out(f"devloop: web UI: {web.url}")
        dashboard = None
        with contextlib.ExitStack() as diverted:
            try:
                if dashboard_on:
                    dashboard = _start_dashboard(env, engine, store, web.url if web is not None else "")
                    diverted.enter_context(stderr_to_dashboard(env, sink.message))
                code = engine.run()
            except KeyboardInterrupt:
                code = ExitStatus.INTERRUPTED
            finally:
                try:
                    if dashboard is not None:
                        dashboard.stop()  # may fail on a terminal that hung up: the endpoints close anyway
                finally:
                    if web is not None:
                        web.close()
                    control.close()
        _say_how_it_ended(env, code, dashboard_on, dashboard)
        return code


def _start_web(web_port: int | None, engine: Engine, store: LogStore, sink: Sink) -> WebServer | None:
    """The web UI on ``web_port`` (None: not wanted); it is an extra, so when it cannot start the sink says
    why and devloop goes on without it."""
    if web_port is None:
        return None
    from devloop.ui.web.server import WebError, serve_web

    try:
        return serve_web(engine.snapshot, store, engine.trigger, port=web_port)
    except WebError as exc:
        sink.message(f"warning: {exc}")
        return None


def _start_dashboard(env: Environment, engine: Engine, store: LogStore, web_url: str) -> Dashboard:
    from rich.console import Console

    from devloop.ui.dashboard import Dashboard

    console = Console(file=env.stdout, no_color=env.no_color or None)
    dashboard = Dashboard(engine.snapshot, store, engine.trigger, engine.stop, console, sys.stdin, web_url=web_url)
    dashboard.start()
    return dashboard


def _say_how_it_ended(env: Environment, code: int, dashboard_on: bool, dashboard: Dashboard | None) -> None:
    """The dashboard's swallowed errors, if any, then that the workloads keep running."""
    if dashboard is not None and dashboard.errors:  # swallowed so that devloop kept running: say so now
        error = dashboard.errors[0]
        env.err(
            f"devloop: the dashboard failed to draw or read a key {len(dashboard.errors)} time(s), first: "
            f"{type(error).__name__}: {error}; `devloop up --no-tui` prints plain lines. Please report it."
        )
    if code == ExitStatus.INTERRUPTED:
        env.out("devloop: stopped; the workloads keep running (`devloop down` removes them)")
    elif dashboard_on:
        env.out("devloop: quit; the workloads keep running (`devloop down` removes them)")
