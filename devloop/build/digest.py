"""The input digest of an image and its ``devloop-<16 hex>`` tag (config.md, "Images").

The digest is a sha256 over everything that goes into a build: the Dockerfile's content, the sorted
build args, the target, and every entry of the context that the ignore rules keep, in path order:
files (relative path, mode, sha256 of the content), symlinks (the target string, not followed) and
folders (path and mode, so empty folders count as docker sends them too). Owners and times are not
part of it: docker resets the owner of context files, and touching a file does not change the image.

File content hashes are cached per context in ``$XDG_CACHE_HOME/devloop/digest/`` (default
``~/.cache/devloop/digest/``), keyed by (path, size, mtime_ns, ctime_ns, inode, mode); an unchanged
second digest reads no file content. The cache file is replaced atomically and never lives in the
project folder. Entries whose mtime is within two seconds of the scan are not trusted later (a write
in the same timestamp tick could go unnoticed), so they are re-hashed next time.

Thread-safe: digests of different images may run concurrently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from devloop.build.ignore import Entry, IgnoreRules
from devloop.config.model import ImageSpec
from devloop.errors import ConfigError
from devloop.util import user_cache

log = logging.getLogger("devloop.build")

TAG_PREFIX = "devloop-"
TAG_HEX = 16
_FORMAT = b"devloop-digest-v1"
_CACHE_FORMAT = 1
#: cache entries whose mtime is this close to the scan are re-hashed next time (timestamp granularity)
_RACY_NS = 2_000_000_000
#: files at least this large are hashed in worker threads (hashlib and reads release the GIL)
_BIG_FILE = 256 * 1024
_CHUNK = 1 << 20

# relpath -> (size, mtime_ns, ctime_ns, inode, mode, content sha256 hex)
CacheEntries = dict[str, tuple[int, int, int, int, int, str]]


@dataclass(frozen=True)
class Digest:
    hexdigest: str
    files: tuple[str, ...]  # kept non-folder entries, relative, sorted
    hashed: int  # files whose content was read (not served by the cache)

    @property
    def tag(self) -> str:
        return TAG_PREFIX + self.hexdigest[:TAG_HEX]


def with_required(image: ImageSpec, references: Mapping[str, str]) -> ImageSpec:
    """``image`` with the built reference of every image it requires (``references``: ref -> reference) as the
    build arg of its alias: what the build receives and what its digest covers."""
    if not image.requires:
        return image
    args = dict(image.args) | {req.alias: references[req.image.ref] for req in image.requires}
    return dataclasses.replace(image, args=tuple(sorted(args.items())), requires=())


def image_tag(image: ImageSpec, *, use_cache: bool = True) -> str:
    """``devloop-<16 hex>``: the same inputs give the same tag."""
    return compute(image, use_cache=use_cache).tag


def context_files(image: ImageSpec) -> list[str]:
    """The relative ("/"-separated) paths of the files, symlinks and other non-folder entries docker sends."""
    _check_context(image)
    try:
        return sorted(IgnoreRules.for_image(image).walk(image.context))
    except OSError as exc:
        raise _context_error(image, exc) from exc


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where digest caches live: ``$XDG_CACHE_HOME/devloop/digest`` or ``~/.cache/devloop/digest``."""
    return user_cache(env) / "digest"


def clear_memory_cache() -> None:
    """Forget the in-process copies of the caches (the files stay); the next digest reloads them."""
    with _registry_lock:
        _registry.clear()


def compute(image: ImageSpec, *, use_cache: bool = True) -> Digest:
    """The digest of ``image``'s build inputs (see the module doc)."""
    _check_context(image)
    rules = IgnoreRules.for_image(image)
    started_ns = time.time_ns()
    try:
        entries = sorted(rules.walk_entries(image.context), key=lambda e: e.relpath)
    except OSError as exc:
        raise _context_error(image, exc) from exc

    cache = _cache_for(image, rules) if use_cache else None
    known: CacheEntries = cache.snapshot() if cache is not None else {}
    fresh: CacheEntries = {}

    hasher = hashlib.sha256(_FORMAT + b"\0")
    hasher.update(_inputs_record(image))
    contents, hashed = _content_hashes(image, entries, known, fresh)
    files: list[str] = []
    racy_before = started_ns - _RACY_NS
    for entry in entries:
        hasher.update(_entry_record(image, entry, contents))
        st = entry.st
        if stat.S_ISDIR(st.st_mode):
            continue
        files.append(entry.relpath)
        if entry.relpath in contents and entry.relpath not in fresh and st.st_mtime_ns < racy_before:
            digest = contents[entry.relpath]
            fresh[entry.relpath] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode, digest)

    if cache is not None:
        cache.update(fresh)
    result = Digest(hasher.hexdigest(), tuple(files), hashed)
    log.debug(
        "digest of image %s: %d entries, %d files read, %.3f s -> %s",
        image.ref,
        len(entries),
        hashed,
        (time.time_ns() - started_ns) / 1e9,
        result.tag,
    )
    return result


# -- hashing --------------------------------------------------------------------------------------------


def _inputs_record(image: ImageSpec) -> bytes:
    """What the digest covers besides the files: the Dockerfile, the target and the build args."""
    record = b"dockerfile\0" + _dockerfile_hash(image).encode() + b"\0"
    record += b"target\0" + (image.target or "").encode() + b"\0"
    for key, value in sorted(image.args):
        record += b"arg\0" + key.encode() + b"\0" + value.encode() + b"\0"
    return record


def _content_hashes(
    image: ImageSpec, entries: list[Entry], known: CacheEntries, fresh: CacheEntries
) -> tuple[dict[str, str], int]:
    """The content hash of every regular file (relpath -> hex) and how many files were read for it: from the
    cache when the file's stat matches the cached one (kept in ``fresh``), else read in worker threads (reads
    and hashlib release the GIL)."""
    contents: dict[str, str] = {}
    todo: list[Entry] = []
    for entry in entries:
        st = entry.st
        if not stat.S_ISREG(st.st_mode):
            continue
        hit = known.get(entry.relpath)
        if hit is not None and hit[:5] == (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode):
            contents[entry.relpath] = hit[5]
            fresh[entry.relpath] = hit
        else:
            todo.append(entry)
    if todo:
        for entry, content_hash in zip(todo, _hash_files(image, todo), strict=True):
            contents[entry.relpath] = content_hash
    return contents, len(todo)


def _entry_record(image: ImageSpec, entry: Entry, contents: dict[str, str]) -> bytes:
    """One entry of the context as the digest covers it: a folder's mode, a file's mode and content hash, a
    link's target, another kind's mode."""
    mode = entry.st.st_mode
    rel = entry.relpath.encode("utf-8", "surrogateescape")
    if stat.S_ISDIR(mode):
        return b"d\0" + rel + b"\0%o\n" % stat.S_IMODE(mode)
    if stat.S_ISREG(mode):
        return b"f\0" + rel + b"\0%o\0" % stat.S_IMODE(mode) + contents[entry.relpath].encode() + b"\n"
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(entry.path)
        except OSError as exc:
            raise _context_error(image, exc) from exc
        return b"l\0" + rel + b"\0" + target.encode("utf-8", "surrogateescape") + b"\n"
    return b"o\0" + rel + b"\0%o\n" % mode  # fifo, socket, device: only its kind and mode matter


def _hash_files(image: ImageSpec, todo: list[Entry]) -> list[str]:
    """The content sha256 of every entry of ``todo``, in order.

    Big files go to worker threads (their reads and hashing release the GIL) while this thread hashes
    the small ones: for small files, threads only add contention.
    """
    big = [i for i, entry in enumerate(todo) if entry.st.st_size >= _BIG_FILE]
    if not big:
        return [_hash_small(image, entry) for entry in todo]
    workers = max(1, min(4, (os.cpu_count() or 2) - 1))
    results: list[str] = [""] * len(todo)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="devloop-digest") as pool:
        futures = {i: pool.submit(_hash_big, image, todo[i]) for i in big}
        for i, entry in enumerate(todo):
            if i not in futures:
                results[i] = _hash_small(image, entry)
        for i, future in futures.items():
            results[i] = future.result()
    return results


def _hash_small(image: ImageSpec, entry: Entry) -> str:
    try:
        fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise _context_error(image, exc) from exc
    try:
        size = entry.st.st_size
        data = os.read(fd, size + 1)
        hasher = hashlib.sha256(data)
        if len(data) > size:  # it grew since the scan: take what is there now
            while chunk := os.read(fd, _CHUNK):
                hasher.update(chunk)
        return hasher.hexdigest()
    except OSError as exc:
        raise _context_error(image, exc) from exc
    finally:
        os.close(fd)


def _hash_big(image: ImageSpec, entry: Entry) -> str:
    try:
        with open(entry.path, "rb", buffering=0) as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise _context_error(image, exc) from exc


def _dockerfile_hash(image: ImageSpec) -> str:
    return hashlib.sha256(dockerfile_bytes(image)).hexdigest()


def dockerfile_bytes(image: ImageSpec) -> bytes:
    """The Dockerfile ``image`` builds with: a recipe's generated text, else the file's content."""
    if image.dockerfile_text is not None:
        return image.dockerfile_text.encode()
    try:
        return image.dockerfile.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(
            f"the Dockerfile {image.dockerfile} of image {image.ref} does not exist; "
            "create it or fix images[].dockerfile",
            location=str(image.dockerfile),
        ) from exc
    except OSError as exc:
        raise ConfigError(
            f"cannot read the Dockerfile of image {image.ref}: {exc.strerror or exc}",
            location=str(image.dockerfile),
        ) from exc


def _check_context(image: ImageSpec) -> None:
    if not image.context.is_dir():
        raise ConfigError(
            f"the build context {image.context} of image {image.ref} is not a folder; "
            "create it or fix images[].context",
            location=str(image.context),
        )


def _context_error(image: ImageSpec, exc: OSError) -> ConfigError:
    where = exc.filename or image.context
    return ConfigError(
        f"cannot read {where} in the build context of image {image.ref}: {exc.strerror or exc}; "
        "make it readable or add it to the image's ignore patterns",
        location=str(where),
    )


# -- the persistent cache ---------------------------------------------------------------------------------


class _ContextCache:
    """The content hashes of one context (under one set of ignore rules), in memory and in one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: CacheEntries | None = None

    def snapshot(self) -> CacheEntries:
        with self._lock:
            if self._entries is None:
                self._entries = self._load()
            return self._entries

    def update(self, entries: CacheEntries) -> None:
        with self._lock:
            if entries == self._entries:
                return
            self._entries = entries
            self._save(entries)

    def _load(self) -> CacheEntries:
        try:
            raw = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return {}
        if not isinstance(raw, dict) or raw.get("format") != _CACHE_FORMAT:
            return {}
        files = raw.get("files")
        if not isinstance(files, dict):
            return {}
        out: CacheEntries = {}
        for rel, value in files.items():
            if isinstance(value, list) and len(value) == 6:
                out[rel] = (value[0], value[1], value[2], value[3], value[4], value[5])
        return out

    def _save(self, entries: CacheEntries) -> None:
        data = json.dumps({"format": _CACHE_FORMAT, "files": entries}, separators=(",", ":")).encode()
        tmp_name = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp_name, self.path)
            tmp_name = None
        except OSError as exc:
            log.debug("could not write the digest cache %s: %s", self.path, exc)
        finally:
            if tmp_name is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)


_registry: dict[Path, _ContextCache] = {}
_registry_lock = threading.Lock()


def _cache_for(image: ImageSpec, rules: IgnoreRules) -> _ContextCache:
    key = json.dumps([os.path.abspath(image.context), list(rules.patterns), list(rules.always_keep)])
    name = hashlib.sha256(key.encode()).hexdigest()[:32] + ".json"
    path = cache_dir() / name
    with _registry_lock:
        cache = _registry.get(path)
        if cache is None:
            cache = _registry[path] = _ContextCache(path)
        return cache
