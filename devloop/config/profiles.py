"""Profiles (``profiles.NAME`` of devloop.yaml): a variant of the project in the same file, selected with
``--profile NAME`` or ``DEVLOOP_PROFILE``. Pure: works on the parsed YAML nodes, before validation, so that every
error in a merged value still points at the line that wrote it (in the profile or at the top level).

The merge (docs/configuration.md, "profiles"):

- a key of the profile replaces the top-level key of the same name;
- except ``resources``, ``workloads`` and ``local``, merged by name, and ``images``, merged by ``ref``: an entry the
  profile names that exists at the top level gets the profile's fields (each replacing the field of the same
  name, the others kept); a new name or ref is added.
"""

from __future__ import annotations

from collections.abc import Callable

from devloop.config.yamlpos import YKey, YMap, YNode, YScalar, YSeq

#: top-level mappings whose entries a profile merges by name
MERGED_BY_NAME = ("resources", "workloads", "local")
#: the top-level list whose entries a profile merges by ``ref``
MERGED_BY_REF = "images"


def apply(top: YMap, profile: YMap) -> YMap:
    """``top`` (the whole file) with ``profile`` (the mapping of one ``profiles.NAME``) merged in."""

    def combine(old_key: YKey, old: YNode, key: YKey, value: YNode) -> tuple[YKey, YNode]:
        if key.text in MERGED_BY_NAME and isinstance(old, YMap) and isinstance(value, YMap):
            return old_key, _merge(old, value, lambda k0, v0, k, v: (k0, _overlay(v0, v)))
        if key.text == MERGED_BY_REF and isinstance(old, YSeq) and isinstance(value, YSeq):
            return old_key, _by_ref(old, value)
        return key, value

    return _merge(top, profile, combine)


Combine = Callable[[YKey, YNode, YKey, YNode], tuple[YKey, YNode]]


def _merge(old: YMap, new: YMap, combine: Combine) -> YMap:
    """``old`` with the entries of ``new``: a new key is added, a key both hold becomes ``combine(old key, old
    value, new key, new value)``; the order of ``old`` is kept."""
    entries = list(old.entries)
    for key, value in new.entries:
        at = next((i for i, (k, _) in enumerate(entries) if k.text == key.text), None)
        if at is None:
            entries.append((key, value))
        else:
            entries[at] = combine(*entries[at], key, value)
    return YMap(line=old.line, col=old.col, entries=tuple(entries), flow=old.flow and new.flow)


def _overlay(old: YNode, new: YNode) -> YNode:
    """``new``'s fields over ``old``'s (each replacing the field of the same name) when both are mappings;
    otherwise ``new``."""
    if not (isinstance(old, YMap) and isinstance(new, YMap)):
        return new
    return _merge(old, new, lambda k0, v0, k, v: (k, v))


def _ref(item: YNode) -> object:
    ref = item.get("ref") if isinstance(item, YMap) else None
    return ref.value if isinstance(ref, YScalar) and ref.value is not None else None


def _by_ref(old: YSeq, new: YSeq) -> YSeq:
    items = list(old.items)
    for item in new.items:
        ref = _ref(item)
        at = next((i for i, o in enumerate(items) if ref is not None and _ref(o) == ref), None)
        if at is None:
            items.append(item)
        else:
            items[at] = _overlay(items[at], item)
    return YSeq(line=old.line, col=old.col, items=tuple(items), flow=old.flow and new.flow)
