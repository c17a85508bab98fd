"""The live terminal dashboard of `devloop up`.

Two threads of its own, neither of which the engine ever waits for:

- the refresh thread draws a frame (rich ``Live`` on the alternate screen) when something changed: the
  snapshot's version, the log store's last line, the terminal size, a key press, or the clock's second (the
  "ago" column); at most ``fps`` frames per second however fast logs arrive;
- the key thread reads keys (terminal in cbreak mode, restored on :meth:`Dashboard.stop`) with ``select()``
  and a short timeout, so stopping is prompt.

It only reads snapshots and the log store; user intents go back through ``on_trigger(name)`` and
``on_quit()`` (the caller then stops the engine; the workloads keep running).
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import IO, TYPE_CHECKING, Any

from devloop.engine.logstore import LogEntry, LogStore
from devloop.engine.state import Snapshot
from devloop.ui.keys import KeyReader
from devloop.ui.render import UiState, render, resource_names, selected_name

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

MESSAGE_SECONDS = 4.0
PAGE = 10


class Dashboard:
    def __init__(
        self,
        snapshot_fn: Callable[[], Snapshot],
        store: LogStore,
        on_trigger: Callable[[str], None],
        on_quit: Callable[[], None],
        console: Console,
        input: IO[Any] | int | None = None,
        *,
        fps: float = 10.0,
        clock: Callable[[], float] = time.time,
        web_url: str = "",
    ) -> None:
        self._snapshot_fn = snapshot_fn
        self._store = store
        self._on_trigger = on_trigger
        self._on_quit = on_quit
        self.console = console
        self._fd = _fileno(input)
        self._interval = 1.0 / max(0.5, fps)
        self._clock = clock
        self._web_url = web_url
        encoding = (console.encoding or "").lower()
        self._ui = UiState(ascii=not encoding.startswith("utf"))
        self._ui_lock = threading.Lock()
        self._ui_version = 0
        self._message_until = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._keys: KeyReader | None = None
        self._live: Any = None
        self.frames = 0  # frames drawn (for tests and benchmarks)
        self.errors: list[BaseException] = []  # exceptions caught while drawing or handling keys

    # ------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Enter the alternate screen and start the refresh and key threads (returns at once)."""
        from rich.live import Live

        if self._threads:
            return
        self._stop.clear()
        if self._fd is not None:
            self._keys = KeyReader(self._fd)
            self._keys.open()
        try:
            self._live = Live(
                console=self.console,
                screen=True,
                auto_refresh=False,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()
        except BaseException:
            self._restore_terminal()
            raise
        self._threads = [threading.Thread(target=self._refresh_loop, name="devloop-ui-refresh", daemon=True)]
        if self._keys is not None:
            self._threads.append(threading.Thread(target=self._key_loop, name="devloop-ui-keys", daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop both threads, leave the alternate screen and restore the terminal; safe to call twice."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join()
        self._threads = []
        try:
            if self._live is not None:
                live, self._live = self._live, None
                live.stop()
        finally:
            self._restore_terminal()

    def __enter__(self) -> Dashboard:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _restore_terminal(self) -> None:
        if self._keys is not None:
            self._keys.close()

    # ------------------------------------------------------------------------------------ user intents

    @property
    def ui(self) -> UiState:
        with self._ui_lock:
            return replace(self._ui)

    def handle_key(self, key: str) -> None:
        """Act on one key name (see :mod:`devloop.ui.keys`): select, toggle logs, trigger, quit."""
        snapshot = self._snapshot_fn()
        action: Callable[[], None] | None = None
        with self._ui_lock:
            ui = self._ui
            names = resource_names(snapshot)
            current = selected_name(snapshot, ui)
            index = names.index(current) if current in names else 0
            moves = {"up": -1, "k": -1, "down": 1, "j": 1, "pageup": -PAGE, "pagedown": PAGE}
            if key in moves and names:
                ui.selected = names[min(max(0, index + moves[key]), len(names) - 1)]
            elif key == "home" and names:
                ui.selected = names[0]
            elif key == "end" and names:
                ui.selected = names[-1]
            elif key == "enter":
                ui.logs_selected = not ui.logs_selected
            elif key in ("t", "T") and current is not None:
                ui.selected = current
                self._say(f"triggered {current}")
                name = current

                def action() -> None:
                    self._on_trigger(name)

            elif key in ("q", "Q"):
                self._say("stopping; the workloads keep running")
                action = self._on_quit
            else:
                return
            self._ui_version += 1
        if action is not None:
            try:
                action()
            except Exception as exc:  # a failing callback must not kill the key thread
                self.errors.append(exc)
                with self._ui_lock:
                    self._say(f"error: {exc}")
                    self._ui_version += 1
        self._wake.set()

    def _say(self, text: str) -> None:
        self._ui.message = text
        self._message_until = self._clock() + MESSAGE_SECONDS

    # ------------------------------------------------------------------------------------ drawing

    def size(self) -> tuple[int, int]:
        """The terminal's real size: rich believes COLUMNS/LINES when they are in the environment (some
        libraries, readline for one, export them once at start-up), which would freeze the frame's size and
        ignore resizes; a console that writes to no terminal keeps its own size."""
        size = self.console.size
        try:
            fd = self.console.file.fileno()
            if os.isatty(fd):
                real = os.get_terminal_size(fd)
                if real.columns > 0 and real.lines > 0:
                    if (real.columns, real.lines) != (size.width, size.height):
                        self.console.size = (real.columns, real.lines)  # Live's Screen crops to it
                    return real.columns, real.lines
        except (AttributeError, ValueError, OSError):  # no file descriptor: a string buffer in tests
            pass
        return size.width, size.height

    def frame(self, width: int | None = None, height: int | None = None) -> RenderableType:
        """The current picture (what the next refresh would draw)."""
        size = self.console.size
        width = size.width if width is None else width
        height = size.height if height is None else height
        snapshot = self._snapshot_fn()
        now = self._clock()
        with self._ui_lock:
            if self._ui.message and now >= self._message_until:
                self._ui.message = ""
            ui = replace(self._ui)
        selected = selected_name(snapshot, ui)
        only = selected if ui.logs_selected else None
        logs = self.recent_lines(snapshot, only, max(1, height))
        if only is not None:
            dropped = {only: self._store.dropped(only)}
        else:
            dropped = {view.name: self._store.dropped(view.name) for view in snapshot.resources}
            dropped[""] = self._store.dropped("")
            dropped = {name or "devloop": n for name, n in dropped.items() if n}
        return render(snapshot, logs, ui, width, height, dropped=dropped, now=now, web_url=self._web_url)

    def recent_lines(self, snapshot: Snapshot, only: str | None, limit: int) -> list[LogEntry]:
        """The newest ``limit`` lines of one resource, or of all of them interleaved in order.

        For all of them it takes each resource's newest ``limit`` and merges those, which costs
        resources x limit, instead of asking the store to sort every line it holds (300 full buffers
        are 1.5 million lines: 0.6 s a frame, holding the store's lock while the engine writes).
        """
        if only is not None:
            return self._store.lines(only, limit=limit)
        names = [view.name for view in snapshot.resources]
        tails = [self._store.lines(name, limit=limit) for name in [*names, ""]]
        newest = heapq.nlargest(limit, itertools.chain.from_iterable(tails), key=lambda e: e.seq)
        newest.reverse()
        return newest

    def _refresh_loop(self) -> None:
        last_key: tuple[Any, ...] | None = None
        last_draw = 0.0
        while not self._stop.is_set():
            since = time.monotonic() - last_draw
            if since < self._interval:  # at most fps frames per second
                self._stop.wait(self._interval - since)
                continue
            try:
                size = self.size()
                with self._ui_lock:
                    ui_key = (self._ui_version, bool(self._ui.message) and self._clock() < self._message_until)
                key = (self._snapshot_fn().version, self._store.last_seq, size, ui_key, int(self._clock()))
                if key != last_key:
                    last_key = key
                    last_draw = time.monotonic()
                    live = self._live
                    if live is not None:
                        live.update(self.frame(*size), refresh=True)
                        self.frames += 1
            except Exception as exc:  # drawing must never take devloop down
                self.errors.append(exc)
                last_draw = time.monotonic()
            self._wake.wait(self._interval)
            self._wake.clear()

    def _key_loop(self) -> None:
        keys = self._keys
        assert keys is not None
        try:
            while not self._stop.is_set():
                pressed = keys.read(self._interval)
                if pressed is None:  # end of input: no more keys, the dashboard keeps drawing
                    return
                for key in pressed:
                    try:
                        self.handle_key(key)
                    except Exception as exc:
                        self.errors.append(exc)
        finally:
            keys.close()


def _fileno(input: IO[Any] | int | None) -> int | None:
    """The file descriptor keys are read from; None when there is none (no keys, the dashboard still draws)."""
    if input is None or isinstance(input, int):
        return input
    try:
        return input.fileno()
    except (AttributeError, ValueError, OSError):  # closed, or a pseudo-file (a test's captured stdin)
        return None
