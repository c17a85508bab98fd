"""Golden full frames of the terminal dashboard: the whole picture ``Dashboard.frame`` draws (header, table,
detail, log pane, footer) at a fixed size, with a fixed clock and a real log store, compared with the files in
``tests/data/golden/``. Any change of layout or style fails here with a diff; when it is intended, rerun with
``DEVLOOP_UPDATE_GOLDEN=1`` and review ``git diff tests/data/golden`` (CONTRIBUTING.md, "Golden files").

Each frame gives two files: ``<case>.txt``, the screen as the user sees it (no colour; trailing blanks
dropped), and ``<case>.styles``, the style of every styled run of cells (``row start-end style``), which is
what a colour terminal shows and stays the same across colour systems and rich's escape-code encoding.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from rich.console import Console
from rich.segment import Segment

from devloop.engine.logstore import LogStore
from devloop.engine.state import ResourceView, Snapshot, Status, UpdateRecord
from devloop.ui.dashboard import Dashboard
from tests.support import golden

NOW = 1_700_000_000.0
WHERE = "docker 20.10.24 (unix:///var/run/docker.sock)"
WEB_URL = "http://127.0.0.1:10350/"


def view(
    name: str, status: Status, kind: str = "Deployment", labels: tuple[str, ...] = (), **kw: object
) -> ResourceView:
    return ResourceView(name=name, kind=kind, labels=labels, status=status, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- the scenes


DB = view(
    "db",
    Status.READY,
    kind="StatefulSet",
    labels=("backend",),
    runtime="1/1 running",
    last_update=UpdateRecord("deploy", 0.42, NOW - 300, 0.0, 0.42),
)


def all_ready() -> Snapshot:
    return Snapshot(
        "shop",
        "docker",
        WHERE,
        (
            DB,
            view(
                "api",
                Status.READY,
                labels=("backend",),
                runtime="2/2 running",
                port_forwards=("http://localhost:8000",),
                last_update=UpdateRecord("build", 12.4, NOW - 65, 11.9, 0.5),
            ),
            view(
                "web",
                Status.READY,
                labels=("frontend",),
                runtime="1/1 running",
                port_forwards=("http://localhost:8080", "http://localhost:9229"),
                last_update=UpdateRecord("live", 0.31, NOW - 4, detail="synced 2 files"),
            ),
            view(
                "migrate",
                Status.COMPLETED,
                kind="Job",
                runtime="completed",
                last_update=UpdateRecord("build", 3.2, NOW - 4000, 2.7, 0.5),
            ),
        ),
        version=12,
    )


def building_with_a_failure() -> Snapshot:
    return Snapshot(
        "shop",
        "docker",
        WHERE,
        (
            DB,
            view("api", Status.BUILDING, labels=("backend",), runtime="1/1 running", restarts=1),
            view(
                "worker",
                Status.FAILED,
                labels=("backend",),
                reason="build failed: RUN pip install -r requirements.txt exited with 1",
                last_lines=(
                    "Step 4/6 : RUN pip install -r requirements.txt",
                    "Collecting flask==9.9",
                    "ERROR: Could not find a version that satisfies the requirement flask==9.9",
                    "ERROR: No matching distribution found for flask==9.9",
                ),
                last_update=UpdateRecord("build", 8.1, NOW - 12, 8.1, 0.0),
            ),
            view("web", Status.DEPLOYING, labels=("frontend",), port_forwards=("http://localhost:8080",)),
            view("cache", Status.PENDING, reason="waiting for db"),
            view("docs", Status.MANUAL_PENDING, manual=True, pending_changes=2),
        ),
        version=31,
    )


Lines = tuple[tuple[str, str], ...]  # (resource, text); resource "" is devloop's own message

READY_LOGS: Lines = (
    ("", "watching 3 folders"),
    ("migrate", "── completed (build 2.7 s, deploy 0.5 s)"),
    ("db", "── ready (deploy 0.42 s)"),
    ("api", "── ready (build 11.9 s, deploy 0.5 s) http://localhost:8000"),
    ("api", "INFO: Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)"),
    ("web", "synced 2 files"),
    ("web", "GET / 200 1.2ms"),
)

BUILD_LOGS: Lines = (
    ("", "watching 3 folders"),
    ("db", "── ready (deploy 0.42 s)"),
    ("api", "Step 2/5 : COPY requirements.txt ."),
    ("worker", "Step 4/6 : RUN pip install -r requirements.txt"),
    ("worker", "\x1b[31mERROR\x1b[0m: No matching distribution found for flask==9.9"),
    ("worker", "── failed: build failed: RUN pip install -r requirements.txt exited with 1"),
    ("api", "Step 3/5 : RUN pip install -r requirements.txt"),
    ("web", "── deploying"),
)


def many_logs() -> Lines:
    """More lines than the store keeps (50 a resource in these cases): the pane says how many were dropped;
    with tabs, escape codes and lines longer than the screen."""
    lines = []
    for i in range(260):
        resource = ("api", "web", "db", "migrate")[i % 4] if i % 9 else ""
        text = f"request {i}: GET /items/{i % 17} 200 {i % 13}.{i % 10}ms"
        if i % 23 == 0:
            text = f"{text}\twith a tab and a very long tail " + "x" * 120
        if i % 31 == 0:
            text = f"\x1b[33mwarning\x1b[0m {i}: slow query"
        lines.append((resource, text))
    return tuple(lines)


@dataclass(frozen=True)
class Case:
    snapshot: Callable[[], Snapshot]
    width: int
    height: int
    logs: Lines
    keys: tuple[str, ...] = ()  # pressed before the frame is taken
    per_resource: int = 5000


CASES = {
    "all-ready": Case(all_ready, 100, 24, READY_LOGS),
    "building-with-a-failure": Case(building_with_a_failure, 100, 30, BUILD_LOGS, keys=("j", "j")),
    "narrow": Case(building_with_a_failure, 44, 24, BUILD_LOGS, keys=("j", "j")),
    "log-pane-many-lines": Case(all_ready, 120, 40, many_logs(), per_resource=50),
    "log-pane-one-resource": Case(all_ready, 80, 30, many_logs(), keys=("j", "enter"), per_resource=50),
}


# ------------------------------------------------------------------------------------------- drawing


def console(width: int, height: int) -> Console:
    """A console that depends on nothing around it: fixed size, no colour, no environment (NO_COLOR,
    COLUMNS, TERM...)."""
    return Console(
        file=io.StringIO(),
        width=width,
        height=height,
        force_terminal=True,
        color_system=None,
        legacy_windows=False,
        _environ={},
    )


def dashboard(case: Case) -> Dashboard:
    store = LogStore(per_resource=case.per_resource, clock=lambda: NOW)
    for resource, text in case.logs:
        store.append(resource, text)
    snapshot = case.snapshot()
    dash = Dashboard(
        lambda: snapshot,
        store,
        on_trigger=lambda name: None,
        on_quit=lambda: None,
        console=console(case.width, case.height),
        input=None,
        clock=lambda: NOW,
        web_url=WEB_URL,
    )
    for key in case.keys:
        dash.handle_key(key)
    return dash


def styles_of(lines: list[list[Segment]]) -> str:
    """``row start-end style`` for every run of cells with a style, rows and columns counted from 0."""
    out: list[str] = []
    for row, segments in enumerate(lines):
        runs: list[list[object]] = []  # [start, end, style]
        column = 0
        for segment in segments:
            width = segment.cell_length
            style = str(segment.style) if segment.style else ""
            if style and style != "none":
                if runs and runs[-1][1] == column and runs[-1][2] == style:
                    runs[-1][1] = column + width
                else:
                    runs.append([column, column + width, style])
            column += width
        out += [f"{row:2d} {start}-{end} {style}" for start, end, style in runs]
    return "\n".join(out) + "\n"


def draw(case: Case) -> tuple[str, str]:
    """(the screen as text, its styles) of one frame."""
    dash = dashboard(case)
    frame = dash.frame(case.width, case.height)
    cons = dash.console
    lines = cons.render_lines(frame, cons.options.update(width=case.width, height=case.height), pad=False)
    assert len(lines) == case.height
    text = "\n".join("".join(s.text for s in line).rstrip() for line in lines) + "\n"
    return text, styles_of(lines)


# ------------------------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("name", list(CASES))
def test_full_frame_matches_its_golden_file(name: str) -> None:
    case = CASES[name]
    text, styles = draw(case)
    assert all(len(line) <= case.width for line in text.splitlines())
    golden.check(f"dashboard/{name}.txt", text)
    golden.check(f"dashboard/{name}.styles", styles)


def test_the_same_frame_prints_the_same_on_a_console() -> None:
    """What the golden files hold is what the console prints: the printed frame, without colour, is the text."""
    case = CASES["building-with-a-failure"]
    dash = dashboard(case)
    dash.console.print(dash.frame(case.width, case.height))
    printed = dash.console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b" not in printed
    text, _ = draw(case)
    assert [line.rstrip() for line in printed.splitlines()] == text.splitlines()
