"""bench/engine_step: one engine step with 300 resources.

In process, no Docker: the real Engine on the FakeTarget with an instant builder and a fake clock, stepped on
this thread (no monitor thread). Once every resource is deployed and ready, each round posts the most common
event (the runtime status of one resource changed: it restarted, and is running, then ready again) and times
``Engine.step()``: the reducer, the effects it asks for (one new snapshot, one log line, the sink), and
``settle`` (what may start now) over all resources. Measured in the same run: the reducer alone on the same
event, and the raw operation a publishing step would do without the engine's view cache: a frozen copy of every
resource's state (what each publish cost before views were cached).

Usage: .venv/bin/python bench/engine_step.py [--resources 300] [--rounds 2000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.dashboard import scale_project  # noqa: E402
from devloop.build.fake import FakeBuilder  # noqa: E402
from devloop.engine.clock import FakeClock  # noqa: E402
from devloop.engine.events import RuntimeChanged  # noqa: E402
from devloop.engine.loop import Engine, EngineOptions  # noqa: E402
from devloop.engine.reduce import Now, reduce  # noqa: E402
from devloop.engine.state import ResourceView, Snapshot, Status  # noqa: E402
from devloop.targets.base import Phase, RuntimeStatus  # noqa: E402
from devloop.targets.fake import FakeTarget  # noqa: E402


class NullSink:
    """Takes everything, keeps nothing."""

    def log(self, resource: str, text: str) -> None:
        pass

    def state(self, view: ResourceView, snapshot: Snapshot) -> None:
        pass

    def message(self, text: str) -> None:
        pass


def ready_engine(root: Path, n: int) -> Engine:
    clock = FakeClock()
    engine = Engine(
        scale_project(root, n), FakeTarget(), FakeBuilder(lines=()), NullSink(), EngineOptions(), clock=clock
    )
    engine.start(background=False)
    deadline = time.monotonic() + 300
    while not all(v.status is Status.READY for v in engine.snapshot().resources):
        if time.monotonic() > deadline:
            raise SystemExit(f"{n} resources not ready after 300 s")
        clock.advance(0.05)
        engine.poll()
        engine.step(wait=0.01)
    return engine


def micros(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"median {1e6 * statistics.median(samples):7.1f} µs, p99 {1e6 * p99:7.1f} µs"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resources", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="devloop-bench-step-"))
    engine = ready_engine(root, args.resources)
    try:
        state = engine.state
        name = state.order[-1]
        seq = state.resources[name].deploy_seq
        base = state.runtime[name]
        steps, reduces, snapshots = [], [], []
        for i in range(1, args.rounds + 1):
            phase = Phase.RUNNING if i % 2 else Phase.READY  # starting, then ready again: a new snapshot each
            status = RuntimeStatus(phase, containers=base.containers, restarts=i, last_exit="exited 1")
            engine.post(RuntimeChanged(name, status, seq))
            started = time.perf_counter()
            engine.step()
            steps.append(time.perf_counter() - started)
            again = RuntimeStatus(Phase.READY, containers=base.containers, restarts=i, detail=f"round {i}")
            now = Now(engine.clock.monotonic(), engine.clock.wall())
            started = time.perf_counter()
            reduce(state, RuntimeChanged(name, again, seq), now)
            reduces.append(time.perf_counter() - started)
            started = time.perf_counter()
            tuple(state.resources[n]._make_view() for n in state.order)
            snapshots.append(time.perf_counter() - started)
    finally:
        engine.close()
        shutil.rmtree(root, ignore_errors=True)
    step, snap = statistics.median(steps), statistics.median(snapshots)
    print(f"{args.resources} resources, {args.rounds} rounds")
    print(f"  Engine.step() of one RuntimeChanged: {micros(steps)}")
    print(f"  reduce() alone:                      {micros(reduces)}")
    print(f"  raw: a frozen copy of every state:   {micros(snapshots)}")
    print(f"  step / copy ratio: {step / snap:.2f}; goal: step under 1 ms ({'met' if step < 1e-3 else 'MISSED'})")


if __name__ == "__main__":
    main()
