"""The dashboard's frames, rendered into a string at fixed sizes: every status, grouping, the log pane,
failures at a glance, NO_COLOR, narrow and tiny terminals, 300 resources; key parsing; the Dashboard's key
handling and its terminal mode on a real pseudo-terminal."""

from __future__ import annotations

import io
import os
import re
import termios
import threading
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console

from devloop.engine.logstore import LogEntry, LogStore
from devloop.engine.state import ResourceView, Snapshot, Status, UpdateRecord
from devloop.ui.dashboard import Dashboard
from devloop.ui.keys import KeyReader, parse_keys
from devloop.ui.render import (
    STATUS_LOOK,
    UiState,
    clean_line,
    render,
    render_lines,
    resource_names,
)

NOW = 1_700_000_000.0
WHERE = "docker 20.10.24 (unix:///var/run/docker.sock)"
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def view(name: str, status: Status, **kw: object) -> ResourceView:
    kind = str(kw.pop("kind", "Deployment"))
    labels = kw.pop("labels", ())
    return ResourceView(name=name, kind=kind, labels=labels, status=status, **kw)  # type: ignore[arg-type]


def sample() -> Snapshot:
    """One resource in every status, three groups (backend, frontend, ungrouped)."""
    resources = (
        view(
            "db",
            Status.READY,
            labels=("backend",),
            runtime="1/1 running",
            last_update=UpdateRecord("deploy", 0.4, NOW - 300, 0.0, 0.4),
        ),
        view(
            "api",
            Status.LIVE_UPDATING,
            labels=("backend",),
            runtime="1/1 running",
            restarts=2,
            last_update=UpdateRecord("live", 0.31, NOW - 20),
        ),
        view(
            "worker",
            Status.FAILED,
            labels=("backend",),
            reason="crash loop: exited with 1",
            restarts=4,
            runtime="0/1 running",
            last_lines=(
                "Traceback (most recent call last):",
                '  File "main.py", line 3, in <module>',
                "ValueError: DATABASE_URL is not set",
            ),
        ),
        view(
            "web",
            Status.READY,
            labels=("frontend",),
            runtime="1/1 running",
            port_forwards=("http://localhost:8080",),
            last_update=UpdateRecord("build", 2.5, NOW - 65, 2.1, 0.4),
        ),
        view("assets", Status.BUILDING, labels=("frontend",)),
        view(
            "migrate",
            Status.COMPLETED,
            kind="Job",
            runtime="completed",
            last_update=UpdateRecord("build", 1.5, NOW - 4000, 1.0, 0.5),
        ),
        view("docs", Status.MANUAL_PENDING, manual=True, pending_changes=3),
        view("cache", Status.PENDING, reason="waiting for db"),
        view("queue", Status.DEPLOYING),
        view("lint", Status.TESTING),
        view("mail", Status.STARTING, runtime="0/1 running"),
    )
    return Snapshot("shop", "docker", WHERE, resources, version=7)


def sample_logs() -> list[LogEntry]:
    lines = [
        ("web", "GET / 200 1.2ms"),
        ("api", "listening on :8000"),
        ("", "config reloaded"),
        ("worker", "\x1b[31mValueError\x1b[0m: DATABASE_URL is not set"),
        ("web", "── ready (build 2.1 s, deploy 0.4 s) http://localhost:8080"),
        ("api", "synced 1 file"),
    ]
    return [LogEntry(i + 1, NOW, r, t) for i, (r, t) in enumerate(lines)]


def screen(
    snapshot: Snapshot,
    ui: UiState | None = None,
    *,
    width: int = 80,
    height: int = 30,
    logs: list[LogEntry] | None = None,
    dropped: dict[str, int] | None = None,
    color_system: str | None = None,
    no_color: bool = False,
) -> tuple[str, str]:
    """(plain text, raw output with escape codes) of one frame."""
    console = Console(
        file=io.StringIO(),
        width=width,
        height=height,
        force_terminal=True,
        color_system=color_system,  # type: ignore[arg-type]
        no_color=no_color,
        record=True,
        legacy_windows=False,
    )
    frame = render(
        snapshot, sample_logs() if logs is None else logs, ui or UiState(), width, height, dropped=dropped, now=NOW
    )
    console.print(frame)
    raw = console.file.getvalue()  # type: ignore[attr-defined]
    return console.export_text(styles=False), raw


def rows(text: str) -> list[str]:
    return text.rstrip("\n").split("\n")


# ------------------------------------------------------------------------------------------- statuses


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("status", list(Status))
def test_every_status_shows_its_icon_and_name(status: Status, width: int) -> None:
    snap = Snapshot("shop", "docker", WHERE, (view("svc", status),))
    text, _ = screen(snap, width=width, height=12)
    icon, _, _ = STATUS_LOOK[status]
    row = next(line for line in rows(text) if "svc" in line and status.value in line)
    assert f"{icon} {status.value}" in row
    ascii_text, _ = screen(snap, UiState(ascii=True), width=width, height=12)
    _, fallback, _ = STATUS_LOOK[status]
    assert f"{fallback} {status.value}" in ascii_text
    assert all(ord(ch) < 128 for ch in ascii_text), "ascii mode printed a non-ascii character"


def test_icons_are_distinct_and_colours_set() -> None:
    icons = [look[0] for look in STATUS_LOOK.values()]
    fallbacks = [look[1] for look in STATUS_LOOK.values()]
    assert len(set(icons)) == len(icons) == len(Status)
    assert len(set(fallbacks)) == len(fallbacks)
    assert all(len(f) == 1 and f.isascii() for f in fallbacks)


def test_header_has_project_where_and_counts() -> None:
    text, _ = screen(sample(), width=120)
    header = rows(text)[0]
    assert "shop" in header and WHERE in header
    assert "3 ready · 5 updating · 1 failed of 11" in header  # ready+completed; busy+starting
    narrow = rows(screen(sample(), width=80)[0])
    assert "shop" in narrow[0] and "docker 20.10.24" in narrow[0]
    assert narrow[1].startswith("3 ready · 5 updating · 1 failed")


def test_columns_show_update_ago_runtime_restarts_and_ports() -> None:
    text, _ = screen(sample(), width=120, height=40)
    api = next(line for line in rows(text) if line.startswith("  api "))
    assert "live 0.31 s" in api and "20s" in api and "1/1 running ↻2" in api
    web = next(line for line in rows(text) if line.startswith("  web "))
    assert "build 2.5 s" in web and "1m" in web and "http://localhost:8080" in web
    migrate = next(line for line in rows(text) if line.startswith("  migrate "))
    assert "Job" in migrate and "1h" in migrate
    docs = next(line for line in rows(text) if line.startswith("  docs "))
    assert "3 changes pending" in docs


# ------------------------------------------------------------------------------------------- groups, selection


def test_grouped_by_label_ungrouped_last() -> None:
    text, _ = screen(sample(), width=100, height=40)
    lines = rows(text)
    headings = [i for i, line in enumerate(lines) if line.startswith("▾ ")]
    assert [lines[i][2:].strip() for i in headings] == ["backend", "frontend", "ungrouped"]
    names = resource_names(sample())
    assert names == ["db", "api", "worker", "web", "assets", "migrate", "docs", "cache", "queue", "lint", "mail"]
    order = [
        next(i for i, line in enumerate(lines) if line.startswith(f"  {n} ") or line.startswith(f"▸ {n} "))
        for n in names
    ]
    assert order == sorted(order)
    assert headings[0] < order[0] and headings[1] < order[3] < order[4] < headings[2] < order[5]


def test_no_group_heading_when_nothing_is_labelled() -> None:
    snap = Snapshot("p", "docker", WHERE, (view("a", Status.READY), view("b", Status.PENDING)))
    text, _ = screen(snap, width=80, height=12)
    assert "ungrouped" not in text and "▾" not in text


def test_selected_row_marked_and_highlighted() -> None:
    text, raw = screen(sample(), UiState(selected="web"), width=80, color_system="truecolor")
    assert sum(1 for line in rows(text) if line.startswith("▸ ")) == 1
    assert any(line.startswith("▸ web ") for line in rows(text))
    assert "\x1b[7m" in raw or ";7m" in raw or "\x1b[7;" in raw  # reverse video
    ascii_text, _ = screen(sample(), UiState(selected="web", ascii=True), width=80)
    assert any(line.startswith("> web ") for line in rows(ascii_text))


def test_unknown_selection_falls_back_to_the_first_row() -> None:
    text, _ = screen(sample(), UiState(selected="gone"), width=80)
    assert any(line.startswith("▸ db ") for line in rows(text))


# ------------------------------------------------------------------------------------------- failures


def test_failed_resource_reason_and_last_lines_when_selected() -> None:
    text, _ = screen(sample(), UiState(selected="worker"), width=80, height=34)
    assert "✗ crash loop: exited with 1" in text
    assert "Traceback (most recent call last):" in text
    assert "ValueError: DATABASE_URL is not set" in text
    assert "4 restarts" in text


def test_failed_reason_inline_when_not_selected() -> None:
    text, _ = screen(sample(), UiState(selected="db"), width=120, height=34)
    worker = next(line for line in rows(text) if line.startswith("  worker "))
    assert "crash loop: exited with 1" in worker
    assert "Traceback" not in text  # the last lines only for the selected one; the log pane has the rest


# ------------------------------------------------------------------------------------------- log pane


def test_all_logs_interleaved_with_name_prefixes() -> None:
    text, raw = screen(sample(), width=80, height=40, color_system="truecolor")
    lines = rows(text)
    assert "── logs: all resources (enter: only db) " in text
    body = [line for line in lines if " │ " in line and not line.startswith("  │")]
    assert [line.split(" │ ")[0].strip() for line in body] == ["web", "api", "devloop", "worker", "web", "api"]
    assert "worker  │ ValueError: DATABASE_URL is not set" in text  # escape codes from the app are stripped
    assert "\x1b[31mValueError" not in raw


def test_selected_resource_logs_only() -> None:
    text, _ = screen(sample(), UiState(selected="api", logs_selected=True), width=80, height=40)
    assert "── logs: api (enter: all resources) " in text
    assert "listening on :8000" in text and "synced 1 file" in text
    assert "GET / 200" not in text and "config reloaded" not in text
    assert "api │" not in text  # no prefix when one resource is shown


def test_log_pane_shows_the_newest_lines_that_fit() -> None:
    logs = [LogEntry(i, NOW, "web", f"line {i}") for i in range(1, 1001)]
    text, _ = screen(sample(), width=80, height=30, logs=logs)
    assert "line 1000" in text and "line 999" in text
    assert "line 900" not in text
    lines = rows(text)
    assert lines[-2].endswith("line 1000") or "line 1000" in lines[-2]


def test_dropped_lines_note() -> None:
    text, _ = screen(sample(), width=80, dropped={"web": 1200, "api": 3})
    assert "… 1203 older lines dropped (web 1200, api 3)" in text
    selected, _ = screen(sample(), UiState(selected="web", logs_selected=True), width=80, dropped={"web": 1200})
    assert "… 1200 older lines dropped" in selected
    none, _ = screen(sample(), width=80, dropped={})
    assert "dropped" not in none


def test_clean_line() -> None:
    assert clean_line("\x1b[1;32mok\x1b[0m done\r\n") == "ok done"
    assert clean_line("10%\r50%\r100%") == "100%"
    assert clean_line("a\tb") == "a   b"
    assert clean_line("bell\x07 \x1b]0;title\x07x") == "bell x"


def test_long_log_lines_are_cut_not_wrapped() -> None:
    logs = [LogEntry(1, NOW, "web", "x" * 500)]
    text, _ = screen(sample(), width=80, height=30, logs=logs)
    assert all(cell_len(line) <= 80 for line in rows(text))
    assert "x…" in text


# ------------------------------------------------------------------------------------------- sizes, colour


def test_footer_lists_the_keys() -> None:
    text, _ = screen(sample(), width=80)
    assert rows(text)[-1].startswith("↑/↓ j/k select · enter all/selected logs · t trigger · q quit")
    text, _ = screen(sample(), UiState(message="triggered web"), width=80)
    assert rows(text)[-1].rstrip().endswith("triggered web")


@pytest.mark.parametrize("width", [20, 40, 60, 80, 81, 100, 120, 200])
@pytest.mark.parametrize("height", [1, 2, 3, 5, 8, 12, 24, 30, 60])
def test_frame_fits_every_size(width: int, height: int) -> None:
    for ui in (UiState(selected="worker"), UiState(selected="web", logs_selected=True, ascii=True)):
        lines = render_lines(sample(), sample_logs(), ui, width, height, dropped={"web": 5}, now=NOW)
        assert len(lines) == height
        assert all(line.cell_len <= width for line in lines)
        text, _ = screen(sample(), ui, width=width, height=height, dropped={"web": 5})
        assert len(rows(text)) == height
        assert all(cell_len(line) <= width for line in rows(text))


def test_resize_keeps_the_selected_row_visible() -> None:
    for height in (10, 14, 20, 40):
        text, _ = screen(sample(), UiState(selected="mail"), width=80, height=height)
        assert any(line.startswith("▸ mail ") for line in rows(text)), height


def test_no_color_has_no_colour_codes() -> None:
    _, coloured = screen(sample(), UiState(selected="worker"), color_system="truecolor")
    assert any(re.search(r"(^|;)(3[0-9]|4[0-9]|38|48|9[0-7])(;|$)", m) for m in SGR.findall(coloured))
    text, raw = screen(sample(), UiState(selected="worker"), color_system="truecolor", no_color=True)
    for params in SGR.findall(raw):
        assert not re.search(r"(^|;)(3[0-9]|4[0-9]|38|48|9[0-7]|10[0-7])(;|$)", params), params
    plain, plain_raw = screen(sample(), UiState(selected="worker"), color_system=None)
    assert "\x1b" not in plain_raw  # no colour system at all: not one escape code
    assert text == plain


def test_300_resources_render_only_what_fits() -> None:
    statuses = list(Status)
    resources = tuple(
        view(
            f"svc-{i:03d}",
            statuses[i % len(statuses)],
            labels=(f"team-{i % 7}",) if i % 5 else (),
            runtime="1/1 running",
            reason="boom" if statuses[i % len(statuses)] is Status.FAILED else "",
        )
        for i in range(300)
    )
    snap = Snapshot("big", "docker", WHERE, resources)
    names = resource_names(snap)
    for selected in (names[0], names[150], names[-1]):
        text, _ = screen(snap, UiState(selected=selected), width=80, height=40)
        lines = rows(text)
        assert len(lines) == 40
        assert any(line.startswith(f"▸ {selected} ") for line in lines)
        shown = sum(1 for line in lines if re.match(r"^[ ▸] svc-\d{3} ", line))
        assert 5 <= shown < 40
    top, _ = screen(snap, UiState(selected=names[0]), width=80, height=40)
    assert "more below" in top and "more above" not in top
    middle, _ = screen(snap, UiState(selected=names[150]), width=80, height=40)
    assert "more below" in middle and "more above" in middle
    bottom, _ = screen(snap, UiState(selected=names[-1]), width=80, height=40)
    assert "more above" in bottom and "more below" not in bottom


def test_empty_project() -> None:
    text, _ = screen(Snapshot("p", "docker", WHERE, ()), width=80, height=12, logs=[])
    assert "no resources" in text and "0 ready" in text


# ------------------------------------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("data", "keys", "rest"),
    [
        ("jjk", ["j", "j", "k"], ""),
        ("\x1b[A\x1b[B", ["up", "down"], ""),
        ("\x1bOA\x1bOB", ["up", "down"], ""),
        ("\r", ["enter"], ""),
        ("\n", ["enter"], ""),
        ("\r\n", ["enter"], ""),
        ("t\x1b[5~q", ["t", "pageup", "q"], ""),
        ("\x1b[1;5A", [], ""),  # ctrl+up: unknown, skipped whole
        ("j\x1b", ["j"], "\x1b"),  # maybe the start of a sequence
        ("\x1b[", [], "\x1b["),
        ("\x1bj", ["j"], ""),  # alt+j
    ],
)
def test_parse_keys(data: str, keys: list[str], rest: str) -> None:
    assert parse_keys(data) == (keys, rest)


def test_parse_keys_final_escape() -> None:
    assert parse_keys("\x1b", final=True) == (["escape"], "")
    assert parse_keys("\x1b[", final=True) == ([], "")


def test_key_reader_on_a_pty_restores_the_terminal() -> None:
    master, slave = os.openpty()
    try:
        before = termios.tcgetattr(slave)
        with KeyReader(slave) as reader:
            during = termios.tcgetattr(slave)
            assert not during[3] & termios.ICANON and not during[3] & termios.ECHO
            assert during[3] & termios.ISIG  # Ctrl-C still interrupts
            os.write(master, b"j\x1b[Aq")
            got: list[str] = []
            while len(got) < 3:
                keys = reader.read(5)
                assert keys, "no key arrived"
                got += keys
            assert got == ["j", "up", "q"]
            assert reader.read(0.01) == []
            os.write(master, b"\x1b")
            assert reader.read(5) == ["escape"]
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


# ------------------------------------------------------------------------------------------- the Dashboard


class Calls:
    def __init__(self) -> None:
        self.triggers: list[str] = []
        self.quits = 0

    def trigger(self, name: str) -> None:
        self.triggers.append(name)

    def quit(self) -> None:
        self.quits += 1


def make_dashboard(calls: Calls, store: LogStore | None = None, **kw: object) -> Dashboard:
    console = Console(file=io.StringIO(), width=80, height=30, force_terminal=True, color_system=None)
    return Dashboard(sample, store or LogStore(), calls.trigger, calls.quit, console, clock=lambda: NOW, **kw)  # type: ignore[arg-type]


def frame_text(dashboard: Dashboard) -> str:
    console = Console(file=io.StringIO(), width=80, height=30, force_terminal=True, color_system=None, record=True)
    console.print(dashboard.frame(80, 30))
    return console.export_text()


def test_dashboard_keys_select_toggle_trigger_quit() -> None:
    calls = Calls()
    store = LogStore()
    store.append("web", "GET / 200")
    store.append("api", "listening")
    dash = make_dashboard(calls, store)
    assert dash.ui.selected is None  # the first row: db
    for key in ["j", "j", "down"]:
        dash.handle_key(key)
    assert dash.ui.selected == "web"
    dash.handle_key("k")
    dash.handle_key("up")
    assert dash.ui.selected == "api"
    for _ in range(20):
        dash.handle_key("j")
    assert dash.ui.selected == "mail"  # stops at the end
    dash.handle_key("home")
    assert dash.ui.selected == "db"
    dash.handle_key("end")
    dash.handle_key("pageup")
    assert dash.ui.selected == "db"
    dash.handle_key("j")
    dash.handle_key("j")
    dash.handle_key("j")
    assert dash.ui.selected == "web"
    assert re.search(r"^api +│ listening", frame_text(dash), re.M)
    dash.handle_key("enter")
    assert dash.ui.logs_selected
    text = frame_text(dash)
    assert "logs: web (enter: all resources)" in text and "listening" not in text and "GET / 200" in text
    dash.handle_key("enter")
    assert not dash.ui.logs_selected
    dash.handle_key("t")
    assert calls.triggers == ["web"]
    assert "triggered web" in frame_text(dash)
    dash.handle_key("x")  # unknown keys do nothing
    assert calls.quits == 0
    dash.handle_key("q")
    assert calls.quits == 1
    assert "stopping; the workloads keep running" in frame_text(dash)


def test_dashboard_failing_callback_is_shown_not_raised() -> None:
    def boom(name: str) -> None:
        raise RuntimeError("engine gone")

    console = Console(file=io.StringIO(), width=80, height=30, force_terminal=True, color_system=None)
    dash = Dashboard(sample, LogStore(), boom, lambda: None, console, clock=lambda: NOW)
    dash.handle_key("t")
    assert "error: engine gone" in frame_text(dash)
    assert len(dash.errors) == 1


def test_dashboard_frame_reports_dropped_lines() -> None:
    store = LogStore(per_resource=10)
    for i in range(25):
        store.append("web", f"line {i}")
    text = frame_text(make_dashboard(Calls(), store))
    assert "15 older lines dropped (web 15)" in text
    assert "line 24" in text


def test_dashboard_threads_on_a_pty(tmp_path: Path) -> None:
    """start() puts the pty into cbreak mode and draws on the alternate screen; keys arrive through the key
    thread; stop() joins both threads and restores the terminal."""
    master, slave = os.openpty()
    calls = Calls()
    quit_seen = threading.Event()

    def on_quit() -> None:
        calls.quit()
        quit_seen.set()

    out = io.StringIO()
    console = Console(file=out, width=80, height=24, force_terminal=True, color_system=None)
    store = LogStore()
    store.append("web", "hello from web")
    before = termios.tcgetattr(slave)
    dash = Dashboard(sample, store, calls.trigger, on_quit, console, slave)
    try:
        dash.start()
        assert not termios.tcgetattr(slave)[3] & termios.ICANON
        os.write(master, b"jjjt")
        os.write(master, b"q")
        assert quit_seen.wait(10), "q did not reach on_quit"
    finally:
        dash.stop()
        after = termios.tcgetattr(slave)
        os.close(master)
        os.close(slave)
    assert after == before
    assert calls.triggers == ["web"]
    assert dash.frames >= 1 and not dash.errors
    assert not [t for t in threading.enumerate() if t.name.startswith("devloop-ui")]
    written = out.getvalue()
    assert "\x1b[?1049h" in written and "\x1b[?1049l" in written  # alternate screen entered and left
    assert "hello from web" in written


def test_dashboard_follows_the_real_terminal_size_not_columns_env() -> None:
    """rich believes COLUMNS/LINES (readline exports them once at start-up); the dashboard asks the terminal."""
    import fcntl
    import struct

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    with os.fdopen(os.dup(slave), "w") as file:
        console = Console(file=file, force_terminal=True, _environ={"COLUMNS": "80", "LINES": "24"})
        assert console.size == (80, 24)
        dash = Dashboard(sample, LogStore(), lambda name: None, lambda: None, console)
        assert dash.size() == (100, 30)
        assert console.size == (100, 30)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))
        assert dash.size() == (60, 24)
    os.close(master)
    os.close(slave)


def test_dashboard_recent_lines_interleave_in_order() -> None:
    store = LogStore(per_resource=50)
    for i in range(300):
        store.append(["web", "api", "", "worker"][i % 4] if i % 7 else "db", f"line {i}")
    dash = make_dashboard(Calls(), store)
    recent = dash.recent_lines(sample(), None, 40)
    assert recent == store.lines(None, limit=40)
    assert dash.recent_lines(sample(), "web", 5) == store.lines("web", limit=5)


def test_docs_capture_is_the_real_rendering() -> None:
    """docs/dashboard.md shows this very frame; regenerate the block there when the rendering changes."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "dashboard.md").read_text()
    block = doc.split("```text\n", 1)[1].split("```", 1)[0]
    text, _ = screen(sample(), UiState(selected="worker"), width=80, height=34, dropped={"web": 1200})
    assert block.rstrip("\n").split("\n") == [line.rstrip() for line in text.rstrip("\n").split("\n")]


def test_dashboard_without_a_keyboard_still_draws() -> None:
    """stdin at end of input (or without a file descriptor): no key thread work, frames still drawn."""
    out = io.StringIO()
    console = Console(file=out, width=80, height=24, force_terminal=True, color_system=None)
    with open(os.devnull) as devnull:
        for source in (devnull, io.StringIO("q")):
            dash = Dashboard(sample, LogStore(), lambda name: None, lambda: None, console, source)
            dash.start()
            try:
                for _ in range(1000):  # up to 10 s
                    if dash.frames or dash.errors:
                        break
                    threading.Event().wait(0.01)
            finally:
                dash.stop()
            assert dash.frames >= 1 and not dash.errors
    assert "j/k select" in out.getvalue()
