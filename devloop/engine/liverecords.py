"""Which containers carry live-updated files, remembered outside the process.

A container that devloop synced files into no longer holds just its image: its files are the
image's plus whatever was synced, which may differ from the files on disk once devloop stops
watching (an edit undone while devloop was stopped, a crash loop left by a broken file). devloop
marks such a container *before* the first file reaches it, in one small file per container under
``$XDG_CACHE_HOME/devloop/live/<project>/`` (default ``~/.cache/devloop/live/<project>/``), so a later
``up`` or ``ci`` (another process) still knows it cannot vouch for the container and replaces it
when it deploys the resource. ``devloop down`` removes the project's folder.

:class:`MemoryRecords` keeps the same marks in memory (engine tests with the fake target).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from devloop.util import user_cache


class Records(Protocol):
    def mark(self, project: str, resource: str, container_id: str) -> None:
        """Remember that ``container_id`` of ``resource`` is about to receive live-updated files."""
        ...

    def marked(self, project: str, resource: str) -> frozenset[str]:
        """The container ids of ``resource`` that carry live-updated files."""
        ...

    def forget(self, project: str, container_ids: Iterable[str]) -> None:
        """Those containers are gone (replaced or removed)."""
        ...


class MemoryRecords:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._marks: dict[tuple[str, str], set[str]] = {}

    def mark(self, project: str, resource: str, container_id: str) -> None:
        with self._lock:
            self._marks.setdefault((project, resource), set()).add(container_id)

    def marked(self, project: str, resource: str) -> frozenset[str]:
        with self._lock:
            return frozenset(self._marks.get((project, resource), ()))

    def forget(self, project: str, container_ids: Iterable[str]) -> None:
        gone = set(container_ids)
        with self._lock:
            for (proj, _), ids in self._marks.items():
                if proj == project:
                    ids -= gone


def live_dir(env: Mapping[str, str] | None = None) -> Path:
    return user_cache(env) / "live"


def _safe(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:32]


class DiskRecords:
    """One JSON file per marked container: ``<root>/<project>/<sha256(id)>.json`` = {"id", "resource"}."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else live_dir()
        self._lock = threading.Lock()

    def _folder(self, project: str) -> Path:
        return self.root / _safe(project)

    def mark(self, project: str, resource: str, container_id: str) -> None:
        folder = self._folder(project)
        path = folder / f"{_safe(container_id)}.json"
        with self._lock:
            if path.exists():  # one stat per live update: marked already
                return
            data = json.dumps({"id": container_id, "resource": resource, "project": project}).encode()
            tmp_name = None
            try:
                folder.mkdir(parents=True, exist_ok=True)
                fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp_name, path)
                tmp_name = None
            finally:
                if tmp_name is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp_name)

    def marked(self, project: str, resource: str) -> frozenset[str]:
        found: set[str] = set()
        try:
            entries = list(self._folder(project).glob("*.json"))
        except OSError:
            return frozenset()
        for path in entries:
            try:
                raw = json.loads(path.read_bytes())
            except (OSError, ValueError):
                continue
            if isinstance(raw, dict) and raw.get("resource") == resource and isinstance(raw.get("id"), str):
                found.add(raw["id"])
        return frozenset(found)

    def forget(self, project: str, container_ids: Iterable[str]) -> None:
        folder = self._folder(project)
        with self._lock:
            for cid in container_ids:
                with contextlib.suppress(OSError):
                    (folder / f"{_safe(cid)}.json").unlink()

    def forget_project(self, project: str) -> None:
        with self._lock:
            shutil.rmtree(self._folder(project), ignore_errors=True)
