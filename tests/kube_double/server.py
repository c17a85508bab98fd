"""The double's HTTP server: discovery, REST routing, watches, deletion with propagation, and start/stop.

:func:`start_double` starts a :class:`KubeDouble`: an HTTP server on 127.0.0.1 (a thread per connection),
the controllers and the kubelet, a kubeconfig with the context ``devloop-double``, the namespaces
``default``, ``kube-system`` and ``kube-public`` and the ``kube-public/local-registry-hosting`` ConfigMap
(KEP-1755) naming the test registry. :meth:`KubeDouble.stop` stops everything and removes every container,
volume and network labelled ``devloop.dev/kube-double=<id>``.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import secrets
import select
import socket
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.kube_double import apply as A
from tests.kube_double.store import (
    BY_PATH,
    RESOURCE_TYPES,
    ApiError,
    Obj,
    ResourceType,
    Selector,
    Store,
    now_rfc3339,
)

DOUBLE_LABEL = "devloop.dev/kube-double"
CONTEXT = "devloop-double"
NODE_NAME = "devloop-double"
VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0-devloop-double",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-01-01T00:00:00Z",
    "goVersion": "go1.22.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUB_VERBS = {
    "status": ["get", "patch", "update"],
    "log": ["get"],
    "exec": ["create", "get"],
    "portforward": ["create", "get"],
}


# --- discovery ----------------------------------------------------------------------------------------


def api_versions(port: int) -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{port}"}],
    }


def api_groups() -> Obj:
    groups: dict[str, list[str]] = {}
    for r in RESOURCE_TYPES:
        if r.group:
            groups.setdefault(r.group, [])
            if r.version not in groups[r.group]:
                groups[r.group].append(r.version)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": g,
                "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in versions],
                "preferredVersion": {"groupVersion": f"{g}/{versions[0]}", "version": versions[0]},
            }
            for g, versions in groups.items()
        ],
    }


def resource_list(group: str, version: str) -> Obj | None:
    members = [r for r in RESOURCE_TYPES if r.group == group and r.version == version]
    if not members:
        return None
    resources: list[Obj] = []
    for r in members:
        entry: Obj = {
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": VERBS,
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        resources.append(entry)
        for sub in r.subresources:
            resources.append(
                {
                    "name": f"{r.plural}/{sub}",
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": SUB_VERBS.get(sub, ["get"]),
                }
            )
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


# --- routing ------------------------------------------------------------------------------------------


class Route:
    def __init__(self, rtype: ResourceType, namespace: str | None, name: str, sub: str) -> None:
        self.rtype = rtype
        self.namespace = namespace  # None: all namespaces (lists) or cluster-scoped
        self.name = name
        self.sub = sub


def route(path: str) -> Route | Obj | None:
    """A :class:`Route`, a discovery document, or None (404)."""
    parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/") if p]
    if parts == ["api"]:
        return {"__discovery__": "api"}
    if parts == ["apis"]:
        return api_groups()
    if parts == ["version"]:
        return dict(VERSION)
    if not parts:
        return {"paths": ["/api", "/api/v1", "/apis", "/version"]}
    if parts[0] == "api" and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    elif parts[0] == "apis" and len(parts) == 2:
        versions = [r.version for r in RESOURCE_TYPES if r.group == parts[1]]
        if not versions:
            return None
        gv = {"groupVersion": f"{parts[1]}/{versions[0]}", "version": versions[0]}
        return {"kind": "APIGroup", "apiVersion": "v1", "name": parts[1], "versions": [gv], "preferredVersion": gv}
    else:
        return None
    if not rest:
        return resource_list(group, version)
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    rtype = BY_PATH.get((group, version, rest[0]))
    if rtype is None:
        return None
    if namespace is not None and not rtype.namespaced:
        return None
    if rest[0] == "namespaces" and namespace is None:
        rtype = BY_PATH[("", "v1", "namespaces")]
    name = rest[1] if len(rest) >= 2 else ""
    sub = rest[2] if len(rest) >= 3 else ""
    if len(rest) > 3 or (sub and sub not in rtype.subresources):
        return None
    if rtype.namespaced and namespace is None and name:
        return None
    return Route(rtype, namespace, name, sub)


def _first(query: dict[str, list[str]], key: str, default: str = "") -> str:
    values = query.get(key)
    return values[0] if values else default


def _flag(query: dict[str, list[str]], key: str) -> bool:
    return _first(query, key).lower() in ("true", "1")


# --- the handler --------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY every kept-alive call would wait ~40 ms
    # for a delayed ACK, which a real API server does not make its clients do.
    disable_nagle_algorithm = True
    server: DoubleHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.double.verbose:
            super().log_message(format, *args)

    # --- responses ---------------------------------------------------------------------------------

    def send_json(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", secrets.token_hex(8))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error_status(self, err: ApiError) -> None:
        self.send_json(err.code, err.status())

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(length) if length else b""

    def connection_closed(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if readable:
                return bool(self.connection.recv(1, socket.MSG_PEEK) == b"")
        except (OSError, ValueError):  # ValueError: the socket is closed already
            return True
        return False

    # --- dispatch ----------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_PUT(self) -> None:
        self.dispatch("PUT")

    def do_PATCH(self) -> None:
        self.dispatch("PATCH")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    def dispatch(self, method: str) -> None:
        double = self.server.double
        parsed = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        body = b""
        try:
            if method in ("POST", "PUT", "PATCH", "DELETE") and not self.headers.get("Upgrade"):
                body = self.read_body()
            if parsed.path in ("/healthz", "/readyz", "/livez"):
                data = b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            target = route(parsed.path)
            if target is None:
                raise ApiError(404, "the server could not find the requested resource")
            if not isinstance(target, Route):
                if method != "GET":
                    raise ApiError(405, f"{method} is not supported here")
                if target.get("__discovery__") == "api":
                    target = api_versions(double.port)
                self.send_json(200, target)
                return
            if _first(query, "dryRun"):
                raise ApiError(400, "dryRun is not supported by the Kubernetes API double")
            double.serve(self, method, target, query, body)
        except ApiError as err:
            self.send_error_status(err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug in the double: answer 500 with the cause, as a Status
            if double.verbose:
                import traceback

                traceback.print_exc()
            try:
                self.send_error_status(ApiError(500, f"the API double failed: {type(exc).__name__}: {exc}"))
            except OSError:
                self.close_connection = True


class DoubleHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, double: KubeDouble) -> None:
        self.double = double
        super().__init__(("127.0.0.1", 0), Handler)


# --- the double ---------------------------------------------------------------------------------------


class KubeDouble:
    """One Kubernetes API double: server, store, controllers, kubelet."""

    def __init__(
        self,
        registry: str | None = "127.0.0.1:5001",
        *,
        docker_client: Any = None,
        verbose: bool = False,
        workdir: Path | None = None,
    ) -> None:
        from tests.kube_double.controllers import Controllers
        from tests.kube_double.kubelet import Kubelet

        self.id = "kd" + secrets.token_hex(4)
        self.registry = registry
        self.verbose = verbose
        self.store = Store()
        self.applier = A.Applier(self.store)
        self.httpd = DoubleHTTPServer(self)
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.context = CONTEXT
        self._own_dir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="kube-double-")) if workdir is None else workdir
        self.kubeconfig_path = self.workdir / "kubeconfig"
        self.controllers = Controllers(self)
        self.kubelet = Kubelet(self, docker_client)
        self._thread: threading.Thread | None = None
        self.stopped = False
        self.is_double = True

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> KubeDouble:
        self.write_kubeconfig()
        self.bootstrap()
        self.kubelet.start()
        self.controllers.start()
        self._thread = threading.Thread(target=self.httpd.serve_forever, name=f"kube-double-{self.id}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and remove every container, volume and network of this double."""
        if self.stopped:
            return
        self.stopped = True
        self.store.close()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.controllers.stop()
        self.kubelet.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._own_dir:
            import shutil

            shutil.rmtree(self.workdir, ignore_errors=True)

    def write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": CONTEXT, "cluster": {"server": self.url}}],
            "users": [{"name": CONTEXT, "user": {"token": "devloop-double"}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT}}],
            "current-context": CONTEXT,
            "preferences": {},
        }
        self.kubeconfig_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def bootstrap(self) -> None:
        ns = BY_PATH[("", "v1", "namespaces")]
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create(ns, "", {"metadata": {"name": name}})
        node = BY_PATH[("", "v1", "nodes")]
        self.store.create(
            node,
            "",
            {
                "metadata": {
                    "name": NODE_NAME,
                    "labels": {"kubernetes.io/hostname": NODE_NAME, "node-role.kubernetes.io/control-plane": ""},
                },
                "spec": {},
                "status": {
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "KubeletReady",
                            "lastHeartbeatTime": now_rfc3339(),
                            "lastTransitionTime": now_rfc3339(),
                        }
                    ],
                    "nodeInfo": {
                        "kubeletVersion": VERSION["gitVersion"],
                        "containerRuntimeVersion": "docker://double",
                        "architecture": "amd64",
                        "operatingSystem": "linux",
                        "osImage": "devloop double",
                        "kernelVersion": "",
                        "kubeProxyVersion": "",
                        "machineID": "",
                        "systemUUID": "",
                        "bootID": "",
                    },
                },
            },
        )
        if self.registry:
            cm = BY_PATH[("", "v1", "configmaps")]
            self.store.create(
                cm,
                "kube-public",
                {
                    "metadata": {"name": "local-registry-hosting", "namespace": "kube-public"},
                    "data": {
                        "localRegistryHosting.v1": yaml.safe_dump(
                            {
                                "host": self.registry,
                                "help": "https://github.com/kubernetes/enhancements/tree/master/keps/sig-cluster-lifecycle/generic/1755-communicating-a-local-registry",
                            },
                            sort_keys=False,
                        )
                    },
                },
            )

    # --- object operations (also used by controllers) ----------------------------------------------

    def create(self, rtype: ResourceType, namespace: str, obj: Obj) -> Obj:
        def prepare(o: Obj) -> None:
            A.default(rtype, o)
            A.validate(rtype, o)
            if rtype.kind == "Pod":
                self.admit_pod(namespace, o)

        created = self.store.create(rtype, namespace, obj, prepare=prepare)
        if rtype.kind == "Namespace":
            sa = BY_PATH[("", "v1", "serviceaccounts")]
            self.store.create(sa, created["metadata"]["name"], {"metadata": {"name": "default"}})
        return created

    def admit_pod(self, namespace: str, pod: Obj) -> None:
        """The ServiceAccount admission plugin: a pod naming a missing ServiceAccount is refused (403)."""
        spec = pod.get("spec") or {}
        account = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
        if self.store.find(BY_PATH[("", "v1", "serviceaccounts")], namespace, account) is None:
            name = pod["metadata"].get("name") or pod["metadata"].get("generateName", "")
            raise ApiError(
                403,
                f'pods "{name}" is forbidden: error looking up service account {namespace}/{account}: '
                f'serviceaccount "{account}" not found',
                reason="Forbidden",
            )

    def record_event(self, obj: Obj, etype: str, reason: str, message: str, component: str) -> None:
        """A core/v1 Event about ``obj``, as controllers and the kubelet record them: the same reason and
        message again only raise ``count`` and ``lastTimestamp``."""
        meta = obj["metadata"]
        namespace = str(meta.get("namespace") or "default")
        events = BY_PATH[("", "v1", "events")]
        digest = hashlib.sha256(f"{meta.get('uid')}/{reason}/{message}".encode()).hexdigest()[:16]
        name = f"{meta['name']}.{digest}"
        now = now_rfc3339()

        def again(o: Obj) -> None:
            o["count"] = int(o.get("count") or 1) + 1
            o["lastTimestamp"] = now

        with contextlib.suppress(ApiError):
            if self.store.mutate(events, namespace, name, again) is None:
                self.store.create(
                    events,
                    namespace,
                    {
                        "metadata": {"name": name, "namespace": namespace},
                        "involvedObject": {
                            "apiVersion": obj.get("apiVersion"),
                            "kind": obj.get("kind"),
                            "name": meta["name"],
                            "namespace": namespace,
                            "uid": meta.get("uid"),
                        },
                        "reason": reason,
                        "message": message,
                        "type": etype,
                        "count": 1,
                        "firstTimestamp": now,
                        "lastTimestamp": now,
                        "source": {"component": component},
                        "reportingComponent": component,
                    },
                )

    def delete(
        self, rtype: ResourceType, namespace: str, name: str, propagation: str = "", grace: int | None = None
    ) -> Obj:
        """Delete an object: pods and namespaces gracefully (they stay, with a deletionTimestamp, until the
        kubelet / the namespace controller is done), others at once; dependents by ``propagation``."""
        current = self.store.get(rtype, namespace, name)
        uid = current["metadata"]["uid"]
        if rtype.kind == "Pod":
            if grace is None:
                grace = int((current.get("spec") or {}).get("terminationGracePeriodSeconds", 30) or 0)
            marked = self.store.mark_deleting(rtype, namespace, name, grace)
            self.kubelet.wake()
            return marked or current
        if rtype.kind == "Namespace":
            if name in ("default", "kube-system", "kube-public"):
                raise ApiError(
                    403, f'namespaces "{name}" is forbidden: this namespace may not be deleted', reason="Forbidden"
                )

            def terminating(o: Obj) -> None:
                o.setdefault("status", {})["phase"] = "Terminating"

            self.store.mark_deleting(rtype, namespace, name, 0)
            self.store.mutate(rtype, namespace, name, terminating, status=True)
            for other, obj in self.store.all_objects():
                if other.namespaced and obj["metadata"].get("namespace") == name:
                    with contextlib.suppress(ApiError):
                        self.delete(other, name, obj["metadata"]["name"], "Background")
            self.controllers.wake()
            return self.store.find(rtype, namespace, name) or current
        if current["metadata"].get("finalizers"):  # stays, marked, until whoever set them removes them
            marked = self.store.mark_deleting(rtype, namespace, name, 0)
            self.controllers.wake()
            return marked or current
        # batch/v1 Jobs orphan their pods by default over the REST API (kubectl asks for Background)
        policy = propagation or ("Orphan" if rtype.kind == "Job" else "Background")
        dependents = self.dependents(uid)
        if policy == "Orphan":
            for dtype, dep in dependents:

                def strip(o: Obj, uid: str = uid) -> None:
                    refs = [r for r in o["metadata"].get("ownerReferences") or [] if r.get("uid") != uid]
                    if refs:
                        o["metadata"]["ownerReferences"] = refs
                    else:
                        o["metadata"].pop("ownerReferences", None)

                self.store.mutate(dtype, dep["metadata"].get("namespace", ""), dep["metadata"]["name"], strip)
        removed = self.store.remove(rtype, namespace, name)
        self.applier.forget(uid)
        if policy != "Orphan":
            for dtype, dep in dependents:
                with contextlib.suppress(ApiError):
                    self.delete(dtype, dep["metadata"].get("namespace", ""), dep["metadata"]["name"], policy)
        self.controllers.wake()
        return removed or current

    def dependents(self, uid: str) -> list[tuple[ResourceType, Obj]]:
        return [
            (rtype, obj)
            for rtype, obj in self.store.all_objects()
            if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])
        ]

    # --- REST --------------------------------------------------------------------------------------

    def serve(self, h: Handler, method: str, r: Route, query: dict[str, list[str]], body: bytes) -> None:
        from tests.kube_double import streams

        rtype = r.rtype
        ns = r.namespace or ""
        if r.sub in ("log", "exec", "portforward"):
            if r.sub == "log" and method == "GET":
                streams.serve_log(h, self, ns, r.name, query)
            elif r.sub in ("exec", "portforward") and method in ("GET", "POST"):
                if r.sub == "exec":
                    streams.serve_exec(h, self, ns, r.name, query)
                else:
                    streams.serve_portforward(h, self, ns, r.name, query)
            else:
                raise ApiError(405, f"{method} is not supported on pods/{r.sub}")
            return
        if r.sub == "status" and method not in ("GET",):
            raise ApiError(405, f"the API double serves {rtype.plural}/status read-only")
        if method == "GET":
            if r.name:
                h.send_json(200, self.store.get(rtype, ns, r.name))
                return
            selector = Selector.parse(_first(query, "labelSelector"), _first(query, "fieldSelector"))
            if _flag(query, "watch"):
                self.serve_watch(h, rtype, r.namespace if rtype.namespaced else None, selector, query)
                return
            items, rv = self.store.select(rtype, r.namespace if rtype.namespaced else None, selector)
            limit = int(_first(query, "limit", "0") or 0)
            meta: Obj = {"resourceVersion": rv}
            cont = _first(query, "continue")
            if cont:
                items = items[int(cont) :]
            if limit and len(items) > limit:
                offset = int(cont or 0) + limit
                meta["continue"] = str(offset)
                meta["remainingItemCount"] = len(items) - limit
                items = items[:limit]
            h.send_json(
                200, {"kind": f"{rtype.kind}List", "apiVersion": rtype.api_version, "metadata": meta, "items": items}
            )
            return
        if method == "POST":
            if r.name:
                raise ApiError(405, f"POST to a named {rtype.kind} is not allowed; POST to the collection")
            obj = A.parse_body(body, "application/json")
            obj = self.applier.check_identity(rtype, ns, "", obj)
            obj = copy.deepcopy(obj)
            obj.setdefault("metadata", {})
            obj.pop("status", None) if rtype.kind not in ("Namespace",) else None
            h.send_json(201, self.create(rtype, ns, obj))
            return
        if method == "PUT":
            if not r.name:
                raise ApiError(405, "PUT needs an object name")
            obj = self.applier.check_identity(rtype, ns, r.name, A.parse_body(body, "application/json"))
            obj = copy.deepcopy(obj)
            obj.setdefault("metadata", {})["name"] = r.name
            if rtype.namespaced:
                obj["metadata"]["namespace"] = ns
            with self.store.cond:
                current = self.store.get(rtype, ns, r.name)
                obj["metadata"].setdefault("uid", current["metadata"]["uid"])
                A.default(rtype, obj)
                A.validate(rtype, obj)
                A.check_immutable(rtype, current, obj)
                h.send_json(200, self.store.replace(rtype, ns, obj))
            return
        if method == "PATCH":
            ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if ctype not in A.PATCH_TYPES:
                raise ApiError(
                    415,
                    f"the body of the request was in an unknown format - accepted media types include: "
                    f"{', '.join(A.PATCH_TYPES)}",
                    reason="UnsupportedMediaType",
                )
            if not r.name:
                raise ApiError(405, "PATCH needs an object name")
            patch = A.parse_body(body, ctype)
            if ctype == A.APPLY_TYPE:
                obj, created = self.applier.apply(
                    rtype, ns, r.name, patch, _first(query, "fieldManager"), _flag(query, "force")
                )
                self.controllers.wake()
                h.send_json(201 if created else 200, obj)
                return
            with self.store.cond:
                current = self.store.get(rtype, ns, r.name)
                if ctype == A.MERGE_TYPE:
                    patched = A.merge_patch(current, patch)
                elif ctype == A.STRATEGIC_TYPE:
                    patched = A.strategic_merge(current, patch)
                else:
                    patched = A.json_patch(current, patch)
                if patched.get("metadata", {}).get("resourceVersion") == current["metadata"]["resourceVersion"]:
                    patched["metadata"].pop("resourceVersion", None)
                if not isinstance(patched, dict):
                    raise ApiError(400, "the patch did not produce an object")
                patched.setdefault("metadata", {})["name"] = r.name
                A.default(rtype, patched)
                A.validate(rtype, patched)
                A.check_immutable(rtype, current, patched)
                result = self.store.replace(rtype, ns, patched)
            self.controllers.wake()
            h.send_json(200, result)
            return
        if method == "DELETE":
            options: Obj = {}
            if body.strip():
                parsed = A.parse_body(body, "application/json")
                options = parsed if isinstance(parsed, dict) else {}
            propagation = _first(query, "propagationPolicy") or str(options.get("propagationPolicy") or "")
            grace_text = _first(query, "gracePeriodSeconds") or (
                str(options["gracePeriodSeconds"]) if options.get("gracePeriodSeconds") is not None else ""
            )
            grace = int(grace_text) if grace_text else None
            if r.name:
                deleted = self.delete(rtype, ns, r.name, propagation, grace)
                if rtype.kind == "Pod":
                    h.send_json(200, deleted)
                else:
                    h.send_json(200, self.success(rtype, deleted))
                return
            selector = Selector.parse(_first(query, "labelSelector"), _first(query, "fieldSelector"))
            items, _ = self.store.select(rtype, r.namespace if rtype.namespaced else None, selector)
            for item in items:
                with contextlib.suppress(ApiError):
                    self.delete(
                        rtype, item["metadata"].get("namespace", ""), item["metadata"]["name"], propagation, grace
                    )
            h.send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
            return
        raise ApiError(405, f"{method} is not supported")

    @staticmethod
    def success(rtype: ResourceType, obj: Obj) -> Obj:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": obj["metadata"]["name"],
                "group": rtype.group,
                "kind": rtype.plural,
                "uid": obj["metadata"].get("uid", ""),
            },
        }

    def serve_watch(
        self, h: Handler, rtype: ResourceType, namespace: str | None, selector: Selector, query: dict[str, list[str]]
    ) -> None:
        timeout = float(_first(query, "timeoutSeconds", "0") or 0) or 1800.0
        deadline = time.monotonic() + timeout
        rv_text = _first(query, "resourceVersion")
        initial: list[Obj] = []
        if rv_text in ("", "0"):
            initial, rv = self.store.select(rtype, namespace, selector)
            since = int(rv)
        else:
            try:
                since = int(rv_text)
            except ValueError as exc:
                raise ApiError(400, f"invalid resourceVersion {rv_text!r}") from exc
        self.store.check_since(since)  # 410 Gone before the headers are out
        events = self.store.watch(rtype, namespace, selector, since, deadline, h.connection_closed)
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()

        def chunk(data: bytes) -> None:
            h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            h.wfile.flush()

        try:
            for obj in initial:
                chunk(json.dumps({"type": "ADDED", "object": obj}).encode() + b"\n")
            for item in events:
                if item is not None:
                    etype, obj = item
                    chunk(json.dumps({"type": etype, "object": obj}).encode() + b"\n")
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            h.close_connection = True


def start_double(
    registry: str | None = "127.0.0.1:5001",
    *,
    docker_client: Any = None,
    verbose: bool = False,
    workdir: Path | None = None,
) -> KubeDouble:
    """Start a Kubernetes API double (see the module docstring); call ``stop()`` when done."""
    return KubeDouble(registry, docker_client=docker_client, verbose=verbose, workdir=workdir).start()
