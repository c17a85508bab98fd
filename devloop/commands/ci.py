"""`devloop ci`: build and deploy everything once, wait until ready; exit 0 or 1 with a summary."""

from __future__ import annotations

from devloop import interrupts
from devloop.context import Environment
from devloop.engine.loop import EngineOptions, select_resources, summary_lines
from devloop.engine.sink import PlainSink
from devloop.engine.state import Snapshot, Status
from devloop.exit_status import ExitStatus
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
            try:
                code = engine.run()
            except KeyboardInterrupt:
                code = ExitStatus.INTERRUPTED
            report(env, engine.snapshot(), code, timeout)
        finally:  # also when a signal comes while the summary is printed
            if down:
                removed = session.target.down(project.name)
                env.out(f"devloop ci: --down removed {len(removed)} object(s)")
        return code


def report(env: Environment, snapshot: Snapshot, code: int, timeout: float) -> None:
    """The verdict and the summary on stdout; when it failed, why, on stderr."""
    verdicts: dict[int, str] = {ExitStatus.SUCCESS: "all resources ready", ExitStatus.ERROR: "failed"}
    verdict = verdicts.get(code, interrupts.describe())
    env.out(f"devloop ci: {verdict}")
    for line in summary_lines(snapshot):
        env.out(f"  {line}")
    if code == ExitStatus.ERROR:
        for sentence in failure_sentences(snapshot, timeout):
            env.err(f"devloop: {sentence}")


def failure_sentences(snapshot: Snapshot, timeout: float) -> list[str]:
    """Why `ci` failed, for stderr: one sentence per failed resource, or (nothing failed: the --timeout ran out)
    one naming what was not ready yet."""
    failed = [view for view in snapshot.resources if view.status is Status.FAILED]
    if failed:
        sentences = []
        for v in failed:
            sentence = f"resource {v.name} failed: {(v.reason or 'see its output above').rstrip('.')}."
            if v.kind == "local" and v.last_lines:  # a command's own words say best why it failed
                sentence += " Its last lines:\n" + "\n".join(f"  {line}" for line in v.last_lines)
            sentences.append(sentence)
        return sentences
    waiting = ", ".join(f"{view.name} ({view.status.value})" for view in snapshot.resources if not view.status.settled)
    return [
        f"gave up after {timeout:g} s (--timeout) with resources not ready: {waiting or 'none'}; "
        "look at their output above, or raise --timeout."
    ]
