"""Property test: any mutation of a valid devloop.yaml either loads or fails with a located ConfigError.

Never a traceback, never another exception type, and the location always has the form
``devloop.yaml:LINE:COL`` with a line inside the text.
"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devloop.config.loader import parse_config
from devloop.config.model import Config
from devloop.errors import ConfigError
from devloop.exit_status import ExitStatus
from tests.support.examples import examples

PROJECT = Path(__file__).parent / "data" / "config" / "project"
CONFIG = PROJECT / "devloop.yaml"
TEXT = CONFIG.read_text()
LINES = TEXT.splitlines(keepends=True)
LOCATION = re.compile(r"^devloop\.yaml:(\d+):(\d+): \S")

# Characters that mean something to YAML, plus some that do not.
YAML_CHARS = ":-[]{}#&*!|>'\"%@`,? \t\n\\.0a~<="

# Scalars, lists and mappings in flow style, to put where a value was.
# fmt: off
_scalar = st.one_of(
    st.sampled_from(
        [
            "", "~", "null", "true", "no", "0", "-1", "65536", "1e400", ".nan", "-.inf", "0x1F", "0o17",
            "1:30", "9" * 5000, "'" + "9" * 5000 + "'",
            "'quoted'", '"esc\\u0041"', "!!binary aGVsbG8=", "!!int abc", "!!float x",
            "!custom v", "!!set {a}", "!!omap [a: 1]", "2001-12-14", "&a x", "*a", "*undefined", "<<",
            "/abs/path", "../outside", "app", "a b c", "8000:80:1", "Shop_API", "shop/api:1.0", "x@sha256:00",
            "[]", "{}", "[[[[[[]]]]]]", "|", ">-", "=", "? x", "- x", "\u00e9\u4e2d", "\x00", "\x85",
            '"a\\0b"', '"api/\\0"', "x" * 300, "x/" * 2100, "~/home", "api", "app", "charts/shop", "k8s",
        ]
    ),
    st.text(alphabet=YAML_CHARS, max_size=8),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
_flow = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(st.tuples(st.sampled_from(["a", "src", "cmd", "ref", "1", "<<", "''"]), inner), max_size=3).map(
            lambda kvs: "{" + ", ".join(f"{k}: {v}" for k, v in kvs) + "}"
        ),
    ),
    max_leaves=6,
)
_key = st.one_of(
    st.sampled_from(
        [
            "version", "name", "ref", "src", "dest", "cmd", "sync", "run", "images", "contxt", "<<", "? a",
            "1", "true", "~", "'q'", "[a]", "{a: 1}", "&k ref", "*k", "resources", "depends_on", "trigger",
            "workloads", "type", "build", "image", "port", "health", "base", "replicas", "env", "command",
        ]
    ),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.-", min_size=1, max_size=10),
)
# fmt: on


def mutation_for(text: str) -> st.SearchStrategy[tuple[object, ...]]:
    """Mutations of ``text`` (a devloop.yaml) for :func:`mutate`."""
    last = len(text.splitlines()) - 1
    return st.one_of(
        st.tuples(st.just("delete"), st.integers(0, len(text)), st.integers(1, 12)),
        st.tuples(st.just("insert"), st.integers(0, len(text)), st.text(alphabet=YAML_CHARS, min_size=1, max_size=6)),
        st.tuples(st.just("value"), st.integers(0, last), _flow),
        st.tuples(st.just("key"), st.integers(0, last), _key),
        st.tuples(st.just("indent"), st.integers(0, last), st.integers(-4, 4)),
        st.tuples(st.just("dup"), st.integers(0, last), st.integers(0, last)),
        st.tuples(st.just("drop"), st.integers(0, last), st.integers(1, 5)),
    )


_mutation = mutation_for(TEXT)

_KEY_VALUE = re.compile(r"^(\s*(?:- )?)([^:#\s][^:#]*?):( .*)?$")


def mutate(text: str, mutation: tuple[object, ...]) -> str:
    lines = text.splitlines(keepends=True) or [""]
    kind = mutation[0]
    if kind == "delete":
        at, size = int(mutation[1]) % (len(text) + 1), int(mutation[2])  # type: ignore[call-overload]
        return text[:at] + text[at + size :]
    if kind == "insert":
        at = int(mutation[1]) % (len(text) + 1)  # type: ignore[call-overload]
        return text[:at] + str(mutation[2]) + text[at:]
    index = int(mutation[1]) % len(lines)  # type: ignore[call-overload]
    line = lines[index].rstrip("\n")
    if kind == "value":
        match = _KEY_VALUE.match(line)
        if match:
            line = f"{match.group(1)}{match.group(2)}: {mutation[2]}"
        elif line.lstrip().startswith("- "):
            line = line[: len(line) - len(line.lstrip())] + f"- {mutation[2]}"
        else:
            line = f"{line} {mutation[2]}"
    elif kind == "key":
        match = _KEY_VALUE.match(line)
        renamed = f"{match.group(1)}{mutation[2]}:{match.group(3) or ''}" if match else None
        line = renamed or f"{mutation[2]}: {line.strip()}"
    elif kind == "indent":
        shift = int(mutation[2])  # type: ignore[call-overload]
        stripped = line.lstrip(" ")
        line = " " * max(0, len(line) - len(stripped) + shift) + stripped
    elif kind == "dup":
        other = int(mutation[2]) % len(lines)  # type: ignore[call-overload]
        lines.insert(other, lines[index] if lines[index].endswith("\n") else lines[index] + "\n")
        return "".join(lines)
    elif kind == "drop":
        del lines[index : index + int(mutation[2])]  # type: ignore[call-overload]
        return "".join(lines)
    lines[index] = line + "\n"
    return "".join(lines)


def check(text: str) -> None:
    try:
        config = parse_config(text, CONFIG)
    except ConfigError as error:
        message = str(error)
        assert error.exit_code == ExitStatus.USAGE
        match = LOCATION.match(message)
        assert match, f"no devloop.yaml:LINE:COL location in {message!r}"
        line, col = int(match.group(1)), int(match.group(2))
        assert 1 <= line <= text.count("\n") + 2, message
        assert col >= 1, message
        assert "Traceback" not in message
        return
    assert isinstance(config, Config)


def test_the_unmutated_config_loads() -> None:
    config = parse_config(TEXT, CONFIG)
    assert config.name == "shop"


@settings(max_examples=examples(3000), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_mutation, min_size=1, max_size=4))
def test_mutated_configs_load_or_fail_with_a_location(mutations: list[tuple[object, ...]]) -> None:
    text = TEXT
    for mutation in mutations:
        text = mutate(text, mutation)
    check(text)


@settings(max_examples=examples(500), deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_loads_or_fails_with_a_location(text: str) -> None:
    check(text)


@settings(max_examples=examples(500), deadline=None)
@given(st.text(alphabet=YAML_CHARS + "versionimagesref1", max_size=120))
def test_yaml_looking_noise_loads_or_fails_with_a_location(text: str) -> None:
    check("version: 1\n" + text)
