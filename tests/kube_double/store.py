"""The double's object store: resource types, objects, resourceVersions, selectors and watches.

Objects are plain dicts (what the API serves, with ``apiVersion`` and ``kind``), kept per resource type,
namespace and name under one lock. Every change gets the next resourceVersion and an event in a bounded
history that watches read from; a watch from an older resourceVersion than the history holds gets 410 Gone,
as on a real API server.
"""

from __future__ import annotations

import copy
import datetime
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

HISTORY = 20000  # events kept for watches


class ApiError(Exception):
    """An error answered as a Kubernetes ``Status`` object."""

    REASONS = {
        400: "BadRequest",
        403: "Forbidden",
        404: "NotFound",
        405: "MethodNotAllowed",
        409: "AlreadyExists",
        410: "Expired",
        415: "UnsupportedMediaType",
        422: "Invalid",
        500: "InternalError",
    }

    def __init__(self, code: int, message: str, reason: str | None = None, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or self.REASONS.get(code, "Unknown")
        self.details = details

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for core
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()


RESOURCE_TYPES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "Namespace", False, ("ns",), ("status",)),
    ResourceType("", "v1", "nodes", "Node", False, ("no",), ("status",)),
    ResourceType("", "v1", "pods", "Pod", True, ("po",), ("status", "log", "exec", "portforward")),
    ResourceType("", "v1", "services", "Service", True, ("svc",), ("status",)),
    ResourceType("", "v1", "endpoints", "Endpoints", True, ("ep",)),
    ResourceType("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    ResourceType("", "v1", "secrets", "Secret", True),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    ResourceType("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), ("status",)),
    ResourceType("", "v1", "events", "Event", True, ("ev",)),
    ResourceType("apps", "v1", "deployments", "Deployment", True, ("deploy",), ("status", "scale")),
    ResourceType("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), ("status", "scale")),
    ResourceType("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), ("status", "scale")),
    ResourceType("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), ("status",)),
    ResourceType("apps", "v1", "controllerrevisions", "ControllerRevision", True),
    ResourceType("batch", "v1", "jobs", "Job", True, (), ("status",)),
    ResourceType("batch", "v1", "cronjobs", "CronJob", True, ("cj",), ("status",)),
)

BY_PATH: dict[tuple[str, str, str], ResourceType] = {(r.group, r.version, r.plural): r for r in RESOURCE_TYPES}
BY_KIND: dict[str, ResourceType] = {r.kind: r for r in RESOURCE_TYPES}


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_rfc3339_micro() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- selectors ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # = != in notin exists !exists
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op == "=":
            return value == self.values[0]
        if self.op == "!=":
            return value != self.values[0]
        if self.op == "in":
            return value in self.values
        if self.op == "notin":
            return value not in self.values
        return False


def _split_top(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse ``a=b,c!=d,e in (f,g),h notin (i),j,!k`` (the label selector syntax)."""
    reqs: list[Requirement] = []
    for part in _split_top(text or ""):
        low = f" {part} "
        for word, op in ((" notin ", "notin"), (" in ", "in")):
            if word in low and "(" in part:
                key = low[: low.index(word)].strip()
                inner = part[part.index("(") + 1 : part.rindex(")")]
                reqs.append(Requirement(key, op, tuple(v.strip() for v in inner.split(",") if v.strip())))
                break
        else:
            if "!=" in part:
                k, v = part.split("!=", 1)
                reqs.append(Requirement(k.strip(), "!=", (v.strip(),)))
            elif "==" in part:
                k, v = part.split("==", 1)
                reqs.append(Requirement(k.strip(), "=", (v.strip(),)))
            elif "=" in part:
                k, v = part.split("=", 1)
                reqs.append(Requirement(k.strip(), "=", (v.strip(),)))
            elif part.startswith("!"):
                reqs.append(Requirement(part[1:].strip(), "!exists"))
            else:
                reqs.append(Requirement(part, "exists"))
    for r in reqs:
        if not r.key or any(c.isspace() for c in r.key):
            raise ApiError(400, f"unable to parse requirement: invalid label key {r.key!r}")
    return reqs


def parse_field_selector(text: str | None) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for part in _split_top(text or ""):
        if "!=" in part:
            k, v = part.split("!=", 1)
            out.append((k.strip(), "!=", v.strip()))
        elif "==" in part:
            k, v = part.split("==", 1)
            out.append((k.strip(), "=", v.strip()))
        elif "=" in part:
            k, v = part.split("=", 1)
            out.append((k.strip(), "=", v.strip()))
        else:
            raise ApiError(400, f"invalid field selector: {part!r}")
    return out


FIELDS: dict[str, Callable[[Obj], str]] = {
    "metadata.name": lambda o: str(o["metadata"].get("name", "")),
    "metadata.namespace": lambda o: str(o["metadata"].get("namespace", "")),
    "status.phase": lambda o: str((o.get("status") or {}).get("phase", "")),
    "spec.nodeName": lambda o: str((o.get("spec") or {}).get("nodeName", "")),
    "involvedObject.name": lambda o: str((o.get("involvedObject") or {}).get("name", "")),
    "involvedObject.kind": lambda o: str((o.get("involvedObject") or {}).get("kind", "")),
    "involvedObject.uid": lambda o: str((o.get("involvedObject") or {}).get("uid", "")),
    "type": lambda o: str(o.get("type", "")),
}


@dataclass(frozen=True)
class Selector:
    labels: tuple[Requirement, ...] = ()
    fields: tuple[tuple[str, str, str], ...] = ()

    @classmethod
    def parse(cls, label_selector: str | None, field_selector: str | None) -> Selector:
        fields = parse_field_selector(field_selector)
        for key, _, _ in fields:
            if key not in FIELDS:
                raise ApiError(400, f"field label not supported: {key}")
        return cls(tuple(parse_label_selector(label_selector)), tuple(fields))

    def matches(self, obj: Obj) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        if not all(r.matches(labels) for r in self.labels):
            return False
        for key, op, value in self.fields:
            actual = FIELDS[key](obj)
            if (actual == value) != (op == "="):
                return False
        return True


def match_label_selector(selector: Obj | None, labels: dict[str, str]) -> bool:
    """A ``LabelSelector`` object (matchLabels, matchExpressions) against labels; empty selects nothing."""
    if not selector:
        return False
    reqs = [Requirement(str(k), "=", (str(v),)) for k, v in (selector.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expr in selector.get("matchExpressions") or []:
        reqs.append(
            Requirement(
                str(expr.get("key")),
                ops.get(str(expr.get("operator")), "?"),
                tuple(str(v) for v in expr.get("values") or []),
            )
        )
    return bool(reqs) and all(r.matches(labels) for r in reqs)


# --- the store ----------------------------------------------------------------------------------------


@dataclass
class Event:
    rv: int
    type: str
    rtype: ResourceType
    namespace: str
    obj: Obj


class Store:
    """All objects of one double, with resourceVersions and watch events."""

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.RLock())
        self.rv = 1
        self.objects: dict[tuple[str, str, str], Obj] = {}  # (plural, namespace, name) -> object
        self.events: list[Event] = []
        self.first_rv = 1  # oldest resourceVersion a watch may start from
        self.closed = False
        self.listeners: list[Callable[[Event], None]] = []

    # --- internals ---------------------------------------------------------------------------------

    def _key(self, rtype: ResourceType, namespace: str, name: str) -> tuple[str, str, str]:
        return (rtype.plural, namespace if rtype.namespaced else "", name)

    def _emit(self, etype: str, rtype: ResourceType, namespace: str, obj: Obj) -> None:
        event = Event(self.rv, etype, rtype, namespace, copy.deepcopy(obj))
        self.events.append(event)
        if len(self.events) > HISTORY:
            drop = len(self.events) - HISTORY
            self.first_rv = self.events[drop].rv
            del self.events[:drop]
        self.cond.notify_all()
        for listener in list(self.listeners):
            listener(event)

    def _next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    def _check_namespace(self, rtype: ResourceType, namespace: str, name: str) -> None:
        if not rtype.namespaced:
            return
        ns = self.objects.get(("namespaces", "", namespace))
        if ns is None:
            raise ApiError(
                404, f'namespaces "{namespace}" not found', details={"name": namespace, "kind": "namespaces"}
            )
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                f'{rtype.plural}{"." + rtype.group if rtype.group else ""} "{name}" is forbidden: unable to create '
                f"new content in namespace {namespace} because it is being terminated",
                reason="Forbidden",
                details={"name": name, "group": rtype.group, "kind": rtype.plural},
            )

    # --- reads -------------------------------------------------------------------------------------

    def get(self, rtype: ResourceType, namespace: str, name: str) -> Obj:
        with self.cond:
            obj = self.objects.get(self._key(rtype, namespace, name))
            if obj is None:
                raise ApiError(
                    404,
                    f'{rtype.plural}{"." + rtype.group if rtype.group else ""} "{name}" not found',
                    details={"name": name, "group": rtype.group, "kind": rtype.plural},
                )
            return copy.deepcopy(obj)

    def find(self, rtype: ResourceType, namespace: str, name: str) -> Obj | None:
        with self.cond:
            obj = self.objects.get(self._key(rtype, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def select(
        self, rtype: ResourceType, namespace: str | None, selector: Selector | None = None
    ) -> tuple[list[Obj], str]:
        """Objects of ``rtype`` (in ``namespace``, or all when None) sorted by namespace/name, and the list's rv."""
        with self.cond:
            items = [
                copy.deepcopy(o)
                for (plural, ns, _), o in self.objects.items()
                if plural == rtype.plural
                and (namespace is None or ns == namespace)
                and (selector is None or selector.matches(o))
            ]
            items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
            return items, str(self.rv)

    def all_objects(self) -> list[tuple[ResourceType, Obj]]:
        with self.cond:
            out = []
            for (plural, _, _), o in self.objects.items():
                rtype = next(r for r in RESOURCE_TYPES if r.plural == plural)
                out.append((rtype, copy.deepcopy(o)))
            return out

    # --- writes ------------------------------------------------------------------------------------

    def create(
        self, rtype: ResourceType, namespace: str, obj: Obj, prepare: Callable[[Obj], None] | None = None
    ) -> Obj:
        """Store a new object (409 when the name is taken, 404 when the namespace is missing); ``prepare`` may
        default and validate it once it has its uid."""
        with self.cond:
            if self.closed:
                raise ApiError(500, "the API double is shutting down")
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = str(meta["generateName"]) + uuid.uuid4().hex[:5]
            name = str(meta.get("name") or "")
            if not name:
                raise ApiError(
                    422, f"{rtype.kind} is invalid: metadata.name: Required value: name or generateName is required"
                )
            self._check_namespace(rtype, namespace, name)
            key = self._key(rtype, namespace, name)
            if key in self.objects:
                raise ApiError(
                    409,
                    f'{rtype.plural}{"." + rtype.group if rtype.group else ""} "{name}" already exists',
                    details={"name": name, "group": rtype.group, "kind": rtype.plural},
                )
            obj["apiVersion"] = rtype.api_version
            obj["kind"] = rtype.kind
            if rtype.namespaced:
                meta["namespace"] = namespace
            else:
                meta.pop("namespace", None)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if "spec" in obj or rtype.kind in (
                "Deployment",
                "ReplicaSet",
                "StatefulSet",
                "DaemonSet",
                "Job",
                "CronJob",
            ):
                meta["generation"] = 1
            meta.pop("deletionTimestamp", None)
            meta.pop("resourceVersion", None)
            if prepare is not None:
                prepare(obj)
            meta["resourceVersion"] = self._next_rv()
            self.objects[key] = obj
            self._emit("ADDED", rtype, namespace, obj)
            return copy.deepcopy(obj)

    def replace(self, rtype: ResourceType, namespace: str, obj: Obj, *, status: bool = False) -> Obj:
        """Store ``obj`` over the existing object. ``status``: only the status changes (a status subresource
        write), else the status is kept and the generation is bumped when the spec changed. No event and no
        new resourceVersion when nothing changed."""
        with self.cond:
            name = str(obj["metadata"]["name"])
            key = self._key(rtype, namespace, name)
            old = self.objects.get(key)
            if old is None:
                raise ApiError(404, f'{rtype.plural} "{name}" not found', details={"name": name, "kind": rtype.plural})
            want_rv = obj["metadata"].get("resourceVersion")
            if want_rv and str(want_rv) != old["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    f'Operation cannot be fulfilled on {rtype.plural} "{name}": the object has been modified; '
                    "please apply your changes to the latest version and try again",
                    reason="Conflict",
                    details={"name": name, "kind": rtype.plural},
                )
            new = copy.deepcopy(old if status else obj)
            if status:
                new["status"] = copy.deepcopy(obj.get("status"))
            else:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
                meta = new.setdefault("metadata", {})
                for keep in (
                    "uid",
                    "creationTimestamp",
                    "namespace",
                    "generation",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                ):
                    if keep in old["metadata"]:
                        meta[keep] = old["metadata"][keep]
                    else:
                        meta.pop(keep, None)
                if "generation" in old["metadata"] and new.get("spec") != old.get("spec"):
                    meta["generation"] = int(old["metadata"]["generation"]) + 1
            new["apiVersion"] = rtype.api_version
            new["kind"] = rtype.kind
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            if new == old:
                return copy.deepcopy(old)
            new["metadata"]["resourceVersion"] = self._next_rv()
            self.objects[key] = new
            self._emit("MODIFIED", rtype, namespace, new)
            return copy.deepcopy(new)

    def mutate(
        self, rtype: ResourceType, namespace: str, name: str, fn: Callable[[Obj], None], *, status: bool = False
    ) -> Obj | None:
        """Read-modify-write under the lock; None when the object is gone."""
        with self.cond:
            obj = self.find(rtype, namespace, name)
            if obj is None:
                return None
            fn(obj)
            return self.replace(rtype, namespace, obj, status=status)

    def remove(self, rtype: ResourceType, namespace: str, name: str) -> Obj | None:
        """Remove the object now (no finalizers, no propagation); None when it was not there."""
        with self.cond:
            key = self._key(rtype, namespace, name)
            obj = self.objects.pop(key, None)
            if obj is None:
                return None
            obj["metadata"]["resourceVersion"] = self._next_rv()
            self._emit("DELETED", rtype, namespace, obj)
            return copy.deepcopy(obj)

    def mark_deleting(self, rtype: ResourceType, namespace: str, name: str, grace: int) -> Obj | None:
        def mark(o: Obj) -> None:
            if not o["metadata"].get("deletionTimestamp"):
                o["metadata"]["deletionTimestamp"] = now_rfc3339()
                o["metadata"]["deletionGracePeriodSeconds"] = grace

        with self.cond:
            obj = self.find(rtype, namespace, name)
            if obj is None:
                return None
            mark(obj)
            key = self._key(rtype, namespace, name)
            old = self.objects[key]
            if old["metadata"].get("deletionTimestamp"):
                return copy.deepcopy(old)
            obj["metadata"]["resourceVersion"] = self._next_rv()
            self.objects[key] = obj
            self._emit("MODIFIED", rtype, namespace, obj)
            return copy.deepcopy(obj)

    # --- watches -----------------------------------------------------------------------------------

    def watch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        selector: Selector,
        since: int,
        deadline: float,
        stopped: Callable[[], bool],
    ) -> Iterator[tuple[str, Obj] | None]:
        """Events after resourceVersion ``since`` until ``deadline`` (time.monotonic()); yields None every second
        without events (so the caller can notice a closed connection)."""
        import time

        self.check_since(since)
        position = since
        while not stopped():
            batch: list[Event] = []
            with self.cond:
                if self.closed:
                    return
                batch = [e for e in self.events if e.rv > position and e.rtype == rtype]
                if not batch:
                    self.cond.wait(min(1.0, max(0.0, deadline - time.monotonic())))
                    batch = [e for e in self.events if e.rv > position and e.rtype == rtype]
                position = max([position, self.rv])
            sent = False
            for e in batch:
                if namespace is not None and e.namespace != namespace:
                    continue
                if not selector.matches(e.obj):
                    continue
                sent = True
                yield e.type, e.obj
            if not sent:
                yield None
            if time.monotonic() >= deadline:
                return

    def check_since(self, since: int) -> None:
        with self.cond:
            if since and since < self.first_rv - 1:
                raise ApiError(410, f"too old resource version: {since} ({self.first_rv})", reason="Expired")

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
