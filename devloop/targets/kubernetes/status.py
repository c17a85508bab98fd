"""Pure: a resource's live workload object and pods -> :class:`RuntimeStatus`, with failure reasons.

The pods that count are those of the newest template: for a Deployment, the pods owned by its newest
ReplicaSet (highest ``deployment.kubernetes.io/revision``); for a StatefulSet, those whose
``controller-revision-hash`` is ``status.updateRevision``; for a DaemonSet, those whose
``controller-revision-hash`` is that of its newest ControllerRevision (passed in place of the
ReplicaSets); otherwise every pod of the resource that is
not being deleted. Failures (one sentence each): crash loop, image pull errors, container config and
run errors, OOMKilled, a failed Job or pod, a pod unschedulable for over :data:`UNSCHEDULABLE_GRACE`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from devloop.config.podtemplate import wanted_replicas
from devloop.targets.base import ContainerRef, Phase, RuntimeStatus
from devloop.timestamps import epoch_seconds

UNSCHEDULABLE_GRACE = 60.0
PULL_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable")
CONFIG_REASONS = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError", "PreCreateHookError")


#: Kinds whose controller replaces a pod that ended (so an evicted or failed pod is history, not a failure).
REPLACING_CONTROLLERS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")


@dataclass(frozen=True)
class Failure:
    reason: str
    pod: str = ""
    container: str = ""
    previous: bool = False  # the logs worth showing are those of the previous (crashed) instance


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def parse_time(text: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return _d(obj.get("metadata"))


def owned_by(obj: dict[str, Any], uid: str) -> bool:
    return any(_d(ref).get("uid") == uid for ref in _l(_meta(obj).get("ownerReferences")))


def newest_replicaset(deployment: dict[str, Any], replicasets: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The Deployment's ReplicaSet of the highest ``deployment.kubernetes.io/revision``."""
    uid = str(_meta(deployment).get("uid") or "")
    owned = [rs for rs in replicasets if owned_by(rs, uid)] if uid else list(replicasets)
    if not owned:
        return None

    def revision(rs: dict[str, Any]) -> int:
        value = _d(_meta(rs).get("annotations")).get("deployment.kubernetes.io/revision", "0")
        try:
            return int(value)
        except ValueError:
            return 0

    return max(owned, key=lambda rs: (revision(rs), str(_meta(rs).get("creationTimestamp") or "")))


#: Warning events (reasons) that keep a pod from starting, reported at once with the kubelet's message.
MOUNT_REASONS = ("FailedMount", "FailedAttachVolume")


def _events_about(events: Sequence[dict[str, Any]], uid: str, reasons: Sequence[str]) -> list[dict[str, Any]]:
    found = [
        e
        for e in events
        if _d(e.get("involvedObject")).get("uid") == uid and e.get("reason") in reasons and e.get("type") == "Warning"
    ]
    return sorted(found, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))


def no_pod_failure(
    kind: str,
    workload: dict[str, Any],
    replicasets: Sequence[dict[str, Any]],
    mine: Sequence[dict[str, Any]],
    events: Sequence[dict[str, Any]],
    now: datetime,
) -> Failure | None:
    """Failures that no container status shows: a controller that cannot create its pods (FailedCreate: a
    missing ServiceAccount, a quota, PodSecurity), a pod that cannot mount its volumes (FailedMount: a missing
    ConfigMap or Secret), a Job waiting to retry after a failed pod (back-off). With the event's message."""
    name = str(_meta(workload).get("name") or "")
    creator = newest_replicaset(workload, replicasets) if kind == "Deployment" else workload
    if creator is not None and len(mine) < wanted_replicas(workload, kind, live=True):
        refused = next(
            (
                c
                for c in _l(_d(creator.get("status")).get("conditions"))
                if _d(c).get("type") == "ReplicaFailure" and _d(c).get("status") == "True"
            ),
            None,
        )
        message = str(_d(refused).get("message") or "") if refused is not None else ""
        if not message:
            created = _events_about(events, str(_meta(creator).get("uid") or ""), ("FailedCreate",))
            message = str(created[-1].get("message") or "") if created else ""
        if message and not any(_d(p.get("status")).get("phase") in ("Running", "Pending") for p in mine):
            return Failure(f"{kind} {name} cannot create its pods: {message}")
    for pod in mine:
        status = _d(pod.get("status"))
        if status.get("phase") != "Pending":
            continue
        # once is not enough: right after a ConfigMap is created a kubelet may not see it for a moment (its watch
        # cache) and report one FailedMount; a missing one is reported again at the next retry (about 1 s later)
        mounts = [
            e
            for e in _events_about(events, str(_meta(pod).get("uid") or ""), MOUNT_REASONS)
            if int(e.get("count") or 1) >= 2
        ]
        if mounts:
            event = mounts[-1]
            return Failure(
                f"pod {_meta(pod).get('name')} cannot start: {event.get('reason')}: {event.get('message')}",
                str(_meta(pod).get("name") or ""),
            )
    if kind == "Job" and mine and not any(_d(p.get("status")).get("phase") in ("Running", "Pending") for p in mine):
        failed = [p for p in mine if _d(p.get("status")).get("phase") == "Failed"]
        found = pod_failure(failed[-1], now) if failed else None
        if found is not None:
            limit = int(_d(workload.get("spec")).get("backoffLimit", 6) or 0)
            count = max(len(failed), int(_d(workload.get("status")).get("failed") or 0))
            if count > limit:  # no retry left: the Job controller is about to mark it Failed
                reason = f"Job {name} failed: {found.reason} (backoffLimit {limit} reached)"
            else:
                reason = f"Job {name} is waiting to retry after a failed pod ({count} failed, backoffLimit {limit}): "
                reason += found.reason
            return Failure(reason, found.pod, found.container, found.previous)
    return None


def current_pods(
    kind: str,
    workload: dict[str, Any] | None,
    pods: Sequence[dict[str, Any]],
    replicasets: Sequence[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """The pods of the newest template of ``workload`` (see the module docstring), not being deleted. For the
    controllers that replace finished pods (Deployment, ReplicaSet, StatefulSet, DaemonSet) pods that ended
    (evicted, failed, succeeded: a ReplicaSet keeps them until they are garbage-collected) do not count."""
    live = [p for p in pods if not _meta(p).get("deletionTimestamp")]
    if kind in REPLACING_CONTROLLERS:
        live = [p for p in live if _d(p.get("status")).get("phase") not in ("Failed", "Succeeded")]
    if workload is None:
        return live if kind == "Pod" else []
    uid = str(_meta(workload).get("uid") or "")
    if kind == "Deployment":
        newest = newest_replicaset(workload, replicasets)
        if newest is None:
            return []
        rs_uid = str(_meta(newest).get("uid") or "")
        template_hash = _d(_meta(newest).get("labels")).get("pod-template-hash")
        return [
            p
            for p in live
            if (rs_uid and owned_by(p, rs_uid))
            or (not rs_uid and template_hash and _d(_meta(p).get("labels")).get("pod-template-hash") == template_hash)
        ]
    if kind == "DaemonSet":
        mine = [p for p in live if not uid or owned_by(p, uid)]
        revisions = [r for r in replicasets if owned_by(r, uid)] if uid else []
        if not revisions:
            return mine
        newest = max(revisions, key=lambda r: int(r.get("revision") or 0))
        revision_hash = _d(_meta(newest).get("labels")).get("controller-revision-hash")
        return [p for p in mine if _d(_meta(p).get("labels")).get("controller-revision-hash") == revision_hash]
    if kind == "StatefulSet":
        update_revision = _d(workload.get("status")).get("updateRevision")
        mine = [p for p in live if not uid or owned_by(p, uid)]
        if update_revision:
            return [p for p in mine if _d(_meta(p).get("labels")).get("controller-revision-hash") == update_revision]
        return mine
    if kind == "Pod":
        return [p for p in live if _meta(p).get("name") == _meta(workload).get("name")]
    if uid:
        return [p for p in live if owned_by(p, uid)]
    return live


def pod_ready(pod: dict[str, Any]) -> bool:
    status = _d(pod.get("status"))
    if status.get("phase") != "Running":
        return False
    return any(_d(c).get("type") == "Ready" and _d(c).get("status") == "True" for c in _l(status.get("conditions")))


def container_failure(pod: dict[str, Any], cs: dict[str, Any], init: bool) -> Failure | None:
    pod_name = str(_meta(pod).get("name") or "")
    name = str(cs.get("name") or "")
    what = f"{'init container' if init else 'container'} {name} of pod {pod_name}"
    state = _d(cs.get("state"))
    waiting = _d(state.get("waiting"))
    terminated = _d(state.get("terminated"))
    last = _d(_d(cs.get("lastState")).get("terminated"))
    reason = str(waiting.get("reason") or "")
    message = str(waiting.get("message") or "").strip()
    restarts = int(cs.get("restartCount") or 0)
    if terminated.get("reason") == "OOMKilled" or (waiting and last.get("reason") == "OOMKilled"):
        return Failure(
            f"{what} was OOMKilled (out of memory); raise its resources.limits.memory or use less memory",
            pod_name,
            name,
            previous=bool(waiting),
        )
    if reason == "CrashLoopBackOff":
        code = last.get("exitCode")
        exited = f"exited with {code}" if code is not None else "keeps exiting"
        return Failure(f"crash loop: {what} {exited} ({restarts} restarts)", pod_name, name, previous=True)
    if reason in PULL_REASONS:
        image = str(cs.get("image") or "")
        detail = f": {message}" if message else ""
        return Failure(f"image pull failed ({reason}) for {what}, image {image}{detail}", pod_name, name)
    if reason in CONFIG_REASONS:
        detail = f": {message}" if message else ""
        return Failure(f"{reason} for {what}{detail}", pod_name, name)
    return None


def pod_failure(pod: dict[str, Any], now: datetime, restart_never_ok: bool = False) -> Failure | None:
    status = _d(pod.get("status"))
    for init, key in ((True, "initContainerStatuses"), (False, "containerStatuses")):
        for cs in _l(status.get(key)):
            found = container_failure(pod, _d(cs), init)
            if found is not None:
                return found
    name = str(_meta(pod).get("name") or "")
    if status.get("phase") == "Failed" and not restart_never_ok:
        for cs in _l(status.get("containerStatuses")):
            term = _d(_d(_d(cs).get("state")).get("terminated"))
            if term and term.get("exitCode") not in (0, None):
                return Failure(
                    f"pod {name} failed: container {_d(cs).get('name')} exited with {term.get('exitCode')}",
                    name,
                    str(_d(cs).get("name") or ""),
                )
        return Failure(f"pod {name} failed: {status.get('reason') or ''} {status.get('message') or ''}".strip(), name)
    for cond in _l(status.get("conditions")):
        cond = _d(cond)
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            since = parse_time(str(cond.get("lastTransitionTime") or ""))
            if since is not None and (now - since).total_seconds() > UNSCHEDULABLE_GRACE:
                return Failure(
                    f"pod {name} cannot be scheduled for over {UNSCHEDULABLE_GRACE:.0f} s: "
                    f"{cond.get('message') or 'unschedulable'}",
                    name,
                )
    return None


def container_refs(pod: dict[str, Any]) -> list[ContainerRef]:
    """Running app containers of a pod, as live update targets ("namespace/pod/container")."""
    meta = _meta(pod)
    spec = _d(pod.get("spec"))
    pod_ctx = _d(spec.get("securityContext"))
    statuses = {str(_d(cs).get("name")): _d(cs) for cs in _l(_d(pod.get("status")).get("containerStatuses"))}
    refs = []
    for container in _l(spec.get("containers")):
        container = _d(container)
        name = str(container.get("name") or "")
        cs = statuses.get(name)
        running = _d(_d(cs.get("state")).get("running")) if cs else {}
        if not running:
            continue
        ctx = _d(container.get("securityContext"))
        uid = ctx.get("runAsUser", pod_ctx.get("runAsUser"))
        gid = ctx.get("runAsGroup", pod_ctx.get("runAsGroup"))
        user = None
        if uid is not None:
            user = f"{uid}:{gid}" if gid is not None else str(uid)
        refs.append(
            ContainerRef(
                id=container_id(str(meta.get("namespace") or "default"), str(meta.get("name")), name),
                name=f"{meta.get('name')}/{name}",
                image=str(container.get("image") or (cs or {}).get("image") or ""),
                pod=str(meta.get("name") or ""),
                user=user,
                started_at=epoch_seconds(str(running.get("startedAt") or "")) or 0.0,
            )
        )
    return refs


def container_id(namespace: str, pod: str, container: str) -> str:
    """The kubernetes target's ``ContainerRef.id``, opaque to others (read back by :func:`split_container_id`)."""
    return f"{namespace}/{pod}/{container}"


def split_container_id(value: str) -> tuple[str, str, str] | None:
    """(namespace, pod, container) of an id :func:`container_id` made, or None."""
    parts = value.split("/", 2)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def in_place_restarts(
    refs: Sequence[ContainerRef], record: dict[str, tuple[float, float]]
) -> tuple[ContainerRef, ...]:
    """``refs`` with ``started_at`` moved to the time devloop restarted the process in place (``record``:
    container id -> (the kubelet's startedAt then, the restart's time)). An in-place restart keeps the
    kubelet's startedAt, so without this a live update's restart would look like no restart and the next
    real one (a crash, OOM, liveness kill: a new startedAt) like ours. A record whose container has a new
    startedAt is dropped from ``record``: that container really restarted and lost the synced files."""
    out = []
    for ref in refs:
        entry = record.get(ref.id)
        if entry is not None and entry[0] != ref.started_at:
            del record[ref.id]
            entry = None
        out.append(ref if entry is None else replace(ref, started_at=entry[1]))
    return tuple(out)


def restarts_of(pods: Sequence[dict[str, Any]]) -> int:
    total = 0
    for pod in pods:
        for key in ("containerStatuses", "initContainerStatuses"):
            for cs in _l(_d(pod.get("status")).get(key)):
                total += int(_d(cs).get("restartCount") or 0)
    return total


def job_condition(job: dict[str, Any]) -> tuple[str, str] | None:
    """("Complete"|"Failed", message) when the Job finished."""
    for cond in _l(_d(job.get("status")).get("conditions")):
        cond = _d(cond)
        if (
            cond.get("type") in ("Complete", "Failed", "SuccessCriteriaMet", "FailureTarget")
            and cond.get("status") == "True"
        ):
            kind = "Complete" if cond.get("type") in ("Complete", "SuccessCriteriaMet") else "Failed"
            return kind, str(cond.get("message") or cond.get("reason") or "")
    return None


def rollout_observed(workload: dict[str, Any], kind: str = "") -> bool:
    """Whether the controller has acted on the latest spec. A DaemonSet's counts mean nothing before its
    controller wrote them (no ``observedGeneration``, no ``desiredNumberScheduled``: 0 wanted pods would look
    ready)."""
    generation = _meta(workload).get("generation")
    status = _d(workload.get("status"))
    observed = status.get("observedGeneration")
    if kind == "DaemonSet" and (observed is None or status.get("desiredNumberScheduled") is None):
        return False
    if generation is None or observed is None:
        return True
    return int(observed) >= int(generation)


def runtime_status(
    kind: str,
    workload: dict[str, Any] | None,
    pods: Sequence[dict[str, Any]],
    replicasets: Sequence[dict[str, Any]] = (),
    now: datetime | None = None,
    events: Sequence[dict[str, Any]] = (),
) -> tuple[RuntimeStatus, Failure | None]:
    """The status of one resource and, when FAILED, the failure (to fetch its last log lines). ``events``: the
    namespace's Warning events (see :func:`no_pod_failure`)."""
    now = now or datetime.now(UTC)
    if workload is None and kind != "":
        return RuntimeStatus(Phase.ABSENT, detail="not deployed"), None
    assert workload is not None
    if kind == "CronJob":
        schedule = _d(workload.get("spec")).get("schedule", "")
        return RuntimeStatus(Phase.READY, detail=f"schedule {schedule}"), None
    wanted = wanted_replicas(workload, kind, live=True)
    mine = current_pods(kind, workload, pods, replicasets)
    restarts = restarts_of(mine)
    refs = tuple(ref for pod in mine for ref in container_refs(pod))
    done = job_condition(workload) if kind == "Job" else None
    if done is not None:
        return _finished_job(workload, done, mine, restarts, now)
    failure = next((f for p in mine if (f := pod_failure(p, now, restart_never_ok=kind == "Job")) is not None), None)
    if failure is None:
        failure = no_pod_failure(kind, workload, replicasets, mine, events, now)
    if failure is not None:
        return (
            RuntimeStatus(
                Phase.FAILED,
                reason=failure.reason,
                wanted_replicas=wanted,
                restarts=restarts,
                containers=refs,
                detail=f"{sum(1 for p in mine if pod_ready(p))}/{wanted} ready",
            ),
            failure,
        )
    return _running_status(kind, workload, pods, mine, wanted, restarts, refs), None


def _finished_job(
    workload: dict[str, Any], done: tuple[str, str], mine: list[dict[str, Any]], restarts: int, now: datetime
) -> tuple[RuntimeStatus, Failure | None]:
    """A Job with a Complete or Failed condition: COMPLETED, or FAILED with the reason of its first failed pod
    (or the condition's message alone)."""
    if done[0] == "Complete":
        return RuntimeStatus(Phase.COMPLETED, wanted_replicas=1, restarts=restarts, detail="completed"), None
    failure = next((f for pod in mine if (f := pod_failure(pod, now)) is not None), None)
    name = _meta(workload).get("name")
    reason = f"Job {name} failed: {done[1]}".rstrip(": ")
    if failure is not None:
        reason += f" ({failure.reason})"
        failure = Failure(reason, failure.pod, failure.container, failure.previous)
    else:
        failed_pod = next((p for p in mine if _d(p.get("status")).get("phase") == "Failed"), None)
        container = ""
        if failed_pod is not None:
            statuses = _l(_d(failed_pod.get("status")).get("containerStatuses"))
            container = str(_d(statuses[0]).get("name") or "") if statuses else ""
        failure = Failure(reason, str(_meta(failed_pod or {}).get("name") or ""), container)
    return (
        RuntimeStatus(Phase.FAILED, reason=reason, wanted_replicas=1, restarts=restarts, detail="failed"),
        failure,
    )


def _running_status(
    kind: str,
    workload: dict[str, Any],
    pods: Sequence[dict[str, Any]],
    mine: list[dict[str, Any]],
    wanted: int,
    restarts: int,
    refs: tuple[ContainerRef, ...],
) -> RuntimeStatus:
    """The status of a resource none of whose pods failed: COMPLETED (a Pod that succeeded), READY when the
    rollout is observed and every wanted pod is ready, else RUNNING or PENDING with how many are ready."""
    if kind == "Pod" and mine and _d(mine[0].get("status")).get("phase") == "Succeeded":
        return RuntimeStatus(Phase.COMPLETED, wanted_replicas=1, restarts=restarts, detail="completed")
    ready = sum(1 for p in mine if pod_ready(p))
    running = sum(1 for p in mine if _d(p.get("status")).get("phase") == "Running")
    detail = f"{ready}/{wanted} ready"
    phase = Phase.RUNNING if running else Phase.PENDING
    if kind == "Job":
        return RuntimeStatus(
            phase, wanted_replicas=1, ready_replicas=ready, restarts=restarts, containers=refs, detail=detail
        )
    if rollout_observed(workload, kind) and ready == wanted and len(mine) == wanted:
        return RuntimeStatus(
            Phase.READY, ready_replicas=ready, wanted_replicas=wanted, restarts=restarts, containers=refs, detail=detail
        )
    extra = [p for p in pods if p not in mine and not _meta(p).get("deletionTimestamp")]
    if extra and ready == wanted:
        detail += f", {len(extra)} old pod(s) stopping"
    return RuntimeStatus(
        phase, ready_replicas=ready, wanted_replicas=wanted, restarts=restarts, containers=refs, detail=detail
    )
