"""Server-side apply of a resource's objects, with change detection and pruning.

* Objects are rendered (:func:`render`): the namespace filled in for namespaced kinds, the project
  label added to pod templates (so pods are found by project and resource), restart-supervised
  containers wrapped, and the hash of the rendered object kept as the annotation
  ``devloop.dev/applied-hash``.
* Order within a request: Namespaces, CustomResourceDefinitions, then the rest (the engine already
  calls resources in dependency order, uncategorized first).
* An object whose hash equals the last one this process applied is not sent again: no needless
  rollouts. The first apply in a process is always sent (drift behind devloop's back is corrected);
  server-side apply changes nothing when nothing drifted, which counts as unchanged.
* Apply is ``PATCH`` with ``application/apply-patch+yaml``, field manager ``devloop``, ``force``.
* Objects of the resource that left it (found by the project and resource labels) are deleted.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from devloop.config.labels import APPLIED_HASH as HASH_ANNOTATION
from devloop.config.labels import CREATED_BY as CREATED_BY_LABEL
from devloop.config.labels import MANAGED_BY as LABEL_MANAGED_BY
from devloop.config.labels import MANAGED_BY_VALUE
from devloop.config.labels import PROJECT as LABEL_PROJECT
from devloop.config.labels import RESOURCE as LABEL_RESOURCE
from devloop.config.labels import SUPERVISED as SUPERVISED_ANNOTATION
from devloop.config.model import WORKLOAD_KINDS
from devloop.config.podtemplate import pod_template
from devloop.config.resources import label_value
from devloop.errors import DeployError
from devloop.targets.kubernetes.rest import Kube, KubeError, ResourceInfo

FIELD_MANAGER = "devloop"

#: Kinds searched (by label) when pruning a resource and in `down`; kinds applied this session are added.
PRUNE_KINDS: tuple[tuple[str, str], ...] = (
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "ReplicaSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("v1", "Pod"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "ServiceAccount"),
    ("networking.k8s.io/v1", "Ingress"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
)
CLUSTER_PRUNE_KINDS: tuple[tuple[str, str], ...] = (
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
)


#: What a real API server says when an update changes a field that cannot change (422 Invalid): the object
#: is deleted and created again (as Tilt does), e.g. a Job whose template changed with a rebuilt image.
IMMUTABLE_MARKERS = (
    "field is immutable",
    "pod updates may not change fields",
    "updates to statefulset spec for fields other than",
)
#: How long a replaced object may take to go (a pod's grace period, a foreground deletion's dependents).
REPLACE_WAIT = 120.0


def needs_replace(status: int, message: str) -> bool:
    """Whether an apply refused with ``status``/``message`` changed an immutable field."""
    return status == 422 and any(marker in message for marker in IMMUTABLE_MARKERS)


def _annotations(obj: dict[str, Any]) -> dict[str, Any]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def _version(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def order_key(kind: str) -> int:
    if kind == "Namespace":
        return 0
    if kind == "CustomResourceDefinition":
        return 1
    return 3 if kind in WORKLOAD_KINDS else 2


def ordered(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Namespaces, then CRDs, then the rest, workloads last (what their pods reference exists first); stable."""
    return sorted(objects, key=lambda o: order_key(str(o.get("kind", ""))))


def object_hash(body: dict[str, Any]) -> str:
    clean = copy.deepcopy(body)
    annotations = (clean.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(HASH_ANNOTATION, None)
    return hashlib.sha256(json.dumps(clean, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:20]


def render(
    body: dict[str, Any],
    *,
    namespace: str,
    namespaced: bool,
    project: str,
    wrap: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """The object as devloop applies it (see the module docstring); ``body`` is not changed.

    ``wrap(container)`` may rewrite a container in place (restart supervisor) and returns True when
    it did; wrapped container names are listed in the pod template annotation ``devloop.dev/supervised``.
    """
    out = copy.deepcopy(body)
    metadata = out.setdefault("metadata", {})
    if namespaced:
        metadata["namespace"] = metadata.get("namespace") or namespace
    else:
        metadata.pop("namespace", None)
    template = pod_template(out)
    if template is not None and template is not out:
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels[LABEL_PROJECT] = label_value(project)
    if template is not None and wrap is not None:
        spec: dict[str, Any] = template["spec"] if isinstance(template.get("spec"), dict) else {}
        wrapped = [str(c.get("name")) for c in spec.get("containers") or [] if isinstance(c, dict) and wrap(c)]
        if wrapped:
            annotations = template.setdefault("metadata", {}).setdefault("annotations", {})
            annotations[SUPERVISED_ANNOTATION] = ",".join(wrapped)
    annotations = metadata.setdefault("annotations", {})
    annotations.pop(HASH_ANNOTATION, None)
    annotations[HASH_ANNOTATION] = object_hash(out)
    return out


def object_key(body: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = body.get("metadata") or {}
    return (
        str(body.get("apiVersion", "")),
        str(body.get("kind", "")),
        str(meta.get("namespace") or ""),
        str(meta.get("name") or ""),
    )


@dataclass
class Applied:
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Applier:
    """Thread-safe; one per target."""

    def __init__(self, kube: Kube, ensure_namespace: Callable[[str], None], default_namespace: str) -> None:
        self.kube = kube
        self.default_namespace = default_namespace
        self.ensure_namespace = ensure_namespace
        self._lock = threading.Lock()
        self._hashes: dict[tuple[str, str, str, str], str] = {}
        self._applied: dict[tuple[str, str], set[tuple[str, str, str, str]]] = {}  # (project, resource) -> keys
        self._kinds: set[tuple[str, str]] = set()
        self._namespaces: set[str] = set()

    @property
    def namespaces(self) -> set[str]:
        with self._lock:
            return set(self._namespaces)

    @property
    def kinds(self) -> set[tuple[str, str]]:
        with self._lock:
            return set(self._kinds)

    def info(self, body: dict[str, Any]) -> ResourceInfo:
        api_version, kind = str(body.get("apiVersion", "")), str(body.get("kind", ""))
        try:
            return self.kube.resource(api_version, kind)
        except KubeError as exc:
            raise DeployError(
                f"cannot deploy {kind} {(body.get('metadata') or {}).get('name')}: {exc.message}"
            ) from exc

    def apply_objects(
        self,
        project: str,
        resource: str,
        rendered: Sequence[dict[str, Any]],
        source: dict[tuple[str, str, str, str], str],
    ) -> Applied:
        result = Applied()
        keys: set[tuple[str, str, str, str]] = set()
        for body in ordered(rendered):
            key = object_key(body)
            keys.add(key)
            label = f"{key[1]}/{key[3]}"
            info = self.info(body)
            namespace = key[2] or None
            wanted = (body.get("metadata") or {}).get("annotations", {}).get(HASH_ANNOTATION)
            with self._lock:
                self._kinds.add((info.api_version, info.kind))
                if namespace:
                    self._namespaces.add(namespace)
                known = self._hashes.get(key)
            if known == wanted:
                result.unchanged.append(label)
                continue
            live = self.kube.get(info.item(namespace, key[3])) if known is None else None
            if key[1] == "Namespace":
                body = self._namespace_body(body, live if known is None else self.kube.get(info.item(None, key[3])))
            # The first apply of an object in this process is always sent, even when the live object carries the
            # same hash: it may have drifted (scaled, patched) behind devloop's back. Server-side apply changes
            # nothing (the same resourceVersion) when it did not, so that counts as unchanged: no rollout.
            same_hash = live is not None and _annotations(live).get(HASH_ANNOTATION) == wanted
            replaced, applied = self._apply_one(body, info, namespace, source.get(key, ""))
            with self._lock:
                self._hashes[key] = str(wanted)
            if same_hash and not replaced and _version(applied) == _version(live or {}):
                result.unchanged.append(label)
            elif same_hash and not replaced:
                result.changed.append(f"{label} (changed in the cluster: re-applied)")
            else:
                result.changed.append(f"{label} (re-created: immutable fields changed)" if replaced else label)
        previous = self._applied.get((project, resource))
        with self._lock:
            self._applied[(project, resource)] = keys
        if previous is None or previous - keys:
            result.pruned = self.prune(project, resource, keys)
        return result

    def _namespace_body(self, body: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any]:
        """A Namespace from the manifests: marked created-by devloop when devloop creates it (or did)."""
        live_labels = ((live or {}).get("metadata") or {}).get("labels") or {}
        if live is None or live_labels.get(CREATED_BY_LABEL) == MANAGED_BY_VALUE:
            body = copy.deepcopy(body)
            body.setdefault("metadata", {}).setdefault("labels", {})[CREATED_BY_LABEL] = MANAGED_BY_VALUE
        return body

    def _apply_one(
        self, body: dict[str, Any], info: ResourceInfo, namespace: str | None, source: str
    ) -> tuple[bool, dict[str, Any]]:
        """Apply one object: (whether it had to be deleted and created again (immutable fields changed), the
        object the server answered with)."""
        name = str((body.get("metadata") or {}).get("name") or "")
        path = info.item(namespace, name)
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        created_namespace = replaced = False
        while True:
            try:
                answer = self.kube.request(
                    "PATCH", path, query=query, body=json.dumps(body), content_type="application/apply-patch+yaml"
                )
                return replaced, answer
            except KubeError as exc:
                gone = exc.status == 404 or (exc.status == 403 and "because it is being terminated" in exc.message)
                if not created_namespace and gone and namespace and info.namespaced:
                    created_namespace = True
                    self.ensure_namespace(namespace)  # missing or terminating: (wait and) create it, try again
                    continue
                if not replaced and needs_replace(exc.status, exc.message):
                    replaced = True
                    self._delete_and_wait(info, namespace, name)
                    continue
                where = f" (from {source})" if source else ""
                raise DeployError(
                    f"the cluster rejected {info.kind} {name}{where} in namespace {namespace or '-'}: {exc.message}; "
                    "fix the manifest (a running `devloop up` applies it again when you save)."
                ) from exc

    def _delete_and_wait(self, info: ResourceInfo, namespace: str | None, name: str) -> None:
        """Delete an object (its dependents first: a Job's pods, a StatefulSet's pods) and wait until it is gone."""
        path = info.item(namespace, name)
        try:
            self.kube.request(
                "DELETE", path, body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}
            )
        except KubeError as exc:
            if exc.status != 404:
                raise DeployError(f"deleting {info.kind} {name} to create it again failed: {exc.message}") from exc
        deadline = time.monotonic() + REPLACE_WAIT
        while self.kube.get(path) is not None:
            if time.monotonic() > deadline:
                raise DeployError(
                    f"{info.kind} {name} must be created again (immutable fields changed) but is still being deleted "
                    f"after {REPLACE_WAIT:.0f} s; check its finalizers (kubectl get {info.plural} {name} -o yaml)."
                )
            time.sleep(0.25)

    def forget(self, project: str, resource: str) -> None:
        with self._lock:
            for key in self._applied.pop((project, resource), set()):
                self._hashes.pop(key, None)

    def forget_key(self, key: tuple[str, str, str, str]) -> None:
        with self._lock:
            self._hashes.pop(key, None)

    # --- finding and deleting objects by label -------------------------------------------------------

    def search_kinds(self) -> list[tuple[str, str]]:
        kinds = list(PRUNE_KINDS) + list(CLUSTER_PRUNE_KINDS)
        for kind in sorted(self.kinds):
            if kind not in kinds and kind[1] != "Namespace":
                kinds.append(kind)
        return kinds

    def search_infos(self) -> list[ResourceInfo]:
        """:meth:`search_kinds` resolved (kinds the cluster does not serve left out)."""
        infos: list[ResourceInfo] = []
        for api_version, kind in self.search_kinds():
            try:
                infos.append(self.kube.resource(api_version, kind))
            except KubeError:
                continue
        return infos

    def down_infos(self) -> list[ResourceInfo]:
        """The kinds `down` searches: :meth:`search_infos` and every namespaced kind API discovery finds
        listable and deletable (so a fresh process also finds kinds an earlier one applied, CRDs' kinds too)."""
        infos = self.search_infos()
        seen = {(i.api_version, i.kind) for i in infos}
        for info in self.kube.deletable_kinds():
            if (info.api_version, info.kind) not in seen:
                seen.add((info.api_version, info.kind))
                infos.append(info)
        return infos

    def find(
        self, selector: str, namespaces: Iterable[str], infos: Sequence[ResourceInfo] | None = None
    ) -> list[tuple[ResourceInfo, dict[str, Any]]]:
        """Every object of the searched kinds (``infos``, else :meth:`search_infos`) matching ``selector`` in
        ``namespaces`` (and cluster-scoped)."""
        found: list[tuple[ResourceInfo, dict[str, Any]]] = []
        spaces = sorted(set(namespaces))
        for info in self.search_infos() if infos is None else infos:
            for ns in spaces if info.namespaced else [None]:
                try:
                    items = self.kube.list(info.collection(ns), selector)
                except KubeError as exc:
                    if exc.status in (403, 404, 405):
                        continue
                    raise
                found.extend((info, item) for item in items)
        return found

    def delete_object(self, info: ResourceInfo, item: dict[str, Any]) -> bool:
        meta = item.get("metadata") or {}
        try:
            self.kube.request(
                "DELETE",
                info.item(meta.get("namespace") if info.namespaced else None, str(meta.get("name"))),
                body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
            )
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise DeployError(f"deleting {info.kind} {meta.get('name')} failed: {exc.message}") from exc
        key = (info.api_version, info.kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        self.forget_key(key)
        return True

    def prune(self, project: str, resource: str, keep: set[tuple[str, str, str, str]]) -> list[str]:
        selector = (
            f"{LABEL_MANAGED_BY}={MANAGED_BY_VALUE},{LABEL_PROJECT}={label_value(project)},"
            f"{LABEL_RESOURCE}={label_value(resource)}"
        )
        namespaces = self.namespaces | {self.default_namespace}
        pruned = []
        for info, item in self.find(selector, namespaces):
            meta = item.get("metadata") or {}
            if meta.get("ownerReferences"):
                continue  # made by a controller (ReplicaSets, Job pods): goes with its owner
            key = (
                info.api_version,
                info.kind,
                str(meta.get("namespace") or "") if info.namespaced else "",
                str(meta.get("name") or ""),
            )
            if key in keep or any(k[1:] == key[1:] for k in keep):
                continue
            if self.delete_object(info, item):
                pruned.append(f"{info.kind}/{meta.get('name')}")
        return pruned

    def delete_resource(self, project: str, resource: str) -> list[str]:
        self.forget(project, resource)
        return self.prune(project, resource, set())
