"""A container's environment, in Kubernetes order: ``envFrom`` first, then ``env`` (which wins), with
``$(VAR)`` references expanded; ``valueFrom`` reads ConfigMap/Secret keys or becomes a :class:`FieldRef`
filled in when the pod is created."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from devloop.errors import DeployError
from devloop.targets.docker.podspec.fields import SUPPORTED_FIELD_PATHS
from devloop.targets.docker.podspec.plans import FieldRef, Warnings
from devloop.targets.docker.podspec.refs import ConfigRefs

Env = dict[str, str | FieldRef]

_VAR_REF = re.compile(r"\$\((\w+)\)|\$\$")
_ENV_FROM_KINDS = (("configMapRef", "ConfigMap"), ("secretRef", "Secret"))


def expand(text: str, env: Mapping[str, str | FieldRef]) -> str:
    """Kubernetes ``$(VAR)`` expansion (``$$`` escapes); unknown references stay as written."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        value = env.get(m.group(1))
        return value if isinstance(value, str) else m.group(0)

    return _VAR_REF.sub(sub, text)


def env_from(sources: Iterable[Mapping[str, Any]], prefix: str, refs: ConfigRefs) -> dict[str, str]:
    """The variables of ``envFrom`` (each source's keys with its ``prefix``), later sources winning."""
    env: dict[str, str] = {}
    for source in sources:
        pfx = str(source.get("prefix") or "")
        for key, kind in _ENV_FROM_KINDS:
            ref = source.get(key)
            if not ref:
                continue
            data = refs.data(kind, str(ref.get("name", "")), bool(ref.get("optional")), f"{prefix}.envFrom")
            for k, v in (data or {}).items():
                env[pfx + k] = v.decode(errors="replace")
    return env


def key_ref(value_from: Mapping[str, Any], what: str, refs: ConfigRefs) -> str | None:
    """The value of a ``configMapKeyRef``/``secretKeyRef``; None when an optional reference finds nothing."""
    ref_key = "configMapKeyRef" if "configMapKeyRef" in value_from else "secretKeyRef"
    ref = value_from[ref_key]
    kind = "ConfigMap" if ref_key == "configMapKeyRef" else "Secret"
    optional = bool(ref.get("optional"))
    data = refs.data(kind, str(ref.get("name", "")), optional, what)
    key = str(ref.get("key", ""))
    if data is None or (key not in data and optional):
        return None
    if key not in data:
        raise DeployError(
            f"{refs.where}: {what} refers to key {key!r} of {kind} {ref.get('name')}, "
            f"which has no such key (it has: {', '.join(sorted(data)) or 'none'}); fix the key name."
        )
    return data[key].decode(errors="replace")


def field_ref(value_from: Mapping[str, Any], what: str, warn: Warnings) -> FieldRef | None:
    """A :class:`FieldRef` for a field known when the pod is created; others are warned about (None)."""
    path = str((value_from.get("fieldRef") or {}).get("fieldPath", ""))
    if path in SUPPORTED_FIELD_PATHS:
        return FieldRef(path)
    warn.field(f"{what}.valueFrom.fieldRef.fieldPath={path}")
    return None


def env_value(item: Mapping[str, Any], env: Env, what: str, refs: ConfigRefs, warn: Warnings) -> str | FieldRef | None:
    """The value of one ``env`` item (``what`` is its path); None when it sets nothing."""
    if "value" in item or "valueFrom" not in item:
        return expand(str(item.get("value") if item.get("value") is not None else ""), env)
    value_from = item.get("valueFrom") or {}
    if "configMapKeyRef" in value_from or "secretKeyRef" in value_from:
        return key_ref(value_from, what, refs)
    if "fieldRef" in value_from:
        return field_ref(value_from, what, warn)
    warn.field(f"{what}.valueFrom.{next(iter(value_from), '?')}")
    return None


def container_env(raw: Mapping[str, Any], prefix: str, refs: ConfigRefs, warn: Warnings) -> Env:
    """The environment of container ``raw`` (``prefix`` is its path in the pod template)."""
    env: Env = dict(env_from(raw.get("envFrom") or [], prefix, refs))
    for item in raw.get("env") or []:
        var = str(item.get("name", ""))
        value = env_value(item, env, f"{prefix}.env[{var}]", refs, warn)
        if value is not None:
            env[var] = value
    return env
