"""YAML with positions: a small tree of mappings, lists and scalars that remember their line and column.

PyYAML's composer (safe resolver) builds the node graph; this module turns it into :class:`YMap`,
:class:`YSeq` and :class:`YScalar` objects whose ``line``/``col`` are 1-based. Everything that can go wrong
(syntax errors, special characters, unsupported tags, recursive aliases, alias bombs, nesting that is too
deep, numbers Python refuses) becomes a :class:`~devloop.errors.ConfigError` at ``NAME:LINE:COL``, never
another exception.

Anchors and aliases are supported, and so are merge keys (``<<: *base``); duplicate keys are errors.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import NoReturn, Protocol

import yaml
from yaml.constructor import SafeConstructor

from devloop.errors import ConfigError, shown

#: Upper bounds that keep hostile input (alias bombs, deep nesting) from eating the machine.
MAX_NODES = 100_000
MAX_DEPTH = 100

_TAG = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT = (_TAG + t for t in ("str", "null", "bool", "int", "float"))
_TIMESTAMP, _MERGE, _VALUE = _TAG + "timestamp", _TAG + "merge", _TAG + "value"
_SEQ, _MAP = _TAG + "seq", _TAG + "map"

#: The characters YAML refuses (same set as yaml.reader.Reader.NON_PRINTABLE); also used by yamldata.
NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Scalar = str | int | float | bool | None


@dataclass(frozen=True, eq=False)
class YNode:
    line: int  # 1-based
    col: int  # 1-based


@dataclass(frozen=True, eq=False)
class YScalar(YNode):
    value: Scalar
    raw: str  # the scalar's text as written (without quotes)
    plain: bool  # written without quotes or block style


@dataclass(frozen=True, eq=False)
class YSeq(YNode):
    items: tuple[YNode, ...]
    flow: bool


@dataclass(frozen=True, eq=False)
class YKey:
    text: str
    line: int
    col: int


@dataclass(frozen=True, eq=False)
class YMap(YNode):
    entries: tuple[tuple[YKey, YNode], ...]
    flow: bool

    def get(self, name: str) -> YNode | None:
        for key, value in self.entries:
            if key.text == name:
                return value
        return None

    def key(self, name: str) -> YKey | None:
        for key, _ in self.entries:
            if key.text == name:
                return key
        return None


class Mark(Protocol):
    """A parser position (``yaml.Mark``, or the C parser's)."""

    @property
    def line(self) -> int: ...
    @property
    def column(self) -> int: ...


def mark_position(mark: Mark) -> tuple[int, int]:
    """1-based (line, col) of a parser mark (PyYAML counts from 0)."""
    return mark.line + 1, mark.column + 1


def _mark(mark: yaml.Mark | None) -> tuple[int, int]:
    return (1, 1) if mark is None else mark_position(mark)


def position_of(text: str, index: int) -> tuple[int, int]:
    """1-based (line, col) of the character at ``index``."""
    line = text.count("\n", 0, index) + 1
    start = text.rfind("\n", 0, index) + 1
    return line, index - start + 1


def _syntax_message(exc: yaml.MarkedYAMLError) -> tuple[str, int, int]:
    problem = (exc.problem or exc.context or "invalid YAML").strip()
    mark = exc.problem_mark or exc.context_mark
    line, col = _mark(mark)
    extra = ""
    if exc.context and exc.problem and exc.context_mark is not None:
        cline, ccol = _mark(exc.context_mark)
        if (cline, ccol) != (line, col):
            extra = f" ({exc.context.strip()} at line {cline}, column {ccol})"
        else:
            extra = f" ({exc.context.strip()})"
    return f"{problem}{extra}", line, col


def _syntax_hint(message: str) -> str:
    if "another document" in message:
        return "keep a single document (remove the `---` line)"
    if "'\\t'" in message:
        return "indent with spaces, not tabs"
    if "block end" in message or "mapping values are not allowed" in message or "expected ':'" in message:
        return "check the indentation, and quote values that contain ': '"
    if "undefined alias" in message:
        return "define the anchor (&name) before using the alias (*name)"
    return "fix the syntax"


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Converter:
    """Node graph to YNode tree. ``path`` is the key path (``images[0].ref``) used in error messages."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self.constructor = SafeConstructor()

    def fail(self, line: int, col: int, path: str, message: str) -> NoReturn:
        raise ConfigError(message, location=f"{self.name}:{line}:{col}", key=path or None)

    def convert(self, node: yaml.Node, path: str, depth: int, stack: frozenset[int]) -> YNode:
        self.count += 1
        line, col = _mark(node.start_mark)
        if self.count > MAX_NODES:
            self.fail(
                line,
                col,
                path,
                f"expected at most {MAX_NODES} values, got more after expanding aliases; remove the alias chain",
            )
        if depth > MAX_DEPTH:
            self.fail(
                line, col, path, f"expected at most {MAX_DEPTH} levels of nesting, got more; flatten the structure"
            )
        if id(node) in stack:
            self.fail(
                line,
                col,
                path,
                "expected an alias to a finished value, got an alias to a value that "
                "contains it (a recursive anchor); remove the recursion",
            )
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path, line, col)
        inner = stack | {id(node)}
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                self.fail(
                    line,
                    col,
                    path,
                    f"expected a plain YAML list, got a value tagged {_shown_tag(node.tag)}; remove the tag",
                )
            items = tuple(self.convert(item, f"{path}[{i}]", depth + 1, inner) for i, item in enumerate(node.value))
            return YSeq(line, col, items, bool(node.flow_style))
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path, line, col, depth, inner)
        self.fail(line, col, path, "expected a YAML value, got an unknown node")  # pragma: no cover

    def scalar(self, node: yaml.ScalarNode, path: str, line: int, col: int) -> YScalar:
        raw = str(node.value)
        plain = node.style is None
        tag = node.tag
        value: Scalar
        try:
            if tag in (_STR, _TIMESTAMP, _VALUE):
                value = raw
            elif tag == _NULL:
                value = None
            elif tag == _BOOL:
                value = bool(self.constructor.construct_yaml_bool(node))
            elif tag == _INT:
                value = int(self.constructor.construct_yaml_int(node))
            elif tag == _FLOAT:
                value = float(self.constructor.construct_yaml_float(node))
            else:
                self.fail(
                    line,
                    col,
                    path,
                    f"expected a plain YAML value, got a value tagged {_shown_tag(tag)}; remove the tag",
                )
        except (ValueError, KeyError, TypeError, OverflowError, yaml.YAMLError):
            shown = raw if len(raw) <= 40 else raw[:37] + "..."
            self.fail(
                line,
                col,
                path,
                f"expected a valid {_shown_tag(tag)} value, got {json.dumps(shown)}; fix the value or remove the tag",
            )
        return YScalar(line, col, value, raw, plain)

    def key_text(self, node: yaml.Node, path: str) -> str:
        line, col = _mark(node.start_mark)
        if not isinstance(node, yaml.ScalarNode):
            what = "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
            self.fail(line, col, path, f"expected a plain key, got {what} used as a key; use a string key")
        return str(node.value)

    def mapping(
        self, node: yaml.MappingNode, path: str, line: int, col: int, depth: int, stack: frozenset[int]
    ) -> YMap:
        if node.tag != _MAP:
            self.fail(
                line,
                col,
                path,
                f"expected a plain YAML mapping, got a value tagged {_shown_tag(node.tag)}; remove the tag",
            )
        explicit: dict[str, tuple[YKey, YNode]] = {}
        merged: dict[str, tuple[YKey, YNode]] = {}
        for key_node, value_node in node.value:
            kline, kcol = _mark(key_node.start_mark)
            if key_node.tag == _MERGE:
                for source in self.merge_sources(value_node, path, depth, stack):
                    for key, value in source.entries:
                        merged.setdefault(key.text, (key, value))
                continue
            text = self.key_text(key_node, path)
            child = _child(path, text)
            if text in explicit:
                first = explicit[text][0]
                self.fail(
                    kline,
                    kcol,
                    child,
                    f"expected each key once in a mapping, got `{shown(text)}` again "
                    f"(first at line {first.line}, column {first.col}); remove one of them",
                )
            explicit[text] = (YKey(text, kline, kcol), self.convert(value_node, child, depth + 1, stack))
        entries = list(explicit.values()) + [entry for k, entry in merged.items() if k not in explicit]
        return YMap(line, col, tuple(entries), bool(node.flow_style))

    def merge_sources(self, node: yaml.Node, path: str, depth: int, stack: frozenset[int]) -> list[YMap]:
        line, col = _mark(node.start_mark)
        is_list = isinstance(node, yaml.SequenceNode)
        parts = node.value if is_list else [node]
        inner = stack | {id(node)} if is_list else stack
        sources: list[YMap] = []
        for part in parts:
            converted = self.convert(part, path, depth + 1, inner)
            if not isinstance(converted, YMap):
                self.fail(
                    line,
                    col,
                    _child(path, "<<"),
                    "expected a mapping (or a list of mappings) after "
                    "the merge key `<<`, got something else; merge only mappings",
                )
            sources.append(converted)
        return sources


def _shown_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


def _too_deep(text: str) -> tuple[int, int]:
    """Where the first value nested deeper than :data:`MAX_DEPTH` starts (1:1 when none is)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH + 1 and event.start_mark is not None:
                return mark_position(event.start_mark)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return 1, 1


def parse(text: str, name: str) -> YNode | None:
    """Parse one YAML document; ``None`` for an empty stream. Errors: :class:`ConfigError` at ``name:L:C``."""
    bad = NON_PRINTABLE.search(text)
    if bad:
        line, col = position_of(text, bad.start())
        raise ConfigError(
            f"invalid YAML: special character U+{ord(bad.group()):04X} is not allowed; remove it",
            location=f"{name}:{line}:{col}",
        )
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        message, line, col = _syntax_message(exc)
        if "another document" in message:
            message = "expected a single document, got a second one"
        raise ConfigError(
            f"invalid YAML: {message}; {_syntax_hint(message)}", location=f"{name}:{line}:{col}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}; fix the syntax", location=f"{name}:1:1") from None
    except RecursionError:  # the composer recurses; the parser's events do not, and say where it got too deep
        line, col = _too_deep(text)
        raise ConfigError(
            f"expected at most {MAX_DEPTH} levels of nesting, got more; flatten the structure",
            location=f"{name}:{line}:{col}",
        ) from None
    if node is None:
        return None
    try:
        return _Converter(name).convert(node, "", 0, frozenset())
    except RecursionError:
        line, col = _mark(node.start_mark)
        raise ConfigError(
            "invalid YAML: nested too deeply; flatten the structure", location=f"{name}:{line}:{col}"
        ) from None
