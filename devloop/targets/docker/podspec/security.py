"""A container's security context (the pod's, overridden field by field by the container's): the user it
runs as, privileged, a read-only root file system and capabilities."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devloop.targets.docker.podspec.fields import SUPPORTED_SECURITY_FIELDS
from devloop.targets.docker.podspec.plans import Warnings


@dataclass(frozen=True)
class Security:
    user: str | None = None  # uid[:gid]
    privileged: bool = False
    read_only: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()


def run_as(sec: Mapping[str, Any], prefix: str, warn: Warnings) -> str | None:
    """``uid[:gid]`` from runAsUser and runAsGroup; a group without a user is warned about (None)."""
    if sec.get("runAsUser") is not None:
        user = str(int(sec["runAsUser"]))
        if sec.get("runAsGroup") is not None:
            user += f":{int(sec['runAsGroup'])}"
        return user
    if sec.get("runAsGroup") is not None:
        warn.field(f"{prefix}.securityContext.runAsGroup (without runAsUser)")
    return None


def container_security(
    pod_security: Mapping[str, Any], raw: Mapping[str, Any], prefix: str, warn: Warnings
) -> Security:
    """The security settings of container ``raw`` in a pod whose ``securityContext`` is ``pod_security``."""
    own = raw.get("securityContext") or {}
    warn.unknown(own, SUPPORTED_SECURITY_FIELDS, f"{prefix}.securityContext")
    sec = {**dict(pod_security), **dict(own)}
    caps = sec.get("capabilities") or {}
    return Security(
        user=run_as(sec, prefix, warn),
        privileged=bool(sec.get("privileged")),
        read_only=bool(sec.get("readOnlyRootFilesystem")),
        cap_add=tuple(str(c) for c in caps.get("add") or []),
        cap_drop=tuple(str(c) for c in caps.get("drop") or []),
    )
