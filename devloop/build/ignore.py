"""The ignore rules of an image's build context: which files docker sends, and so which files count.

An image's rules are its context's ``.dockerignore`` (or, as BuildKit does, a ``<Dockerfile>.dockerignore``
next to the Dockerfile, which then replaces it) followed by the image's ``ignore:`` patterns, in
``.dockerignore`` syntax with ``!`` exceptions; the last matching pattern wins. The Dockerfile and
``.dockerignore`` are always kept, as docker always sends them.

Patterns are parsed and translated to regular expressions by the docker SDK's own code
(``docker.utils.build.Pattern`` and ``docker.utils.fnmatch.translate``). A pattern matches a path when it
matches the path itself or one of its parent folders (moby's ``MatchesOrParentMatches``, what the engine
and BuildKit do); matching is case-sensitive, as on Linux.

:meth:`IgnoreRules.walk` lists the kept entries of a context without following symlinks; it does not
descend into an ignored folder unless an ``!`` exception could re-include something below it.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from devloop.config.model import ImageSpec

DOCKERIGNORE = ".dockerignore"
#: never part of any image or its digest: version control folders at any depth
OWN_PATTERNS: tuple[str, ...] = ("**/.git",)


@dataclass(frozen=True)
class _Rule:
    text: str  # the pattern as normalised, without "!"
    exclusion: bool  # a "!" exception: re-includes what it matches
    parts: tuple[str, ...]  # components split on "/"
    regex: re.Pattern[str]
    part_regexes: tuple[re.Pattern[str], ...]


class Entry(NamedTuple):
    """A kept entry of a build context. ``relpath`` uses "/"; ``st`` is its ``lstat``."""

    relpath: str
    path: str  # absolute file system path
    st: os.stat_result

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)


def read_ignore_lines(path: Path) -> list[str]:
    """The raw lines of an ignore file (.dockerignore, .devloopignore): none when it is missing or a folder;
    a leading byte-order mark dropped; an unreadable file is a ConfigError naming it."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return []
    except OSError as exc:
        from devloop.errors import ConfigError

        raise ConfigError(
            f"cannot read the ignore file: {exc.strerror or exc}; make it readable or remove it",
            location=str(path),
        ) from exc
    return text.removeprefix("\ufeff").splitlines()


def read_ignore_file(path: Path) -> list[str]:
    """The patterns of a ``.dockerignore`` file, read as the docker CLI reads them (comments, blanks, BOM)."""
    patterns: list[str] = []
    for line in read_ignore_lines(path):
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = os.path.normpath(pattern).replace(os.sep, "/")
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append(("!" if invert else "") + pattern)
    return patterns


def ignore_file_for(context: Path, dockerfile: Path) -> Path:
    """The ignore file docker uses: ``<Dockerfile>.dockerignore`` when present, else ``<context>/.dockerignore``."""
    specific = dockerfile.with_name(dockerfile.name + DOCKERIGNORE)
    if specific.is_file():
        return specific
    return context / DOCKERIGNORE


class IgnoreRules:
    """Docker's ignore rules for one build context. ``matches(relpath)`` is True for an ignored path."""

    def __init__(self, patterns: Sequence[str], *, always_keep: Iterable[str] = (DOCKERIGNORE, "Dockerfile")):
        from docker.utils.build import Pattern
        from docker.utils.fnmatch import translate

        self.patterns: tuple[str, ...] = tuple(patterns)
        self.always_keep: tuple[str, ...] = tuple(always_keep)
        rules: list[_Rule] = []
        for raw in [*self.patterns, *(f"!{keep}" for keep in self.always_keep)]:
            pattern = Pattern(raw)
            if not pattern.dirs:  # "." and "/" are ignored, as docker does
                continue
            parts = tuple(pattern.dirs)
            rules.append(
                _Rule(
                    text=pattern.cleaned_pattern,
                    exclusion=pattern.exclusion,
                    parts=parts,
                    regex=re.compile(translate(pattern.cleaned_pattern)),
                    part_regexes=tuple(re.compile(translate(part)) for part in parts),
                )
            )
        self._rules = tuple(rules)
        self._exclusions = tuple(rule for rule in rules if rule.exclusion)
        self._user_rules = any(not rule.exclusion for rule in rules)

    @classmethod
    def for_image(cls, image: ImageSpec) -> IgnoreRules:
        """The rules of ``image``: its ignore file, then ``image.ignore``, then devloop's own files (``.git``
        folders, ``image.own_files``); the Dockerfile and ``.dockerignore`` are always kept."""
        patterns = read_ignore_file(ignore_file_for(image.context, image.dockerfile))
        patterns.extend(image.ignore)
        patterns.extend(OWN_PATTERNS)  # last: never re-included by a "!" pattern
        patterns.extend(image.own_files)
        keep = [DOCKERIGNORE]
        dockerfile_rel = _relative_inside(image.dockerfile, image.context)
        if dockerfile_rel is not None:
            keep.append(dockerfile_rel)
        return cls(patterns, always_keep=keep)

    def __repr__(self) -> str:
        return f"IgnoreRules({list(self.patterns)!r}, always_keep={list(self.always_keep)!r})"

    # -- matching ---------------------------------------------------------------------------------------

    def matches(self, relpath: str) -> bool:
        """True when ``relpath`` (relative to the context, "/"-separated) is ignored."""
        path = relpath.replace(os.sep, "/").strip("/")
        if path.startswith("./"):
            path = path[2:]
        if not path or path == "." or not self._user_rules:
            return False
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        ignored = False
        for rule in self._rules:
            if rule.exclusion != ignored:
                continue  # cannot change the verdict
            if any(rule.regex.match(prefix) for prefix in prefixes):
                ignored = not rule.exclusion
        return ignored

    def _may_reinclude_below(self, dir_parts: Sequence[str]) -> bool:
        """Could an ``!`` exception match something strictly below the folder ``dir_parts``?"""
        depth = len(dir_parts)
        for rule in self._exclusions:
            wild = next((i for i, part in enumerate(rule.parts) if "**" in part), None)
            if wild is None:
                if len(rule.parts) <= depth:
                    continue  # it can only match this folder or its parents: already decided
                checked = depth
            else:
                checked = min(wild, depth)
            if all(rule.part_regexes[i].match(dir_parts[i]) for i in range(checked)):
                return True
        return False

    # -- walking ----------------------------------------------------------------------------------------

    def walk_entries(self, context: Path | str) -> Iterator[Entry]:
        """Every kept entry under ``context`` (files, symlinks, folders), not following symlinks.

        Order is unspecified. Unreadable folders raise :class:`OSError`.
        """
        root = os.path.abspath(context)
        rules = self._rules
        n_rules = len(rules)
        regexes = [rule.regex for rule in rules]
        exclusions = [rule.exclusion for rule in rules]
        order = range(n_rules - 1, -1, -1)  # last matching rule wins
        no_bits = tuple(False for _ in rules)
        # stack of (absolute dir, relative dir or "", its parts, bits of the rules for it)
        stack: list[tuple[str, str, tuple[str, ...], tuple[bool, ...]]] = [(root, "", (), no_bits)]
        filtering = self._user_rules
        while stack:
            abs_dir, rel_dir, parts, bits = stack.pop()
            prefix = rel_dir + "/" if rel_dir else ""
            with os.scandir(abs_dir) as it:
                dirents = list(it)
            for dirent in dirents:
                rel = prefix + dirent.name
                is_dir = dirent.is_dir(follow_symlinks=False)
                ignored = False
                if filtering:
                    # the last rule that matches this path or one of its parents decides
                    for i in order:
                        if bits[i] or regexes[i].match(rel) is not None:
                            ignored = not exclusions[i]
                            break
                if is_dir:
                    child_parts = (*parts, dirent.name)
                    if ignored and not self._may_reinclude_below(child_parts):
                        continue
                    child_bits = (
                        tuple(bits[i] or regexes[i].match(rel) is not None for i in range(n_rules))
                        if filtering
                        else bits
                    )
                    stack.append((dirent.path, rel, child_parts, child_bits))
                if not ignored:
                    yield Entry(rel, dirent.path, dirent.stat(follow_symlinks=False))

    def walk(self, context: Path | str) -> Iterator[str]:
        """The relative paths ("/"-separated) of the kept non-folder entries under ``context``."""
        for entry in self.walk_entries(context):
            if not entry.is_dir:
                yield entry.relpath


def _relative_inside(path: Path, root: Path) -> str | None:
    try:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    except ValueError:
        return None
    if rel == os.curdir or rel.startswith(os.pardir + os.sep) or rel == os.pardir:
        return None
    return rel.replace(os.sep, "/")
