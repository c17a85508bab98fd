"""The file watcher: the pure debouncer with a fake clock, then the threaded watcher on a real folder."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from devloop.engine.clock import FakeClock, MonotonicClock
from devloop.engine.ignore import WatchIgnore
from devloop.engine.watcher import (
    Debouncer,
    FakeWatcher,
    FileBatch,
    FsEvent,
    Watcher,
    is_editor_temp,
)

R = Path("/proj")


def created(p: str, is_dir: bool = False) -> FsEvent:
    return FsEvent("created", R / p, is_dir=is_dir)


def modified(p: str) -> FsEvent:
    return FsEvent("modified", R / p)


def deleted(p: str, is_dir: bool = False) -> FsEvent:
    return FsEvent("deleted", R / p, is_dir=is_dir)


def moved(src: str, dst: str, is_dir: bool = False) -> FsEvent:
    return FsEvent("moved", R / src, R / dst, is_dir=is_dir)


def paths(*names: str) -> frozenset[Path]:
    return frozenset(R / n for n in names)


def settle(events: list[FsEvent], **kwargs: object) -> FileBatch | None:
    """Feed events 1 ms apart, then let the quiet period pass and close the batch."""
    clock = FakeClock()
    deb = Debouncer(clock, 50, 2.0, **kwargs)  # type: ignore[arg-type]
    for event in events:
        deb.add(event)
        clock.advance(0.001)
    deadline = deb.next_deadline()
    assert deadline is not None
    clock.set(deadline)
    return deb.due()


# ------------------------------------------------------------------------------------- timing


def test_quiet_period_closes_a_batch() -> None:
    clock = FakeClock()
    deb = Debouncer(clock, debounce_ms=50, max_delay_s=2.0)
    assert deb.next_deadline() is None
    assert deb.due() is None
    assert deb.add(modified("a.py")) is True  # opened a batch
    start = clock.monotonic()
    assert deb.next_deadline() == pytest.approx(start + 0.05)
    clock.advance(0.03)
    assert deb.add(modified("b.py")) is False  # same batch: the deadline only moves later
    assert deb.next_deadline() == pytest.approx(start + 0.08)
    clock.advance(0.049)
    assert deb.due() is None  # 49 ms of quiet
    clock.advance(0.001)
    batch = deb.due()
    assert batch == FileBatch(paths("a.py", "b.py"), frozenset())
    assert deb.next_deadline() is None
    assert deb.due() is None  # closed


def test_due_takes_an_explicit_time() -> None:
    clock = FakeClock()
    deb = Debouncer(clock, 50)
    deb.add(created("a"))
    assert deb.due(clock.monotonic() + 0.01) is None
    assert deb.due(clock.monotonic() + 0.05) == FileBatch(paths("a"))


def test_max_delay_caps_a_batch_that_keeps_getting_events() -> None:
    clock = FakeClock()
    deb = Debouncer(clock, debounce_ms=50, max_delay_s=2.0, storm_paths=None)
    start = clock.monotonic()
    batches = []
    for _ in range(300):  # one write of the same file every 10 ms for 3 s
        deb.add(modified("log.txt"))
        if (batch := deb.due()) is not None:
            batches.append((clock.monotonic() - start, batch))
        clock.advance(0.01)
    assert len(batches) == 1
    at, batch = batches[0]
    assert at == pytest.approx(2.0, abs=0.011)
    assert batch.changed == paths("log.txt")
    assert deb.next_deadline() is not None  # the rest gathers in the next batch


def test_zero_debounce_is_due_at_once() -> None:
    clock = FakeClock()
    deb = Debouncer(clock, debounce_ms=0)
    deb.add(modified("a"))
    assert deb.due() == FileBatch(paths("a"))


def test_a_storm_of_ten_thousand_events_is_one_batch() -> None:
    clock = FakeClock()
    deb = Debouncer(clock, debounce_ms=50, max_delay_s=2.0)
    names = [f"src/d{i // 100:03d}/f{i % 100:03d}.py" for i in range(10_000)]
    for i, name in enumerate(names):
        deb.add(created(name))
        deb.add(modified(name))
        if i % 100 == 0:
            clock.advance(0.0003)  # 10,000 files in 30 ms
        assert deb.due() is None
    clock.advance(0.05)
    assert deb.due() is None  # a storm waits a little longer for quiet
    clock.advance(0.2)
    batch = deb.due()
    assert batch is not None
    assert batch.changed == paths(*names)
    assert deb.next_deadline() is None


def test_a_storm_longer_than_max_delay_stays_one_batch() -> None:
    # A 10,000-file checkout on a slow file system takes ~3 s: still one batch.
    clock = FakeClock()
    deb = Debouncer(clock, debounce_ms=50, max_delay_s=2.0)
    for i in range(10_000):
        deb.add(created(f"f{i}"))
        clock.advance(0.0003)
        assert deb.due() is None
    clock.advance(0.25)
    batch = deb.due()
    assert batch is not None and len(batch.changed) == 10_000


def test_a_storm_survives_a_short_pause_of_the_writer() -> None:
    clock = FakeClock()
    deb = Debouncer(clock, debounce_ms=50, max_delay_s=2.0, storm_paths=1000, storm_debounce_ms=250)
    for i in range(1000):
        deb.add(created(f"a{i}"))
    clock.advance(0.1)  # the writer was descheduled for 100 ms
    assert deb.due() is None
    for i in range(1000):
        deb.add(created(f"b{i}"))
    clock.advance(0.25)
    batch = deb.due()
    assert batch is not None and len(batch.changed) == 2000


def test_a_few_paths_keep_the_short_quiet_period() -> None:
    clock = FakeClock()
    deb = Debouncer(clock, debounce_ms=50, storm_paths=1000)
    for i in range(999):
        deb.add(created(f"a{i}"))
    clock.advance(0.05)
    assert deb.due() is not None


def test_a_storm_is_still_capped_by_storm_max_delay() -> None:
    clock = FakeClock()
    deb = Debouncer(clock, debounce_ms=50, max_delay_s=2.0, storm_paths=10, storm_max_delay_s=5.0)
    start = clock.monotonic()
    closed_at = None
    for i in range(1000):
        deb.add(created(f"f{i}"))
        if deb.due() is not None:
            closed_at = clock.monotonic() - start
            break
        clock.advance(0.01)
    assert closed_at == pytest.approx(5.0, abs=0.011)


def test_strict_max_delay_splits_a_long_storm() -> None:
    clock = FakeClock()
    deb = Debouncer(clock, debounce_ms=50, max_delay_s=2.0, storm_paths=None)
    batches = []
    for i in range(10_000):  # 3 s
        deb.add(created(f"f{i}"))
        if (batch := deb.due()) is not None:
            batches.append(batch)
        clock.advance(0.0003)
    clock.advance(0.05)
    batches.append(deb.due())
    assert len(batches) == 2
    assert sum(len(b.changed) for b in batches if b) == 10_000  # nothing lost


def test_events_that_cancel_out_close_the_batch_with_nothing() -> None:
    clock = FakeClock()
    deb = Debouncer(clock, 50)
    deb.add(created("tmp.txt"))
    deb.add(deleted("tmp.txt"))
    clock.advance(0.05)
    assert deb.due() is None
    assert deb.next_deadline() is None


# ------------------------------------------------------------------------------------- folding


def test_a_write_is_one_change() -> None:
    assert settle([modified("a.py"), modified("a.py"), modified("a.py")]) == FileBatch(paths("a.py"))


def test_create_then_delete_is_nothing() -> None:
    assert settle([created("x"), modified("x"), deleted("x")]) is None


def test_delete_then_create_is_a_change() -> None:
    assert settle([deleted("a.py"), created("a.py"), modified("a.py")]) == FileBatch(paths("a.py"))


def test_delete_then_modify_is_a_change() -> None:
    assert settle([deleted("a.py"), modified("a.py")]) == FileBatch(paths("a.py"))


def test_modify_then_delete_is_a_delete() -> None:
    assert settle([modified("a.py"), deleted("a.py")]) == FileBatch(frozenset(), paths("a.py"))


def test_create_delete_create_is_a_change() -> None:
    assert settle([created("a"), deleted("a"), created("a")]) == FileBatch(paths("a"))


def test_atomic_save_with_rename_is_one_change_of_the_target() -> None:
    # write a temporary file, rename it over the target (os.replace, most editors, IDEs)
    events = [created("src/.a.py.tmp1234"), modified("src/.a.py.tmp1234"), moved("src/.a.py.tmp1234", "src/a.py")]
    assert settle(events) == FileBatch(paths("src/a.py"))


def test_vim_backup_rename_dance_is_one_change() -> None:
    # vim (backupcopy=no, writebackup): probe file, rename the original to a~, write anew, remove a~
    events = [
        created("src/4913"),
        deleted("src/4913"),
        moved("src/a.py", "src/a.py~"),
        created("src/a.py"),
        modified("src/a.py"),
        deleted("src/a.py~"),
        modified("src/.a.py.swp"),
    ]
    assert settle(events) == FileBatch(paths("src/a.py"))


def test_jetbrains_safe_write_is_one_change() -> None:
    events = [
        created("a.py___jb_tmp___"),
        modified("a.py___jb_tmp___"),
        moved("a.py", "a.py___jb_old___"),
        moved("a.py___jb_tmp___", "a.py"),
        deleted("a.py___jb_old___"),
    ]
    assert settle(events) == FileBatch(paths("a.py"))


def test_editor_files_alone_make_no_batch() -> None:
    clock = FakeClock()
    deb = Debouncer(clock, 50)
    for name in [".a.py.swp", ".a.py.swx", "a.py~", ".#a.py", "#a.py#", ".goutputstream-X1Y2", "4913"]:
        assert deb.add(modified(name)) is False
    assert deb.next_deadline() is None


@pytest.mark.parametrize(
    ("name", "temp"),
    [
        (".main.py.swp", True),
        (".main.py.swo", True),
        ("main.py~", True),
        (".#main.py", True),
        ("#main.py#", True),
        ("main.py___jb_tmp___", True),
        (".goutputstream-ABC123", True),
        ("4913", True),
        ("main.py", False),
        ("swap.py", False),
        (".swpfile", False),
        ("4914.txt", False),
        ("a#b", False),
        (".env", False),
    ],
)
def test_editor_temp_names(name: str, temp: bool) -> None:
    assert is_editor_temp(Path("/p") / name) is temp


def test_a_move_is_a_delete_and_a_change() -> None:
    assert settle([moved("a.py", "b.py")]) == FileBatch(paths("b.py"), paths("a.py"))


def test_a_move_back_and_forth_is_a_change() -> None:
    assert settle([moved("a.py", "b.py"), moved("b.py", "a.py")]) == FileBatch(paths("a.py"))


def test_a_new_file_moved_twice_is_only_its_final_name() -> None:
    assert settle([created("a"), moved("a", "b"), moved("b", "c")]) == FileBatch(paths("c"))


def test_a_moved_folder_is_its_old_path_deleted_and_its_files_changed() -> None:
    # watchdog reports the folder's move, then one move per entry below it
    events = [
        moved("pkg", "lib", is_dir=True),
        moved("pkg/a.py", "lib/a.py"),
        moved("pkg/sub", "lib/sub", is_dir=True),
        moved("pkg/sub/b.py", "lib/sub/b.py"),
    ]
    assert settle(events) == FileBatch(paths("lib", "lib/a.py", "lib/sub", "lib/sub/b.py"), paths("pkg"))


def test_a_deleted_folder_is_reported_as_the_folder() -> None:
    events = [
        deleted("pkg/sub/b.py"),
        deleted("pkg/sub", is_dir=True),
        deleted("pkg/a.py"),
        deleted("pkg", is_dir=True),
    ]
    assert settle(events) == FileBatch(frozenset(), paths("pkg"))


def test_a_folder_moved_out_drops_earlier_changes_below_it() -> None:
    # a change below a folder, then the folder leaves the project (only the folder's event comes)
    assert settle([modified("pkg/a.py"), deleted("pkg", is_dir=True)]) == FileBatch(frozenset(), paths("pkg"))


def test_a_created_then_deleted_folder_is_nothing() -> None:
    events = [created("build", is_dir=True), created("build/x.o"), deleted("build/x.o"), deleted("build", is_dir=True)]
    assert settle(events) is None


def test_a_replaced_folder_reports_what_is_gone() -> None:
    # rm -r pkg; mkdir pkg; write pkg/new.py: pkg/old.py must still be deleted in the container
    events = [
        deleted("pkg/old.py"),
        deleted("pkg", is_dir=True),
        created("pkg", is_dir=True),
        created("pkg/new.py"),
    ]
    assert settle(events) == FileBatch(paths("pkg", "pkg/new.py"), paths("pkg/old.py"))


def test_an_empty_new_folder_is_a_change() -> None:
    assert settle([created("static/empty", is_dir=True)]) == FileBatch(paths("static/empty"))


def test_overflow_marks_the_batch() -> None:
    clock = FakeClock()
    deb = Debouncer(clock, 50)
    assert deb.add_overflow() is True
    clock.advance(0.05)
    batch = deb.due()
    assert batch is not None and batch.overflow and not batch.all


def test_file_batch_all_and_of() -> None:
    batch = FileBatch.of(["/p/a"], ["/p/b"])
    assert batch.all == frozenset({Path("/p/a"), Path("/p/b")})
    assert not batch.empty
    assert FileBatch().empty


def test_debouncer_rejects_negative_settings() -> None:
    with pytest.raises(ValueError):
        Debouncer(FakeClock(), -1)
    with pytest.raises(ValueError):
        Debouncer(FakeClock(), 50, -1.0)


def test_fake_clock() -> None:
    clock = FakeClock(5.0)
    assert clock.monotonic() == 5.0
    assert clock.advance(0.5) == 5.5
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set(1.0)
    assert MonotonicClock().monotonic() > 0


# ------------------------------------------------------------------------------------- the fake


def test_fake_watcher_delivers_emitted_batches() -> None:
    got: list[FileBatch] = []
    fake = FakeWatcher(Path("/p"), ignore=lambda p, is_dir=False: p.name == "skip", on_batch=got.append)
    with pytest.raises(RuntimeError):
        fake.emit(FileBatch.of(["/p/a"]))
    fake.start()
    fake.emit(FileBatch.of(["/p/a"]))
    batch = fake.emit_paths(changed=["/p/b", "/p/skip"], deleted=["/p/c"])
    assert batch == FileBatch.of(["/p/b"], ["/p/c"])
    assert got == [FileBatch.of(["/p/a"]), batch]
    fake.stop()
    fake.stop()
    assert fake.stopped and not fake.running


# ------------------------------------------------------------------------------- real file system

WAIT = 10.0  # generous upper bound for a batch to arrive


class Collector:
    def __init__(self) -> None:
        self.batches: queue.Queue[FileBatch] = queue.Queue()

    def __call__(self, batch: FileBatch) -> None:
        self.batches.put(batch)

    def next(self, timeout: float = WAIT) -> FileBatch:
        return self.batches.get(timeout=timeout)

    def until(self, predicate: object, timeout: float = WAIT) -> list[FileBatch]:
        """Batches up to and including the first for which predicate(batch) holds."""
        got: list[FileBatch] = []
        while True:
            batch = self.next(timeout)
            got.append(batch)
            if predicate(batch):  # type: ignore[operator]
                return got

    def drain(self, quiet: float = 0.3) -> list[FileBatch]:
        got: list[FileBatch] = []
        while True:
            try:
                got.append(self.batches.get(timeout=quiet))
            except queue.Empty:
                return got


def watcher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("print(1)\n")
    return root


@pytest.fixture
def watch(project: Path):  # type: ignore[no-untyped-def]
    started: list[Watcher] = []
    collector = Collector()

    def make(ignore: object = None, **kwargs: object) -> Collector:
        args: dict[str, object] = {"on_batch": collector, **kwargs}
        if ignore is not None:
            args["ignore"] = ignore
        watcher = Watcher(project, **args)  # type: ignore[arg-type]
        watcher.start()
        started.append(watcher)
        return collector

    yield make
    for watcher in started:
        watcher.stop()


def test_a_write_is_reported_once(project: Path, watch) -> None:  # type: ignore[no-untyped-def]
    got = watch()
    target = project / "src" / "app.py"
    target.write_text("print(2)\n")
    assert got.next() == FileBatch(frozenset({target}))
    assert got.drain() == []


def test_an_atomic_save_is_reported_as_the_target(project: Path, watch) -> None:  # type: ignore[no-untyped-def]
    got = watch()
    target = project / "src" / "app.py"
    tmp = project / "src" / ".app.py.tmp.84213"
    tmp.write_text("print(3)\n")
    os.replace(tmp, target)
    assert got.next() == FileBatch(frozenset({target}))
    assert got.drain() == []


def test_a_vim_style_save_is_reported_as_the_target(project: Path, watch) -> None:  # type: ignore[no-untyped-def]
    got = watch()
    target = project / "src" / "app.py"
    swap = project / "src" / ".app.py.swp"
    swap.write_text("swap")
    os.rename(target, project / "src" / "app.py~")
    target.write_text("print(4)\n")
    os.unlink(project / "src" / "app.py~")
    batches = got.until(lambda b: target in b.changed)
    assert batches[-1] == FileBatch(frozenset({target}))
    assert all(b.all <= {target} for b in batches + got.drain())


def test_moves_deletes_and_folders(project: Path, watch) -> None:  # type: ignore[no-untyped-def]
    got = watch()
    pkg = project / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "sub" / "b.py").write_text("b")
    batch = got.until(lambda b: pkg / "sub" / "b.py" in b.changed)[-1]
    assert {pkg, pkg / "sub", pkg / "sub" / "b.py"} <= batch.changed

    os.rename(pkg, project / "lib")
    batch = got.until(lambda b: pkg in b.deleted)[-1]
    assert batch.deleted == {pkg}
    assert project / "lib" / "sub" / "b.py" in batch.changed

    shutil.rmtree(project / "lib")
    batch = got.until(lambda b: project / "lib" in b.deleted)[-1]
    assert batch == FileBatch(frozenset(), frozenset({project / "lib"}))


def test_a_file_moved_out_of_the_project_is_deleted(project: Path, tmp_path: Path, watch) -> None:  # type: ignore[no-untyped-def]
    got = watch()
    shutil.move(str(project / "src" / "app.py"), str(tmp_path / "app.py"))
    assert got.next() == FileBatch(frozenset(), frozenset({project / "src" / "app.py"}))


def test_ignored_paths_are_never_reported(project: Path, watch) -> None:  # type: ignore[no-untyped-def]
    (project / ".git").mkdir()
    (project / "node_modules" / "x").mkdir(parents=True)
    rules = WatchIgnore(project, patterns=["**/node_modules/**", "*.log"], devloopignore_lines=["tmp/"])
    got = watch(ignore=rules)
    (project / ".git" / "index").write_text("i")
    (project / "node_modules" / "x" / "index.js").write_text("js")
    (project / "debug.log").write_text("log")
    (project / "tmp").mkdir()
    (project / "tmp" / "cache").write_text("c")
    (project / ".devloop").mkdir()
    (project / ".devloop" / "state.json").write_text("{}")
    shutil.rmtree(project / "node_modules")
    marker = project / "src" / "marker.py"
    marker.write_text("m")  # after the ignored ones: once it is seen, they would have been too
    batches = got.until(lambda b: marker in b.changed) + got.drain()
    seen = frozenset().union(*(b.all for b in batches))
    assert seen == {marker}


def test_reading_files_reports_nothing(project: Path, watch) -> None:  # type: ignore[no-untyped-def]
    got = watch()
    for _ in range(3):
        (project / "src" / "app.py").read_bytes()
        os.listdir(project / "src")
    assert got.drain(0.5) == []


def test_ten_thousand_files_in_one_go_are_one_batch(project: Path, watch) -> None:  # type: ignore[no-untyped-def]
    got = watch()
    script = (
        "import os, sys\n"
        "root = sys.argv[1]\n"
        "for i in range(100):\n"
        "    d = os.path.join(root, 'storm', f'd{i:03d}')\n"
        "    os.makedirs(d)\n"
        "    for j in range(100):\n"
        "        with open(os.path.join(d, f'f{j:03d}.txt'), 'w') as f:\n"
        "            f.write('x')\n"
    )
    subprocess.run([sys.executable, "-c", script, str(project)], check=True)
    files = {project / "storm" / f"d{i:03d}" / f"f{j:03d}.txt" for i in range(100) for j in range(100)}
    # The eventual state, whatever the batching: every file arrives, without overflow. How a storm is cut into
    # batches is the debouncer's pure decision, tested above with a fake clock (test_a_storm_of_ten_thousand_events_
    # is_one_batch); on a loaded machine the writer can be descheduled longer than the quiet period.
    seen: set[Path] = set()

    def arrived(batch: FileBatch) -> bool:
        seen.update(batch.changed)
        return files <= seen

    batches = got.until(arrived, 60.0) + got.drain(1.0)
    assert not any(b.overflow for b in batches)

    shutil.rmtree(project / "storm")
    deleted: set[Path] = set()

    def gone(batch: FileBatch) -> bool:
        deleted.update(batch.deleted)
        return all(any(parent in deleted for parent in (path, *path.parents)) for path in files)

    batches = got.until(gone, 60.0) + got.drain(1.0)
    assert not any(b.changed & files for b in batches)


def test_stop_leaves_no_threads_and_is_idempotent(project: Path) -> None:
    before = set(watcher_threads())
    got = Collector()
    watcher = Watcher(project, on_batch=got)
    watcher.stop()  # before start: nothing to do
    watcher.start()
    watcher.start()  # already running
    assert watcher.running
    assert watcher.backend == "InotifyObserver" or not sys.platform.startswith("linux")
    (project / "src" / "app.py").write_text("x")
    (project / "src" / "other.py").write_text("y")  # a batch may be open at stop
    watcher.stop()
    watcher.stop()
    assert not watcher.running
    assert set(watcher_threads()) == before


def test_a_failing_callback_does_not_stop_the_watcher(project: Path) -> None:
    got = Collector()
    failed = threading.Event()

    def on_batch(batch: FileBatch) -> None:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("boom")
        got(batch)

    watcher = Watcher(project, on_batch=on_batch)
    watcher.start()
    try:
        (project / "src" / "app.py").write_text("1")
        assert failed.wait(WAIT)
        target = project / "src" / "again.py"
        target.write_text("3")
        assert target in got.until(lambda b: target in b.changed)[-1].changed
    finally:
        watcher.stop()


def test_watching_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    from devloop.errors import DevloopError

    watcher = Watcher(tmp_path / "missing", on_batch=lambda b: None)
    with pytest.raises(DevloopError, match="cannot watch"):
        watcher.start()
    assert not watcher.running
