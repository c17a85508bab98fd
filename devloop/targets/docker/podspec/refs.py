"""ConfigMap and Secret data that a pod template refers to (env, envFrom, volumes): found among the
deployed objects, decoded, and recorded so that a change of the data changes the plan's spec hash."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from typing import Any

from devloop.config.model import ManifestObject
from devloop.errors import DeployError


def find(objects: Iterable[ManifestObject], kind: str, name: str, namespace: str) -> ManifestObject | None:
    """The object of ``kind`` and ``name`` in ``namespace`` (objects without one are in ``namespace``)."""
    for obj in objects:
        if obj.kind == kind and obj.name == name and (obj.namespace or namespace) == namespace:
            return obj
    return None


def _secret_data(obj: ManifestObject) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for key, value in (obj.body.get("data") or {}).items():
        try:
            out[str(key)] = base64.b64decode(str(value or ""), validate=False)
        except ValueError as exc:
            raise DeployError(
                f"Secret {obj.name} ({obj.source}): data.{key} is not valid base64 ({exc}); fix it or use stringData."
            ) from exc
    for key, value in (obj.body.get("stringData") or {}).items():
        out[str(key)] = str(value).encode()
    return out


def _configmap_data(obj: ManifestObject) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for key, value in (obj.body.get("data") or {}).items():
        out[str(key)] = str(value if value is not None else "").encode()
    for key, value in (obj.body.get("binaryData") or {}).items():
        out[str(key)] = base64.b64decode(str(value or ""))
    return out


def config_data(obj: ManifestObject) -> dict[str, bytes]:
    """Key -> bytes of a ConfigMap (data, binaryData) or Secret (data base64, stringData)."""
    return _secret_data(obj) if obj.kind == "Secret" else _configmap_data(obj)


class ConfigRefs:
    """Resolves the ConfigMap/Secret references of one pod template (``where`` names its workload in errors)
    and keeps a digest of the data each one used in :attr:`used`."""

    def __init__(self, objects: Iterable[ManifestObject], namespace: str, where: str) -> None:
        self.objects = tuple(objects)
        self.namespace = namespace
        self.where = where
        self.used: dict[str, Any] = {}

    def data(self, kind: str, name: str, optional: bool, what: str) -> dict[str, bytes] | None:
        """The data of ``kind`` ``name``; None when it is missing and ``optional``, otherwise a missing object
        is a :class:`DeployError` naming ``what`` refers to it."""
        obj = find(self.objects, kind, name, self.namespace)
        if obj is None:
            if optional:
                return None
            raise DeployError(
                f"{self.where}: {what} refers to {kind} {name}, which is not in the manifests; "
                f"add it to the manifests or mark the reference optional."
            )
        data = config_data(obj)
        self.used[f"{kind}/{name}"] = {k: hashlib.sha256(v).hexdigest() for k, v in sorted(data.items())}
        return data
