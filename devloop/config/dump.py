"""Kubernetes objects as a YAML stream: the same bodies give the same bytes (``plan -o yaml``, ``render``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """SafeDumper writing multi-line strings as literal blocks (``|``), as people write them."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_object(body: Mapping[str, Any]) -> str:
    """One object as a YAML document (keys in their own order, no ``---``)."""
    return yaml.dump(dict(body), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def dump_stream(bodies: Iterable[Mapping[str, Any]], header: str = "") -> str:
    """Objects as one YAML stream, each document starting with ``---``; ``header`` (comment lines) first."""
    text = header
    for body in bodies:
        text += "---\n" + dump_object(body)
    return text


def comment(text: str) -> str:
    """``text`` as YAML comment lines."""
    return "".join(f"# {line}".rstrip() + "\n" for line in text.splitlines())
