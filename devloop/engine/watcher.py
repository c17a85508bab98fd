"""The file watcher: file system events on the project root, debounced into batches of paths.

Two parts:

* :class:`Debouncer` (pure, no threads, no sleeps; driven by an injected :class:`Clock`) turns a stream
  of :class:`FsEvent` into :class:`FileBatch` es. It folds each path's events into what they add up to:

  - created then deleted within a batch: nothing (editors' and tools' temporary files);
  - deleted then created (or modified) again: changed;
  - a move: the source deleted and the destination changed, so an atomic save (write a temporary
    file, rename it over the target) is one change of the target;
  - editors' own files (swap, backup, lock and autosave files: ``.x.swp``, ``x~``, ``.#x``, ``#x#``,
    ``x___jb_tmp___``, ``.goutputstream-*``, vim's ``4913``...) never appear (:func:`is_editor_temp`);
  - a deleted folder is reported as the folder itself; paths below it are folded into it (unless the
    folder was created again, in which case its old content that is gone is reported path by path).

  A batch closes after ``debounce_ms`` without an event, and at the latest ``max_delay_s`` after its
  first event, so that a file written continuously cannot hold changes back for long. A storm of
  changes is one batch: once the open batch holds ``storm_paths`` (200) paths, the cap becomes
  ``storm_max_delay_s`` (10 s) instead, because the first half of a ``git checkout`` is not worth a
  build (a 10,000-file checkout takes 2.7-3.5 s on an overlay file system; measured), and the quiet
  period becomes at least ``storm_debounce_ms`` (250 ms), so that a writer descheduled for a moment
  on a busy machine does not cut the storm in two. Pass ``storm_paths=None`` for the plain rules.
  When a batch is cut by a cap, the events that keep arriving gather into the next batch; nothing
  is lost.

* :class:`Watcher` runs watchdog's observer (inotify on Linux, never polling) on the project root,
  drops ignored paths before they reach the debouncer (so files devloop or a build writes in ignored
  folders neither make nor delay a batch), and calls ``on_batch`` from its own thread as soon as a
  batch is due (a condition variable with a timeout: no polling loop).

:class:`FakeWatcher` has the same interface for the engine's tests: the test calls :meth:`FakeWatcher.emit`.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from devloop.engine.clock import Clock, MonotonicClock
from devloop.engine.events import FileBatch

if TYPE_CHECKING:
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers.api import BaseObserver

log = logging.getLogger(__name__)

EventKind = Literal["created", "modified", "deleted", "moved"]

#: How long watchdog holds a rename's first half to pair it with the second (its default is 0.5 s,
#: which an unpaired rename - a file moved out of the project - would add to every event behind it).
MOVE_PAIRING_S = 0.02


# ------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class FsEvent:
    """One file system event, as the debouncer sees it. ``dest`` is set for ``moved`` only."""

    kind: EventKind
    path: Path
    dest: Path | None = None
    is_dir: bool = False


# --------------------------------------------------------------------------------- editor names

_EDITOR_TEMP = re.compile(
    r"""(
        .*~                          # backups: vim, emacs, nano, kate
      | \..*\.sw[a-px]               # vim swap files (.name.swp, .swo, ...; .swx)
      | .*\.sw[a-px]\.tmp
      | \.\#.*                       # emacs lock links
      | \#.*\#                       # emacs autosave
      | .*___jb_(tmp|old|bak)___     # JetBrains safe write
      | \.goutputstream-.*           # GIO (gedit, ...)
      | .*\.kate-swp                 # kate swap
      | \.~lock\..*\#                # LibreOffice locks
      | 4913                         # vim's "can I write here" probe
    )""",
    re.VERBOSE | re.DOTALL,
)


def is_editor_temp(path: Path) -> bool:
    """A name editors use for their own swap, backup, lock or temporary files."""
    return _EDITOR_TEMP.fullmatch(path.name) is not None


# ------------------------------------------------------------------------------------- debouncer

_NEW = 1  # did not exist before the batch, exists now
_CHANGED = 2  # existed (or may have), exists now, changed
_DELETED = 3  # existed, gone now
_TRANSIENT = 4  # created and removed within the batch: nothing to report


class Debouncer:
    """Folds events into batches; closes a batch after ``debounce_ms`` of quiet, at most ``max_delay_s``
    after its first event (``storm_debounce_ms`` and ``storm_max_delay_s`` once it holds ``storm_paths``
    paths). Pure: time comes
    from ``clock``; not thread-safe (the caller locks)."""

    def __init__(
        self,
        clock: Clock | None = None,
        debounce_ms: int = 50,
        max_delay_s: float = 2.0,
        *,
        storm_paths: int | None = 200,
        storm_max_delay_s: float = 10.0,
        storm_debounce_ms: int = 250,
        is_temp: Callable[[Path], bool] = is_editor_temp,
    ) -> None:
        if debounce_ms < 0:
            raise ValueError(f"debounce_ms must be 0 or more, got {debounce_ms}")
        if max_delay_s < 0:
            raise ValueError(f"max_delay_s must be 0 or more, got {max_delay_s}")
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.debounce_s = debounce_ms / 1000.0
        self.max_delay_s = float(max_delay_s)
        self.storm_paths = storm_paths
        self.storm_max_delay_s = max(float(storm_max_delay_s), self.max_delay_s)
        self.storm_debounce_s = max(storm_debounce_ms / 1000.0, self.debounce_s)
        self._is_temp = is_temp
        self._states: dict[Path, int] = {}
        self._first: float | None = None
        self._last = 0.0
        self._overflow = False

    # -- input ---------------------------------------------------------------------------------------------

    def add(self, event: FsEvent) -> bool:
        """Record one event (at ``clock.monotonic()``). True when it opened a new batch, i.e. when
        :meth:`next_deadline` went from None to a time (a waiting thread must be woken)."""
        if event.kind == "moved":
            assert event.dest is not None, "a moved event needs a dest"
            src_temp, dst_temp = self._is_temp(event.path), self._is_temp(event.dest)
            if src_temp and dst_temp:
                return False
            if not src_temp:
                self._apply("deleted", event.path)
            if not dst_temp:
                self._apply("created", event.dest)
        else:
            if self._is_temp(event.path):
                return False
            self._apply(event.kind, event.path)
        return self._touch()

    def add_overflow(self) -> bool:
        """The kernel dropped events: the current batch gets ``overflow=True``."""
        self._overflow = True
        return self._touch()

    def _touch(self) -> bool:
        now = self.clock.monotonic()
        self._last = now
        if self._first is None:
            self._first = now
            return True
        return False

    def _apply(self, kind: str, path: Path) -> None:
        states = self._states
        state = states.get(path)
        if kind == "deleted":
            if state is None or state == _CHANGED:
                states[path] = _DELETED
            elif state == _NEW:
                states[path] = _TRANSIENT
            # _DELETED, _TRANSIENT: unchanged
        else:  # created or modified
            if state is None:
                states[path] = _NEW if kind == "created" else _CHANGED
            elif state == _DELETED:
                states[path] = _CHANGED
            elif state == _TRANSIENT:
                states[path] = _NEW
            # _NEW, _CHANGED: unchanged

    # -- timing --------------------------------------------------------------------------------------------

    @property
    def pending(self) -> bool:
        """Is a batch open?"""
        return self._first is not None

    def next_deadline(self) -> float | None:
        """When the open batch closes if nothing else arrives (clock time); None when no batch is open."""
        if self._first is None:
            return None
        quiet, cap = self.debounce_s, self.max_delay_s
        if self.storm_paths is not None and len(self._states) >= self.storm_paths:
            quiet, cap = self.storm_debounce_s, self.storm_max_delay_s
        return min(self._last + quiet, self._first + cap)

    def past_cap(self, now: float) -> bool:
        """Has the open batch reached its maximum delay at ``now``?"""
        if self._first is None:
            return False
        cap = self.max_delay_s
        if self.storm_paths is not None and len(self._states) >= self.storm_paths:
            cap = self.storm_max_delay_s
        return now >= self._first + cap

    def due(self, now: float | None = None) -> FileBatch | None:
        """The batch, if it is due at ``now`` (default: the clock's time) and not empty. A due batch is
        closed even when its events cancelled out (None is returned then)."""
        deadline = self.next_deadline()
        if deadline is None:
            return None
        if now is None:
            now = self.clock.monotonic()
        if now < deadline:
            return None
        return self.flush()

    def flush(self) -> FileBatch | None:
        """Close the open batch now; None when it is empty."""
        states, overflow = self._states, self._overflow
        self._states, self._first, self._overflow = {}, None, False
        deleted_all = {p for p, s in states.items() if s == _DELETED}
        changed: set[Path] = set()
        deleted: set[Path] = set()
        for path, state in states.items():
            if state in (_NEW, _CHANGED):
                if not _under_any(path, deleted_all):
                    changed.add(path)
            elif state == _DELETED and not _under_any(path, deleted_all):
                deleted.add(path)
        batch = FileBatch(frozenset(changed), frozenset(deleted), overflow)
        return None if batch.empty else batch


def _under_any(path: Path, folders: set[Path]) -> bool:
    if not folders:
        return False
    return any(parent in folders for parent in path.parents)


# --------------------------------------------------------------------------------------- watcher


class IgnorePredicate(Protocol):
    """True when the watcher should drop ``path`` (a :class:`devloop.engine.ignore.WatchIgnore`)."""

    def __call__(self, path: Path, is_dir: bool = ...) -> bool: ...


def never_ignore(path: Path, is_dir: bool = False) -> bool:
    return False


BatchCallback = Callable[[FileBatch], None]


class WatcherLike(Protocol):
    """What the engine needs of a watcher (:class:`Watcher` and :class:`FakeWatcher`)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Watcher:
    """Watches ``root`` recursively and calls ``on_batch`` with each debounced :class:`FileBatch`.

    ``on_batch`` runs on the watcher's own thread, one batch at a time; it should hand the batch over
    (e.g. post an event to the engine) rather than do the work. Events that arrive meanwhile gather
    into the next batch. ``start()`` sets up every watch before it returns, so a change made after it
    returns is seen. ``stop()`` stops and joins every thread (watchdog's and the watcher's); it is
    idempotent; a batch still open at stop is dropped.
    """

    def __init__(
        self,
        root: Path,
        ignore: IgnorePredicate = never_ignore,
        on_batch: BatchCallback | None = None,
        debounce_ms: int = 50,
        max_delay_s: float = 2.0,
        clock: Clock | None = None,
        *,
        storm_paths: int | None = 200,
        storm_max_delay_s: float = 10.0,
        storm_debounce_ms: int = 250,
    ) -> None:
        self.root = Path(os.path.abspath(root))
        self._ignore: IgnorePredicate = ignore
        self._on_batch: BatchCallback = on_batch if on_batch is not None else (lambda batch: None)
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._debouncer = Debouncer(
            self._clock,
            debounce_ms,
            max_delay_s,
            storm_paths=storm_paths,
            storm_max_delay_s=storm_max_delay_s,
            storm_debounce_ms=storm_debounce_ms,
        )
        self._cond = threading.Condition()
        self._stopping = False
        self._observer: BaseObserver | None = None
        self._thread: threading.Thread | None = None
        self._state_lock = threading.Lock()
        self.backend = ""  # the watchdog observer class used, for messages

    # -- control -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start watching. Raises :class:`devloop.errors.DevloopError` when the root cannot be watched."""
        with self._state_lock:
            if self._thread is not None:
                return
            self._stopping = False
            # watchdog warns when a new folder's watch is registered twice (a folder created inside a
            # folder just created, as in a checkout); harmless, and not the user's business.
            warnings.filterwarnings("ignore", message="Callback with id", category=RuntimeWarning)
            try:
                observer = self._make_observer()
            except OSError as exc:
                raise _watch_error(self.root, exc) from exc
            try:
                handler = cast("FileSystemEventHandler", _Handler(self))  # duck-typed: dispatch() only
                observer.schedule(handler, str(self.root), recursive=True, event_filter=_event_filter())
                observer.start()
            except OSError as exc:
                _stop_observer(observer)
                raise _watch_error(self.root, exc) from exc
            for emitter in list(observer.emitters):
                _tune_emitter(emitter, self._overflowed)
            self._observer = observer
            thread = threading.Thread(target=self._run, name="devloop-watch-debounce", daemon=True)
            thread.start()
            self._thread = thread

    def stop(self) -> None:
        """Stop watching and join every thread. Safe to call more than once, or before start()."""
        with self._state_lock:
            observer, thread = self._observer, self._thread
            self._observer, self._thread = None, None
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            if observer is not None:
                _stop_observer(observer)
            if thread is not None and thread is not threading.current_thread():
                thread.join()
            with self._cond:
                self._debouncer.flush()

    def __enter__(self) -> Watcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None

    # -- event intake (watchdog's dispatch thread) ---------------------------------------------------------

    def _add(self, event: FsEvent) -> None:
        with self._cond:
            if self._debouncer.add(event):
                self._cond.notify()

    def _overflowed(self) -> None:
        log.warning("the kernel dropped file events under %s (inotify queue overflow)", self.root)
        with self._cond:
            if self._debouncer.add_overflow():
                self._cond.notify()

    def _handle(self, event: Any) -> None:
        converted = _convert(event)
        if converted is None:
            return
        ignore = self._ignore
        kind, path, dest, is_dir = converted.kind, converted.path, converted.dest, converted.is_dir
        if kind == "moved":
            assert dest is not None
            src_ignored, dst_ignored = ignore(path, is_dir), ignore(dest, is_dir)
            if src_ignored and dst_ignored:
                return
            if src_ignored:
                converted = FsEvent("created", dest, is_dir=is_dir)
            elif dst_ignored:
                converted = FsEvent("deleted", path, is_dir=is_dir)
        elif ignore(path, is_dir):
            return
        self._add(converted)

    # -- the debounce thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                batch: FileBatch | None = None
                while batch is None:
                    if self._stopping:
                        return
                    deadline = self._debouncer.next_deadline()
                    if deadline is None:
                        self._cond.wait()
                        continue
                    now = self._clock.monotonic()
                    if now < deadline:
                        self._cond.wait(deadline - now)
                        continue
                    if self._backlogged() and not self._debouncer.past_cap(now):
                        # events already read from the kernel are still on their way to us: the
                        # quiet period is not real yet (the process was busy, not the file system)
                        self._cond.wait(0.002)
                        continue
                    batch = self._debouncer.due(now)
            batch = _settle(batch)
            if batch is None:
                continue
            try:
                self._on_batch(batch)
            except Exception:
                log.exception("the file batch handler failed on %r", batch)

    def _backlogged(self) -> bool:
        observer = self._observer
        if observer is None:
            return False
        try:
            return not observer.event_queue.empty()
        except Exception:  # pragma: no cover - a watchdog without the queue
            return False

    def _make_observer(self) -> BaseObserver:
        try:
            from watchdog.observers.inotify import InotifyObserver
        except Exception:  # not Linux: the platform's native observer
            from watchdog.observers import Observer

            observer: BaseObserver = Observer()
        else:
            observer = InotifyObserver()
        self.backend = type(observer).__name__
        return observer


class _Handler:
    """watchdog calls ``dispatch`` on its dispatch thread for each event."""

    def __init__(self, watcher: Watcher) -> None:
        self._watcher = watcher

    def dispatch(self, event: Any) -> None:
        try:
            self._watcher._handle(event)
        except Exception:
            log.exception("the file watcher failed on the event %r", event)


def _event_filter() -> list[type[Any]]:
    from watchdog.events import (
        DirCreatedEvent,
        DirDeletedEvent,
        DirMovedEvent,
        FileAttribEvent,
        FileCreatedEvent,
        FileDeletedEvent,
        FileModifiedEvent,
        FileMovedEvent,
    )

    # No open/close/access events: reading the project (a build does) costs nothing, and the kernel
    # queue holds more of a storm.
    return [
        FileCreatedEvent,
        DirCreatedEvent,
        FileModifiedEvent,
        FileAttribEvent,
        FileDeletedEvent,
        DirDeletedEvent,
        FileMovedEvent,
        DirMovedEvent,
    ]


def _convert(event: Any) -> FsEvent | None:
    """A watchdog event as an :class:`FsEvent`; None for events that change no content."""
    kind = event.event_type
    is_dir = bool(event.is_directory)
    src = os.fsdecode(event.src_path) if event.src_path else ""
    if kind == "moved":
        dest = os.fsdecode(event.dest_path) if event.dest_path else ""
        if src and dest:
            return FsEvent("moved", Path(src), Path(dest), is_dir=is_dir)
        if dest:
            return FsEvent("created", Path(dest), is_dir=is_dir)
        return FsEvent("deleted", Path(src), is_dir=is_dir) if src else None
    if not src:
        return None
    if kind == "created":
        return FsEvent("created", Path(src), is_dir=is_dir)
    if kind == "deleted":
        return FsEvent("deleted", Path(src), is_dir=is_dir)
    if kind in ("modified", "attrib") and not is_dir:
        return FsEvent("modified", Path(src))
    return None


def _settle(batch: FileBatch | None) -> FileBatch | None:
    """A changed path that is already gone again is reported as deleted (its deletion event may still
    be on its way)."""
    if batch is None:
        return None
    gone = frozenset(p for p in batch.changed if not os.path.lexists(p))
    if not gone:
        return batch
    return FileBatch(batch.changed - gone, batch.deleted | gone, batch.overflow)


def _tune_emitter(emitter: Any, on_overflow: Callable[[], None]) -> bool:
    """Adjust watchdog's inotify emitter (private attributes, checked; a no-op elsewhere): pair renames
    within :data:`MOVE_PAIRING_S` instead of 0.5 s, and hear about queue overflows. True when tuned."""
    group = getattr(emitter, "_inotify", None)
    queue = getattr(getattr(group, "_move_event_grouper", None), "_queue", None)
    if group is None or queue is None or not isinstance(getattr(queue, "delay", None), int | float):
        return False
    queue.delay = MOVE_PAIRING_S
    original = getattr(group, "on_queue_overflow", None)
    if callable(original):

        def on_queue_overflow() -> None:
            original()
            on_overflow()

        group.on_queue_overflow = on_queue_overflow
    return True


def _stop_observer(observer: BaseObserver) -> None:
    observer.stop()
    if observer.is_alive():
        observer.join()


def _watch_error(root: Path, exc: OSError) -> Exception:
    from devloop.errors import DevloopError

    if exc.errno == errno.ENOSPC:
        return DevloopError(
            f"cannot watch {root}: the inotify watch limit is reached; raise it "
            "(sudo sysctl fs.inotify.max_user_watches=524288) or ignore big folders in watch.ignore"
        )
    if exc.errno == errno.EMFILE:
        return DevloopError(
            f"cannot watch {root}: the inotify instance limit is reached; raise it "
            "(sudo sysctl fs.inotify.max_user_instances=1024) or stop other watchers"
        )
    return DevloopError(f"cannot watch {root}: {exc.strerror or exc}; check that the folder exists and is readable")


# ------------------------------------------------------------------------------------------ fake


class FakeWatcher:
    """A watcher for the engine's tests: same constructor and interface as :class:`Watcher`; batches
    come only from :meth:`emit`, delivered synchronously on the caller's thread."""

    def __init__(
        self,
        root: Path | None = None,
        ignore: IgnorePredicate = never_ignore,
        on_batch: BatchCallback | None = None,
        debounce_ms: int = 50,
        max_delay_s: float = 2.0,
        clock: Clock | None = None,
    ) -> None:
        self.root = root
        self.ignore: IgnorePredicate = ignore
        self.on_batch = on_batch
        self.debounce_ms = debounce_ms
        self.max_delay_s = max_delay_s
        self.clock = clock
        self.started = False
        self.stopped = False
        self.emitted: list[FileBatch] = []

    def start(self) -> None:
        if not self.started:
            self.started = True
            self.stopped = False

    def stop(self) -> None:
        if self.started:
            self.started = False
            self.stopped = True

    @property
    def running(self) -> bool:
        return self.started

    def emit(self, batch: FileBatch) -> None:
        """Deliver ``batch`` to ``on_batch`` now (the watcher must be started)."""
        if not self.started:
            raise RuntimeError("FakeWatcher.emit() before start() or after stop()")
        if self.on_batch is None:
            raise RuntimeError("FakeWatcher has no on_batch callback")
        self.emitted.append(batch)
        self.on_batch(batch)

    def emit_paths(self, changed: Iterable[Path | str] = (), deleted: Iterable[Path | str] = ()) -> FileBatch:
        """Emit a batch of these paths, dropping those ``ignore`` drops (as the real watcher does)."""
        batch = FileBatch.of(
            (p for p in changed if not self.ignore(Path(p))), (p for p in deleted if not self.ignore(Path(p)))
        )
        self.emit(batch)
        return batch
