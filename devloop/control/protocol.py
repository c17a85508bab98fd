"""The wire format between `devloop up` and `devloop status|logs|trigger`: newline-delimited JSON.

A client connects, sends one request line and reads response lines until the server closes:

- request: ``{"v": 1, "token": "...", "op": "hello" | "status" | "logs" | "trigger", ...}``
- any failure: ``{"ok": false, "error": "<one sentence>", "code": <exit code>}`` then close;
- ``hello``: ``{"ok": true, "pid", "project", "config", "started"}``;
- ``status``: ``{"ok": true, "snapshot": {...}}`` (every :class:`ResourceView` field);
- ``logs`` (``resource``: name or null, ``since_seconds``: number or null, ``follow``: bool):
  ``{"ok": true, "names": [...], "dropped": n}``, then one ``{"log": {seq, time, resource, text}}`` per line,
  then ``{"end": "done"}`` — or, with follow, more lines until the client disconnects or
  ``{"end": "stopped"}`` when `up` stops;
- ``trigger`` (``resource``, ``wait``: bool): ``{"ok": true, "view": {...}}`` (the state before), then with wait
  ``{"state": {...}}`` per state change and ``{"done": {...}}`` once the update ended (ready, completed, failed)
  or ``{"end": "stopped"}``.
"""

from __future__ import annotations

import json
from typing import Any

from devloop.engine.logstore import LogEntry
from devloop.engine.state import ResourceView, Snapshot, Status, UpdateRecord
from devloop.errors import DevloopError
from devloop.exit_status import ExitStatus

VERSION = 1
MAX_REQUEST = 64 * 1024  # bytes of one request line


class ControlError(DevloopError):
    """Talking to the running `up` failed: none runs, another one runs, it refused or went away (exit 1)."""

    exit_code = ExitStatus.ERROR


class NoRunningUpError(ControlError):
    """No `devloop up` serves this project (no socket, or a stale one nobody listens on)."""


class UpAlreadyRunningError(ControlError):
    """Another `devloop up` of the same project (same config file) already serves the control endpoint."""


class RemoteError(DevloopError):
    """The running `up` answered with an error (unknown resource: exit 2; refused token: exit 1)."""

    def __init__(self, message: str, exit_code: int = ExitStatus.ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    value = json.loads(line.decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


# ----------------------------------------------------------------------------- snapshots


def update_to_dict(update: UpdateRecord | None) -> dict[str, Any] | None:
    if update is None:
        return None
    return {
        "kind": update.kind,
        "seconds": update.seconds,
        "finished_at": update.finished_at,
        "build_seconds": update.build_seconds,
        "deploy_seconds": update.deploy_seconds,
        "detail": update.detail,
    }


def update_from_dict(data: Any) -> UpdateRecord | None:
    if not isinstance(data, dict):
        return None
    return UpdateRecord(
        kind=str(data.get("kind", "")),
        seconds=float(data.get("seconds", 0.0)),
        finished_at=float(data.get("finished_at", 0.0)),
        build_seconds=float(data.get("build_seconds", 0.0)),
        deploy_seconds=float(data.get("deploy_seconds", 0.0)),
        detail=str(data.get("detail", "")),
    )


def view_to_dict(view: ResourceView) -> dict[str, Any]:
    return {
        "name": view.name,
        "kind": view.kind,
        "labels": list(view.labels),
        "status": view.status.value,
        "reason": view.reason,
        "last_lines": list(view.last_lines),
        "last_update": update_to_dict(view.last_update),
        "runtime": view.runtime,
        "restarts": view.restarts,
        "port_forwards": list(view.port_forwards),
        "manual": view.manual,
        "pending_changes": view.pending_changes,
        "ever_ready": view.ever_ready,
        "since": view.since,
    }


def _status(value: Any) -> Status:
    try:
        return Status(str(value))
    except ValueError:
        return Status.PENDING


def view_from_dict(data: dict[str, Any]) -> ResourceView:
    return ResourceView(
        name=str(data.get("name", "")),
        kind=str(data.get("kind", "")),
        labels=tuple(str(x) for x in data.get("labels") or ()),
        status=_status(data.get("status")),
        reason=str(data.get("reason", "")),
        last_lines=tuple(str(x) for x in data.get("last_lines") or ()),
        last_update=update_from_dict(data.get("last_update")),
        runtime=str(data.get("runtime", "")),
        restarts=int(data.get("restarts", 0)),
        port_forwards=tuple(str(x) for x in data.get("port_forwards") or ()),
        manual=bool(data.get("manual", False)),
        pending_changes=int(data.get("pending_changes", 0)),
        ever_ready=bool(data.get("ever_ready", False)),
        since=float(data.get("since", 0.0)),
    )


def snapshot_to_dict(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "project": snapshot.project,
        "target": snapshot.target,
        "where": snapshot.where,
        "version": snapshot.version,
        "counts": snapshot.counts(),
        "resources": [view_to_dict(v) for v in snapshot.resources],
    }


def snapshot_from_dict(data: dict[str, Any]) -> Snapshot:
    return Snapshot(
        project=str(data.get("project", "")),
        target=str(data.get("target", "")),
        where=str(data.get("where", "")),
        resources=tuple(view_from_dict(v) for v in data.get("resources") or () if isinstance(v, dict)),
        version=int(data.get("version", 0)),
    )


def entry_to_dict(entry: LogEntry) -> dict[str, Any]:
    return {"seq": entry.seq, "time": entry.time, "resource": entry.resource, "text": entry.text}


def entry_from_dict(data: dict[str, Any]) -> LogEntry:
    return LogEntry(
        seq=int(data.get("seq", 0)),
        time=float(data.get("time", 0.0)),
        resource=str(data.get("resource", "")),
        text=str(data.get("text", "")),
    )
