"""`devloop status`: every resource's state in the running `devloop up` of this project."""

from __future__ import annotations

import json
import time

from devloop.context import Environment
from devloop.durations import format_ago
from devloop.engine.state import ResourceView, Snapshot
from devloop.exit_status import ExitStatus


def run(env: Environment, *, output: str = "text") -> int:
    from devloop.control.client import client_for_env

    snapshot, data = client_for_env(env).status()
    if output == "json":
        env.out(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        web_url = data.get("web_url")
        for line in render(snapshot, now=time.time(), web_url=web_url if isinstance(web_url, str) else ""):
            env.out(line)
    return ExitStatus.SUCCESS


def last_update_text(view: ResourceView, now: float) -> str:
    """`build 2.1 s, 3m ago`, `live 0.42 s, 5s ago`, `-` before the first update."""
    update = view.last_update
    if update is None:
        return "-"
    seconds = f"{update.seconds:.2f} s" if update.seconds < 1 else f"{update.seconds:.1f} s"
    return f"{update.kind} {seconds}, {format_ago(now - update.finished_at)}"


def runtime_text(view: ResourceView) -> str:
    text = view.runtime or "-"
    if view.restarts:
        text += f" ({view.restarts} restart{'s' if view.restarts != 1 else ''})"
    return text


def detail_text(view: ResourceView) -> str:
    """The reason (of a failure, of waiting, changes pending), else the port-forward URLs."""
    if view.reason:
        return view.reason
    return " ".join(view.port_forwards)


def render(snapshot: Snapshot, *, now: float, web_url: str = "") -> list[str]:
    counts = snapshot.counts()
    head = (
        f"{snapshot.project} on {snapshot.where}: {counts['total']} resource(s), {counts['ready']} ready, "
        f"{counts['updating']} updating, {counts['failed']} failed"
    )
    if web_url:
        head += f"; web UI {web_url}"
    if not snapshot.resources:
        return [head, "no resources."]
    rows = [("NAME", "STATE", "LAST UPDATE", "RUNTIME", "DETAIL")]
    for view in snapshot.resources:
        rows.append((view.name, view.status.value, last_update_text(view, now), runtime_text(view), detail_text(view)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [head]
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:4])]
        lines.append(("  ".join(cells) + "  " + row[4]).rstrip())
    return lines
