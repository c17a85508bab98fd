"""Pure: what the docker target does when an app container exits (the kubelet's restart policy).

Given a container's exit code, what devloop remembers of its earlier exits and restarts (an
:class:`ExitRecord`), its pod's restart rule and the time, :func:`decide_exit` says whether it is
restarted (at once or after a back-off), stays done, stays exited with a failure, or fails its Job.

- ``restartPolicy``: ``Always`` restarts every exit, ``OnFailure`` only a non-zero one, ``Never`` none.
  A Job restarts a failed container until ``backoffLimit`` restarts were made, then fails.
- Back-off: the first exit within :data:`CRASH_WINDOW` restarts at once, the next ones after
  :data:`BACKOFF_START`, doubled each time, at most :data:`BACKOFF_MAX`. Exits older than the window
  no longer count, so a container that kept running resets its back-off.
- Crash loop: :data:`CRASH_EXITS` exits within the window (not for Jobs). The container keeps being
  restarted with the back-off, and the flag stays until it kept running for a whole window.

Nothing here reads a clock or talks to the engine: the supervisor (:mod:`.runtime`) passes ``now``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from devloop.config.podtemplate import JOB_KINDS
from devloop.targets.docker import labels as L

CRASH_WINDOW = 60.0  # seconds: CRASH_EXITS exits within it make a crash loop
CRASH_EXITS = 3
BACKOFF_START = 0.5
BACKOFF_MAX = 30.0

ALWAYS = "Always"
ON_FAILURE = "OnFailure"
NEVER = "Never"

@dataclass
class ExitRecord:
    """What devloop saw of one container's exits and restarts (in memory; reset by a devloop restart)."""

    exits: list[float] = field(default_factory=list)
    restarts: int = 0
    last_code: int | None = None
    handled: bool = False  # the current exit was seen and decided on
    due: float | None = None  # when to restart it
    started: float = 0.0
    crash_loop: bool = False
    logs: tuple[str, ...] = ()
    done: bool = False  # ran to completion and stays so (Jobs, Never)


@dataclass(frozen=True)
class RestartRule:
    """A pod's restart settings: its ``restartPolicy`` and, for Jobs, the ``backoffLimit``."""

    policy: str = ALWAYS
    job: bool = False
    backoff_limit: int = 6

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> RestartRule:
        """The rule of a pod from its sandbox's labels (written at creation, see :mod:`.labels`)."""
        return cls(
            policy=labels.get(L.RESTART_POLICY, ALWAYS) or ALWAYS,
            job=labels.get(L.KIND) in JOB_KINDS,
            backoff_limit=int(labels.get(L.BACKOFF_LIMIT, "6") or 6),
        )


class Outcome(enum.Enum):
    RESTART = "restart"  # restart at ``due``: now, or after the back-off
    DONE = "done"  # ran to completion: stays exited, and that is success
    EXITED = "exited"  # stays exited with a non-zero code: the resource fails
    JOB_FAILED = "job-failed"  # a Job's container failed once more than backoffLimit allows


@dataclass(frozen=True)
class ExitDecision:
    outcome: Outcome
    exits: tuple[float, ...]  # the exits within the crash window, this one last
    due: float | None = None  # RESTART: when
    crash_loop: bool = False  # RESTART: this exit makes a crash loop

    @property
    def shows_failure(self) -> bool:
        """The resource shows this exit as its failure (so its last log lines are worth reading now)."""
        return self.outcome is Outcome.EXITED or self.crash_loop


def backoff_delay(exits: int) -> float:
    """Seconds to wait before restarting a container that exited ``exits`` times within the crash window."""
    if exits <= 1:
        return 0.0
    return min(BACKOFF_START * 2.0 ** (exits - 2), BACKOFF_MAX)


def recent_exits(exits: list[float] | tuple[float, ...], now: float) -> tuple[float, ...]:
    """The exits that still count at ``now``, plus one at ``now``."""
    return (*(t for t in exits if now - t < CRASH_WINDOW), now)


def decide_exit(rule: RestartRule, code: int | None, record: ExitRecord, now: float) -> ExitDecision:
    """What to do about an app container that exited with ``code`` (None: unknown) at ``now``."""
    exits = recent_exits(record.exits, now)
    if rule.job:
        if code == 0:
            return ExitDecision(Outcome.DONE, exits)
        if record.restarts >= rule.backoff_limit:
            return ExitDecision(Outcome.JOB_FAILED, exits)
        return ExitDecision(Outcome.RESTART, exits, due=now + backoff_delay(len(exits)))
    if not (rule.policy == ALWAYS or (rule.policy == ON_FAILURE and code != 0)):
        return ExitDecision(Outcome.DONE if code == 0 else Outcome.EXITED, exits)
    return ExitDecision(
        Outcome.RESTART, exits, due=now + backoff_delay(len(exits)), crash_loop=len(exits) >= CRASH_EXITS
    )


def record_exit(record: ExitRecord, code: int | None, decision: ExitDecision) -> None:
    """Remember a decided exit (the crash-loop flag stays once set, see :func:`record_running`)."""
    record.handled = True
    record.last_code = code
    record.exits = list(decision.exits)
    record.done = decision.outcome is Outcome.DONE
    record.crash_loop = record.crash_loop or decision.crash_loop
    record.due = decision.due


def restart_due(record: ExitRecord, now: float) -> bool:
    return record.due is not None and now >= record.due


def record_restart(record: ExitRecord, now: float) -> None:
    """The container was started again."""
    record.due = None
    record.restarts += 1
    record.started = now
    record.handled = False


def record_started(record: ExitRecord, now: float) -> None:
    """The container was started at ``now`` by something else than a restart for an exit (its first start,
    its sandbox coming back, a live update): its next exit is a new one."""
    record.started = now
    record.handled = False


def record_running(record: ExitRecord, now: float) -> None:
    """The container is seen running at ``now``: a later exit is a new one; a crash loop ends once the
    container kept running for a whole crash window (its back-off starts over)."""
    record.handled = False
    if record.started == 0.0:
        record.started = now
    if record.crash_loop and now - record.started > CRASH_WINDOW:
        record.crash_loop = False
        record.exits.clear()
