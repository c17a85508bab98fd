"""Kubernetes manifests as JSON data: a multi-document YAML stream read event by event, with limits and positions.

:func:`read_documents` turns a YAML stream into one :class:`Document` per document: the value (mappings,
lists, strings, numbers, booleans, null: what a Kubernetes object can hold) and the ``line:col`` of every
value (:meth:`Document.where`). It uses libyaml's C parser when PyYAML was built with it (about ten times
faster on big CRD bundles) and PyYAML's pure-Python parser otherwise; both give the same events and the same
positions. When the C parser refuses the text, the pure-Python parser reads it again, so error messages
and positions never depend on which parser is installed.

Everything Kubernetes' own decoder (or ``kubectl apply``) would refuse, and everything that could eat the
machine, is a :class:`~devloop.errors.ConfigError` at ``ORIGIN:LINE:COL``:

- a value tagged with a type it is not (``!!int x``, ``!!bool maybe``, ``!!timestamp 2001-99-99``), a tag
  that is not a JSON type (``!!binary``, ``!!set``, ``!!omap``, ``!Custom``), an infinite or NaN number;
- a key written twice in one mapping, a mapping or list used as a key, an undefined or recursive alias;
- aliases that expand into more than :data:`MAX_ALIAS_VALUES` values (an "alias bomb"), nesting deeper
  than :data:`MAX_DEPTH` levels.

Keys that are not strings become the text Kubernetes gives them (``1`` -> ``"1"``, ``true`` -> ``"true"``).
An explicitly tagged ``!!timestamp`` stays the text as written (timestamps are not resolved implicitly).
Merge keys (``<<: *base``) are supported.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from devloop.config.yamlpos import NON_PRINTABLE, mark_position, position_of
from devloop.errors import ConfigError, shown

#: Values that aliases may add to one document (Kubernetes' YAML decoder has a similar guard).
MAX_ALIAS_VALUES = 400_000
#: Nesting levels of one document; deeper structures are refused (Python's own recursion stays safe).
MAX_DEPTH = 200

_TAG = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT = (_TAG + t for t in ("str", "null", "bool", "int", "float"))
_TIMESTAMP, _MERGE, _VALUE, _SEQ, _MAP = (_TAG + t for t in ("timestamp", "merge", "value", "seq", "map"))


C_PARSER = bool(getattr(yaml, "__with_libyaml__", False)) and hasattr(yaml, "CSafeLoader")


class _ManifestResolver(Resolver):
    """The safe resolver without implicit timestamps (Kubernetes reads them as strings)."""


_ManifestResolver.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in Resolver.yaml_implicit_resolvers.items()
}
_RESOLVER = _ManifestResolver()
_CONSTRUCTOR = SafeConstructor()


@dataclass
class Document:
    """One document of a stream: ``data`` (None for an empty document), where its root value starts, and the
    position of every value inside it."""

    data: Any
    line: int  # 1-based
    col: int  # 1-based
    marks: dict[int, Any] = field(default_factory=dict, repr=False)  # id(container) -> {key: mark} | [mark]

    def mark(self, container: Any, key: str | int) -> tuple[int, int] | None:
        """(line, col) of ``container[key]``, for a mapping or list of this document."""
        marks = self.marks.get(id(container))
        try:
            mark = marks[key] if marks is not None else None
        except (KeyError, IndexError, TypeError):
            return None
        return mark_position(mark) if mark is not None else None

    def where(self, origin: str, container: Any, key: str | int) -> str:
        """``ORIGIN:LINE:COL`` of ``container[key]`` (``ORIGIN:LINE:COL`` of the document when unknown)."""
        line, col = self.mark(container, key) or (self.line, self.col)
        return f"{origin}:{line}:{col}"


def read_documents(text: str, origin: str) -> list[Document]:
    """Every document of the YAML stream ``text``; ``origin`` names it in error messages."""
    bad = NON_PRINTABLE.search(text)
    if bad:
        line, col = position_of(text, bad.start())
        raise ConfigError(
            f"manifest contains a character YAML does not allow ({shown(repr(bad.group()))}); remove it",
            location=f"{origin}:{line}:{col}",
        )
    if C_PARSER:
        try:
            return list(_Builder(yaml.CSafeLoader(text), origin).documents())
        except yaml.YAMLError:
            pass  # read again with the pure-Python parser, whose messages and positions are the documented ones
    return list(_Builder(yaml.SafeLoader(text), origin).documents())


class _Frame:
    __slots__ = ("anchor", "key", "key_mark", "mapping", "marks", "merges", "size", "start", "value")

    def __init__(self, value: Any, start: Any, anchor: str | None, mapping: bool) -> None:
        self.value = value
        self.start = start
        self.anchor = anchor
        self.mapping = mapping
        self.marks: Any = {} if mapping else []
        self.size = 1
        self.key: Any = None  # the key read, waiting for its value (a str, or _MERGE_KEY)
        self.key_mark: Any = None
        self.merges: list[tuple[Any, Any]] = []  # (mapping, its marks) merged with `<<`


class _Building:
    """Marks an anchor whose value is still being read (an alias to it would be recursive)."""

    def __init__(self, start: Any) -> None:
        self.start = start


@dataclass
class _Doc:
    """What :meth:`_Builder.document` keeps while it reads one document."""

    anchors: dict[str, tuple[Any, int] | _Building] = field(default_factory=dict)  # value and size, or unfinished
    marks: dict[int, Any] = field(default_factory=dict)  # id(collection) -> the marks of its items
    stack: list[_Frame] = field(default_factory=list)  # the collections being read, innermost last
    root: list[tuple[Any, Any]] = field(default_factory=list)  # (value, start mark)
    aliased: int = 0  # values repeated by aliases so far


_MERGE_KEY = object()


class _Builder:
    def __init__(self, loader: Any, origin: str) -> None:
        self.loader = loader
        self.origin = origin

    def fail(self, mark: Any, message: str) -> NoReturn:
        if mark is None:
            raise ConfigError(message, location=self.origin)
        line, col = mark_position(mark)
        raise ConfigError(message, location=f"{self.origin}:{line}:{col}")

    def documents(self) -> Iterator[Document]:
        try:
            while True:
                event = self.loader.get_event()
                if isinstance(event, yaml.StreamEndEvent):
                    return
                if isinstance(event, yaml.DocumentStartEvent):
                    yield self.document()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "invalid YAML"
            context = f" ({exc.context})" if exc.context and exc.problem else ""
            if isinstance(self.loader, yaml.SafeLoader):
                self.fail(mark, f"manifest is not valid YAML: {problem}{context}; fix the YAML at this line")
            raise
        finally:
            self.loader.dispose()

    def document(self) -> Document:
        doc = _Doc()
        while True:
            event: Any = self.loader.get_event()
            if isinstance(event, yaml.DocumentEndEvent):
                end: Any = event.start_mark
                value, start = doc.root[0] if doc.root else (None, end)
                return Document(value, *mark_position(start), doc.marks)
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                self.open(doc, event)
                continue
            node = self.node(doc, event)
            if node is None:  # pragma: no cover - the parser sends nothing else inside a document
                continue
            value, size, start = node
            if not doc.stack:
                doc.root.append((value, start))
            else:
                self.add(doc.stack[-1], value, size, start, doc.marks)

    def open(self, doc: _Doc, event: Any) -> None:
        """A mapping or a list starts: a frame collects its values until it ends."""
        mapping = isinstance(event, yaml.MappingStartEvent)
        self.check_collection_tag(event, mapping)
        if len(doc.stack) >= MAX_DEPTH:
            self.fail(
                event.start_mark,
                f"manifest is nested too deeply (more than {MAX_DEPTH} levels); simplify it",
            )
        frame = _Frame({} if mapping else [], event.start_mark, event.anchor, mapping)
        if event.anchor is not None:
            doc.anchors[event.anchor] = _Building(event.start_mark)
        doc.stack.append(frame)

    def node(self, doc: _Doc, event: Any) -> tuple[Any, int, Any] | None:
        """The value a scalar, the end of a collection or an alias completes: (value, how many values it
        holds, its start mark); None for any other event."""
        if isinstance(event, yaml.ScalarEvent):
            parent = doc.stack[-1] if doc.stack else None
            value = self.scalar(event, key=parent is not None and parent.mapping and parent.key is None)
            if event.anchor is not None:
                doc.anchors[event.anchor] = (value, 1)
            if parent is not None and parent.key is not None and event.value == "":
                return value, 1, parent.key_mark  # an empty value is where its key is (the parsers differ)
            return value, 1, event.start_mark
        if isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            frame = doc.stack.pop()
            value = self.finish(frame)
            doc.marks[id(value)] = frame.marks
            if frame.anchor is not None:
                doc.anchors[frame.anchor] = (value, frame.size)
            return value, frame.size, frame.start  # the frame's start mark is the value's position
        if isinstance(event, yaml.AliasEvent):
            value, size = self.alias(doc, event)
            return value, size, event.start_mark
        return None  # pragma: no cover - the parser sends nothing else inside a document

    def alias(self, doc: _Doc, alias: Any) -> tuple[Any, int]:
        """The value an alias repeats and its size; an undefined or recursive alias, or too many repeated
        values (an alias bomb), is an error."""
        target = doc.anchors.get(alias.anchor)
        if target is None:
            self.fail(
                alias.start_mark,
                f"manifest is not valid YAML: found undefined alias {shown(repr(alias.anchor))}; "
                "define the anchor (&name) before using the alias (*name)",
            )
        if isinstance(target, _Building):
            self.fail(
                target.start,
                "an alias refers to a node that contains it (a recursive structure, alias at line "
                f"{mark_position(alias.start_mark)[0]}); Kubernetes objects cannot be recursive, "
                "remove the alias",
            )
        value, size = target
        doc.aliased += size
        if doc.aliased > MAX_ALIAS_VALUES:
            self.fail(
                alias.start_mark,
                f"aliases expand this document to more than {MAX_ALIAS_VALUES:,} extra values "
                "(an alias bomb?); write the values out or use fewer aliases",
            )
        return value, size

    def add(self, frame: _Frame, value: Any, size: int, start: Any, marks: dict[int, Any]) -> None:
        frame.size += size
        if not frame.mapping:
            frame.value.append(value)
            frame.marks.append(start)
            return
        if frame.key is None:
            if value is _MERGE_KEY:
                frame.key, frame.key_mark = _MERGE_KEY, start
                return
            if isinstance(value, dict | list):
                what = "a mapping" if isinstance(value, dict) else "a list"
                self.fail(start, f"{what} is used as a key; Kubernetes objects have text keys only")
            key = _key_text(value)
            if key in frame.value:
                self.fail(start, f"the key {shown(repr(key))} appears twice in the same mapping; remove one of them")
            frame.key, frame.key_mark = key, start
            return
        key = frame.key
        frame.key = None
        if key is _MERGE_KEY:
            sources = value if isinstance(value, list) else [value]
            for source in sources:
                if not isinstance(source, dict):
                    self.fail(start, "expected a mapping (or a list of mappings) after the merge key `<<`")
                frame.merges.append((source, marks.get(id(source), {})))
            return
        frame.value[key] = value
        frame.marks[key] = start

    def finish(self, frame: _Frame) -> Any:
        if not frame.mapping or not frame.merges:
            return frame.value
        merged: dict[str, Any] = {}
        merged_marks: dict[str, Any] = {}
        for source, source_marks in frame.merges:  # the first source that has a key wins
            for key, value in source.items():
                if key not in merged:
                    merged[key] = value
                    merged_marks[key] = source_marks.get(key)
        for key in frame.value:
            merged.pop(key, None)
        merged.update(frame.value)
        merged_marks.update(frame.marks)
        frame.marks = merged_marks
        return merged

    def check_collection_tag(self, event: Any, mapping: bool) -> None:
        tag = event.tag
        if tag is None or tag == "!" or tag == (_MAP if mapping else _SEQ):
            return
        what = "mapping" if mapping else "list"
        self.fail(
            event.start_mark,
            f"the {what} is tagged {shown(_shown_tag(tag))}, which a Kubernetes object cannot hold; remove the tag",
        )

    def scalar(self, event: Any, *, key: bool) -> Any:
        value: str = event.value
        tag = event.tag
        if tag == "!":  # the non-specific tag: text (the two parsers disagree on an empty `!`)
            tag = _STR
        elif tag is None:
            tag = _RESOLVER.resolve(yaml.ScalarNode, value, event.implicit)  # type: ignore[no-untyped-call]
        if tag == _STR:
            return value
        if tag == _MERGE:
            return _MERGE_KEY if key else value
        if tag == _VALUE:
            return value
        if tag == _NULL:
            return None
        if tag in (_BOOL, _INT, _FLOAT, _TIMESTAMP):
            return self.typed_scalar(event, tag)
        self.fail(
            event.start_mark,
            f"the value is tagged {shown(_shown_tag(tag))}, which a Kubernetes object cannot hold (only text, "
            "numbers, booleans, null, lists and mappings); remove the tag"
            + (" and write base64 text (a Secret's data, a ConfigMap's binaryData)" if tag == _TAG + "binary" else ""),
        )

    def typed_scalar(self, event: Any, tag: str) -> Any:
        """A boolean, an integer, a float (finite) or a timestamp (kept as text), checked like the parser's
        constructor does."""
        value: str = event.value
        node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark)
        try:
            if tag == _BOOL:
                return _CONSTRUCTOR.construct_yaml_bool(node)
            if tag == _INT:
                return _CONSTRUCTOR.construct_yaml_int(node)
            if tag == _TIMESTAMP:
                _CONSTRUCTOR.construct_yaml_timestamp(node)
                return value
            number = _CONSTRUCTOR.construct_yaml_float(node)
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError, yaml.YAMLError):
            self.fail(
                event.start_mark,
                f"{shown(json_text(value))} is not a valid {_shown_tag(tag)} value; "
                "fix the value, or remove the tag (or quote it) to make it text",
            )
        if not math.isfinite(number):
            self.fail(
                event.start_mark,
                f"{shown(json_text(value))} is not a number Kubernetes can hold (infinite or NaN); quote it "
                "to make it text",
            )
        return number


def _key_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def _shown_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def json_text(value: str, limit: int = 40) -> str:
    """``value`` quoted for a message, cut after ``limit`` characters."""
    import json

    return json.dumps(value if len(value) <= limit else value[: limit - 3] + "...", ensure_ascii=False)
