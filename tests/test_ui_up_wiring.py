"""`devloop up` with the dashboard: what would be written to stderr across the dashboard goes to its log pane.

A warning printed on stderr (a reloaded devloop.yaml's, the watcher's log warnings) would be drawn over the
frame on the terminal, and then erased by the next frame; while the dashboard runs it becomes a devloop
message instead, and everything is put back when it stops.
"""

from __future__ import annotations

import io
import logging

from devloop.commands.up import stderr_to_dashboard
from devloop.context import Environment, GlobalOptions


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_env_err_and_devloop_warnings_become_messages_while_the_dashboard_runs() -> None:
    stderr = Tty()
    env = Environment(stdout=Tty(), stderr=stderr, env={})
    messages: list[str] = []
    logger = logging.getLogger("devloop")
    handlers = list(logger.handlers)
    with stderr_to_dashboard(env, messages.append):
        env.err("devloop: warning: resource web: the docker target ignores these objects: Ingress/web")
        env.stderr.write("a line written in ")
        env.stderr.write("two parts\n")
        logging.getLogger("devloop.engine.watcher").warning("the kernel dropped file events under %s", "/src")
        logging.getLogger("devloop.control").debug("not shown without --verbose")
        try:
            raise OSError("disk full")
        except OSError:
            logging.getLogger("devloop.engine.watcher").exception("the file watcher failed")
    assert messages == [
        "warning: resource web: the docker target ignores these objects: Ingress/web",
        "a line written in two parts",
        "warning: the kernel dropped file events under /src",
        "error: the file watcher failed (OSError: disk full)",
    ]
    assert stderr.getvalue() == ""
    assert env.stderr is stderr and logger.handlers == handlers
    env.err("devloop: quit")
    assert stderr.getvalue() == "devloop: quit\n"


def test_verbose_debug_lines_go_to_the_log_pane_and_come_back_after() -> None:
    stderr = Tty()
    env = Environment(stdout=Tty(), stderr=stderr, env={}, options=GlobalOptions(verbose=True))
    logger = logging.getLogger("devloop")
    verbose = logging.StreamHandler(stderr)
    logger.addHandler(verbose)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    messages: list[str] = []
    try:
        with stderr_to_dashboard(env, messages.append):
            logging.getLogger("devloop.control").debug("control endpoint at %s", "/run/x.sock")
        assert messages == ["debug: control endpoint at /run/x.sock"]
        assert stderr.getvalue() == ""
        logging.getLogger("devloop.control").debug("after")
        assert stderr.getvalue() == "after\n"
    finally:
        logger.removeHandler(verbose)
        logger.setLevel(level)


def test_stderr_that_is_no_terminal_is_left_alone() -> None:
    stderr = io.StringIO()
    env = Environment(stdout=Tty(), stderr=stderr, env={})
    messages: list[str] = []
    with stderr_to_dashboard(env, messages.append):
        env.err("devloop: warning: kept on stderr")
    assert messages == [] and stderr.getvalue() == "devloop: warning: kept on stderr\n"
