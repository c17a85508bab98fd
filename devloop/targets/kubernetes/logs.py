"""Following the logs of every container (init containers too) of a resource's current pods.

A controller loop lists the resource's pods every second; each container instance that runs (or
ran) gets a follower thread streaming ``pods/log?follow&timestamps`` with ``sinceTime`` just after
the last line seen for that container, so a re-opened stream (dropped connection, restarted
container) does not repeat lines. New pods (a redeploy) get followers as they appear; followers of
pods that went away end with their stream. Warning events of the resource's objects (its pods, its
workload, a Deployment's ReplicaSets) become lines too (source ``events``), as Tilt shows them.
Everything stops on the StopToken.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from devloop.targets.base import LogLine, StopToken
from devloop.targets.kubernetes.rest import Kube, iter_lines


def split_timestamp(line: str) -> tuple[str, str]:
    """``2024-01-01T00:00:00.123456789Z text`` -> (timestamp, text)."""
    stamp, sep, text = line.partition(" ")
    if sep and len(stamp) >= 20 and stamp[4:5] == "-" and stamp[10:11] == "T":
        return stamp, text
    return "", line


def _stamp_key(stamp: str) -> str:
    """Sortable form of an RFC 3339 timestamp with up to nanoseconds, in UTC ("Z")."""
    if not stamp.endswith("Z"):
        return stamp
    base, _, frac = stamp[:-1].partition(".")
    return f"{base}.{frac.ljust(9, '0')}"


def started_containers(pod: dict[str, Any]) -> list[tuple[str, int, bool]]:
    """(container, restartCount, running) of containers that have started (running or terminated), init first."""
    status = pod.get("status") or {}
    out = []
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or []:
            state = cs.get("state") or {}
            if state.get("running") or state.get("terminated") or (cs.get("lastState") or {}).get("terminated"):
                out.append((str(cs.get("name")), int(cs.get("restartCount") or 0), bool(state.get("running"))))
    return out


def about_resource(event: dict[str, Any], pods: list[dict[str, Any]], workload: tuple[str, str] | None) -> bool:
    """Whether ``event`` concerns one of a resource's objects: one of its ``pods``, its workload (kind, name)
    or the ReplicaSets of a Deployment (``<name>-<hash>``)."""
    involved = event.get("involvedObject") or {}
    uid, kind, name = involved.get("uid"), str(involved.get("kind") or ""), str(involved.get("name") or "")
    if uid and any((p.get("metadata") or {}).get("uid") == uid for p in pods):
        return True
    if workload is None:
        return False
    if (kind, name) == workload:
        return True
    return workload[0] == "Deployment" and kind == "ReplicaSet" and name.startswith(workload[1] + "-")


def event_line(event: dict[str, Any]) -> str:
    """``Warning FailedMount pod/api-x: MountVolume.SetUp failed ... (x3)``, like a row of ``kubectl get events``."""
    involved = event.get("involvedObject") or {}
    count = int(event.get("count") or 1)
    return (
        f"{event.get('type') or 'Warning'} {event.get('reason') or ''} "
        f"{str(involved.get('kind') or '').lower()}/{involved.get('name')}: {str(event.get('message') or '').strip()}"
        + (f" (x{count})" if count > 1 else "")
    )


class LogFollower:
    def __init__(
        self,
        kube: Kube,
        resource: str,
        list_pods: Callable[[], list[dict[str, Any]]],
        on_line: Callable[[LogLine], None],
        stop: StopToken,
        closing: threading.Event,
        list_events: Callable[[], list[dict[str, Any]]] | None = None,
        workload: tuple[str, str] | None = None,
    ) -> None:
        self.kube = kube
        self.resource = resource
        self.list_pods = list_pods
        self.on_line = on_line
        self.stop = stop
        self.closing = closing
        self.list_events = list_events
        self.workload = workload
        self._events_seen: set[tuple[str, int]] | None = None  # (event uid, count); None until the first listing
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], str] = {}  # (pod uid, container) -> last timestamp seen
        self._active: dict[tuple[str, str], tuple[threading.Thread, list[Any]]] = {}
        self._finished: set[tuple[str, str, int]] = set()

    def _stopped(self) -> bool:
        return self.stop.stopped or self.closing.is_set()

    def run(self) -> None:
        try:
            while not self._stopped():
                with contextlib.suppress(Exception):
                    pods = self.list_pods()
                    self._sync(pods)
                    self._events(pods)
                if self.stop.wait(1.0):
                    break
        finally:
            self._shutdown()

    def _sync(self, pods: list[dict[str, Any]]) -> None:
        for pod in pods:
            meta = pod.get("metadata") or {}
            uid = str(meta.get("uid") or meta.get("name"))
            for container, restarts, running in started_containers(pod):
                key = (uid, container)
                with self._lock:
                    if not running:
                        if (uid, container, restarts) in self._finished:
                            continue  # a finished container's logs were read to the end once
                        self._finished.add((uid, container, restarts))
                    active = self._active.get(key)
                    if active is not None and active[0].is_alive():
                        continue
                    holder: list[Any] = []
                    thread = threading.Thread(
                        target=self._follow,
                        args=(str(meta.get("namespace") or "default"), str(meta.get("name")), container, key, holder),
                        name=f"devloop-klogs-{meta.get('name')}-{container}",
                        daemon=True,
                    )
                    self._active[key] = (thread, holder)
                thread.start()

    def _events(self, pods: list[dict[str, Any]]) -> None:
        """Warning events of the resource's objects, each new one (or new occurrence) as a line of source
        ``events``; those there before the follower started are not replayed."""
        if self.list_events is None:
            return
        events = self.list_events()
        keys = [(str((e.get("metadata") or {}).get("uid") or ""), int(e.get("count") or 1)) for e in events]
        if self._events_seen is None:
            self._events_seen = set(keys)
            return
        for event, key in zip(events, keys, strict=True):
            if key in self._events_seen or not about_resource(event, pods, self.workload):
                continue
            self._events_seen.add(key)
            self.on_line(LogLine(self.resource, "events", event_line(event)))

    def _follow(self, namespace: str, pod: str, container: str, key: tuple[str, str], holder: list[Any]) -> None:
        with self._lock:
            since = self._last.get(key)
        query: list[tuple[str, Any]] = [("container", container), ("follow", "true"), ("timestamps", "true")]
        if since:
            query.append(("sinceTime", since.split(".")[0] + "Z" if "." in since else since))
        try:
            response = self.kube.stream(f"/api/v1/namespaces/{namespace}/pods/{pod}/log", query)
        except Exception:
            return
        with self._lock:
            holder.append(response)
        if self._stopped():
            self._close(response)
            return
        source = f"{pod}/{container}"
        try:
            for raw in iter_lines(response):
                if self._stopped():
                    break
                stamp, text = split_timestamp(raw.decode(errors="replace").rstrip("\r"))
                if stamp:
                    with self._lock:
                        last = self._last.get(key)
                        if last is not None and _stamp_key(stamp) <= _stamp_key(last):
                            continue  # already shown (sinceTime has second resolution)
                        self._last[key] = stamp
                self.on_line(LogLine(self.resource, source, text))
        except Exception:
            pass
        finally:
            self._close(response)

    @staticmethod
    def _close(response: Any) -> None:
        for name in ("shutdown", "close", "release_conn"):
            with contextlib.suppress(Exception):
                getattr(response, name)()

    def _shutdown(self) -> None:
        with self._lock:
            active = list(self._active.values())
        for _, holder in active:
            for response in holder:
                self._close(response)
        for thread, _ in active:
            thread.join(timeout=3)
