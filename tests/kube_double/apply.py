"""Writes: server-side apply, merge/strategic/JSON patches, defaulting and the validation devloop relies on.

Server-side apply keeps, per object and field manager, the set of leaf field paths the manager applied (lists
are atomic: a list is one leaf). An apply removes the fields the manager owned before and no longer sends,
merges the new configuration in, and answers 409 Conflict when another *apply* manager owns a field that is
set to a different value (unless ``force=true``, which takes the field over). ``metadata.managedFields`` holds
one entry per manager with its fields as FieldsV1. An apply that changes nothing changes no resourceVersion.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from typing import Any

import yaml

from tests.kube_double.store import ApiError, Obj, ResourceType, Store, now_rfc3339

Path = tuple[str, ...]

APPLY_TYPE = "application/apply-patch+yaml"
MERGE_TYPE = "application/merge-patch+json"
STRATEGIC_TYPE = "application/strategic-merge-patch+json"
JSON_PATCH_TYPE = "application/json-patch+json"
PATCH_TYPES = (APPLY_TYPE, MERGE_TYPE, STRATEGIC_TYPE, JSON_PATCH_TYPE)

IDENTITY = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")}
WORKLOADS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")


def parse_body(raw: bytes, content_type: str) -> Any:
    try:
        if content_type == APPLY_TYPE:
            return yaml.safe_load(raw.decode() or "{}")
        return json.loads(raw.decode() or "null")
    except (ValueError, yaml.YAMLError) as exc:
        raise ApiError(400, f"the body of the request was in an unknown format ({type(exc).__name__}: {exc})") from exc


# --- field paths --------------------------------------------------------------------------------------


def leaf_paths(obj: Any, prefix: Path = ()) -> set[Path]:
    if isinstance(obj, dict) and obj:
        out: set[Path] = set()
        for k, v in obj.items():
            out |= leaf_paths(v, (*prefix, str(k)))
        return out
    return {prefix} if prefix else set()


def get_path(obj: Any, path: Path) -> tuple[bool, Any]:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return False, None
        obj = obj[key]
    return True, obj


def delete_path(obj: Obj, path: Path) -> None:
    parents: list[tuple[Obj, str]] = []
    node: Any = obj
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return
        parents.append((node, key))
        node = node[key]
    if isinstance(node, dict):
        node.pop(path[-1], None)
    for parent, key in reversed(parents):  # drop maps the removal left empty
        if parent[key] == {}:
            del parent[key]
        else:
            break


def deep_merge(base: Obj, patch: Obj) -> Obj:
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
    return base


def fields_v1(paths: set[Path]) -> Obj:
    tree: Obj = {}
    for path in sorted(paths):
        node = tree
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return tree


# --- patches ------------------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def strategic_merge(target: Any, patch: Any) -> Any:
    """An approximation of strategic merge: maps merge, lists of named maps merge by ``name``, other lists
    are replaced, null deletes."""
    if isinstance(patch, list) and isinstance(target, list):
        if (
            patch
            and all(isinstance(p, dict) and "name" in p for p in patch)
            and all(isinstance(t, dict) and "name" in t for t in target)
        ):
            out = [copy.deepcopy(t) for t in target]
            for p in patch:
                idx = next((i for i, t in enumerate(out) if t["name"] == p["name"]), None)
                if p.get("$patch") == "delete":
                    if idx is not None:
                        del out[idx]
                elif idx is None:
                    out.append(copy.deepcopy(p))
                else:
                    out[idx] = strategic_merge(out[idx], p)
            return out
        return copy.deepcopy(patch)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        if v is None:
            result.pop(k, None)
        else:
            result[k] = strategic_merge(result.get(k), v)
    return result


def json_patch(target: Obj, ops: Any) -> Obj:
    if not isinstance(ops, list):
        raise ApiError(400, "a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)

    def walk(pointer: str) -> tuple[Any, str]:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
        node: Any = doc
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node, parts[-1]

    for op in ops:
        try:
            parent, last = walk(str(op["path"]))
            kind = op["op"]
            if kind in ("add", "replace"):
                if isinstance(parent, list):
                    if last == "-":
                        parent.append(op["value"])
                    elif kind == "add":
                        parent.insert(int(last), op["value"])
                    else:
                        parent[int(last)] = op["value"]
                else:
                    if kind == "replace" and last not in parent:
                        raise KeyError(last)
                    parent[last] = op["value"]
            elif kind == "remove":
                if isinstance(parent, list):
                    del parent[int(last)]
                else:
                    del parent[last]
            elif kind == "test":
                value = parent[int(last)] if isinstance(parent, list) else parent[last]
                if value != op["value"]:
                    raise ApiError(422, f"the test operation on {op['path']} failed")
            else:
                raise ApiError(400, f"unsupported JSON patch operation {kind!r}")
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ApiError(422, f"the JSON patch could not be applied at {op.get('path')!r}: {exc}") from exc
    return doc


# --- defaulting and validation ------------------------------------------------------------------------


def _default_pod_spec(spec: Obj, job: bool = False) -> None:
    spec.setdefault("restartPolicy", "Never" if job else "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    for group in ("initContainers", "containers"):
        for c in spec.get(group) or []:
            if isinstance(c, dict):
                image = str(c.get("image") or "")
                tail = image.rsplit("/", 1)[-1]
                latest = "@" not in image and (":" not in tail or tail.endswith(":latest"))
                c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
                c.setdefault("terminationMessagePath", "/dev/termination-log")
                c.setdefault("terminationMessagePolicy", "File")
                for p in c.get("ports") or []:
                    if isinstance(p, dict):
                        p.setdefault("protocol", "TCP")


def template_hash(template: Any) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return str(int(digest[:8], 16) % 10**10)


def default(rtype: ResourceType, obj: Obj) -> None:
    """Defaults a real API server would set (the ones clients look at)."""
    spec = obj.get("spec")
    kind = rtype.kind
    if not isinstance(spec, dict):
        if kind in (*WORKLOADS, "Pod", "Job", "Service", "Namespace", "CronJob", "PersistentVolumeClaim"):
            spec = obj["spec"] = {}
        else:
            return
    if kind == "Pod":
        _default_pod_spec(spec)
        spec.setdefault("nodeName", "devloop-double")  # the scheduler's binding, done at once
        if not obj.get("status"):
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif kind in WORKLOADS or kind == "Job":
        template = spec.setdefault("template", {})
        if isinstance(template, dict):
            _default_pod_spec(template.setdefault("spec", {}), job=kind == "Job")
        if kind in ("Deployment", "ReplicaSet", "StatefulSet"):
            spec.setdefault("replicas", 1)
            spec.setdefault("revisionHistoryLimit", 10)
        if kind == "Deployment":
            spec.setdefault(
                "strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
            )
            spec.setdefault("progressDeadlineSeconds", 600)
        if kind == "StatefulSet":
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        if kind == "Job":
            spec.setdefault("backoffLimit", 6)
            spec.setdefault("completions", 1)
            spec.setdefault("parallelism", 1)
            uid = obj["metadata"].get("uid", "")
            if uid and not spec.get("selector"):
                spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            if uid and isinstance(template, dict):
                labels = template.setdefault("metadata", {}).setdefault("labels", {})
                labels.setdefault("batch.kubernetes.io/controller-uid", uid)
                labels.setdefault("controller-uid", uid)
                labels.setdefault("batch.kubernetes.io/job-name", obj["metadata"]["name"])
                labels.setdefault("job-name", obj["metadata"]["name"])
    elif kind == "CronJob":
        spec.setdefault("suspend", False)
        spec.setdefault("concurrencyPolicy", "Allow")
    elif kind == "Service":
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec.get("clusterIP") is None:
            h = int(hashlib.sha256(obj["metadata"].get("uid", "x").encode()).hexdigest()[:4], 16)
            spec["clusterIP"] = f"10.96.{h // 256}.{h % 256 or 1}"
        if spec.get("clusterIP") and "clusterIPs" not in spec:
            spec["clusterIPs"] = [spec["clusterIP"]]
        for p in spec.get("ports") or []:
            if isinstance(p, dict):
                p.setdefault("protocol", "TCP")
                p.setdefault("targetPort", p.get("port"))
    elif kind == "Namespace":
        spec.setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {"phase": "Active"})
        labels = obj["metadata"].setdefault("labels", {})
        labels.setdefault("kubernetes.io/metadata.name", obj["metadata"]["name"])


def invalid(rtype: ResourceType, name: str, problems: list[str]) -> ApiError:
    """The real API server's 422 Invalid answer listing ``problems``."""
    return ApiError(
        422,
        f'{rtype.kind}{"." + rtype.group if rtype.group else ""} "{name}" is invalid: ' + ", ".join(problems),
        details={
            "name": name,
            "group": rtype.group,
            "kind": rtype.kind,
            "causes": [{"reason": "FieldValueInvalid", "message": p} for p in problems],
        },
    )


def validate(rtype: ResourceType, obj: Obj) -> None:
    """The checks of the real API server that manifests most often fail (422 Invalid)."""
    kind = rtype.kind
    name = obj["metadata"].get("name", "")
    problems: list[str] = []
    spec = obj.get("spec") or {}

    def check_pod_spec(pspec: Any, where: str) -> None:
        if not isinstance(pspec, dict) or not pspec.get("containers"):
            problems.append(f"{where}.containers: Required value")
            return
        for group in ("initContainers", "containers"):
            for i, c in enumerate(pspec.get(group) or []):
                if not isinstance(c, dict) or not c.get("name"):
                    problems.append(f"{where}.{group}[{i}].name: Required value")
                elif not c.get("image"):
                    problems.append(f"{where}.{group}[{i}].image: Required value")

    if kind == "Pod":
        check_pod_spec(spec, "spec")
    elif kind in WORKLOADS or kind == "Job":
        template = spec.get("template") or {}
        check_pod_spec(template.get("spec"), "spec.template.spec")
        if kind in WORKLOADS:
            selector = spec.get("selector")
            labels = (template.get("metadata") or {}).get("labels") or {}
            if not selector:
                problems.append("spec.selector: Required value")
            else:
                from tests.kube_double.store import match_label_selector

                if not match_label_selector(selector, {str(k): str(v) for k, v in labels.items()}):
                    problems.append(
                        "spec.template.metadata.labels: Invalid value: "
                        f"{json.dumps(labels)}: `selector` does not match template `labels`"
                    )
        if kind == "Job":
            policy = (template.get("spec") or {}).get("restartPolicy")
            if policy not in ("Never", "OnFailure"):
                problems.append(
                    f'spec.template.spec.restartPolicy: Unsupported value: "{policy}": supported values: '
                    '"OnFailure", "Never"'
                )
    if problems:
        raise invalid(rtype, name, problems)


#: Pod spec fields an update may change (the real API server's list); everything else is immutable.
POD_MUTABLE = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")
#: StatefulSet spec fields an update may change.
STS_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
    "revisionHistoryLimit",
)


def _pod_spec_sans_mutable(spec: Any) -> Any:
    out = copy.deepcopy(spec) if isinstance(spec, dict) else {}
    for key in POD_MUTABLE:
        out.pop(key, None)
    for group in ("initContainers", "containers"):
        for c in out.get(group) or []:
            if isinstance(c, dict):
                c.pop("image", None)
    return out


def check_immutable(rtype: ResourceType, old: Obj, new: Obj) -> None:
    """The real API server's update validation of immutable fields (422 Invalid), after defaulting:
    a Pod's spec (but images and a few fields), a Job's template and selector, a workload's selector,
    a StatefulSet's spec outside its updatable fields."""
    kind = rtype.kind
    name = new["metadata"].get("name", "")
    before, after = old.get("spec") or {}, new.get("spec") or {}
    problems: list[str] = []
    if kind == "Pod" and _pod_spec_sans_mutable(before) != _pod_spec_sans_mutable(after):
        problems.append(
            "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
            "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
            "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was "
            "previously negative)"
        )
    if kind == "Job":
        if before.get("template") != after.get("template"):
            problems.append("spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable")
        if before.get("selector") != after.get("selector"):
            problems.append("spec.selector: Invalid value: v1.LabelSelector{...}: field is immutable")
    if kind in WORKLOADS and before.get("selector") != after.get("selector"):
        problems.append("spec.selector: Invalid value: v1.LabelSelector{...}: field is immutable")
    if kind == "StatefulSet":
        strip = {k: v for k, v in before.items() if k not in STS_MUTABLE}
        if strip != {k: v for k, v in after.items() if k not in STS_MUTABLE}:
            problems.append(
                "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' "
                "are forbidden"
            )
    if problems:
        raise invalid(rtype, name, problems)


# --- server-side apply --------------------------------------------------------------------------------


class Applier:
    """Server-side apply over a :class:`Store` (ownership is kept per object uid)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.owners: dict[str, dict[str, set[Path]]] = {}  # uid -> manager -> paths
        self.lock = threading.RLock()

    def check_identity(self, rtype: ResourceType, namespace: str, name: str, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be an object")
        meta = body.get("metadata") or {}
        if (body.get("kind") and body.get("kind") != rtype.kind) or (
            body.get("apiVersion") and body.get("apiVersion") != rtype.api_version
        ):
            raise ApiError(
                400,
                f"the API version in the data ({body.get('apiVersion')}) and kind ({body.get('kind')}) do not "
                f"match the resource {rtype.api_version}/{rtype.plural}",
            )
        if name and meta.get("name") and meta.get("name") != name:
            raise ApiError(
                400, f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        if rtype.namespaced and meta.get("namespace") and meta.get("namespace") != namespace:
            raise ApiError(
                400,
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        return body

    def apply(
        self, rtype: ResourceType, namespace: str, name: str, body: Any, manager: str, force: bool
    ) -> tuple[Obj, bool]:
        """Apply ``body``; returns (stored object, created)."""
        if not manager:
            raise ApiError(400, "PATCH with apply requires the fieldManager query parameter")
        config = copy.deepcopy(self.check_identity(rtype, namespace, name, body))
        config.pop("status", None)
        meta = config.setdefault("metadata", {})
        meta["name"] = name
        for key in ("managedFields", "uid", "creationTimestamp", "generation", "resourceVersion", "selfLink"):
            meta.pop(key, None)
        new_paths = {p for p in leaf_paths(config) if p not in IDENTITY}
        with self.lock, self.store.cond:
            current = self.store.find(rtype, namespace, name)
            if current is None:
                obj = copy.deepcopy(config)
                if rtype.namespaced:
                    obj["metadata"]["namespace"] = namespace

                def prepare(o: Obj) -> None:
                    default(rtype, o)
                    validate(rtype, o)
                    o["metadata"]["managedFields"] = [self._entry(rtype, manager, new_paths)]

                created = self.store.create(rtype, namespace, obj, prepare=prepare)
                self.owners[created["metadata"]["uid"]] = {manager: new_paths}
                return created, True
            uid = current["metadata"]["uid"]
            owners = self.owners.setdefault(uid, {})
            conflicts: list[str] = []
            for other, paths in owners.items():
                if other == manager:
                    continue
                for p in sorted(paths & new_paths):
                    if get_path(current, p) != get_path(config, p):
                        conflicts.append(f'conflict with "{other}": .{".".join(p)}')
                        if force:
                            paths.discard(p)
            if conflicts and not force:
                raise ApiError(
                    409,
                    f"Apply failed with {len(conflicts)} conflict{'s' if len(conflicts) > 1 else ''}: "
                    + "\n".join(conflicts),
                    reason="Conflict",
                    details={
                        "name": name,
                        "group": rtype.group,
                        "kind": rtype.plural,
                        "causes": [{"reason": "FieldManagerConflict", "message": c} for c in conflicts],
                    },
                )
            others = set().union(*(p for m, p in owners.items() if m != manager)) if len(owners) > 1 else set()
            result = copy.deepcopy(current)
            for p in owners.get(manager, set()) - new_paths - others:
                delete_path(result, p)
            deep_merge(result, config)
            default(rtype, result)
            validate(rtype, result)
            check_immutable(rtype, current, result)
            owners[manager] = new_paths
            entries = [e for e in result["metadata"].get("managedFields") or [] if e.get("manager") != manager]
            old_entry = next(
                (e for e in current["metadata"].get("managedFields") or [] if e.get("manager") == manager), None
            )
            entry = self._entry(rtype, manager, new_paths)
            comparable = copy.deepcopy(result)
            comparable["metadata"]["managedFields"] = current["metadata"].get("managedFields")
            if comparable == current and old_entry is not None and old_entry.get("fieldsV1") == entry["fieldsV1"]:
                return current, False
            result["metadata"]["managedFields"] = [*entries, entry]
            result["metadata"].pop("resourceVersion", None)
            return self.store.replace(rtype, namespace, result), False

    def _entry(self, rtype: ResourceType, manager: str, paths: set[Path]) -> Obj:
        return {
            "manager": manager,
            "operation": "Apply",
            "apiVersion": rtype.api_version,
            "time": now_rfc3339(),
            "fieldsType": "FieldsV1",
            "fieldsV1": fields_v1(paths),
        }

    def forget(self, uid: str) -> None:
        with self.lock:
            self.owners.pop(uid, None)
