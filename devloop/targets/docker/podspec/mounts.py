"""Volumes and volume mounts: emptyDir, persistentVolumeClaim, hostPath and claim templates become mounts;
configMap and secret volumes become files written into the container before it starts."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devloop.config.model import ManifestObject
from devloop.errors import DeployError
from devloop.targets.docker.podspec.fields import SUPPORTED_MOUNT_FIELDS
from devloop.targets.docker.podspec.plans import FileEntry, MountPlan, Warnings
from devloop.targets.docker.podspec.refs import ConfigRefs

_FILE_VOLUMES = ("configMap", "secret", "hostPath")


@dataclass(frozen=True)
class PodVolumes:
    """The volumes of a pod template by name, and what the pod needs created for them."""

    volumes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    claim_templates: tuple[str, ...] = ()  # StatefulSet volumeClaimTemplates names
    emptydirs: tuple[tuple[str, bool], ...] = ()  # (volume name, tmpfs)
    claims: tuple[str, ...] = ()  # persistentVolumeClaim claim names


def claim_template_names(workload: ManifestObject) -> tuple[str, ...]:
    """The names of a StatefulSet's ``volumeClaimTemplates`` (none for other kinds)."""
    if workload.kind != "StatefulSet":
        return ()
    templates = (workload.body.get("spec") or {}).get("volumeClaimTemplates") or []
    return tuple(str((t.get("metadata") or {}).get("name", "")) for t in templates)


def pod_volumes(workload: ManifestObject, spec: Mapping[str, Any], warn: Warnings) -> PodVolumes:
    """The volumes of pod ``spec``; kinds the docker target cannot provide are warned about."""
    volumes: dict[str, Mapping[str, Any]] = {}
    emptydirs: list[tuple[str, bool]] = []
    claims: list[str] = []
    for vol in spec.get("volumes") or []:
        name = str(vol.get("name", ""))
        volumes[name] = dict(vol)
        kind = next((k for k in vol if k != "name"), "")
        if kind == "emptyDir":
            emptydirs.append((name, (vol.get("emptyDir") or {}).get("medium") == "Memory"))
        elif kind == "persistentVolumeClaim":
            claims.append(str((vol.get("persistentVolumeClaim") or {}).get("claimName", name)))
        elif kind not in _FILE_VOLUMES:
            warn.field(f"spec.volumes[{name}].{kind or '?'}")
    return PodVolumes(volumes, claim_template_names(workload), tuple(emptydirs), tuple(claims))


@dataclass(frozen=True)
class Mount:
    """One ``volumeMounts`` item of a container."""

    volume: str
    target: str  # normalised mountPath
    read_only: bool
    sub_path: str
    what: str  # its path in the pod template, for warnings


def volume_files(mount: Mount, vol: Mapping[str, Any], refs: ConfigRefs) -> list[FileEntry]:
    """The files a configMap or secret volume puts under the mount (with ``subPath``: the one file)."""
    kind = "ConfigMap" if "configMap" in vol else "Secret"
    src = vol.get("configMap") or vol.get("secret") or {}
    ref_name = str(src.get("name") or src.get("secretName") or "")
    data = refs.data(kind, ref_name, bool(src.get("optional")), f"spec.volumes[{mount.volume}]") or {}
    files: list[FileEntry] = []
    for key, rel, mode in volume_items(src, data, f"spec.volumes[{mount.volume}]", f"{kind} {ref_name}", refs.where):
        rel_norm = posixpath.normpath(rel)
        if rel_norm.startswith("../") or rel_norm == ".." or posixpath.isabs(rel_norm):
            raise DeployError(
                f"{refs.where}: spec.volumes[{mount.volume}] item path {rel!r} must stay inside the volume."
            )
        if not mount.sub_path:
            files.append(FileEntry(posixpath.join(mount.target, rel_norm), data[key], mode))
        elif rel_norm == posixpath.normpath(mount.sub_path):
            files.append(FileEntry(mount.target, data[key], mode))
    return files


def volume_items(
    src: Mapping[str, Any], data: Mapping[str, bytes], what: str, source: str, where: str
) -> list[tuple[str, str, int]]:
    """(key, path in the volume, mode) of the keys a configMap/secret volume ``src`` projects: its ``items``,
    or every key of ``data`` in order. A missing key of a volume that is not optional is an error."""
    default_mode = int(src.get("defaultMode", 0o644) or 0o644)
    items = src.get("items")
    if not items:
        return [(k, k, default_mode) for k in sorted(data)]
    chosen: list[tuple[str, str, int]] = []
    for it in items:
        key = str(it.get("key", ""))
        if key in data:
            chosen.append((key, str(it.get("path") or key), int(it.get("mode", default_mode))))
        elif not src.get("optional"):
            raise DeployError(
                f"{where}: {what}.items refers to key {key!r} of {source}, which has no such key; fix the key name."
            )
    return chosen


def volume_mount(mount: Mount, vol: Mapping[str, Any], warn: Warnings) -> MountPlan | None:
    """The mount of an emptyDir, persistentVolumeClaim or hostPath volume (None for other kinds: those were
    warned about with spec.volumes)."""
    if mount.sub_path and ("emptyDir" in vol or "persistentVolumeClaim" in vol):
        warn.field(f"{mount.what}.subPath")
    if "emptyDir" in vol:
        medium = (vol.get("emptyDir") or {}).get("medium") == "Memory"
        return MountPlan("emptyDir", mount.volume, mount.target, mount.read_only, tmpfs=medium)
    if "persistentVolumeClaim" in vol:
        claim = str((vol.get("persistentVolumeClaim") or {}).get("claimName", mount.volume))
        return MountPlan("pvc", claim, mount.target, mount.read_only)
    if "hostPath" in vol:
        path = str((vol.get("hostPath") or {}).get("path", ""))
        if mount.sub_path:
            path = posixpath.join(path, mount.sub_path)
        return MountPlan("hostPath", path, mount.target, mount.read_only)
    return None


def read_mount(vm: Mapping[str, Any], prefix: str, warn: Warnings) -> Mount:
    """One ``volumeMounts`` item of the container at ``prefix``; unsupported fields are warned about."""
    name = str(vm.get("name", ""))
    what = f"{prefix}.volumeMounts[{name}]"
    warn.unknown(vm, SUPPORTED_MOUNT_FIELDS, what)
    target = posixpath.normpath(str(vm.get("mountPath", "/")))
    return Mount(name, target, bool(vm.get("readOnly")), str(vm.get("subPath") or ""), what)


def container_mounts(
    raw: Mapping[str, Any], prefix: str, pod: PodVolumes, refs: ConfigRefs, warn: Warnings
) -> tuple[list[MountPlan], list[FileEntry]]:
    """The mounts and files of container ``raw``'s ``volumeMounts``, in order."""
    mounts: list[MountPlan] = []
    files: list[FileEntry] = []
    for vm in raw.get("volumeMounts") or []:
        mount = read_mount(vm, prefix, warn)
        vol = pod.volumes.get(mount.volume)
        if vol is None and mount.volume in pod.claim_templates:
            mounts.append(MountPlan("claimTemplate", mount.volume, mount.target, mount.read_only))
        elif vol is None:
            raise DeployError(
                f"{refs.where}: {prefix}.volumeMounts refers to volume {mount.volume!r}, which is not in "
                "spec.volumes; add the volume or fix the name."
            )
        elif "configMap" in vol or "secret" in vol:
            files += volume_files(mount, vol, refs)
        elif (planned := volume_mount(mount, vol, warn)) is not None:
            mounts.append(planned)
    return mounts, files
