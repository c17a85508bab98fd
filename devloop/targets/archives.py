"""Live update's tar archives, shared by both targets: the docker target uploads them with the Engine API (no tar
needed in the container), the kubernetes target pipes them into ``tar -x`` over exec.

Safety by construction: every member name is ``dest`` (an absolute, normalised container path)
joined with names read from the host directory (which never contain ``/`` or ``..``), normalised
again and checked to lie inside ``dest``; names in the archive are relative to ``/`` and never
absolute. Symlinks are stored as symlinks (never followed), modes are kept, and every member is
owned by the container's user so that a non-root process can overwrite synced files.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from devloop.errors import DeployError
from devloop.targets.base import FileCopy

_CHUNK = 1 << 20


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


class UnreadableFileError(DeployError):
    """A file or folder of a live update that exists but cannot be read (one sentence naming it)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(
            f"cannot read {path} to sync it into the container ({reason}); make it readable, or add it to "
            ".devloopignore or the image's ignore patterns"
        )


def _walk(local: str, dest: str) -> Iterator[tuple[str, str]]:
    """(host path, archive name) of ``local`` and, for a directory, everything below it (not following
    links). A folder that cannot be listed raises :class:`UnreadableFileError`; vanished ones are skipped."""

    def failed(exc: OSError) -> None:
        if not isinstance(exc, FileNotFoundError):
            raise UnreadableFileError(str(exc.filename), exc.strerror or str(exc))

    yield local, _member(dest)
    if os.path.isdir(local) and not os.path.islink(local):
        for root, dirs, files in os.walk(local, onerror=failed, followlinks=False):
            dirs.sort()
            rel_root = os.path.relpath(root, local)
            for name in sorted(dirs) + sorted(files):
                rel = name if rel_root == "." else posixpath.join(rel_root.replace(os.sep, "/"), name)
                yield os.path.join(root, name), _member(dest, rel)


@dataclass(frozen=True)
class Member:
    path: str  # on the host
    name: str  # in the archive, relative to /
    st: os.stat_result


def plan_archive(copies: Sequence[FileCopy]) -> list[Member]:
    """What the archive for ``copies`` holds: paths that vanished meanwhile are left out (the watcher
    reports their deletion); a file or folder that exists but cannot be read raises
    :class:`UnreadableFileError` naming it, before anything is uploaded."""
    members: list[Member] = []
    seen: set[str] = set()
    for copy in copies:
        dest = container_path(copy.dest)
        for path, name in _walk(copy.local, dest):
            if name in seen:
                continue
            seen.add(name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            kind = stat.S_IFMT(st.st_mode)
            if kind == stat.S_IFREG and not os.access(path, os.R_OK):
                raise UnreadableFileError(path, os.strerror(errno.EACCES))
            if kind in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):  # sockets, fifos and devices are not synced
                members.append(Member(path, name, st))
    return members


def stream_archive(members: Sequence[Member], uid: int = 0, gid: int = 0) -> Iterator[bytes]:
    """The tar of ``members`` in chunks of about 1 MiB: memory stays bounded whatever the file sizes, and many
    small files make few chunks (each chunk is one write to the engine).
    A member that vanished since it was planned is skipped; a file that changed size while it is read is
    cut or padded to the size in its header (the watcher reports the change, and the next sync fixes it)."""
    buffer = bytearray()
    for piece in _tar_pieces(members, uid, gid):
        buffer += piece
        if len(buffer) >= _CHUNK:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def _tar_pieces(members: Sequence[Member], uid: int, gid: int) -> Iterator[bytes]:
    for member in members:
        info = tarfile.TarInfo(member.name)
        info.mode = stat.S_IMODE(member.st.st_mode)
        info.mtime = int(member.st.st_mtime)
        info.uid, info.gid = uid, gid
        kind = stat.S_IFMT(member.st.st_mode)
        if kind == stat.S_IFLNK:
            try:
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(member.path)
            except FileNotFoundError:
                continue
            yield info.tobuf(tarfile.PAX_FORMAT)
        elif kind == stat.S_IFDIR:
            info.type = tarfile.DIRTYPE
            yield info.tobuf(tarfile.PAX_FORMAT)
        else:
            try:
                handle = open(member.path, "rb", buffering=0)  # noqa: SIM115 - closed below, after streaming
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise UnreadableFileError(member.path, exc.strerror or str(exc)) from exc
            with handle:
                info.size = os.fstat(handle.fileno()).st_size
                yield info.tobuf(tarfile.PAX_FORMAT)
                left = info.size
                while left > 0:
                    chunk = handle.read(min(_CHUNK, left))
                    if not chunk:
                        yield bytes(left)
                        break
                    left -= len(chunk)
                    yield chunk
                if info.size % tarfile.BLOCKSIZE:
                    yield bytes(tarfile.BLOCKSIZE - info.size % tarfile.BLOCKSIZE)
    yield bytes(2 * tarfile.BLOCKSIZE)


def build_archive(copies: Sequence[FileCopy], uid: int = 0, gid: int = 0) -> bytes:
    """The whole tar for ``copies`` in memory (small archives and tests; uploads use :func:`stream_archive`)."""
    return b"".join(stream_archive(plan_archive(copies), uid, gid))


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
