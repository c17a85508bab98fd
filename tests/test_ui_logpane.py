"""The log pane's name column keeps its width while lines scroll (it used to follow the visible lines only,
so the text jumped sideways whenever a long-named resource's lines scrolled in or out of view)."""

from __future__ import annotations

from devloop.engine.logstore import LogEntry
from devloop.engine.state import ResourceView, Snapshot, Status
from devloop.ui.render import UiState, render_lines


def test_prefix_width_comes_from_every_resource_not_the_visible_lines() -> None:
    views = tuple(ResourceView(name=n, kind="Deployment", labels=(), status=Status.READY) for n in ("api", "payments"))
    snapshot = Snapshot(project="shop", target="docker", where="docker", resources=views)
    only_api = [LogEntry(seq=i, time=0.0, resource="api", text=f"line {i}") for i in range(1, 4)]
    mixed = [*only_api, LogEntry(seq=4, time=0.0, resource="payments", text="paid")]
    frames = [render_lines(snapshot, logs, UiState(), 80, 24, now=0.0) for logs in (only_api, mixed)]
    api_lines = [[t.plain.rstrip() for t in frame if t.plain.startswith("api ") and "│" in t.plain] for frame in frames]
    assert api_lines[0] == ["api      │ line 1", "api      │ line 2", "api      │ line 3"]
    assert api_lines[1] == api_lines[0]
