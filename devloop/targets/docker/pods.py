"""Pod template -> what to create on the docker engine (pure: no I/O, no docker import).

:func:`plan_resource` turns the workload of a :class:`DeployRequest` into a :class:`PodPlan`: the
containers of one pod (init containers first), their environment, files (configMap/secret volumes),
mounts, the network aliases of the Services that select the pod, replicas and restart rules, a
spec hash (what decides whether running pods are kept), and the warnings for every field the docker
target does not support (one warning naming them all).
"""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devloop.config.model import WORKLOAD_KINDS, ManifestObject, Project
from devloop.errors import DeployError

#: Bumped whenever the way pods are turned into containers changes, so that upgraded devloop replaces them.
PLAN_VERSION = "1"

#: Pod spec fields that have no meaning on a single docker engine and are ignored without a warning.
IGNORED_POD_FIELDS = frozenset(
    {
        "serviceAccountName",
        "serviceAccount",
        "automountServiceAccountToken",
        "imagePullSecrets",
        "nodeSelector",
        "nodeName",
        "affinity",
        "tolerations",
        "priorityClassName",
        "priority",
        "schedulerName",
        "topologySpreadConstraints",
        "enableServiceLinks",
        "preemptionPolicy",
        "runtimeClassName",
        "dnsPolicy",
        "setHostnameAsFQDN",
        "overhead",
        "readinessGates",
    }
)
SUPPORTED_POD_FIELDS = frozenset(
    {
        "containers",
        "initContainers",
        "volumes",
        "restartPolicy",
        "securityContext",
        "terminationGracePeriodSeconds",
        "hostname",
        "subdomain",
    }
)
IGNORED_CONTAINER_FIELDS = frozenset(
    {
        "imagePullPolicy",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "stdin",
        "stdinOnce",
        "tty",
    }
)
SUPPORTED_CONTAINER_FIELDS = frozenset(
    {
        "name",
        "image",
        "command",
        "args",
        "workingDir",
        "ports",
        "env",
        "envFrom",
        "volumeMounts",
        "readinessProbe",
        "securityContext",
        "resources",
    }
)
SUPPORTED_SECURITY_FIELDS = frozenset(
    {
        "runAsUser",
        "runAsGroup",
        "runAsNonRoot",
        "privileged",
        "readOnlyRootFilesystem",
        "capabilities",
        "allowPrivilegeEscalation",
    }
)
SUPPORTED_PROBE_HANDLERS = ("httpGet", "tcpSocket", "exec")
DEFAULT_GRACE = 2.0  # seconds; terminationGracePeriodSeconds when the manifest does not say


@dataclass(frozen=True)
class FieldRef:
    """An env value known only when the pod is created (``fieldRef``)."""

    path: str  # metadata.name | metadata.namespace | status.podIP | spec.nodeName | ...


@dataclass(frozen=True)
class FileEntry:
    """A file (configMap/secret key) written into the container before it starts."""

    path: str  # absolute, normalised container path
    data: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class MountPlan:
    kind: str  # emptyDir | pvc | hostPath
    source: str  # volume name template (``{pod}`` replaced per pod) or host path
    target: str
    read_only: bool = False
    tmpfs: bool = False  # emptyDir medium: Memory


@dataclass(frozen=True)
class ContainerPlan:
    name: str
    role: str  # init | app
    order: int
    image: str
    entrypoint: tuple[str, ...] | None
    command: tuple[str, ...] | None
    working_dir: str | None
    env: tuple[tuple[str, str | FieldRef], ...]
    user: str | None  # uid[:gid] from securityContext
    mounts: tuple[MountPlan, ...]
    files: tuple[FileEntry, ...]
    ports: tuple[tuple[str, int], ...]  # (name or "", number)
    probe: Mapping[str, Any] | None
    mem_limit: int | None = None
    nano_cpus: int | None = None
    privileged: bool = False
    read_only: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()


@dataclass(frozen=True)
class PodPlan:
    resource: str
    kind: str
    workload_name: str
    namespace: str
    containers: tuple[ContainerPlan, ...]  # init containers first (in order), then app containers
    aliases: tuple[str, ...]  # network aliases of the sandbox (Services selecting the pod)
    replicas: int
    restart_policy: str  # Always | OnFailure | Never
    grace: float
    spec_hash: str
    completions: int = 1
    parallelism: int = 1
    backoff_limit: int = 6
    stateful: bool = False
    service_name: str = ""  # StatefulSet spec.serviceName
    claim_templates: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    emptydirs: tuple[tuple[str, bool], ...] = ()  # (volume name, tmpfs)
    claims: tuple[str, ...] = ()  # persistentVolumeClaim claim names

    @property
    def is_job(self) -> bool:
        return self.kind in ("Job", "CronJob")

    def pod_name(self, index: int) -> str:
        if self.stateful:
            return f"{self.workload_name}-{index}"
        if self.kind == "Pod":
            return self.workload_name if index == 0 else f"{self.workload_name}-{index}"
        return f"{self.workload_name}-{self.spec_hash[:6]}-{index}"

    def pod_aliases(self, index: int) -> tuple[str, ...]:
        extra: list[str] = []
        if self.stateful:
            pod = self.pod_name(index)
            extra.append(pod)
            if self.service_name:
                extra += [
                    f"{pod}.{self.service_name}",
                    f"{pod}.{self.service_name}.{self.namespace}",
                    f"{pod}.{self.service_name}.{self.namespace}.svc.cluster.local",
                ]
        return tuple(dict.fromkeys([*self.aliases, *extra]))


@dataclass
class _Warnings:
    unsupported: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    def field(self, path: str) -> None:
        if path not in self.unsupported:
            self.unsupported.append(path)


# --- helpers over manifest objects ---------------------------------------------------------------------


def pod_template(obj: ManifestObject) -> dict[str, Any]:
    """The pod template (``{metadata, spec}``) of a workload object."""
    body = obj.body
    spec = body.get("spec") or {}
    if obj.kind == "Pod":
        return {"metadata": body.get("metadata") or {}, "spec": spec}
    if obj.kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return dict(spec.get("template") or {})


def _job_spec(obj: ManifestObject) -> dict[str, Any]:
    spec = obj.body.get("spec") or {}
    if obj.kind == "CronJob":
        return dict(((spec.get("jobTemplate") or {}).get("spec")) or {})
    return dict(spec)


def _find(objects: Iterable[ManifestObject], kind: str, name: str, namespace: str) -> ManifestObject | None:
    for obj in objects:
        if obj.kind == kind and obj.name == name and (obj.namespace or namespace) == namespace:
            return obj
    return None


def config_data(obj: ManifestObject) -> dict[str, bytes]:
    """Key -> bytes of a ConfigMap (data, binaryData) or Secret (data base64, stringData)."""
    out: dict[str, bytes] = {}
    body = obj.body
    if obj.kind == "Secret":
        for key, value in (body.get("data") or {}).items():
            try:
                out[str(key)] = base64.b64decode(str(value or ""), validate=False)
            except ValueError as exc:
                raise DeployError(
                    f"Secret {obj.name} ({obj.source}): data.{key} is not valid base64 ({exc}); "
                    "fix it or use stringData."
                ) from exc
        for key, value in (body.get("stringData") or {}).items():
            out[str(key)] = str(value).encode()
    else:
        for key, value in (body.get("data") or {}).items():
            out[str(key)] = str(value if value is not None else "").encode()
        for key, value in (body.get("binaryData") or {}).items():
            out[str(key)] = base64.b64decode(str(value or ""))
    return out


_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
_MEM_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "m": 0.001,
}


def memory_bytes(value: object) -> int | None:
    m = _QUANTITY.match(str(value).strip())
    if not m or m.group(2) not in _MEM_UNITS:
        return None
    return int(float(m.group(1)) * _MEM_UNITS[m.group(2)])


def nano_cpus(value: object) -> int | None:
    text = str(value).strip()
    try:
        if text.endswith("m"):
            return int(float(text[:-1]) * 1_000_000)
        return int(float(text) * 1_000_000_000)
    except ValueError:
        return None


_VAR_REF = re.compile(r"\$\((\w+)\)|\$\$")


def expand(text: str, env: Mapping[str, str | FieldRef]) -> str:
    """Kubernetes ``$(VAR)`` expansion (``$$`` escapes); unknown references stay as written."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        value = env.get(m.group(1))
        return value if isinstance(value, str) else m.group(0)

    return _VAR_REF.sub(sub, text)


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# --- the plan ------------------------------------------------------------------------------------------


def plan_resource(
    resource: str,
    workload: ManifestObject,
    all_objects: Iterable[ManifestObject],
    *,
    default_namespace: str = "default",
) -> PodPlan:
    """Turn ``workload`` into a :class:`PodPlan`. Raises :class:`DeployError` for references that
    cannot be resolved (a missing ConfigMap key that is not optional...)."""
    objects = tuple(all_objects)
    namespace = workload.namespace or default_namespace
    template = pod_template(workload)
    spec = dict(template.get("spec") or {})
    pod_labels = {str(k): str(v) for k, v in ((template.get("metadata") or {}).get("labels") or {}).items()}
    where = f"{workload.kind} {workload.name} ({workload.source})"
    warn = _Warnings()
    used: dict[str, Any] = {}  # referenced config data, hashed with the template

    for key in spec:
        if key not in SUPPORTED_POD_FIELDS and key not in IGNORED_POD_FIELDS:
            warn.field(f"spec.{key}")
    pod_security = dict(spec.get("securityContext") or {})
    for key in pod_security:
        if key not in SUPPORTED_SECURITY_FIELDS:
            warn.field(f"spec.securityContext.{key}")

    def lookup(kind: str, name: str, optional: bool, what: str) -> dict[str, bytes] | None:
        obj = _find(objects, kind, name, namespace)
        if obj is None:
            if optional:
                return None
            raise DeployError(
                f"{where}: {what} refers to {kind} {name}, which is not in the manifests; "
                f"add it to the manifests or mark the reference optional."
            )
        data = config_data(obj)
        used[f"{kind}/{name}"] = {k: hashlib.sha256(v).hexdigest() for k, v in sorted(data.items())}
        return data

    # volumes
    volumes: dict[str, dict[str, Any]] = {}
    emptydirs: list[tuple[str, bool]] = []
    claims: list[str] = []
    claim_templates: tuple[str, ...] = ()
    if workload.kind == "StatefulSet":
        claim_templates = tuple(
            str((t.get("metadata") or {}).get("name", ""))
            for t in ((workload.body.get("spec") or {}).get("volumeClaimTemplates") or [])
        )
    for vol in spec.get("volumes") or []:
        name = str(vol.get("name", ""))
        volumes[name] = dict(vol)
        kinds = [k for k in vol if k != "name"]
        kind = kinds[0] if kinds else ""
        if kind == "emptyDir":
            emptydirs.append((name, (vol.get("emptyDir") or {}).get("medium") == "Memory"))
        elif kind == "persistentVolumeClaim":
            claims.append(str((vol.get("persistentVolumeClaim") or {}).get("claimName", name)))
        elif kind not in ("configMap", "secret", "hostPath"):
            warn.field(f"spec.volumes[{name}].{kind or '?'}")

    containers: list[ContainerPlan] = []
    inits = list(spec.get("initContainers") or [])
    apps = list(spec.get("containers") or [])
    if not apps:
        raise DeployError(f"{where}: the pod template has no containers; add at least one under spec.containers.")
    for role, group in (("init", inits), ("app", apps)):
        for order, raw in enumerate(group):
            containers.append(_container(raw, role, order, pod_security, volumes, claim_templates, lookup, warn, where))

    # services selecting the pod
    aliases: list[str] = []
    for svc in objects:
        if svc.kind != "Service":
            continue
        svc_spec = svc.body.get("spec") or {}
        selector = {str(k): str(v) for k, v in (svc_spec.get("selector") or {}).items()}
        if (svc.namespace or namespace) != namespace or not selects(selector, pod_labels):
            continue
        ns = svc.namespace or namespace
        aliases += [svc.name, f"{svc.name}.{ns}", f"{svc.name}.{ns}.svc", f"{svc.name}.{ns}.svc.cluster.local"]
        named = {n: p for c in containers for n, p in c.ports if n}
        mismatched: list[str] = []
        for port in svc_spec.get("ports") or []:
            number = port.get("port")
            target = port.get("targetPort", number)
            resolved = named.get(str(target)) if isinstance(target, str) and not str(target).isdigit() else target
            if resolved is not None and str(resolved) != str(number):
                mismatched.append(
                    f"port {number} -> targetPort {target}" + (f" ({resolved})" if resolved != target else "")
                )
        if mismatched:
            warn.other.append(
                f"Service {svc.name}: {', '.join(mismatched)}: the docker target cannot remap ports, so "
                f"clients must connect to {svc.name} on the targetPort."
            )

    # workload-level fields
    body_spec = workload.body.get("spec") or {}
    kind = workload.kind
    replicas = 1
    completions = parallelism = 1
    backoff_limit = 6
    restart_policy = str(spec.get("restartPolicy") or ("Never" if kind in ("Job", "CronJob") else "Always"))
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        replicas = int(body_spec.get("replicas", 1) if body_spec.get("replicas") is not None else 1)
        restart_policy = "Always"
    elif kind in ("Job", "CronJob"):
        job = _job_spec(workload)
        completions = int(job.get("completions") or 1)
        parallelism = max(1, min(int(job.get("parallelism") or 1), completions))
        backoff_limit = int(job.get("backoffLimit", 6) if job.get("backoffLimit") is not None else 6)
        replicas = completions
        if restart_policy == "Always":
            restart_policy = "OnFailure"
        if kind == "CronJob":
            schedule = body_spec.get("schedule", "")
            warn.other.append(
                f'CronJob {workload.name}: the schedule "{schedule}" is not honoured on the docker target; '
                "its job runs once each time the CronJob is deployed or changed."
            )
    grace = float(
        spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE)
        if spec.get("terminationGracePeriodSeconds") is not None
        else DEFAULT_GRACE
    )

    warnings: list[str] = []
    if warn.unsupported:
        warnings.append(
            f"resource {resource}: the docker target ignores these fields of {where}: " + ", ".join(warn.unsupported)
        )
    warnings += [f"resource {resource}: {w}" for w in warn.other]

    hashed = {
        "v": PLAN_VERSION,
        "kind": kind,
        "template": template,
        "data": used,
        "aliases": aliases,
        "restart": restart_policy,
        "claims": claim_templates,
        "service": body_spec.get("serviceName") if kind == "StatefulSet" else None,
    }
    digest = hashlib.sha256(json.dumps(hashed, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return PodPlan(
        resource=resource,
        kind=kind,
        workload_name=workload.name,
        namespace=namespace,
        containers=tuple(containers),
        aliases=tuple(dict.fromkeys(aliases)),
        replicas=max(0, replicas),
        restart_policy=restart_policy,
        grace=max(0.0, grace),
        spec_hash=digest,
        completions=completions,
        parallelism=parallelism,
        backoff_limit=backoff_limit,
        stateful=kind == "StatefulSet",
        service_name=str(body_spec.get("serviceName") or "") if kind == "StatefulSet" else "",
        claim_templates=claim_templates,
        warnings=tuple(warnings),
        emptydirs=tuple(emptydirs),
        claims=tuple(claims),
    )


def _container(
    raw: Mapping[str, Any],
    role: str,
    order: int,
    pod_security: Mapping[str, Any],
    volumes: Mapping[str, Mapping[str, Any]],
    claim_templates: tuple[str, ...],
    lookup: Any,
    warn: _Warnings,
    where: str,
) -> ContainerPlan:
    name = str(raw.get("name") or f"{role}{order}")
    prefix = f"spec.{'initContainers' if role == 'init' else 'containers'}[{name}]"
    for key in raw:
        if key in IGNORED_CONTAINER_FIELDS or key in SUPPORTED_CONTAINER_FIELDS:
            continue
        warn.field(f"{prefix}.{key}")
    image = str(raw.get("image") or "")
    if not image:
        raise DeployError(f"{where}: container {name} has no image; set spec.containers[].image.")

    # environment, in Kubernetes order: envFrom first, then env (which wins), $(VAR) expanded
    env: dict[str, str | FieldRef] = {}
    for source in raw.get("envFrom") or []:
        pfx = str(source.get("prefix") or "")
        for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref = source.get(key)
            if ref:
                data = lookup(kind, str(ref.get("name", "")), bool(ref.get("optional")), f"{prefix}.envFrom")
                for k, v in (data or {}).items():
                    env[pfx + k] = v.decode(errors="replace")
    for item in raw.get("env") or []:
        var = str(item.get("name", ""))
        if "value" in item or "valueFrom" not in item:
            env[var] = expand(str(item.get("value") if item.get("value") is not None else ""), env)
            continue
        vf = item.get("valueFrom") or {}
        ref_key = "configMapKeyRef" if "configMapKeyRef" in vf else "secretKeyRef" if "secretKeyRef" in vf else ""
        if ref_key:
            ref = vf[ref_key]
            kind = "ConfigMap" if ref_key == "configMapKeyRef" else "Secret"
            optional = bool(ref.get("optional"))
            data = lookup(kind, str(ref.get("name", "")), optional, f"{prefix}.env[{var}]")
            key = str(ref.get("key", ""))
            if data is None:
                continue
            if key not in data:
                if optional:
                    continue
                raise DeployError(
                    f"{where}: {prefix}.env[{var}] refers to key {key!r} of {kind} {ref.get('name')}, "
                    f"which has no such key (it has: {', '.join(sorted(data)) or 'none'}); fix the key name."
                )
            env[var] = data[key].decode(errors="replace")
        elif "fieldRef" in vf:
            path = str((vf.get("fieldRef") or {}).get("fieldPath", ""))
            if path in (
                "metadata.name",
                "metadata.namespace",
                "status.podIP",
                "spec.nodeName",
                "status.hostIP",
                "spec.serviceAccountName",
            ):
                env[var] = FieldRef(path)
            else:
                warn.field(f"{prefix}.env[{var}].valueFrom.fieldRef.fieldPath={path}")
        else:
            warn.field(f"{prefix}.env[{var}].valueFrom.{next(iter(vf), '?')}")

    entrypoint = tuple(expand(str(a), env) for a in raw["command"]) if raw.get("command") is not None else None
    command = tuple(expand(str(a), env) for a in raw["args"]) if raw.get("args") is not None else None
    if entrypoint is not None and command is None:
        command = ()

    # security context: container overrides pod
    sec = {**dict(pod_security), **dict(raw.get("securityContext") or {})}
    for key in raw.get("securityContext") or {}:
        if key not in SUPPORTED_SECURITY_FIELDS:
            warn.field(f"{prefix}.securityContext.{key}")
    user = None
    if sec.get("runAsUser") is not None:
        user = str(int(sec["runAsUser"]))
        if sec.get("runAsGroup") is not None:
            user += f":{int(sec['runAsGroup'])}"
    elif sec.get("runAsGroup") is not None:
        warn.field(f"{prefix}.securityContext.runAsGroup (without runAsUser)")
    caps = sec.get("capabilities") or {}

    # resources
    limits = (raw.get("resources") or {}).get("limits") or {}
    mem = memory_bytes(limits["memory"]) if "memory" in limits else None
    cpus = nano_cpus(limits["cpu"]) if "cpu" in limits else None
    for key in limits:
        if key not in ("memory", "cpu"):
            warn.field(f"{prefix}.resources.limits.{key}")

    # mounts and files
    mounts: list[MountPlan] = []
    files: list[FileEntry] = []
    for vm in raw.get("volumeMounts") or []:
        vname = str(vm.get("name", ""))
        target = posixpath.normpath(str(vm.get("mountPath", "/")))
        read_only = bool(vm.get("readOnly"))
        sub_path = str(vm.get("subPath") or "")
        for key in vm:
            if key not in ("name", "mountPath", "readOnly", "subPath"):
                warn.field(f"{prefix}.volumeMounts[{vname}].{key}")
        vol = volumes.get(vname)
        if vol is None and vname in claim_templates:
            mounts.append(MountPlan("claimTemplate", vname, target, read_only))
            continue
        if vol is None:
            raise DeployError(
                f"{where}: {prefix}.volumeMounts refers to volume {vname!r}, which is not in spec.volumes; "
                "add the volume or fix the name."
            )
        if "configMap" in vol or "secret" in vol:
            kind = "ConfigMap" if "configMap" in vol else "Secret"
            src = vol.get("configMap") or vol.get("secret") or {}
            ref_name = str(src.get("name") or src.get("secretName") or "")
            data = lookup(kind, ref_name, bool(src.get("optional")), f"spec.volumes[{vname}]") or {}
            default_mode = int(src.get("defaultMode", 0o644) or 0o644)
            items = src.get("items")
            chosen: list[tuple[str, str, int]] = []
            if items:
                for it in items:
                    key = str(it.get("key", ""))
                    if key not in data:
                        if src.get("optional"):
                            continue
                        raise DeployError(
                            f"{where}: spec.volumes[{vname}].items refers to key {key!r} of {kind} {ref_name}, "
                            "which has no such key; fix the key name."
                        )
                    chosen.append((key, str(it.get("path") or key), int(it.get("mode", default_mode))))
            else:
                chosen = [(k, k, default_mode) for k in sorted(data)]
            for key, rel, mode in chosen:
                rel_norm = posixpath.normpath(rel)
                if rel_norm.startswith("../") or rel_norm == ".." or posixpath.isabs(rel_norm):
                    raise DeployError(f"{where}: spec.volumes[{vname}] item path {rel!r} must stay inside the volume.")
                if sub_path:
                    if rel_norm == posixpath.normpath(sub_path):
                        files.append(FileEntry(target, data[key], mode))
                    continue
                files.append(FileEntry(posixpath.join(target, rel_norm), data[key], mode))
        elif "emptyDir" in vol:
            if sub_path:
                warn.field(f"{prefix}.volumeMounts[{vname}].subPath")
            medium = (vol.get("emptyDir") or {}).get("medium") == "Memory"
            mounts.append(MountPlan("emptyDir", vname, target, read_only, tmpfs=medium))
        elif "persistentVolumeClaim" in vol:
            if sub_path:
                warn.field(f"{prefix}.volumeMounts[{vname}].subPath")
            claim = str((vol.get("persistentVolumeClaim") or {}).get("claimName", vname))
            mounts.append(MountPlan("pvc", claim, target, read_only))
        elif "hostPath" in vol:
            path = str((vol.get("hostPath") or {}).get("path", ""))
            if sub_path:
                path = posixpath.join(path, sub_path)
            mounts.append(MountPlan("hostPath", path, target, read_only))
        # other volume kinds were warned about with spec.volumes

    ports = tuple(
        (str(p.get("name") or ""), int(p["containerPort"]))
        for p in raw.get("ports") or []
        if p.get("containerPort") is not None
    )
    probe = raw.get("readinessProbe")
    if probe is not None:
        handlers = [h for h in SUPPORTED_PROBE_HANDLERS if h in probe]
        if not handlers:
            other = next((k for k in probe if k.endswith(("Get", "Socket", "grpc"))), "?")
            warn.field(f"{prefix}.readinessProbe.{other}")
            probe = None
    return ContainerPlan(
        name=name,
        role=role,
        order=order,
        image=image,
        entrypoint=entrypoint,
        command=command,
        working_dir=str(raw["workingDir"]) if raw.get("workingDir") else None,
        env=tuple(env.items()),
        user=user,
        mounts=tuple(mounts),
        files=tuple(files),
        ports=ports,
        probe=dict(probe) if probe else None,
        mem_limit=mem,
        nano_cpus=cpus,
        privileged=bool(sec.get("privileged")),
        read_only=bool(sec.get("readOnlyRootFilesystem")),
        cap_add=tuple(str(c) for c in caps.get("add") or []),
        cap_drop=tuple(str(c) for c in caps.get("drop") or []),
    )


def wanted_replicas(workload: ManifestObject | None) -> int:
    """How many pods the workload asks for (Jobs: completions; DaemonSet and Pod: 1)."""
    if workload is None:
        return 0
    spec = workload.body.get("spec") or {}
    if workload.kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        value = spec.get("replicas")
        return int(value) if value is not None else 1
    if workload.kind in ("Job", "CronJob"):
        return int(_job_spec(workload).get("completions") or 1)
    return 1


#: Object kinds that the docker target uses (workloads, and what pods reference or Services).
USED_KINDS = frozenset(
    {
        *WORKLOAD_KINDS,
        "Service",
        "ConfigMap",
        "Secret",
        "PersistentVolumeClaim",
        "ServiceAccount",
        "Namespace",
    }
)


def ignored_objects(resource: str, objects: Iterable[ManifestObject]) -> list[str]:
    """The warning for the objects of ``resource`` that the docker target does not use (none: empty)."""
    ignored = sorted({f"{o.kind}/{o.name}" for o in objects if o.kind not in USED_KINDS})
    return [f"resource {resource}: the docker target ignores these objects: {', '.join(ignored)}"] if ignored else []


def preview_warnings(project: Project) -> list[str]:
    """What the docker target would warn about when it deploys ``project`` (for `plan`): ignored objects and
    fields, ports it cannot remap, schedules it does not honour, references it cannot resolve."""
    everything = tuple(obj for resource in project.resources for obj in resource.objects)
    namespace = project.config.kubernetes.namespace or "default"
    warnings: list[str] = []
    for resource in project.resources:
        warnings += ignored_objects(resource.name, resource.objects)
        if resource.workload is None:
            continue
        try:
            warnings += plan_resource(
                resource.name, resource.workload, everything, default_namespace=namespace
            ).warnings
        except DeployError as exc:
            warnings.append(f"resource {resource.name}: {exc}")
    return warnings
