"""Stopping and removing pods' containers, then the emptyDir volumes of their pods.

Containers get SIGTERM and, after their pods' grace period (``terminationGracePeriodSeconds``),
are removed by force (SIGKILL). A container whose PID 1 installed no SIGTERM handler ignores
SIGTERM, so it is not waited for (:func:`.process.ignores_sigterm`); nor is a pod's sandbox, which has
nothing to flush. App containers go before sandboxes; what is gone already is fine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from devloop.engine.clock import Clock
from devloop.targets.docker import labels as L
from devloop.targets.docker.observed import labels_of
from devloop.targets.docker.process import ignores_sigterm

DEFAULT_GRACE = 2.0  # seconds, when a manifest does not say
POLL = 0.05  # seconds between two looks at what still runs

_LIVE_STATES = ("running", "restarting", "paused")


def grace_of(summaries: Sequence[dict[str, Any]]) -> float:
    """The longest grace period of the containers' pods."""
    return max((float(labels_of(s).get(L.GRACE, "2") or 2) for s in summaries), default=DEFAULT_GRACE)


def sandbox_pods(summaries: Sequence[dict[str, Any]]) -> list[str]:
    """The pods whose sandbox is among ``summaries`` (so the whole pod goes)."""
    pods = {labels_of(s).get(L.POD) for s in summaries if labels_of(s).get(L.ROLE) == L.ROLE_SANDBOX}
    return sorted(p for p in pods if p)


def removed_name(summary: dict[str, Any]) -> str:
    return f"container {str((summary.get('Names') or ['?'])[0]).lstrip('/')}"


def stop_gracefully(
    api: Any,
    project: str,
    summaries: Sequence[dict[str, Any]],
    grace: float,
    clock: Clock,
    sleep: Callable[[float], object],
) -> None:
    """SIGTERM to the running containers that can handle it, then wait until they stopped or ``grace`` passed.
    A sandbox (the pause process) has nothing to flush: it goes with the forced removal after its apps."""
    import docker.errors

    if grace <= 0:
        return
    running = [s for s in summaries if s.get("State") in _LIVE_STATES and labels_of(s).get(L.ROLE) != L.ROLE_SANDBOX]
    running = [s for s in running if not ignores_sigterm(api, s["Id"])]
    for s in running:
        with contextlib.suppress(docker.errors.APIError):
            api.kill(s["Id"], "SIGTERM")
    deadline = clock.monotonic() + grace
    pending = {s["Id"] for s in running}
    while pending and clock.monotonic() < deadline:
        pending &= {s["Id"] for s in api.containers(filters={"label": L.container_filter(project)})}
        if pending:
            sleep(POLL)


def remove_containers(api: Any, summaries: Sequence[dict[str, Any]], forget: Callable[[str], None]) -> list[str]:
    """Remove the containers by force, apps before sandboxes; ``forget`` is told each id. Returns their names."""
    import docker.errors

    removed = []
    for s in sorted(summaries, key=lambda s: labels_of(s).get(L.ROLE) == L.ROLE_SANDBOX):
        try:
            api.remove_container(s["Id"], force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "already in progress" not in str(exc):
                raise
        removed.append(removed_name(s))
        forget(s["Id"])
    return removed


def remove_pod_volumes(api: Any, project: str, pods: Sequence[str]) -> list[str]:
    """Remove the emptyDir volumes of ``pods``. Returns their names."""
    import docker.errors

    removed = []
    for pod in pods:
        flt = {"label": [*L.project_filter(project), f"{L.POD}={pod}", f"{L.VOLUME_KIND}=emptyDir"]}
        for vol in (api.volumes(filters=flt) or {}).get("Volumes") or []:
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_volume(vol["Name"], force=True)
                removed.append(f"volume {vol['Name']}")
    return removed
