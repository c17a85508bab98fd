"""Path matching: the one home of the pattern languages of devloop.yaml (configuration.md), each with its
documented semantics. Paths are "/"-separated and relative to the root the field names.

- :func:`glob_match` — ``manifests`` globs with ``**`` (what ``glob.glob(recursive=True)`` matches: ``**`` spans
  any number of folders, ``*`` and ``**`` skip names starting with a dot).
- :func:`live_update_match` — ``live_update.fall_back_on`` and ``run[].trigger``: equal, under a folder, or a
  glob (``*``, ``?``, ``[``) matching the whole path or the file name.
- :func:`gitignore_spec` — gitignore syntax (negations too): ``watch.ignore``, ``.devloopignore``,
  ``local.*.deps``.

An image's ``.dockerignore`` and ``ignore`` follow Docker's own rules: :mod:`devloop.build.ignore`.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pathspec


def glob_match(names: Sequence[str], parts: Sequence[str]) -> bool:
    """Whether the path ``names`` (its components) matches the glob ``parts`` (``**``: any number of folders)."""
    if not parts:
        return not names
    head, tail = parts[0], parts[1:]
    if head == "**":
        for skip in range(len(names) + 1):
            if skip and names[skip - 1].startswith("."):
                return False
            if glob_match(names[skip:], tail):
                return True
        return False
    if not names:
        return False
    name = names[0]
    if name.startswith(".") and not head.startswith("."):
        return False
    return fnmatch.fnmatchcase(name, head) and glob_match(names[1:], tail)


def live_update_match(rel: str, patterns: Iterable[str]) -> bool:
    """A path relative to the context matches a pattern when it equals it, lies under it
    (a folder), or matches it as a glob (the whole path or the file name)."""
    for pattern in patterns:
        pat = posixpath.normpath(pattern).lstrip("/")
        if pat in (".", ""):
            return True
        if rel == pat or rel.startswith(pat + "/"):
            return True
        if any(ch in pat for ch in "*?[") and (
            fnmatch.fnmatchcase(rel, pat) or fnmatch.fnmatchcase(PurePosixPath(rel).name, pat)
        ):
            return True
    return False


def gitignore_spec(lines: Iterable[str]) -> pathspec.GitIgnoreSpec:
    """Gitignore-style ``lines`` (comments, blanks and negations as git reads them) as one matcher:
    ``.match_file(rel)`` says whether a relative path is matched."""
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)
