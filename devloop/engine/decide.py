"""Pure decisions of the engine: what a batch of file changes means, and what may run next.

No I/O and no clock here: everything is a function of its arguments, unit-tested without
Docker, a cluster or a file system watcher.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from devloop.config.model import ImageSpec, LiveUpdate, Project, Resource, RunStep
from devloop.engine.state import ResourceState, Status
from devloop.pathmatch import gitignore_spec, live_update_match

UpdateKind = Literal["none", "live", "build"]


@dataclass(frozen=True)
class ImageUpdate:
    """What one image must do for a batch of changed paths (config.md "Live update")."""

    ref: str
    kind: UpdateKind
    reason: str = ""
    copies: tuple[tuple[str, str], ...] = ()  # (absolute local path, absolute container path)
    deletes: tuple[str, ...] = ()  # absolute container paths
    run: tuple[RunStep, ...] = ()
    restart: bool = False
    changed: tuple[str, ...] = ()  # paths relative to the context, for messages
    reference: str | None = None  # only containers running this built reference (default: the current one)
    containers: tuple[str, ...] = ()  # only these container ids (a re-sync); empty: every container of the image


def live_update_detail(updates: Sequence[ImageUpdate]) -> str:
    """What a live update did, for its `ready (live update 0.31 s, ...)` line: files synced and deleted, each
    only when there were some (a pure deletion syncs nothing)."""
    copied = sum(len(u.copies) for u in updates)
    deleted = sum(len(u.deletes) for u in updates)
    if copied and deleted:
        return f"{copied} file(s) synced, {deleted} deleted"
    if copied:
        return f"{copied} file(s) synced"
    return f"{deleted} file(s) deleted" if deleted else "no file changed"


@dataclass(frozen=True)
class BatchPlan:
    reload_config: bool
    images: tuple[ImageUpdate, ...] = ()


def _relative(path: Path, base: Path) -> str | None:
    try:
        rel = path.relative_to(base)
    except ValueError:
        return None
    text = rel.as_posix()
    return "." if text in ("", ".") else text


def _sync_dest(rel: str, image: ImageSpec) -> str | None:
    """The container path of a context-relative path, by the first sync rule that holds it."""
    assert image.live_update is not None
    for rule in image.live_update.sync:
        src = posixpath.normpath(rule.src)
        if src == ".":
            return posixpath.join(rule.dest, rel)
        if rel == src:
            return rule.dest
        if rel.startswith(src + "/"):
            return posixpath.join(rule.dest, rel[len(src) + 1 :])
    return None


def decide_image_update(
    image: ImageSpec,
    changed: Sequence[Path],
    deleted: Sequence[Path],
    *,
    has_running_container: bool,
) -> ImageUpdate:
    """Turn the changed/deleted paths that lie in ``image``'s context into one update.

    Paths must already be filtered by the ignore rules. The rules of config.md apply in order:
    fall_back_on, a path outside every sync.src, or no running container give a full build;
    otherwise a live update with copies, deletes and the run steps whose trigger changed.
    """
    context = image.context
    rel_changed = sorted({r for p in changed if (r := _relative(p, context)) is not None})
    rel_deleted = sorted({r for p in deleted if (r := _relative(p, context)) is not None} - set(rel_changed))
    touched = rel_changed + rel_deleted
    if not touched:
        return ImageUpdate(ref=image.ref, kind="none")
    live: LiveUpdate | None = image.live_update
    if live is None or not live.sync:
        return ImageUpdate(image.ref, "build", "no live_update sync rules", changed=tuple(touched))
    hit = [r for r in touched if live_update_match(r, live.fall_back_on)]
    if hit:
        return ImageUpdate(image.ref, "build", f"{hit[0]} matches fall_back_on", changed=tuple(touched))
    outside = [r for r in touched if _sync_dest(r, image) is None]
    if outside:
        return ImageUpdate(image.ref, "build", f"{outside[0]} is outside every sync.src", changed=tuple(touched))
    if not has_running_container:
        return ImageUpdate(image.ref, "build", "no running container of the image yet", changed=tuple(touched))
    copies = tuple((str(context / r), dest) for r in rel_changed if (dest := _sync_dest(r, image)))
    deletes = tuple(dest for r in rel_deleted if (dest := _sync_dest(r, image)))
    steps = tuple(
        step for step in live.run if not step.trigger or any(live_update_match(r, step.trigger) for r in touched)
    )
    return ImageUpdate(
        ref=image.ref,
        kind="live",
        copies=copies,
        deletes=deletes,
        run=steps,
        restart=live.restart,
        changed=tuple(touched),
    )


@dataclass(frozen=True)
class StepWindow:
    """When one of devloop's own steps (a test stage, a run step) ran: wall-clock seconds; end None while it runs."""

    start: float
    end: float | None
    label: str  # "the test stage of image shop/api"


#: a change this close after a step ended still counts as its own (file times are coarse, writes are flushed late)
OWN_SLACK = 0.5


def written_by_own_steps(
    stamps: Mapping[Path, float | None], windows: Sequence[StepWindow], arrived: float
) -> dict[Path, str]:
    """Which changed paths (-> the step's label) devloop's own steps wrote: a path's modification time (``stamps``;
    None for a deleted path, then the batch's arrival) lies inside the window of a step."""
    out: dict[Path, str] = {}
    for path, stamp in stamps.items():
        moment = arrived if stamp is None else stamp
        for window in windows:
            end = (window.end if window.end is not None else arrived) + OWN_SLACK
            if window.start - OWN_SLACK <= moment <= end:
                out[path] = window.label
                break
    return out


def self_trigger(
    previous: frozenset[Path], own: frozenset[Path], all_own: bool
) -> tuple[frozenset[Path], frozenset[Path]]:
    """Loop detection for files devloop's own steps write: ``own`` are the paths of a batch its steps wrote, and
    ``all_own`` says the batch holds nothing else (so it would start an update on their account alone).
    Returns what to remember for the next batch, and the paths that now make a loop: written again by a step in
    two such batches in a row."""
    if not all_own or not own:
        return frozenset(), frozenset()
    return own, previous & own


def reload_change(
    before: Resource | None,
    after: Resource,
    images_before: Sequence[ImageSpec | None],
    images_after: Sequence[ImageSpec | None],
) -> Literal["none", "settings", "deploy"]:
    """What a config reload means for one resource: "deploy" when its objects changed or one of its images is
    built another way (args, Dockerfile, ignore rules, a recipe's base...); "settings" when only its devloop
    settings changed (labels, port forwards, trigger mode, depends_on, readiness timeout: nothing to redeploy,
    so a running container is neither rebuilt nor replaced); else "none"."""
    def built(spec: ImageSpec | None) -> ImageSpec | None:  # what goes into the build (not live_update, test)
        return None if spec is None else replace(spec, test=None, live_update=None, index=0, origin="")

    if before is None or before.objects != after.objects or before.local != after.local:
        return "deploy"
    if [built(i) for i in images_before] != [built(i) for i in images_after]:
        return "deploy"
    return "settings" if before.settings != after.settings else "none"


def is_config_path(path: Path, config_paths: frozenset[Path]) -> bool:
    """``path`` is one of devloop's own files (devloop.yaml, .devloopignore, a manifest file) or lies in a
    manifest folder (a kustomize folder or its bases, a helm chart): a change reloads the config and never
    counts toward an image (docs/live-update.md)."""
    return path in config_paths or any(parent in config_paths for parent in path.parents)


def plan_batch(
    project: Project,
    changed: Sequence[Path],
    deleted: Sequence[Path],
    *,
    config_files: Iterable[Path],
    ignored_for_image: Callable[[Path, ImageSpec], bool],
    running_images: Mapping[str, bool],
) -> BatchPlan:
    """What a debounced batch means: a config reload, and per image a build or a live update.

    ``config_files`` are devloop's own files and folders (see :func:`is_config_path`); ``running_images`` tells, per
    image ref, whether a container of it runs (live update needs one).
    """
    config_set = frozenset(p.resolve() if not p.is_absolute() else p for p in config_files)
    all_paths = list(changed) + list(deleted)
    reload = any(is_config_path(p, config_set) for p in all_paths)
    changed = [p for p in changed if not is_config_path(p, config_set)]
    deleted = [p for p in deleted if not is_config_path(p, config_set)]
    updates: list[ImageUpdate] = []
    for image in project.config.images:
        mine_changed = [p for p in changed if not ignored_for_image(p, image)]
        mine_deleted = [p for p in deleted if not ignored_for_image(p, image)]
        update = decide_image_update(
            image, mine_changed, mine_deleted, has_running_container=running_images.get(image.ref, False)
        )
        if update.kind != "none":
            updates.append(update)
    return BatchPlan(reload_config=reload, images=tuple(with_dependents(project.config.images, updates)))


def with_dependents(images: Sequence[ImageSpec], updates: Sequence[ImageUpdate]) -> list[ImageUpdate]:
    """``updates`` plus a full build of every image that requires (``images[].requires``, directly or not) an
    image being updated: its base changed, so it must be built again, whatever changed in its own context."""
    changed = {update.ref for update in updates}
    result = list(updates)
    for image in images:
        bases = [ref for ref in image.required_refs if ref in changed]
        if not bases:
            continue
        own = next((u for u in result if u.ref == image.ref), None)
        if own is not None and own.kind == "build":
            continue
        reason = f"the image it requires, {bases[0]}, changed"
        rebuild = ImageUpdate(image.ref, "build", reason, changed=own.changed if own else ())
        result = [rebuild if u is own else u for u in result] if own is not None else [*result, rebuild]
    return result


@dataclass(frozen=True)
class Schedule:
    start: tuple[str, ...] = ()  # resources whose update may start now
    waiting: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # name -> dependencies not yet ready


def schedule(
    order: Sequence[str],
    states: Mapping[str, ResourceState],
    depends_on: Mapping[str, Sequence[str]],
    *,
    running: int,
    parallel: int,
) -> Schedule:
    """Which dirty resources may start now: in deploy order, each only once every dependency has
    been ready once, at most ``parallel`` updates at a time, manual ones only when triggered."""
    start: list[str] = []
    waiting: dict[str, tuple[str, ...]] = {}
    slots = parallel - running
    for name in order:
        state = states[name]
        if not state.dirty or state.status.busy or state.status is Status.MANUAL_PENDING:
            continue
        missing = tuple(dep for dep in depends_on.get(name, ()) if dep in states and not states[dep].ever_ready)
        if missing:
            waiting[name] = missing
            continue
        if slots <= 0:
            break
        start.append(name)
        slots -= 1
    return Schedule(start=tuple(start), waiting=waiting)


def resources_for_images(project: Project, refs: Iterable[str]) -> list[str]:
    wanted = set(refs)
    return [r.name for r in project.resources if wanted.intersection(r.images)]


def ci_outcome(states: Mapping[str, ResourceState]) -> Literal["running", "success", "failure"]:
    """`devloop ci`: failure at the first failed resource, success once all are ready/completed."""
    if any(s.status is Status.FAILED for s in states.values()):
        return "failure"
    if states and all(s.status.settled and not s.dirty for s in states.values()):
        return "success"
    return "running"


def local_resources_for_paths(project: Project, paths: Sequence[Path]) -> list[str]:
    """The local resources whose ``deps`` (gitignore patterns relative to devloop.yaml) match one of ``paths``
    (absolute), in deploy order."""

    root = project.config.root
    roots = [root, root.resolve()] if root.is_absolute() else [root.resolve()]
    relative = []
    for path in paths:
        for base in roots:
            rel = _relative(path, base)
            if rel is not None and rel != ".":
                relative.append(rel)
                break
    if not relative:
        return []
    names = []
    for resource in project.resources:
        if resource.local is None or not resource.local.deps:
            continue
        spec = gitignore_spec(resource.local.deps)
        if any(spec.match_file(rel) for rel in relative):
            names.append(resource.name)
    return names
