"""The marks of containers that carry live-updated files survive the process (engine/liverecords.py)."""

from __future__ import annotations

from pathlib import Path

from devloop.engine.liverecords import DiskRecords, MemoryRecords, live_dir


def test_marks_survive_a_new_store_and_are_per_resource(tmp_path: Path) -> None:
    first = DiskRecords(tmp_path)
    first.mark("shop", "web", "c1")
    first.mark("shop", "web", "c1")  # idempotent
    first.mark("shop", "api", "ns/pod/c2")  # kubernetes-style ids are fine as names
    first.mark("other", "web", "c3")

    again = DiskRecords(tmp_path)  # a new devloop process
    assert again.marked("shop", "web") == {"c1"}
    assert again.marked("shop", "api") == {"ns/pod/c2"}
    assert again.marked("other", "web") == {"c3"}
    assert again.marked("shop", "nothing") == frozenset()

    again.forget("shop", ["c1", "unknown"])
    assert DiskRecords(tmp_path).marked("shop", "web") == frozenset()
    first.mark("shop", "web", "c1")  # written again after being forgotten (no stale in-memory shortcut)
    assert DiskRecords(tmp_path).marked("shop", "web") == {"c1"}

    again.forget_project("shop")
    assert DiskRecords(tmp_path).marked("shop", "api") == frozenset()
    assert DiskRecords(tmp_path).marked("other", "web") == {"c3"}
    assert not [p for p in tmp_path.rglob(".tmp-*")]


def test_unreadable_record_files_are_skipped(tmp_path: Path) -> None:
    store = DiskRecords(tmp_path)
    store.mark("shop", "web", "c1")
    folder = next(p for p in tmp_path.iterdir() if p.is_dir())
    (folder / "garbage.json").write_text("{not json")
    assert store.marked("shop", "web") == {"c1"}


def test_memory_records_and_location() -> None:
    mem = MemoryRecords()
    mem.mark("p", "web", "c1")
    assert mem.marked("p", "web") == {"c1"}
    mem.forget("p", ["c1"])
    assert mem.marked("p", "web") == frozenset()
    assert live_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/devloop/live")
