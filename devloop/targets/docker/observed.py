"""Pure: a project's containers as the engine lists them (summaries), grouped into pods.

A summary is one entry of the engine's container list (``Id``, ``Names``, ``Image``, ``State``,
``Status``, ``Labels``, ``NetworkSettings``). The labels (:mod:`.labels`) say which pod a container
belongs to and its role in it, so pods are found again from the engine alone after any restart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from devloop.config.podtemplate import JOB_KINDS
from devloop.targets.docker import labels as L

_EXITED = re.compile(r"Exited \((-?\d+)\)")

#: no limit on how many pods start at once (anything but a Job)
UNLIMITED = 10**6


def labels_of(summary: dict[str, Any]) -> dict[str, str]:
    return dict(summary.get("Labels") or {})


def container_label(summary: dict[str, Any]) -> str:
    """``pod/container``: how a container is named to the user."""
    lab = labels_of(summary)
    return f"{lab.get(L.POD, '?')}/{lab.get(L.CONTAINER, '?')}"


def exit_code(summary: dict[str, Any]) -> int | None:
    """The exit code of an exited container from a list summary ("Exited (3) 2 seconds ago")."""
    m = _EXITED.search(str(summary.get("Status", "")))
    return int(m.group(1)) if m else None


@dataclass
class Pod:
    name: str
    sandbox: dict[str, Any] | None = None
    inits: list[dict[str, Any]] = field(default_factory=list)
    apps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def labels(self) -> dict[str, str]:
        return labels_of(self.sandbox) if self.sandbox else {}

    @property
    def index(self) -> int:
        return int(self.labels.get(L.POD_INDEX, "0"))

    def all(self) -> list[dict[str, Any]]:
        return [*self.inits, *self.apps, *([self.sandbox] if self.sandbox else [])]


def group_pods(summaries: Iterable[dict[str, Any]]) -> dict[str, Pod]:
    pods: dict[str, Pod] = {}
    for s in summaries:
        lab = labels_of(s)
        name = lab.get(L.POD)
        if not name:
            continue
        pod = pods.setdefault(name, Pod(name))
        role = lab.get(L.ROLE)
        if role == L.ROLE_SANDBOX:
            pod.sandbox = s
        elif role == L.ROLE_INIT:
            pod.inits.append(s)
        elif role == L.ROLE_APP:
            pod.apps.append(s)
    for pod in pods.values():
        pod.inits.sort(key=lambda s: int(labels_of(s).get(L.ORDER, "0")))
        pod.apps.sort(key=lambda s: int(labels_of(s).get(L.ORDER, "0")))
    return pods


def by_index(pods: Iterable[Pod]) -> list[Pod]:
    """Pods in the order of their replica index."""
    return sorted(pods, key=lambda p: p.index)


def pods_of(summaries: Iterable[dict[str, Any]], resource: str) -> list[Pod]:
    """The pods of one resource, by replica index."""
    return by_index(group_pods(s for s in summaries if labels_of(s).get(L.RESOURCE) == resource).values())


def by_resource(pods: Iterable[Pod]) -> dict[str, list[Pod]]:
    out: dict[str, list[Pod]] = {}
    for pod in pods:
        out.setdefault(pod.labels.get(L.RESOURCE, ""), []).append(pod)
    return out


def job_parallelism(pods: Sequence[Pod]) -> int:
    """How many of a resource's pods may run at once: a Job's ``parallelism``, otherwise no limit."""
    for pod in pods:
        if pod.labels.get(L.KIND) in JOB_KINDS:
            return int(pod.labels.get(L.PARALLELISM, "1") or 1)
    return UNLIMITED


def admitted(pods: Sequence[Pod], done: Callable[[Pod], bool], parallelism: int = UNLIMITED) -> list[Pod]:
    """The pods (by index) to supervise now: every started one, and never-started ones while fewer than
    ``parallelism`` (see :func:`job_parallelism`) run without being done. ``done``: the pod ran to completion."""
    ordered = by_index(pods)
    running = sum(1 for p in ordered if _sandbox_state(p) == "running" and not done(p))
    out = []
    for pod in ordered:
        if _sandbox_state(pod) == "created" and not done(pod):
            if running >= parallelism:
                continue
            running += 1
        out.append(pod)
    return out


def _sandbox_state(pod: Pod) -> str:
    return str((pod.sandbox or {}).get("State") or "")
