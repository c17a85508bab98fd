"""Pure: what the supervisor observed of a resource's pods -> :class:`RuntimeStatus`, with failure reasons.

The docker target's counterpart of :mod:`devloop.targets.kubernetes.status`: where Kubernetes reports
pod and container statuses, the docker target has the engine's container summaries (grouped into
:class:`~.observed.Pod`) plus what its supervisor remembers of each app container's exits
(:class:`~.restarts.ExitRecord`), of failed pods (:class:`PodFailure`) and of readiness probes. The
supervisor (:mod:`.runtime`) gathers these into :class:`ObservedPod` values (and the
:class:`ContainerRef` of running containers, which needs the engine); everything below only reads them.

Failures (one sentence each, the first one found in replica order): a pod that failed (a sandbox or
container that could not start, an init container that failed, a Job past its ``backoffLimit``), a
crash loop, an app container that exited with a non-zero code and stays so (``restartPolicy``
``Never``/``OnFailure``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from devloop.config.podtemplate import JOB_KINDS
from devloop.targets.base import ContainerRef, Phase, RuntimeStatus
from devloop.targets.docker import labels as L
from devloop.targets.docker.observed import Pod, container_label, exit_code, labels_of
from devloop.targets.docker.probes import ProbeState
from devloop.targets.docker.restarts import ALWAYS, CRASH_WINDOW, ExitRecord
from devloop.timestamps import epoch_seconds


@dataclass(frozen=True)
class PodFailure:
    """Why a pod failed for good (until the next deploy), with the last log lines worth showing."""

    reason: str
    logs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObservedPod:
    """One pod as the supervisor knows it. ``records``: by container id, the app containers devloop decided
    on; ``refs``: the running app containers."""

    pod: Pod
    records: Mapping[str, ExitRecord] = field(default_factory=dict)
    failure: PodFailure | None = None
    ready: bool = False
    refs: tuple[ContainerRef, ...] = ()

    @property
    def done(self) -> bool:
        return pod_done(self.pod, self.records)


def pod_done(pod: Pod, records: Mapping[str, ExitRecord]) -> bool:
    """Every app container ran to completion and stays so (Jobs, ``restartPolicy`` Never/OnFailure)."""
    if not pod.apps:
        return False
    return all(rec.done if (rec := records.get(c["Id"])) is not None else False for c in pod.apps)


def pod_ready(pod: Pod, probes: Mapping[str, ProbeState]) -> bool:
    """The sandbox and every app container run, and each readiness probe passed (``probes``: by container id)."""
    if pod.sandbox is None or pod.sandbox.get("State") != "running" or not pod.apps:
        return False
    for app in pod.apps:
        if app.get("State") != "running":
            return False
        if labels_of(app).get(L.PROBE):
            state = probes.get(app["Id"])
            if state is None or not state.ready:
                return False
    return True


def exit_sentence(container: str, code: int | None) -> str:
    """What a container's exit was, as a restart on Kubernetes tells it ("... exited with code 137 (killed)")."""
    why = {137: " (killed: SIGKILL or out of memory)", 143: " (terminated: SIGTERM)", 139: " (segmentation fault)"}
    text = f"container {container} exited with code {code if code is not None else '?'}"
    return text + why.get(code or 0, "")


def container_failure(app: dict[str, Any], rec: ExitRecord, job: bool) -> PodFailure | None:
    """A crash loop, or an exit that stays (not for Jobs: their failures fail the pod)."""
    name = container_label(app)
    if rec.crash_loop:
        return PodFailure(
            f"crash loop: container {name} exited with code {rec.last_code} "
            f"{len(rec.exits)} times within {int(CRASH_WINDOW)} s",
            rec.logs,
        )
    policy = labels_of(app).get(L.RESTART_POLICY, ALWAYS)
    stays_exited = app.get("State") == "exited" and not rec.done and rec.handled and rec.due is None
    if not job and policy != ALWAYS and stays_exited:
        return PodFailure(f"container {name} exited with code {rec.last_code}", rec.logs)
    return None


def failure_of(pods: Sequence[ObservedPod], job: bool) -> PodFailure | None:
    """The first failure in replica order: the pod's own, then its app containers' in order."""
    for observed in pods:
        if observed.failure is not None:
            return observed.failure
        for app in observed.pod.apps:
            rec = observed.records.get(app["Id"])
            found = container_failure(app, rec, job) if rec is not None else None
            if found is not None:
                return found
    return None


def restarts_of(pods: Sequence[ObservedPod]) -> int:
    return sum(rec.restarts for observed in pods for rec in observed.records.values())


def last_exit_of(pods: Sequence[ObservedPod]) -> str:
    """The latest exit that led to a restart, as a sentence ("" when none did)."""
    latest = (0.0, "")
    for observed in pods:
        for app in observed.pod.apps:
            rec = observed.records.get(app["Id"])
            if rec is not None and rec.restarts and rec.exits and rec.exits[-1] > latest[0]:
                latest = (rec.exits[-1], exit_sentence(container_label(app), rec.last_code))
    return latest[1]


def pending_init(pods: Sequence[ObservedPod]) -> str:
    """``init 1/2`` for the first pod whose init containers did not all succeed yet ("" when none)."""
    for observed in pods:
        inits = observed.pod.inits
        finished = sum(1 for i in inits if i.get("State") == "exited" and exit_code(i) == 0)
        if finished < len(inits):
            return f"init {finished}/{len(inits)}"
    return ""


def container_ref(app: dict[str, Any], attrs: Mapping[str, Any], pod: str) -> ContainerRef:
    """A running app container from its summary and its inspect ``attrs`` (user, start time)."""
    user = labels_of(app).get(L.RUN_AS) or str((attrs.get("Config") or {}).get("User") or "") or None
    return ContainerRef(
        id=app["Id"],
        name=container_label(app),
        image=str(app.get("Image", "")),
        pod=pod,
        user=user,
        started_at=epoch_seconds(str((attrs.get("State") or {}).get("StartedAt", ""))) or 0.0,
    )


def runtime_status(kind: str, wanted: int, pods: Sequence[ObservedPod]) -> RuntimeStatus:
    """The status of one resource from its pods in replica order (``wanted``: the replicas it should have)."""
    if not pods:
        return RuntimeStatus(Phase.ABSENT, wanted_replicas=wanted, detail="not deployed")
    ready = sum(1 for p in pods if p.ready)
    done = sum(1 for p in pods if p.done)
    running = sum(1 for p in pods if any(a.get("State") == "running" for a in p.pod.apps))
    base = RuntimeStatus(
        Phase.PENDING,
        ready_replicas=ready,
        wanted_replicas=wanted,
        restarts=restarts_of(pods),
        containers=tuple(ref for p in pods for ref in p.refs),
        last_exit=last_exit_of(pods),
    )

    def make(phase: Phase, **changes: Any) -> RuntimeStatus:
        return dataclasses.replace(base, phase=phase, **changes)

    job = kind in JOB_KINDS
    failure = failure_of(pods, job)
    if failure is not None:
        return make(Phase.FAILED, reason=failure.reason, last_logs=failure.logs, detail="failed")
    waiting = pending_init(pods)
    if job:
        if done >= wanted > 0:
            return make(Phase.COMPLETED, detail=f"{done}/{wanted} completed")
        return make(Phase.RUNNING if running else Phase.PENDING, detail=waiting or f"{done}/{wanted} completed")
    if kind == "Pod" and done == len(pods):
        return make(Phase.COMPLETED, detail="completed")
    if ready >= wanted and wanted > 0:
        return make(Phase.READY, detail=f"{ready}/{wanted} ready")
    if running:
        return make(Phase.RUNNING, detail=waiting or f"{ready}/{wanted} ready")
    return make(Phase.PENDING, detail=waiting or "starting")
