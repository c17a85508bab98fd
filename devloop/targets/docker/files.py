"""Live update on docker: the tar archive uploaded with the Engine API (no tar needed in the container).

Safety by construction: every member name is ``dest`` (an absolute, normalised container path)
joined with names read from the host directory (which never contain ``/`` or ``..``), normalised
again and checked to lie inside ``dest``; names in the archive are relative to ``/`` and never
absolute. Symlinks are stored as symlinks (never followed), modes are kept, and every member is
owned by the container's user so that a non-root process can overwrite synced files.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterator, Sequence

from devloop.targets.base import FileCopy


class UnsafePathError(ValueError):
    """A container path that is not absolute, not normalised, or escapes its destination."""


def container_path(path: str) -> str:
    """``path`` normalised; it must be absolute and not the root itself."""
    if not path.startswith("/"):
        raise UnsafePathError(f"container path {path!r} is not absolute")
    norm = posixpath.normpath(path)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    if norm == "/" or "/../" in norm + "/":
        raise UnsafePathError(f"container path {path!r} is not a path below /")
    return norm


def _member(dest: str, rel: str = "") -> str:
    """The archive name (relative to /) of ``rel`` below ``dest``; never absolute, never with ``..``."""
    full = posixpath.normpath(posixpath.join(dest, rel)) if rel else dest
    if full != dest and not full.startswith(dest + "/"):
        raise UnsafePathError(f"{rel!r} would leave {dest}")
    name = full.lstrip("/")
    if not name or name.startswith("../") or name == "..":
        raise UnsafePathError(f"bad archive member for {dest!r}")
    return name


def _walk(local: str, dest: str) -> Iterator[tuple[str, str]]:
    """(host path, archive name) of ``local`` and, for a directory, everything below it (not following links)."""
    yield local, _member(dest)
    if os.path.isdir(local) and not os.path.islink(local):
        for root, dirs, files in os.walk(local, followlinks=False):
            dirs.sort()
            rel_root = os.path.relpath(root, local)
            for name in sorted(dirs) + sorted(files):
                rel = name if rel_root == "." else posixpath.join(rel_root.replace(os.sep, "/"), name)
                yield os.path.join(root, name), _member(dest, rel)


def build_archive(copies: Sequence[FileCopy], uid: int = 0, gid: int = 0) -> bytes:
    """The tar to upload to ``/`` of the container for ``copies``."""
    buf = io.BytesIO()
    seen: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for copy in copies:
            dest = container_path(copy.dest)
            for path, name in _walk(copy.local, dest):
                if name in seen:
                    continue
                seen.add(name)
                st = os.lstat(path)
                info = tarfile.TarInfo(name)
                info.mode = stat.S_IMODE(st.st_mode)
                info.mtime = int(st.st_mtime)
                info.uid, info.gid = uid, gid
                if stat.S_ISLNK(st.st_mode):
                    info.type = tarfile.SYMTYPE
                    info.linkname = os.readlink(path)
                    tar.addfile(info)
                elif stat.S_ISDIR(st.st_mode):
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                elif stat.S_ISREG(st.st_mode):
                    info.size = st.st_size
                    with open(path, "rb") as fh:
                        tar.addfile(info, fh)
                # sockets, fifos and devices are not synced
    return buf.getvalue()


def parse_passwd(text: str, user: str) -> tuple[int, int] | None:
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[0] == user:
            try:
                return int(parts[2]), int(parts[3])
            except ValueError:
                return None
    return None


def parse_group(text: str, group: str) -> int | None:
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[0] == group:
            try:
                return int(parts[2])
            except ValueError:
                return None
    return None
