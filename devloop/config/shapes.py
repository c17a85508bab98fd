"""The types Kubernetes requires of the fields devloop reads, checked when the manifests are read (``plan``).

``kubectl apply`` refuses a ConfigMap whose ``data`` holds ``true`` or ``0.1``, a container whose ``env``
value is a number, ``containers:`` written as a mapping; devloop used to find out only while deploying.
:func:`check_shapes` raises a :class:`~devloop.errors.ConfigError` at the value's ``file:line:col`` with
its key path (``data.enabled``), exit 2. Only these fields are checked; the rest is the cluster's business.

- ``metadata.name``, ``metadata.namespace``: no spaces, slashes or control characters, at most 253 characters.
- ``metadata.labels``, ``metadata.annotations``: mappings of text.
- ConfigMap ``data``, Secret ``stringData``: mappings of text; ConfigMap ``binaryData`` and Secret ``data``:
  mappings of base64 text.
- Pod templates (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod): the path to the pod spec
  is made of mappings; ``containers``, ``initContainers``, ``ephemeralContainers``, ``volumes`` are lists of
  mappings; a container's ``name``, ``image`` are text, ``command``/``args`` lists of text, ``env`` a list of
  mappings with text ``name``/``value``, ``ports`` a list of mappings with a whole-number ``containerPort``,
  ``envFrom``/``volumeMounts`` lists of mappings.
- Service: ``spec.selector`` a mapping of text, ``spec.ports`` a list of mappings.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from devloop.config.podtemplate import CONTAINER_LISTS, TEMPLATE_PATHS
from devloop.errors import ConfigError, shown

#: ``locate(container, key)`` -> ``file:line:col`` of ``container[key]`` (or the document's location).
Locator = Callable[[Any, str | int], str]

#: The path from an object to its pod spec, by kind.
_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {kind: (*path, "spec") for kind, path in TEMPLATE_PATHS.items()}
#: What no Kubernetes name may hold (names are DNS-like; some kinds also allow ':' or uppercase).
_BAD_NAME = re.compile(r"[\s/\x00-\x1f\x7f-\x9f%]")


def describe(value: Any) -> str:
    """What a value is, for ``got …``."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return f"the number {value}"
    return type(value).__name__


class _Checker:
    def __init__(self, body: dict[str, Any], locate: Locator) -> None:
        self.body = body
        self.locate = locate
        self.what = shown(f"the {body.get('kind')} {(body.get('metadata') or {}).get('name')}")

    def fail(self, container: Any, key: str | int, path: str, message: str) -> None:
        raise ConfigError(f"{self.what}: {message}", location=self.locate(container, key), key=path)

    def mapping(self, container: Any, key: str, path: str) -> dict[str, Any] | None:
        value = container.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(container, key, path, f"expected a mapping, got {describe(value)}; write `key: value` lines")
        return value  # type: ignore[no-any-return]

    def items(self, container: Any, key: str, path: str, what: str) -> list[dict[str, Any]]:
        """``container[key]`` as a list of mappings (``what`` names one item)."""
        value = container.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(
                container,
                key,
                path,
                f"expected a list of {what}s, got {describe(value)}; write each {what} as a list item (`- ...`)",
            )
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.fail(value, i, f"{path}[{i}]", f"expected a {what} (a mapping), got {describe(item)}")
        return value  # type: ignore[no-any-return]

    def text(self, container: Any, key: str | int, path: str) -> None:
        value = container[key]
        if value is not None and not isinstance(value, str):
            message = f"expected text, got {describe(value)}; quote it (Kubernetes refuses anything else)"
            self.fail(container, key, path, message)

    def texts(self, container: Any, key: str, path: str, *, base64_text: bool = False) -> None:
        """``container[key]`` is a mapping of text (of base64 text)."""
        values = self.mapping(container, key, path)
        for name, value in (values or {}).items():
            where = f"{path}.{name}"
            self.text(values, name, where)
            if base64_text and isinstance(value, str) and not _is_base64(value):
                self.fail(
                    values,
                    name,
                    where,
                    "expected base64 text, got text that is not base64; encode it (`base64 -w0`)"
                    + (" or move it to stringData" if key == "data" else ""),
                )

    def text_list(self, container: Any, key: str, path: str) -> None:
        value = container.get(key)
        if value is None:
            return
        if not isinstance(value, list):
            self.fail(container, key, path, f"expected a list of text, got {describe(value)}")
        for i in range(len(value)):
            self.text(value, i, f"{path}[{i}]")

    def check(self) -> None:
        body = self.body
        kind = body.get("kind")
        metadata = self.mapping(body, "metadata", "metadata") or {}
        for key in ("name", "namespace"):
            value = metadata.get(key)
            if isinstance(value, str) and (len(value) > 253 or _BAD_NAME.search(value)):
                self.fail(
                    metadata,
                    key,
                    f"metadata.{key}",
                    f"expected a Kubernetes name (at most 253 characters; no spaces, slashes or control "
                    f"characters), got {describe(value)}; rename it",
                )
        self.texts(metadata, "labels", "metadata.labels")
        self.texts(metadata, "annotations", "metadata.annotations")
        if kind == "ConfigMap":
            self.texts(body, "data", "data")
            self.texts(body, "binaryData", "binaryData", base64_text=True)
        elif kind == "Secret":
            self.texts(body, "data", "data", base64_text=True)
            self.texts(body, "stringData", "stringData")
        elif kind == "Service":
            spec = self.mapping(body, "spec", "spec") or {}
            self.texts(spec, "selector", "spec.selector")
            self.items(spec, "ports", "spec.ports", "port")
        path = _POD_SPEC_PATHS.get(str(kind))
        if path is not None:
            self.pod_spec(path)

    def pod_spec(self, path: tuple[str, ...]) -> None:
        node: dict[str, Any] | None = self.body
        walked = ""
        for step in path:
            walked = f"{walked}.{step}" if walked else step
            node = self.mapping(node, step, walked)
            if node is None:
                return
        spec, prefix = node, walked
        self.items(spec, "volumes", f"{prefix}.volumes", "volume")
        for list_key in CONTAINER_LISTS:
            where = f"{prefix}.{list_key}"
            for i, container in enumerate(self.items(spec, list_key, where, "container")):
                self.container(container, f"{where}[{i}]")

    def container(self, container: dict[str, Any], path: str) -> None:
        for key in ("name", "image", "workingDir"):
            if key in container:
                self.text(container, key, f"{path}.{key}")
        self.text_list(container, "command", f"{path}.command")
        self.text_list(container, "args", f"{path}.args")
        for j, env in enumerate(self.items(container, "env", f"{path}.env", "variable")):
            for key in ("name", "value"):
                if key in env:
                    self.text(env, key, f"{path}.env[{j}].{key}")
        for j, port in enumerate(self.items(container, "ports", f"{path}.ports", "port")):
            number = port.get("containerPort")
            if number is not None and (isinstance(number, bool) or not isinstance(number, int)):
                self.fail(
                    port,
                    "containerPort",
                    f"{path}.ports[{j}].containerPort",
                    f"expected a port number, got {describe(number)}; write it without quotes",
                )
        self.items(container, "envFrom", f"{path}.envFrom", "source")
        self.items(container, "volumeMounts", f"{path}.volumeMounts", "mount")


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True)  # line breaks are allowed
    except (binascii.Error, ValueError):
        return False
    return True


def check_shapes(body: dict[str, Any], locate: Locator) -> None:
    """Raise a :class:`ConfigError` at the first field of ``body`` whose type Kubernetes would refuse."""
    _Checker(body, locate).check()
