"""Which file events matter: the watch ignore rules (config.md, "watch" and "Live update" step 1).

Three layers of rules, all matched on paths relative to a base folder:

* **global** (base: the project root), gitignore syntax: ``.git/`` folders at any depth and devloop's own
  state folder ``<root>/.devloop/`` (always), then ``watch.ignore``, then the lines of
  ``<root>/.devloopignore``. Later patterns win, ``!`` re-includes, as in git.
* **per image** (base: the image's context), .dockerignore syntax: the context's ``.dockerignore``
  followed by ``images[].ignore`` (see :class:`devloop.build.ignore.IgnoreRules`). A path ignored by an
  image does nothing for that image; the Dockerfile and ``.dockerignore`` are never ignored.
* **config files**: devloop.yaml and the manifests' files and folders (kustomize folders, helm charts and
  values files). Image rules never hide them.

A path is dropped by the watcher (:meth:`WatchIgnore.__call__`) when it is ignored globally, or when at
least one image's context holds it, every such image ignores it, and it is not a config file. A path that
no image's context holds and that is not ignored globally is kept: the engine decides what it means.

Matching is pure (no file system access); :meth:`WatchIgnore.load` and :meth:`WatchIgnore.from_config`
read the ignore files once. When one of :meth:`WatchIgnore.rule_files` changes, build a new one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pathspec

    from devloop.config.model import Config, ImageSpec, Project

DEVLOOPIGNORE = ".devloopignore"
STATE_DIR = ".devloop"
#: Always ignored, whatever the config says (gitignore syntax, relative to the root).
ALWAYS_IGNORED: tuple[str, ...] = (".git/", f"/{STATE_DIR}/")

#: Matches a path relative to an image's context ("/"-separated); True when that image ignores it.
ImageMatcher = Callable[[str], bool]


def read_pattern_lines(path: Path) -> list[str]:
    """The lines of a gitignore-style file (missing file: none). Comments and blanks are left to pathspec."""
    from devloop.build.ignore import read_ignore_lines

    return read_ignore_lines(path)


def _abs(path: Path | str) -> Path:
    return Path(os.path.abspath(path))


def _relative(path: Path, base: Path) -> str | None:
    """``path`` relative to ``base``, "/"-separated; "" for base itself; None when outside."""
    try:
        rel = path.relative_to(base)
    except ValueError:
        return None
    text = rel.as_posix()
    return "" if text == "." else text


def _image_matcher(image: ImageSpec) -> ImageMatcher:
    """The docker ignore rules of ``image`` (its .dockerignore, then ``image.ignore``)."""
    from devloop.build.ignore import IgnoreRules

    return IgnoreRules.for_image(image).matches


class WatchIgnore:
    """The watch ignore rules of one project. Immutable once built; thread-safe to query.

    ``patterns`` are ``watch.ignore``, ``devloopignore_lines`` the lines of ``.devloopignore`` (both
    gitignore syntax, relative to ``root``). ``images`` pairs each image with the matcher of its docker
    ignore rules (a path relative to the context -> ignored?). ``config_files`` are devloop.yaml and
    the manifests' files and folders (a path under such a folder counts too).
    """

    def __init__(
        self,
        root: Path,
        *,
        patterns: Sequence[str] = (),
        devloopignore_lines: Sequence[str] = (),
        images: Sequence[tuple[ImageSpec, ImageMatcher]] = (),
        config_files: Iterable[Path] = (),
        rule_files: Iterable[Path] = (),
    ) -> None:
        from devloop.pathmatch import gitignore_spec

        self.root = _abs(root)
        self.patterns = tuple(patterns)
        self.devloopignore_lines = tuple(devloopignore_lines)
        self._spec: pathspec.GitIgnoreSpec = gitignore_spec(
            [*ALWAYS_IGNORED, *self.patterns, *self.devloopignore_lines]
        )
        self._images: tuple[tuple[ImageSpec, Path, ImageMatcher], ...] = tuple(
            (image, _abs(image.context), matcher) for image, matcher in images
        )
        self.config_files: frozenset[Path] = frozenset(_abs(p) for p in config_files)
        self._rule_files = frozenset(_abs(p) for p in rule_files) | {self.root / DEVLOOPIGNORE}

    # -- construction from the file system ---------------------------------------------------------------

    @classmethod
    def load(
        cls,
        root: Path,
        *,
        patterns: Sequence[str] = (),
        images: Sequence[ImageSpec] = (),
        config_files: Iterable[Path] = (),
    ) -> WatchIgnore:
        """Read ``<root>/.devloopignore`` and every image's docker ignore rules, and build the rules."""
        from devloop.build.ignore import ignore_file_for

        rule_files: list[Path] = []
        for image in images:
            rule_files.append(image.context / ".dockerignore")
            rule_files.append(ignore_file_for(image.context, image.dockerfile))
            rule_files.append(image.dockerfile.with_name(image.dockerfile.name + ".dockerignore"))
        return cls(
            root,
            patterns=patterns,
            devloopignore_lines=read_pattern_lines(root / DEVLOOPIGNORE),
            images=[(image, _image_matcher(image)) for image in images],
            config_files=config_files,
            rule_files=rule_files,
        )

    @classmethod
    def from_config(cls, config: Config, config_files: Iterable[Path] = ()) -> WatchIgnore:
        """The rules of a loaded config. ``config_files``: the manifests' files and folders
        (``devloop.config.manifests.manifest_paths(config)``); devloop.yaml is always added."""
        return cls.load(
            config.root,
            patterns=config.watch.ignore,
            images=config.images,
            config_files=[config.path, *config_files],
        )

    # -- queries -------------------------------------------------------------------------------------------

    def rule_files(self) -> frozenset[Path]:
        """The files these rules were read from (``.devloopignore``, the images' ``.dockerignore``s):
        when one of them changes, build a new :class:`WatchIgnore`."""
        return self._rule_files

    def is_config_file(self, path: Path) -> bool:
        """devloop.yaml, a manifest file, or a path inside a kustomize folder or helm chart."""
        path = _abs(path)
        if path in self.config_files:
            return True
        return any(parent in self.config_files for parent in path.parents)

    def ignored_globally(self, path: Path, is_dir: bool = False) -> bool:
        """Ignored by ``.git/``, ``.devloop/``, ``watch.ignore`` or ``.devloopignore``.

        ``is_dir`` says that ``path`` is a folder (gitignore patterns ending in "/" match only folders).
        Paths outside the root are not ignored.
        """
        rel = _relative(_abs(path), self.root)
        if not rel:
            return False
        if self._spec.match_file(rel):
            return True
        return is_dir and self._spec.match_file(rel + "/")

    def ignored_for_image(self, path: Path, image: ImageSpec, is_dir: bool = False) -> bool:
        """Does ``path`` do nothing for ``image``? True when it is ignored globally, lies outside the
        image's context, or the image's docker ignore rules ignore it (the Dockerfile and
        ``.dockerignore`` never are). Config files are judged like any other path here."""
        path = _abs(path)
        if self.ignored_globally(path, is_dir):
            return True
        for spec, context, matcher in self._images:
            if spec is image or spec == image:
                return self._ignored_by(path, context, matcher)
        # An image these rules were not built with: only its context counts.
        return _relative(path, _abs(image.context)) is None

    def _ignored_by(self, path: Path, context: Path, matcher: ImageMatcher) -> bool:
        rel = _relative(path, context)
        if rel is None:
            return True
        if rel == "":
            return False
        return matcher(rel)

    def images_for(self, path: Path, is_dir: bool = False) -> list[ImageSpec]:
        """The images for which ``path`` matters (not ignored, inside the context)."""
        path = _abs(path)
        if self.ignored_globally(path, is_dir):
            return []
        return [spec for spec, context, matcher in self._images if not self._ignored_by(path, context, matcher)]

    def __call__(self, path: Path, is_dir: bool = False) -> bool:
        """Should the watcher drop this path entirely? (See the module docstring.)"""
        path = _abs(path)
        if self.ignored_globally(path, is_dir):
            return True
        if path in self._rule_files:
            return False
        holders = [(context, matcher) for _, context, matcher in self._images if _relative(path, context) is not None]
        if not holders:
            return False
        if self.is_config_file(path):
            return False
        return all(self._ignored_by(path, context, matcher) for context, matcher in holders)

    def __repr__(self) -> str:
        return (
            f"WatchIgnore(root={str(self.root)!r}, patterns={list(self.patterns)!r}, "
            f"images={[spec.ref for spec, _, _ in self._images]!r})"
        )


class IgnoreCache:
    """The watch ignore rules of the current project, rebuilt when the project is reloaded or one of
    the files they were read from (.devloopignore, an image's .dockerignore) changes."""

    def __init__(self) -> None:
        self._key: tuple[object, ...] | None = None
        self._rules: WatchIgnore | None = None

    def rules(self, project: Project) -> WatchIgnore:
        from devloop.config.manifests import manifest_paths

        if self._rules is None or self._key != self._stamp(project, self._rules):
            self._rules = WatchIgnore.from_config(project.config, manifest_paths(project.config))
            self._key = self._stamp(project, self._rules)
        return self._rules

    @staticmethod
    def _stamp(project: Project, rules: WatchIgnore) -> tuple[object, ...]:
        stamps: list[object] = [id(project)]
        for path in sorted(rules.rule_files()):
            try:
                stamps.append(path.stat().st_mtime_ns)
            except OSError:
                stamps.append(None)
        return tuple(stamps)
