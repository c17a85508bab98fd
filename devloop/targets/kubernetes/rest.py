"""A small generic REST layer over the official ``kubernetes`` client's ApiClient.

devloop applies arbitrary kinds, so it talks paths rather than typed API classes: discovery maps
(apiVersion, kind) to (plural, namespaced); requests go through ``ApiClient.param_serialize`` (auth,
exec plugins, token refresh) and its urllib3 pool with short connect timeouts. A server that does not
answer becomes :class:`TargetUnavailableError` naming the context and the server, within seconds.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from devloop.errors import TargetUnavailableError
from devloop.targets.kubernetes.context import PinnedContext

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 30.0


class KubeError(Exception):
    """A non-2xx answer of the API server."""

    def __init__(self, status: int, reason: str, message: str, body: dict[str, Any] | None = None) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}
        super().__init__(f"{status} {reason}: {message}")


@dataclass(frozen=True)
class ResourceInfo:
    api_version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def prefix(self) -> str:
        return f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"

    def collection(self, namespace: str | None) -> str:
        if self.namespaced and namespace:
            return f"{self.prefix}/namespaces/{quote(namespace, safe='')}/{self.plural}"
        return f"{self.prefix}/{self.plural}"

    def item(self, namespace: str | None, name: str) -> str:
        return f"{self.collection(namespace)}/{quote(name, safe='')}"


#: Kinds devloop may need before (or without) discovery: (apiVersion, kind) -> (plural, namespaced).
KNOWN: dict[tuple[str, str], tuple[str, bool]] = {
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "Pod"): ("pods", True),
    ("v1", "Service"): ("services", True),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "Secret"): ("secrets", True),
    ("v1", "PersistentVolumeClaim"): ("persistentvolumeclaims", True),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("v1", "PersistentVolume"): ("persistentvolumes", False),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("apps/v1", "StatefulSet"): ("statefulsets", True),
    ("apps/v1", "DaemonSet"): ("daemonsets", True),
    ("apps/v1", "ReplicaSet"): ("replicasets", True),
    ("batch/v1", "Job"): ("jobs", True),
    ("batch/v1", "CronJob"): ("cronjobs", True),
    ("networking.k8s.io/v1", "Ingress"): ("ingresses", True),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networkpolicies", True),
    ("rbac.authorization.k8s.io/v1", "Role"): ("roles", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rolebindings", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ("clusterroles", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ("clusterrolebindings", False),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): ("horizontalpodautoscalers", True),
    ("policy/v1", "PodDisruptionBudget"): ("poddisruptionbudgets", True),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): ("customresourcedefinitions", False),
}


#: How long `down` may spend on API discovery (every group version's resource list) before using what it has.
DISCOVERY_BUDGET = 10.0
#: Kinds discovery never searches by label: events (never applied by devloop; many, and not labelled) and
#: namespaces (handled on their own: only with --delete-namespaces, only those devloop created).
DISCOVERY_SKIP: frozenset[tuple[str, str]] = frozenset(
    {("v1", "Event"), ("events.k8s.io/v1", "Event"), ("v1", "Namespace")}
)


def preferred_group_versions(group_list: Mapping[str, Any]) -> list[str]:
    """The preferred ``group/version`` of every group of an ``APIGroupList`` (``GET /apis``), in its order."""
    out: list[str] = []
    for group in group_list.get("groups") or []:
        if not isinstance(group, dict):
            continue
        preferred = (group.get("preferredVersion") or {}).get("groupVersion")
        if not preferred:
            versions = [v for v in group.get("versions") or [] if isinstance(v, dict) and v.get("groupVersion")]
            preferred = versions[0]["groupVersion"] if versions else None
        if preferred and str(preferred) not in out:
            out.append(str(preferred))
    return out


def deletable_kinds(resource_list: Mapping[str, Any], *, namespaced_only: bool = True) -> list[ResourceInfo]:
    """The kinds of an ``APIResourceList`` (``GET /api/v1``, ``GET /apis/G/V``) that can be listed and deleted
    (namespaced ones only, unless ``namespaced_only`` is False); subresources and :data:`DISCOVERY_SKIP` left out."""
    group_version = str(resource_list.get("groupVersion") or "")
    out: list[ResourceInfo] = []
    for res in resource_list.get("resources") or []:
        if not isinstance(res, dict):
            continue
        name, kind = str(res.get("name") or ""), str(res.get("kind") or "")
        verbs = set(res.get("verbs") or [])
        if not name or not kind or "/" in name or not {"list", "delete"} <= verbs:
            continue
        if (group_version, kind) in DISCOVERY_SKIP:
            continue
        namespaced = bool(res.get("namespaced"))
        if namespaced_only and not namespaced:
            continue
        out.append(ResourceInfo(group_version, kind, name, namespaced))
    return out


def make_api_client(kubeconfig: str, context: str) -> Any:
    """A ``kubernetes.client.ApiClient`` for ``context`` of the (frozen) kubeconfig file; no connection yet."""
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, context=context, client_configuration=configuration, persist_config=False
    )
    configuration.retries = False  # one clear error fast, rather than silent retries on a dead server
    return client.ApiClient(configuration)


def is_connection_error(exc: BaseException) -> bool:
    import urllib3

    if isinstance(
        exc,
        urllib3.exceptions.MaxRetryError
        | urllib3.exceptions.NewConnectionError
        | urllib3.exceptions.ConnectTimeoutError
        | urllib3.exceptions.ProtocolError
        | urllib3.exceptions.ReadTimeoutError
        | ConnectionError
        | TimeoutError,
    ):
        return True
    return type(exc).__name__ == "ApiException" and getattr(exc, "status", None) == 0


class Kube:
    """Thread-safe generic client for one pinned context."""

    def __init__(self, api_client: Any, context: PinnedContext) -> None:
        self.api_client = api_client
        self.context = context
        self._lock = threading.Lock()
        self._resources: dict[tuple[str, str], ResourceInfo] = {}
        self._discovered: set[str] = set()

    def unavailable(self, cause: BaseException | str) -> TargetUnavailableError:
        detail = cause if isinstance(cause, str) else type(cause).__name__
        return TargetUnavailableError(
            f"the Kubernetes API server of context `{self.context.name}` at {self.context.server or '?'} "
            f"does not answer ({detail}); start the cluster, or pick another context with --context."
        )

    # --- raw requests -------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, Any]] = (),
        body: Any = None,
        content_type: str | None = None,
        timeout: Any = None,
        stream: bool = False,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        payload: Any = None
        if body is not None:
            # JSON content types: the client's REST layer serialises the object itself; other types
            # (apply-patch+yaml) are sent as the string given
            headers.setdefault("Content-Type", "application/json")
            payload = (
                body if isinstance(body, str | bytes) or headers["Content-Type"].endswith("json") else json.dumps(body)
            )
        _, url, header_params, _, _ = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=list(query),
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api_client.rest_client.request(
                method,
                url,
                headers=header_params,
                body=payload,
                _request_timeout=timeout or (CONNECT_TIMEOUT, READ_TIMEOUT),
            )
        except Exception as exc:
            if is_connection_error(exc):
                raise self.unavailable(exc) from exc
            raise
        if response.status >= 400:
            data = response.read()
            try:
                parsed = json.loads(data) if data else {}
            except ValueError:
                parsed = {}
            parsed = parsed if isinstance(parsed, dict) else {}
            message = str(parsed.get("message") or (data or b"").decode(errors="replace")[:300] or response.reason)
            raise KubeError(response.status, str(parsed.get("reason") or response.reason or ""), message, parsed)
        if stream:
            return response.response
        return response

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, Any]] = (),
        body: Any = None,
        content_type: str | None = None,
        timeout: Any = None,
    ) -> dict[str, Any]:
        response = self._send(method, path, query=query, body=body, content_type=content_type, timeout=timeout)
        data = response.read()
        if not data:
            return {}
        try:
            parsed = json.loads(data)
        except ValueError:
            return {"raw": data.decode(errors="replace")}
        return parsed if isinstance(parsed, dict) else {"items": parsed}

    def text(self, path: str, query: Sequence[tuple[str, Any]] = (), timeout: Any = None) -> str:
        response = self._send("GET", path, query=query, timeout=timeout)
        return bytes(response.read() or b"").decode(errors="replace")

    def stream(self, path: str, query: Sequence[tuple[str, Any]] = ()) -> Any:
        """A streaming urllib3 response (logs with follow); the caller closes it."""
        return self._send("GET", path, query=query, timeout=(CONNECT_TIMEOUT, None), stream=True)

    def get(self, path: str) -> dict[str, Any] | None:
        try:
            return self.request("GET", path)
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, path: str, selector: str | None = None, fields: str | None = None) -> list[dict[str, Any]]:
        query = [("labelSelector", selector)] if selector else []
        if fields:
            query.append(("fieldSelector", fields))
        items = self.request("GET", path, query=query).get("items") or []
        return [i for i in items if isinstance(i, dict)]

    def version(self) -> dict[str, Any]:
        return self.request("GET", "/version", timeout=(CONNECT_TIMEOUT, 5.0))

    # --- discovery ----------------------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> ResourceInfo:
        """Plural and scope of a kind (built-in table, else discovery of its group version)."""
        key = (api_version, kind)
        with self._lock:
            found = self._resources.get(key)
        if found is not None:
            return found
        if key in KNOWN:
            plural, namespaced = KNOWN[key]
            info = ResourceInfo(api_version, kind, plural, namespaced)
        else:
            info = self._discover(api_version, kind)
        with self._lock:
            self._resources[key] = info
        return info

    def _discover(self, api_version: str, kind: str) -> ResourceInfo:
        path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        try:
            data = self.request("GET", path)
        except KubeError as exc:
            raise KubeError(
                404, "NotFound", f"the cluster does not serve {api_version} (kind {kind}); is its CRD installed?"
            ) from exc
        for res in data.get("resources") or []:
            if isinstance(res, dict) and res.get("kind") == kind and "/" not in str(res.get("name", "")):
                return ResourceInfo(api_version, kind, str(res["name"]), bool(res.get("namespaced")))
        raise KubeError(
            404, "NotFound", f"the cluster does not know kind {kind} in {api_version}; is its CRD installed?"
        )

    def deletable_kinds(self, budget: float = DISCOVERY_BUDGET) -> tuple[ResourceInfo, ...]:
        """Every namespaced kind the cluster serves that can be listed and deleted (preferred version of each
        group), by API discovery. Group versions that answer with an error or do not answer (a broken
        aggregated API) are skipped; after ``budget`` seconds the rest are skipped too. A core API (``/api/v1``)
        that does not answer raises :class:`TargetUnavailableError`."""
        deadline = time.monotonic() + budget
        found: dict[tuple[str, str], ResourceInfo] = {}
        try:
            group_versions = [
                "v1",
                *preferred_group_versions(self.request("GET", "/apis", timeout=(CONNECT_TIMEOUT, 5.0))),
            ]
        except KubeError:
            group_versions = ["v1"]
        for gv in group_versions:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            path = "/api/v1" if gv == "v1" else f"/apis/{gv}"
            try:
                document = self.request("GET", path, timeout=(min(CONNECT_TIMEOUT, left), min(5.0, left)))
            except KubeError:
                continue
            except TargetUnavailableError:
                if gv == "v1":
                    raise
                continue
            for info in deletable_kinds(document):
                with self._lock:
                    self._resources.setdefault((info.api_version, info.kind), info)
                found[(info.api_version, info.kind)] = info
        return tuple(found.values())

    def forget(self, api_version: str, kind: str) -> None:
        with self._lock:
            self._resources.pop((api_version, kind), None)


def iter_lines(response: Any) -> Iterator[bytes]:
    """Lines of a streaming urllib3 response, as they arrive."""
    buffer = b""
    while True:
        chunk = response.read1(65536) if hasattr(response, "read1") else response.read(4096)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line
    if buffer:
        yield buffer
