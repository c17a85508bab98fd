"""The docker target's restart policy (pure): restartPolicy, back-off growth and reset, crash loops, Jobs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from devloop.engine.clock import FakeClock
from devloop.targets.docker import labels as L
from devloop.targets.docker.restarts import (
    BACKOFF_MAX,
    BACKOFF_START,
    CRASH_EXITS,
    CRASH_WINDOW,
    ExitRecord,
    Outcome,
    RestartRule,
    backoff_delay,
    decide_exit,
    record_exit,
    record_restart,
    record_running,
    record_started,
    restart_due,
)
from tests.support.examples import examples

ALWAYS = RestartRule("Always")
ON_FAILURE = RestartRule("OnFailure")
NEVER = RestartRule("Never")


def exit_now(record: ExitRecord, rule: RestartRule, code: int, clock: FakeClock) -> Outcome:
    """The container exits with ``code`` at the clock's time; the decision is recorded, as the supervisor does."""
    decision = decide_exit(rule, code, record, clock.monotonic())
    record_exit(record, code, decision)
    return decision.outcome


def restart_when_due(record: ExitRecord, clock: FakeClock) -> float:
    """Wait (on the fake clock) until the restart is due, restart, and return how long that took."""
    assert record.due is not None
    waited = max(0.0, record.due - clock.monotonic())
    clock.advance(waited)
    assert restart_due(record, clock.monotonic())
    record_restart(record, clock.monotonic())
    return waited


def test_rule_from_labels() -> None:
    assert RestartRule.from_labels({}) == ALWAYS
    labels = {L.RESTART_POLICY: "Never", L.KIND: "Job", L.BACKOFF_LIMIT: "2"}
    assert RestartRule.from_labels(labels) == RestartRule("Never", job=True, backoff_limit=2)
    assert RestartRule.from_labels({L.KIND: "CronJob", L.BACKOFF_LIMIT: ""}).backoff_limit == 6


def test_policy_decides_which_exits_restart() -> None:
    now = 100.0
    for rule, code, outcome in [
        (ALWAYS, 0, Outcome.RESTART),
        (ALWAYS, 1, Outcome.RESTART),
        (ON_FAILURE, 0, Outcome.DONE),
        (ON_FAILURE, 1, Outcome.RESTART),
        (NEVER, 0, Outcome.DONE),
        (NEVER, 1, Outcome.EXITED),
    ]:
        decision = decide_exit(rule, code, ExitRecord(), now)
        assert decision.outcome is outcome, (rule, code)
        assert decision.due == (now if outcome is Outcome.RESTART else None)  # a first exit restarts at once
        assert decision.shows_failure is (outcome is Outcome.EXITED)


def test_recorded_outcomes_mark_done_and_failures() -> None:
    clock = FakeClock()
    done = ExitRecord()
    assert exit_now(done, NEVER, 0, clock) is Outcome.DONE
    assert done.done and done.handled and done.last_code == 0 and done.due is None
    failed = ExitRecord()
    assert exit_now(failed, NEVER, 2, clock) is Outcome.EXITED
    assert not failed.done and failed.last_code == 2 and failed.due is None and not restart_due(failed, 1e9)


def test_backoff_grows_and_is_capped() -> None:
    clock = FakeClock()
    record = ExitRecord()
    waits = []
    for _ in range(12):
        exit_now(record, ALWAYS, 1, clock)
        waits.append(restart_when_due(record, clock))
    assert waits[:5] == [0.0, BACKOFF_START, 2 * BACKOFF_START, 4 * BACKOFF_START, 8 * BACKOFF_START]
    assert max(waits) == BACKOFF_MAX  # (the longest waits let the first exits leave the window again)
    assert record.restarts == 12


def test_restart_waits_for_the_backoff() -> None:
    clock = FakeClock()
    record = ExitRecord()
    exit_now(record, ALWAYS, 1, clock)
    record_restart(record, clock.monotonic())
    exit_now(record, ALWAYS, 1, clock)  # the second exit within the window: back off
    assert not restart_due(record, clock.monotonic())
    clock.advance(BACKOFF_START / 2)
    assert not restart_due(record, clock.monotonic())
    clock.advance(BACKOFF_START / 2)
    assert restart_due(record, clock.monotonic())


def test_crash_loop_after_three_quick_exits_and_reset_after_running_a_window() -> None:
    clock = FakeClock()
    record = ExitRecord()
    for n in range(1, CRASH_EXITS + 1):
        decision = decide_exit(ALWAYS, 3, record, clock.monotonic())
        assert decision.outcome is Outcome.RESTART  # a crash loop keeps restarting, backing off
        assert decision.crash_loop is (n >= CRASH_EXITS)
        assert decision.shows_failure is decision.crash_loop
        record_exit(record, 3, decision)
        restart_when_due(record, clock)
    assert record.crash_loop and record.restarts == CRASH_EXITS
    # running for less than a window: still a crash loop
    clock.advance(CRASH_WINDOW / 2)
    record_running(record, clock.monotonic())
    assert record.crash_loop
    # running for a whole window: over, and the back-off starts again from nothing
    clock.advance(CRASH_WINDOW)
    record_running(record, clock.monotonic())
    assert not record.crash_loop and record.exits == []
    exit_now(record, ALWAYS, 3, clock)
    assert restart_when_due(record, clock) == 0.0 and not record.crash_loop


def test_exits_spread_over_more_than_a_window_never_loop() -> None:
    clock = FakeClock()
    record = ExitRecord()
    for _ in range(10):
        exit_now(record, ALWAYS, 1, clock)
        assert restart_when_due(record, clock) == 0.0  # the earlier exits no longer count
        clock.advance(CRASH_WINDOW)
        record_running(record, clock.monotonic())
    assert not record.crash_loop and record.restarts == 10


def test_crash_loop_flag_stays_until_it_ran_a_window() -> None:
    """An exit after a long back-off may leave fewer than CRASH_EXITS exits in the window: still a loop."""
    clock = FakeClock()
    record = ExitRecord()
    for _ in range(CRASH_EXITS):
        exit_now(record, ALWAYS, 1, clock)
        restart_when_due(record, clock)
    record_running(record, clock.monotonic())
    clock.advance(CRASH_WINDOW - 1)
    exit_now(record, ALWAYS, 1, clock)
    assert len(record.exits) < CRASH_EXITS and record.crash_loop


def test_started_resets_the_handled_exit() -> None:
    record = ExitRecord(handled=True)
    record_started(record, 5.0)
    assert record.started == 5.0 and not record.handled
    running = ExitRecord(handled=True)
    record_running(running, 7.0)
    assert running.started == 7.0 and not running.handled
    record_running(running, 9.0)
    assert running.started == 7.0  # seen running again: still the same start


def test_job_restarts_until_backoff_limit_then_fails() -> None:
    clock = FakeClock()
    rule = RestartRule("Never", job=True, backoff_limit=2)
    record = ExitRecord()
    outcomes = []
    for _ in range(3):
        outcomes.append(exit_now(record, rule, 4, clock))
        if record.due is not None:
            restart_when_due(record, clock)
    assert outcomes == [Outcome.RESTART, Outcome.RESTART, Outcome.JOB_FAILED]
    assert record.restarts == 2 and not record.crash_loop and not record.done


def test_job_success_is_done_and_never_a_crash_loop() -> None:
    clock = FakeClock()
    rule = RestartRule("OnFailure", job=True, backoff_limit=100)
    record = ExitRecord()
    for _ in range(CRASH_EXITS * 2):
        exit_now(record, rule, 1, clock)
        restart_when_due(record, clock)
    assert not record.crash_loop
    assert exit_now(record, rule, 0, clock) is Outcome.DONE and record.done


@settings(max_examples=examples(200))
@given(st.integers(min_value=0, max_value=100))
def test_backoff_delay_is_bounded_and_monotonic(exits: int) -> None:
    assert 0.0 <= backoff_delay(exits) <= backoff_delay(exits + 1) <= BACKOFF_MAX


@settings(max_examples=examples(200))
@given(
    st.lists(st.tuples(st.floats(min_value=0, max_value=200), st.integers(min_value=-1, max_value=255)), max_size=30),
    st.sampled_from([ALWAYS, ON_FAILURE, NEVER, RestartRule("Never", job=True, backoff_limit=3)]),
)
def test_decisions_are_consistent(steps: list[tuple[float, int]], rule: RestartRule) -> None:
    clock = FakeClock()
    record = ExitRecord()
    for gap, code in steps:
        clock.advance(gap)
        if record.done or (record.handled and record.due is None):
            break  # stays exited
        if record.due is not None:
            restart_when_due(record, clock)
            continue
        decision = decide_exit(rule, code, record, clock.monotonic())
        assert decision.exits[-1] == clock.monotonic()
        assert all(clock.monotonic() - t < CRASH_WINDOW for t in decision.exits[:-1])
        assert (decision.due is not None) is (decision.outcome is Outcome.RESTART)
        if decision.due is not None:
            assert clock.monotonic() <= decision.due <= clock.monotonic() + BACKOFF_MAX
        assert not (rule.job and decision.crash_loop)
        record_exit(record, code, decision)
    assert record.restarts <= len(steps)
