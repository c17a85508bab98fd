"""The dashboard's picture: a pure function from a snapshot, some log lines and the UI state to text.

:func:`render` builds exactly ``height`` lines of at most ``width`` cells each (never wrapped), so a frame
always fits the screen, whatever the terminal size, the number of resources or the length of a log line.
Only the visible table rows and the log lines that fit are turned into text, so a frame costs the same
with 300 resources as with 3. Nothing here reads the clock, the terminal or the engine: the caller passes
``now`` and everything else, which makes frames deterministic and testable.

Layout, top to bottom::

    header      project · target and where · counts
    table       column titles, then resources grouped by label (ungrouped last), the selected row marked
    detail      the selected resource: kind, labels, runtime, ports; when failed its reason and last lines
    logs        a title (all resources / the selected one), a note when older lines were dropped, the lines
    footer      the keys
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group
from rich.style import Style
from rich.text import Text

from devloop.durations import short_age
from devloop.engine.logstore import LogEntry
from devloop.engine.sink import plain_text
from devloop.engine.state import ResourceView, Snapshot, Status

UNGROUPED = "ungrouped"

#: icon (unicode, ascii) and colour of every status
STATUS_LOOK: dict[Status, tuple[str, str, str]] = {
    Status.PENDING: ("○", "o", "grey62"),
    Status.TESTING: ("◇", "?", "cyan"),
    Status.BUILDING: ("⚙", "#", "yellow"),
    Status.DEPLOYING: ("▶", ">", "blue"),
    Status.LIVE_UPDATING: ("⚡", "~", "magenta"),
    Status.STARTING: ("◐", "^", "cyan"),
    Status.READY: ("●", "*", "green"),
    Status.COMPLETED: ("✓", "+", "green"),
    Status.FAILED: ("✗", "x", "bold red"),
    Status.MANUAL_PENDING: ("⏸", "=", "yellow"),
}

NAME_COLOURS = (
    "cyan",
    "magenta",
    "green",
    "yellow",
    "blue",
    "bright_cyan",
    "bright_magenta",
    "bright_green",
    "bright_yellow",
    "bright_blue",
)

FOOTER_KEYS = "↑/↓ j/k select · enter all/selected logs · t trigger · q quit"
FOOTER_KEYS_ASCII = "up/down j/k select | enter all/selected logs | t trigger | q quit"

MAX_FAILURE_LINES = 6


@dataclass
class UiState:
    """What the user chose; the dashboard owns it, :func:`render` only reads it."""

    selected: str | None = None  # resource name; None: the first row
    logs_selected: bool = False  # log pane: only the selected resource (else all, interleaved)
    ascii: bool = False  # no unicode icons or box characters
    message: str = ""  # a short note shown in the footer ("triggered web")


# ------------------------------------------------------------------------------------------- helpers


def row_order(snapshot: Snapshot) -> list[tuple[str, list[ResourceView]]]:
    """Resources grouped by their first label, groups in alphabetical order, ungrouped last.

    Within a group resources keep the snapshot's (deploy) order. A resource with several labels is listed
    under its first one; the detail line shows all of them.
    """
    groups: dict[str, list[ResourceView]] = {}
    loose: list[ResourceView] = []
    for view in snapshot.resources:
        if view.labels:
            groups.setdefault(view.labels[0], []).append(view)
        else:
            loose.append(view)
    ordered = [(label, groups[label]) for label in sorted(groups)]
    if loose:
        ordered.append((UNGROUPED if groups else "", loose))
    return ordered


def resource_names(snapshot: Snapshot) -> list[str]:
    """The resources in the order the table shows them (what up/down walk through)."""
    return [view.name for _, views in row_order(snapshot) for view in views]


def selected_name(snapshot: Snapshot, ui: UiState) -> str | None:
    names = resource_names(snapshot)
    if ui.selected in names:
        return ui.selected
    return names[0] if names else None


def clean_line(text: str) -> str:
    """A log line made safe for a screen: :func:`devloop.engine.sink.plain_text` with tabs expanded."""
    return plain_text(text, tabs=4)


def name_colour(name: str) -> str:
    return NAME_COLOURS[zlib.crc32(name.encode()) % len(NAME_COLOURS)]


def duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def update_text(view: ResourceView) -> str:
    update = view.last_update
    if update is None:
        return ""
    return f"{update.kind} {duration(update.seconds)}"


def runtime_text(view: ResourceView, ascii: bool) -> str:
    text = view.runtime
    if view.restarts:
        mark = f"restarts {view.restarts}" if ascii else f"↻{view.restarts}"
        text = f"{text} {mark}" if text else mark
    return text


def status_text(view: ResourceView, ascii: bool) -> Text:
    icon, fallback, colour = STATUS_LOOK[view.status]
    return Text(f"{fallback if ascii else icon} {view.status.value}", style=colour)


def _fit(text: Text, width: int, *, pad: bool = True) -> Text:
    text.no_wrap = True
    text.overflow = "ellipsis"
    text.truncate(max(0, width), overflow="ellipsis", pad=pad)
    return text


def _cell(text: str | Text, width: int, style: str = "") -> Text:
    cell = text if isinstance(text, Text) else Text(text, style=style)
    return _fit(cell, width)


# ------------------------------------------------------------------------------------------- columns


@dataclass(frozen=True)
class _Columns:
    name: int
    kind: int  # 0: hidden
    status: int
    update: int
    ago: int
    runtime: int
    ports: int  # 0: hidden


def _columns(views: Sequence[ResourceView], width: int) -> _Columns:
    """Column widths for the visible rows; narrow terminals drop KIND first, then PORTS (the detail line
    below the table still shows both for the selected resource)."""
    marker = 2
    name = min(max([len(v.name) for v in views] + [4]), 24)
    kind = min(max([len(v.kind) for v in views] + [4]), 14)
    status = 16  # icon (up to 2 cells), space, "live-updating"
    update = 13  # "deploy 0.42 s"
    ago_w = 4
    ports_need = max([len(" ".join(v.port_forwards)) for v in views] + [0])
    fixed = marker + name + 1 + status + 1 + update + 1 + ago_w + 1
    rest = width - fixed
    if rest < 8:  # very narrow: shrink the name column first
        name = max(6, name - (8 - rest))
        rest = width - (marker + name + 1 + status + 1 + update + 1 + ago_w + 1)
    # KIND only when RUNTIME (and PORTS, when any) keep enough room
    show_kind = rest - (kind + 1) >= (36 if ports_need else 20)
    if show_kind:
        rest -= kind + 1
    runtime = max(0, rest)
    ports = 0
    if ports_need and rest >= 24:  # URLs are worth more whole than the runtime text
        ports = min(ports_need, rest - 13)
        runtime = rest - ports - 1
    return _Columns(name, kind if show_kind else 0, status, update, ago_w, runtime, ports)


def _row(view: ResourceView, cols: _Columns, width: int, *, selected: bool, ascii: bool, now: float) -> Text:
    marker = (">" if ascii else "▸") if selected else " "
    line = Text(marker + " ")
    line.append_text(_cell(view.name, cols.name, "bold" if selected else ""))
    line.append(" ")
    if cols.kind:
        line.append_text(_cell(view.kind, cols.kind, "dim"))
        line.append(" ")
    line.append_text(_cell(status_text(view, ascii), cols.status))
    line.append(" ")
    line.append_text(_cell(update_text(view), cols.update))
    line.append(" ")
    when = short_age(now - view.last_update.finished_at) if view.last_update else ""
    line.append_text(_cell(when, cols.ago, "dim"))
    if cols.runtime:
        line.append(" ")
        if view.status is Status.FAILED and view.reason:
            line.append_text(_cell(view.reason, cols.runtime, "red"))
        elif view.status is Status.MANUAL_PENDING and view.pending_changes:
            pending = f"{view.pending_changes} change{'s' if view.pending_changes != 1 else ''} pending"
            line.append_text(_cell(pending, cols.runtime, "yellow"))
        else:
            line.append_text(_cell(runtime_text(view, ascii), cols.runtime))
    if cols.ports:
        line.append(" ")
        line.append_text(_cell(" ".join(view.port_forwards), cols.ports, "underline"))
    line = _fit(line, width)
    if selected:
        line.stylize(Style(reverse=True))
    return line


def _title_row(cols: _Columns, width: int) -> Text:
    parts = ["  ", "NAME".ljust(cols.name), " "]
    if cols.kind:
        parts += ["KIND".ljust(cols.kind), " "]
    parts += ["STATUS".ljust(cols.status), " ", "UPDATE".ljust(cols.update), " ", "AGO".ljust(cols.ago)]
    if cols.runtime:
        parts += [" ", "RUNTIME".ljust(cols.runtime)]
    if cols.ports:
        parts += [" ", "PORTS"]
    return _fit(Text("".join(parts), style="bold dim"), width)


# ------------------------------------------------------------------------------------------- sections


def _header(snapshot: Snapshot, width: int, ascii: bool, web_url: str = "") -> list[Text]:
    """One line: project, target and where, counts (and the web UI's address); two lines when that does not
    fit."""
    counts = snapshot.counts()
    sep = " | " if ascii else " · "
    line = Text()
    line.append("devloop", style="bold")
    line.append(sep)
    line.append(snapshot.project, style="bold cyan")
    line.append(sep)
    where = snapshot.where
    line.append(where if snapshot.target in where else f"{snapshot.target}: {where}" if where else snapshot.target)
    tally = Text()
    tally.append(f"{counts['ready']} ready", style="green")
    tally.append(sep)
    tally.append(f"{counts['updating']} updating", style="yellow" if counts["updating"] else "")
    tally.append(sep)
    tally.append(f"{counts['failed']} failed", style="bold red" if counts["failed"] else "")
    tally.append(f" of {counts['total']}", style="dim")
    if web_url:
        tally.append(sep)
        tally.append(web_url, style="underline")
    if line.cell_len + 2 + tally.cell_len <= width:
        line.append("  ")
        line.append_text(tally)
        return [_fit(line, width)]
    return [_fit(line, width), _fit(tally, width)]


def _window(total: int, capacity: int, selected: int) -> tuple[int, int, bool, bool]:
    """Which rows [start, end) of ``total`` to show in ``capacity`` lines, keeping ``selected`` visible;
    plus whether "more above" / "more below" lines are needed (they use one line each)."""
    if total <= capacity:
        return 0, total, False, False
    if capacity < 3:
        start = min(max(0, selected), total - capacity)
        return start, start + capacity, False, False
    rows = capacity - 2
    start = min(max(0, selected - rows // 2), total - rows)
    if start <= 1:  # at the top: no "above" line
        return 0, capacity - 1, False, True
    if start + rows >= total - 1:  # at the bottom: no "below" line
        return total - (capacity - 1), total, True, False
    return start, start + rows, True, True


def _table(snapshot: Snapshot, selected: str | None, width: int, capacity: int, ascii: bool, now: float) -> list[Text]:
    """The title row plus at most ``capacity - 1`` lines of groups and resources."""
    if capacity <= 0:
        return []
    groups = row_order(snapshot)
    if not groups:
        return [_fit(Text("  no resources", style="dim"), width)]
    # flat list of display rows: a group heading (str) or a resource
    flat: list[str | ResourceView] = []
    for label, views in groups:
        if label:
            flat.append(label)
        flat.extend(views)
    sel_index = next((i for i, r in enumerate(flat) if isinstance(r, ResourceView) and r.name == selected), 0)
    start, end, above, below = _window(len(flat), capacity - 1, sel_index)
    visible = [r for r in flat[start:end] if isinstance(r, ResourceView)]
    cols = _columns(visible or list(snapshot.resources[:1]), width)
    lines = [_title_row(cols, width)]
    if above:
        lines.append(_fit(Text(f"  {'^' if ascii else '↑'} {start} more above", style="dim"), width))
    for item in flat[start:end]:
        if isinstance(item, str):
            lines.append(_fit(Text(f"{'-' if ascii else '▾'} {item}", style="bold"), width))
        else:
            lines.append(_row(item, cols, width, selected=item.name == selected, ascii=ascii, now=now))
    if below:
        lines.append(_fit(Text(f"  {'v' if ascii else '↓'} {len(flat) - end} more below", style="dim"), width))
    return lines


def _detail(view: ResourceView | None, width: int, capacity: int, ascii: bool) -> list[Text]:
    """One line about the selected resource, then (failed) its reason and last lines."""
    if view is None or capacity <= 0:
        return []
    sep = " | " if ascii else " · "
    line = Text()
    line.append(view.name, style="bold")
    line.append(sep + view.kind, style="dim")
    if view.labels:
        line.append(sep + "labels: " + ", ".join(view.labels), style="dim")
    runtime = view.runtime
    if runtime:
        line.append(sep + runtime)
    if view.restarts:
        line.append(f"{sep}{view.restarts} restart{'s' if view.restarts != 1 else ''}", style="yellow")
    if view.manual:
        pending = view.pending_changes
        note = f"manual trigger, {pending} change{'s' if pending != 1 else ''} pending" if pending else "manual trigger"
        line.append(sep + note + (" (press t)" if pending else ""), style="yellow" if pending else "dim")
    if view.port_forwards:
        line.append(sep + " ".join(view.port_forwards), style="underline")
    if view.reason and view.status is not Status.FAILED:
        line.append(sep + view.reason, style="dim")
    lines = [_fit(line, width)]
    if view.status is Status.FAILED:
        icon = "x" if ascii else "✗"
        reason = view.reason or "failed"
        lines.append(_fit(Text(f"{icon} {reason}", style="bold red"), width))
        bar = "|" if ascii else "│"
        tail = view.last_lines[-MAX_FAILURE_LINES:]
        for text in tail:
            lines.append(_fit(Text(f"  {bar} {clean_line(text)}", style="red"), width))
    return lines[:capacity]


def _logs(
    logs: Sequence[LogEntry],
    selected: str | None,
    ui: UiState,
    width: int,
    capacity: int,
    dropped: dict[str, int],
    names: Sequence[str] = (),
) -> list[Text]:
    """The log pane; ``names``: every resource, so that the prefix column keeps its width while lines scroll."""
    if capacity <= 0:
        return []
    rule = "-" if ui.ascii else "─"
    if ui.logs_selected and selected is not None:
        title = f"{rule}{rule} logs: {selected} (enter: all resources) "
        shown = [e for e in logs if e.resource == selected]
        lost = {selected: dropped.get(selected, 0)} if dropped.get(selected) else {}
    else:
        title = f"{rule}{rule} logs: all resources (enter: only {selected or 'the selected one'}) "
        shown = list(logs)
        lost = {name: n for name, n in dropped.items() if n}
    lines = [_fit(Text(title + rule * max(0, width - len(title)), style="dim"), width)]
    room = capacity - 1
    if lost and room > 0:
        total = sum(lost.values())
        which = ", ".join(f"{name} {n}" for name, n in sorted(lost.items(), key=lambda kv: -kv[1])[:4])
        mark = "..." if ui.ascii else "…"
        note = f"{mark} {total} older line{'s' if total != 1 else ''} dropped ({which}): the buffer keeps the newest"
        if ui.logs_selected:
            note = f"{mark} {total} older line{'s' if total != 1 else ''} dropped: the buffer keeps the newest"
        lines.append(_fit(Text(note, style="yellow"), width))
        room -= 1
    if room <= 0:
        return lines[:capacity]
    tail = shown[-room:]
    prefix_width = min(max([len(e.resource or "devloop") for e in tail] + [len(n) for n in names] + [4]), 16)
    bar = "|" if ui.ascii else "│"
    only_one = ui.logs_selected and selected is not None
    for entry in tail:
        line = Text()
        if not only_one:
            name = entry.resource or "devloop"
            style = "dim" if not entry.resource else name_colour(name)
            line.append_text(_cell(name, prefix_width, style))
            line.append(f" {bar} ", style="dim")
        text = clean_line(entry.text)
        style = ""
        if text.startswith("── "):  # a state change (LogSink)
            style = "dim"
            if ui.ascii:
                text = "-- " + text[3:]
        line.append(text, style=style)
        lines.append(_fit(line, width))
    return lines


def _footer(ui: UiState, width: int) -> Text:
    keys = Text(FOOTER_KEYS_ASCII if ui.ascii else FOOTER_KEYS, style="dim")
    if not ui.message:
        return _fit(keys, width)
    message = Text(ui.message, style="bold")
    room = width - message.cell_len - 3
    if room < 12:  # the message wins: it answers the key just pressed
        return _fit(message, width)
    line = _fit(keys, room, pad=keys.cell_len > room)
    line.append("   ")
    line.append_text(message)
    return _fit(line, width)


# ------------------------------------------------------------------------------------------- the frame


def render_lines(
    snapshot: Snapshot,
    logs: Sequence[LogEntry],
    ui: UiState,
    width: int,
    height: int,
    *,
    dropped: dict[str, int] | None = None,
    now: float | None = None,
    web_url: str = "",
) -> list[Text]:
    """Exactly ``height`` lines (each at most ``width`` cells); ``web_url``: the web UI's address, shown in the
    header."""
    width = max(1, width)
    height = max(1, height)
    now = time.time() if now is None else now
    dropped = dropped or {}
    selected = selected_name(snapshot, ui)
    view = snapshot.resource(selected) if selected is not None else None

    header = _header(snapshot, width, ui.ascii, web_url)
    if height < 8:  # a tiny terminal: one header line
        header = header[-1:]
    footer = [_footer(ui, width)]
    body = height - len(header) - len(footer)
    if body <= 0:
        return (footer if height == 1 else [*header, *footer])[:height]

    # how many rows the table wants: title + rows (groups + resources)
    groups = row_order(snapshot)
    wanted = 1 + sum(len(views) + (1 if label else 0) for label, views in groups) if groups else 2
    detail_want = 0
    if view is not None:
        detail_want = 1 + (1 + min(len(view.last_lines), MAX_FAILURE_LINES) if view.status is Status.FAILED else 0)
    # split: the log pane keeps at least a third of the body (and 3 lines), the table up to the rest
    logs_min = min(max(3, body // 3), body)
    detail_n = min(detail_want, max(0, body - logs_min - 2))
    table_n = min(wanted, max(0, body - logs_min - detail_n))
    if table_n == 1 and wanted > 1:  # a title without rows is useless
        table_n = 0
    logs_n = body - table_n - detail_n

    lines = header
    lines += _table(snapshot, selected, width, table_n, ui.ascii, now)
    lines += _detail(view, width, detail_n, ui.ascii)
    names = [view.name for view in snapshot.resources]
    lines += _logs(logs, selected, ui, width, logs_n, dropped, names)
    while len(lines) < height - 1:
        lines.append(Text(""))
    lines = lines[: height - 1] + footer
    return lines


def render(
    snapshot: Snapshot,
    logs: Sequence[LogEntry],
    ui: UiState,
    width: int,
    height: int,
    *,
    dropped: dict[str, int] | None = None,
    now: float | None = None,
    web_url: str = "",
) -> Group:
    """The whole frame as one renderable of exactly ``height`` lines."""
    lines = render_lines(snapshot, logs, ui, width, height, dropped=dropped, now=now, web_url=web_url)
    return Group(*lines)
