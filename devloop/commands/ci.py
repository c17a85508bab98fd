"""`devloop ci`: build and deploy everything once, wait until ready; exit 0 or 1 with a summary."""

from __future__ import annotations

from devloop import interrupts
from devloop.context import Environment
from devloop.engine.loop import EngineOptions, select_resources, summary_lines
from devloop.engine.sink import PlainSink
from devloop.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from devloop.session import build_engine, open_session


def run(env: Environment, *, resources: tuple[str, ...], timeout: float, down: bool, parallel: int) -> int:
    with open_session(env) as session:
        project = session.project
        sink = PlainSink(env.stdout)
        sink.set_width([*select_resources(project, resources), "devloop"])
        options = EngineOptions(
            mode="ci", watch=False, parallel=parallel, only=resources, timeout=timeout, port_forwards=False
        )
        engine = build_engine(env, session, sink, options)
        sink.message(f"{project.name} on {session.target.describe()}: building and deploying once")
        try:
            code = engine.run()
        except KeyboardInterrupt:
            code = EXIT_INTERRUPTED
        snapshot = engine.snapshot()
        verdict = {EXIT_OK: "all resources ready", EXIT_FAILED: "failed"}.get(code, interrupts.describe())
        env.out(f"devloop ci: {verdict}")
        for line in summary_lines(snapshot):
            env.out(f"  {line}")
        if down:
            removed = session.target.down(project.name)
            env.out(f"devloop ci: --down removed {len(removed)} object(s)")
        return code
