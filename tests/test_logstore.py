"""The log store: bounded per resource, ordered, followable."""

from __future__ import annotations

import threading

from devloop.engine.logstore import LogStore


def test_bounded_per_resource_with_dropped_count() -> None:
    store = LogStore(per_resource=3)
    for i in range(5):
        store.append("api", f"a{i}")
    store.append("web", "w0")
    assert [e.text for e in store.lines("api")] == ["a2", "a3", "a4"]
    assert store.dropped("api") == 2 and store.dropped("web") == 0
    assert [e.text for e in store.lines()] == ["a2", "a3", "a4", "w0"]
    assert [e.text for e in store.lines(after=6)] == []
    assert [e.text for e in store.lines("api", limit=1)] == ["a4"]


def test_wait_wakes_on_new_line() -> None:
    store = LogStore()
    seen: list[bool] = []
    thread = threading.Thread(target=lambda: seen.append(store.wait(0, timeout=5)))
    thread.start()
    store.append("api", "hello")
    thread.join(5)
    assert seen == [True]
    assert store.wait(store.last_seq, timeout=0.01) is False
