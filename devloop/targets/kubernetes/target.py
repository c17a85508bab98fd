"""KubernetesTarget: the manifests deployed to a cluster through the official ``kubernetes`` client."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from devloop.config.labels import CREATED_BY as CREATED_BY_LABEL
from devloop.config.labels import MANAGED_BY as LABEL_MANAGED_BY
from devloop.config.labels import MANAGED_BY_VALUE
from devloop.config.labels import PROJECT as LABEL_PROJECT
from devloop.config.labels import RESOURCE as LABEL_RESOURCE
from devloop.config.labels import SUPERVISED as SUPERVISED_ANNOTATION
from devloop.config.model import Config, Project, Resource
from devloop.config.resources import image_name, label_value
from devloop.errors import DeployError, DevloopError, TargetUnavailableError
from devloop.exit_status import ExitStatus
from devloop.targets.base import (
    ContainerGoneError,
    ContainerRef,
    DeployRequest,
    DeployResult,
    FileCopy,
    LogLine,
    Phase,
    PortForwardHandle,
    RuntimeStatus,
    StopToken,
)
from devloop.targets.forwards import OpenForwards
from devloop.targets.kubernetes import live
from devloop.targets.kubernetes.apply import Applier, render
from devloop.targets.kubernetes.context import FrozenKubeconfig, PinnedContext, choose_namespace, pin_context
from devloop.targets.kubernetes.delivery import (
    Deliverer,
    Delivery,
    decide_delivery,
    no_delivery_error,
    parse_registry_hosting,
)
from devloop.targets.kubernetes.forward import KubePortForward, open_portforward
from devloop.targets.kubernetes.logs import LogFollower
from devloop.targets.kubernetes.rest import Kube, KubeError, ResourceInfo, is_connection_error, make_api_client
from devloop.targets.kubernetes.status import (
    Failure,
    current_pods,
    in_place_restarts,
    pod_ready,
    runtime_status,
    split_container_id,
)
from devloop.timestamps import epoch_seconds

DOWN_WAIT = 60.0
NAMESPACE_WAIT = 180.0  # a terminating namespace may take this long to go before deploying into it fails
NAMESPACE_NOTE = 5.0  # seconds between progress lines while waiting for it
EVENTS_TTL = 0.5  # a namespace's Warning events are listed at most this often
EXEC_TIMEOUT = 600.0


class KubernetesTarget:
    """The :class:`~devloop.targets.base.Target` for a Kubernetes cluster (thread-safe).

    Constructing it resolves and pins the context and refuses one that is neither local nor allowed
    (``ContextRefusedError``, exit 2) without opening any connection; the first connection is made by
    :meth:`prepare` (or any later call) and fails within seconds when the server does not answer.
    """

    name = "kubernetes"

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        config: Config,
        context: str | None = None,
        namespace: str | None = None,
    ) -> None:
        self._env = dict(env)
        self._config = config
        settings = config.kubernetes
        self.context: PinnedContext = pin_context(self._env, context or settings.context, settings.allow_contexts)
        self.namespace = choose_namespace(namespace, settings.namespace, self.context)
        self.kubeconfig = FrozenKubeconfig(self.context, self.namespace)
        self._lock = threading.RLock()
        self._kube: Kube | None = None
        self._applier: Applier | None = None
        self._namespaces: set[str] = set()
        self._deliverer: Deliverer | None = None
        self._delivered: dict[str, str] = {}  # deployed reference -> local reference
        self._image_configs: dict[str, tuple[list[str], list[str]]] = {}
        self._forwards = OpenForwards()
        self._closing = threading.Event()
        self._log_cache: dict[tuple[str, str, str, bool], tuple[str, ...]] = {}
        # container id -> (the kubelet's startedAt, when devloop restarted its process in place): see in_place_restarts
        self._in_place: dict[str, tuple[float, float]] = {}
        self._on_message: Callable[[str], None] = lambda text: None
        self._events: dict[str, tuple[float, list[dict[str, Any]]]] = {}  # namespace -> (when listed, events)

    # --- plumbing -----------------------------------------------------------------------------------

    @property
    def subprocess_env(self) -> dict[str, str]:
        """The environment for kind, k3d, helm, kustomize: KUBECONFIG frozen to the pinned context."""
        return self.kubeconfig.env(self._env)

    @property
    def kube(self) -> Kube:
        with self._lock:
            if self._kube is None:
                try:
                    api_client = make_api_client(str(self.kubeconfig.path), self.context.name)
                except Exception as exc:
                    raise TargetUnavailableError(
                        f"cannot use Kubernetes context `{self.context.name}`: {exc}; check the kubeconfig.",
                        exit_code=ExitStatus.USAGE,
                    ) from exc
                self._kube = Kube(api_client, self.context)
            return self._kube

    @property
    def applier(self) -> Applier:
        with self._lock:
            if self._applier is None:
                self._applier = Applier(self.kube, lambda ns: self.ensure_namespace(ns, recheck=True), self.namespace)
            return self._applier

    def _core_api(self) -> Any:
        """A CoreV1Api on a fresh ApiClient: ``kubernetes.stream`` patches the client it uses, so
        websocket calls never share one with other threads."""
        from kubernetes import client

        return client.CoreV1Api(client.ApiClient(self.kube.api_client.configuration))

    def set_message_sink(self, on_message: Callable[[str], None]) -> None:
        """Where progress lines that belong to no resource go (waiting for a namespace to terminate)."""
        self._on_message = on_message

    def ensure_namespace(self, namespace: str, project: str | None = None, *, recheck: bool = False) -> None:
        """Make sure ``namespace`` exists and takes new objects: created when missing; when it is terminating
        (``down --delete-namespaces`` just before), wait until it is gone (progress every few seconds), then
        create it. ``recheck``: ask the cluster even when this process saw it before."""
        with self._lock:
            if namespace in self._namespaces and not recheck:
                return
        kube = self.kube
        path = f"/api/v1/namespaces/{namespace}"
        started = time.monotonic()
        next_note = 0.0
        while True:
            live_ns = kube.get(path)
            if live_ns is None:
                self._create_namespace(namespace, project)
                break
            terminating = (live_ns.get("status") or {}).get("phase") == "Terminating" or (
                live_ns.get("metadata") or {}
            ).get("deletionTimestamp")
            if not terminating:
                break
            waited = time.monotonic() - started
            if waited > NAMESPACE_WAIT:
                raise DeployError(
                    f"namespace {namespace} is still terminating after {NAMESPACE_WAIT:.0f} s, so nothing can be "
                    f"deployed into it; see what holds it with `kubectl get namespace {namespace} -o yaml` "
                    "(finalizers, conditions), or deploy to another namespace with --namespace."
                )
            if waited >= next_note:
                next_note += NAMESPACE_NOTE
                self._on_message(
                    f"namespace {namespace} is terminating (its objects are being deleted): waiting for it to go "
                    f"before deploying into it ({waited:.0f} s)"
                )
            time.sleep(0.5)
        with self._lock:
            self._namespaces.add(namespace)

    def _create_namespace(self, namespace: str, project: str | None) -> None:
        labels = {LABEL_MANAGED_BY: MANAGED_BY_VALUE, CREATED_BY_LABEL: MANAGED_BY_VALUE}
        labels[LABEL_PROJECT] = label_value(project or self._config.name)
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}}
        try:
            self.kube.request("POST", "/api/v1/namespaces", body=body)
        except KubeError as exc:
            if exc.status != 409:
                raise DeployError(f"creating namespace {namespace} failed: {exc.message}") from exc

    # --- Target -------------------------------------------------------------------------------------

    def describe(self) -> str:
        return f"kubernetes context {self.context.name} at {self.context.server or '?'}, namespace {self.namespace}"

    def prepare(self, project: Project) -> None:
        self.kube.version()  # the first connection: an unreachable server fails here, fast
        self.ensure_namespace(self.namespace, project.name)
        if project.config.images:
            self._get_deliverer()

    def delivery(self) -> Delivery:
        return self._get_deliverer().delivery

    def _get_deliverer(self) -> Deliverer:
        with self._lock:
            if self._deliverer is not None:
                return self._deliverer
        hosting = None
        configured = self._config.kubernetes.registry
        decision = decide_delivery(self.context.name, env=self._env, configured_registry=configured, hosting=None)
        if decision.method not in ("shared", "registry"):
            try:
                cm = self.kube.get("/api/v1/namespaces/kube-public/configmaps/local-registry-hosting")
            except KubeError:
                cm = None
            hosting = parse_registry_hosting((cm or {}).get("data"))
            decision = decide_delivery(
                self.context.name, env=self._env, configured_registry=configured, hosting=hosting
            )
        if decision.method == "none":
            raise no_delivery_error(self.context.name)
        deliverer = Deliverer(decision, self.subprocess_env, self._env)
        with self._lock:
            if self._deliverer is None:
                self._deliverer = deliverer
            return self._deliverer

    def deliver(self, reference: str) -> str:
        deployed = self._get_deliverer().deliver(reference)
        with self._lock:
            self._delivered[deployed] = reference
        return deployed

    # --- apply --------------------------------------------------------------------------------------

    def _local_reference(self, image: str) -> str:
        with self._lock:
            return self._delivered.get(image, image)

    def _image_command(self, reference: str) -> tuple[list[str], list[str]]:
        """(ENTRYPOINT, CMD) of a locally built image, read from the local engine."""
        with self._lock:
            if reference in self._image_configs:
                return self._image_configs[reference]
        from devloop.dockerengine import connect

        try:
            client = connect(self._env, timeout=10)
            try:
                attrs = client.api.inspect_image(reference)
            finally:
                client.close()
        except Exception as exc:
            raise DeployError(
                f"live_update.restart needs the command of image {reference}, but the local Docker engine cannot "
                f"show it ({exc}); write `command:` for the container in the manifest."
            ) from exc
        config = attrs.get("Config") or {}
        found = (list(config.get("Entrypoint") or []), list(config.get("Cmd") or []))
        with self._lock:
            self._image_configs[reference] = found
        return found

    def _wrapper(self, config: Config) -> Callable[[dict[str, Any]], bool]:
        def wrap(container: dict[str, Any]) -> bool:
            image = container.get("image")
            if not isinstance(image, str):
                return False
            local = self._local_reference(image)
            spec = config.image(image_name(local)) or config.image(image_name(image))
            if spec is None or spec.live_update is None or not spec.live_update.restart:
                return False
            command = container.get("command")
            if isinstance(command, list) and live.is_supervised(command):
                return True
            entrypoint: list[str] = []
            cmd: list[str] = []
            if not (isinstance(command, list) and command):
                entrypoint, cmd = self._image_command(local)
            argv = live.original_argv(container, entrypoint, cmd)
            if not argv:
                raise DeployError(
                    f"live_update.restart of image {spec.ref}: container {container.get('name')} has no command "
                    "(none in the manifest, no ENTRYPOINT/CMD in the image); give it a `command:`."
                )
            container["command"] = live.supervised_command(argv)
            container.pop("args", None)
            return True

        return wrap

    def apply(self, request: DeployRequest) -> DeployResult:
        project, resource = request.project, request.resource
        self.ensure_namespace(self.namespace, project.name)
        applier = self.applier
        wrap = self._wrapper(project.config)
        rendered = []
        sources: dict[tuple[str, str, str, str], str] = {}
        for obj in request.objects:
            info = applier.info(obj.body)
            body = render(
                obj.body, namespace=self.namespace, namespaced=info.namespaced, project=project.name, wrap=wrap
            )
            meta = body.get("metadata") or {}
            sources[(obj.api_version, obj.kind, str(meta.get("namespace") or ""), obj.name)] = obj.source
            rendered.append(body)
        result = applier.apply_objects(project.name, resource.name, rendered, sources)
        changed = bool(result.changed or result.pruned)
        parts = []
        if result.changed:
            parts.append(f"applied {', '.join(result.changed)}")
        if result.pruned:
            parts.append(f"deleted {', '.join(result.pruned)}")
        return DeployResult(changed, "; ".join(parts) or "unchanged", tuple(result.warnings))

    def delete(self, project: Project, resource_name: str) -> None:
        self.applier.delete_resource(project.name, resource_name)

    # --- status -------------------------------------------------------------------------------------

    def _selector(self, project: str, resource: str | None = None) -> str:
        selector = f"{LABEL_PROJECT}={label_value(project)}"
        if resource is not None:
            selector += f",{LABEL_RESOURCE}={label_value(resource)}"
        return selector

    def _workload_namespace(self, resource: Resource) -> str:
        workload = resource.workload
        return (workload.namespace if workload is not None else None) or self.namespace

    def _pods(self, project: Project, resource: Resource) -> list[dict[str, Any]]:
        ns = self._workload_namespace(resource)
        return self.kube.list(f"/api/v1/namespaces/{ns}/pods", self._selector(project.name, resource.name))

    def _observe(
        self, project: Project, resource: Resource
    ) -> tuple[RuntimeStatus, Failure | None, list[dict[str, Any]]]:
        workload = resource.workload
        assert workload is not None
        kube = self.kube
        ns = self._workload_namespace(resource)
        info = kube.resource(workload.api_version, workload.kind)
        live_obj = kube.get(info.item(ns if info.namespaced else None, workload.name))
        if live_obj is None:
            self.applier.forget(project.name, resource.name)  # deleted behind our back: apply it again next time
            return RuntimeStatus(Phase.ABSENT, wanted_replicas=1, detail="not deployed"), None, []
        pods = self._pods(project, resource)
        replicasets: list[dict[str, Any]] = []
        if workload.kind in ("Deployment", "DaemonSet"):  # a DaemonSet's revisions are ControllerRevisions
            plural = "replicasets" if workload.kind == "Deployment" else "controllerrevisions"
            try:
                replicasets = kube.list(
                    f"/apis/apps/v1/namespaces/{ns}/{plural}", self._selector(project.name, resource.name)
                )
            except KubeError:
                if workload.kind == "Deployment":
                    raise  # without revisions a DaemonSet's pods all count (no access to ControllerRevisions)
        status, failure = runtime_status(
            workload.kind, live_obj, pods, replicasets, datetime.now(UTC), self._warnings(ns)
        )
        mine = current_pods(workload.kind, live_obj, pods, replicasets)
        return status, failure, mine

    def _warnings(self, namespace: str) -> list[dict[str, Any]]:
        """The namespace's Warning events (FailedCreate, FailedMount, ...), or none when they cannot be read.
        One listing serves every resource's status and log follower for :data:`EVENTS_TTL` seconds."""
        now = time.monotonic()
        with self._lock:
            cached = self._events.get(namespace)
        if cached is not None and now - cached[0] < EVENTS_TTL:
            return cached[1]
        try:
            events = self.kube.list(f"/api/v1/namespaces/{namespace}/events", fields="type=Warning")
        except KubeError:
            events = []
        with self._lock:
            self._events[namespace] = (now, events)
        return events

    def status(self, project: Project, resource: Resource) -> RuntimeStatus:
        if resource.workload is None:
            return RuntimeStatus(Phase.READY, detail="no workload")
        try:
            status, failure, _ = self._observe(project, resource)
        except TargetUnavailableError:
            return RuntimeStatus(
                Phase.PENDING, reason="the Kubernetes API server does not answer", detail="cluster unreachable"
            )
        if status.containers:
            with self._lock:
                status = dataclasses.replace(status, containers=in_place_restarts(status.containers, self._in_place))
        if failure is not None and failure.pod and failure.container:
            lines = self._last_logs(self._workload_namespace(resource), failure)
            if lines:
                status = RuntimeStatus(
                    status.phase,
                    reason=status.reason,
                    ready_replicas=status.ready_replicas,
                    wanted_replicas=status.wanted_replicas,
                    restarts=status.restarts,
                    containers=status.containers,
                    last_logs=lines,
                    detail=status.detail,
                )
        return status

    def _last_logs(self, namespace: str, failure: Failure) -> tuple[str, ...]:
        key = (namespace, failure.pod, failure.container, failure.previous)
        with self._lock:
            if key in self._log_cache:
                return self._log_cache[key]
        text = ""
        for previous in [True, False] if failure.previous else [False]:
            query: list[tuple[str, Any]] = [("container", failure.container), ("tailLines", 20)]
            if previous:
                query.append(("previous", "true"))
            try:
                text = self.kube.text(f"/api/v1/namespaces/{namespace}/pods/{failure.pod}/log", query, timeout=(3, 5))
            except (KubeError, DevloopError):
                continue
            if text.strip():
                break
        lines = tuple(text.splitlines()[-20:])
        with self._lock:
            if len(self._log_cache) > 256:
                self._log_cache.clear()
            if lines:
                self._log_cache[key] = lines
        return lines

    # --- logs ---------------------------------------------------------------------------------------

    def stream_logs(
        self, project: Project, resource: Resource, on_line: Callable[[LogLine], None], stop: StopToken
    ) -> None:
        if resource.workload is None:
            stop.wait(3600 * 24)
            return

        def pods() -> list[dict[str, Any]]:
            return [p for p in self._pods(project, resource) if not (p.get("metadata") or {}).get("deletionTimestamp")]

        namespace = self._workload_namespace(resource)
        workload = (resource.workload.kind, resource.workload.name)
        LogFollower(
            self.kube, resource.name, pods, on_line, stop, self._closing, lambda: self._warnings(namespace), workload
        ).run()

    # --- live update --------------------------------------------------------------------------------

    @staticmethod
    def _split(container: ContainerRef) -> tuple[str, str, str]:
        parts = split_container_id(container.id)
        if parts is None:
            raise ContainerGoneError(f"container id {container.id!r} is not namespace/pod/container")
        return parts

    def _exec(
        self, container: ContainerRef, argv: Sequence[str], on_line: Callable[[str], None], stdin: bytes | None = None
    ) -> tuple[int | None, str]:
        namespace, pod, name = self._split(container)
        try:
            stream = live.ExecStream.open(self._core_api(), namespace, pod, name, argv, stdin is not None)
        except Exception as exc:
            if is_connection_error(exc) and "Handshake" not in str(exc) and "404" not in str(exc):
                raise ContainerGoneError(f"the Kubernetes API server does not answer: {exc}") from exc
            raise ContainerGoneError(f"cannot exec in {container.name}: {getattr(exc, 'reason', None) or exc}") from exc
        try:
            if stdin is not None:
                stream.send(stdin)
                stream.close_stdin()
            return stream.run(on_line, timeout=EXEC_TIMEOUT)
        except ContainerGoneError:
            raise
        except Exception as exc:
            raise ContainerGoneError(f"exec in {container.name} broke off: {exc}") from exc
        finally:
            stream.close()

    def copy_files(self, container: ContainerRef, copies: Sequence[FileCopy], deletes: Sequence[str]) -> None:
        from devloop.targets.archives import UnsafePathError, build_archive, container_path

        uid, gid = _owner(container.user)
        try:
            paths = [container_path(p) for p in deletes]
            archive = build_archive(copies, uid, gid) if copies else b""
        except UnsafePathError as exc:
            raise DeployError(f"live update of {container.name}: {exc}") from exc
        if paths:
            out: list[str] = []
            code, message = self._exec(container, ["rm", "-rf", "--", *paths], out.append)
            if code is None:
                raise _missing_tool(container, "rm", message)
            if code != 0:
                raise ContainerGoneError(
                    f"could not delete files in {container.name} (`rm` exited with {code}: {' '.join(out)[-200:]})"
                )
        if archive:
            out = []
            code, message = self._exec(container, ["tar", "-x", "-f", "-", "-C", "/"], out.append, stdin=archive)
            if code is None:
                raise _missing_tool(container, "tar", message)
            if code != 0:
                raise DeployError(
                    f"copying files into {container.name} failed: `tar -x` exited with {code}: {' '.join(out)[-300:]}"
                )

    def exec(self, container: ContainerRef, argv: Sequence[str], on_line: Callable[[str], None]) -> int:
        code, message = self._exec(container, argv, on_line)
        if code is None:
            on_line(message)
            return 127 if live.not_found_message(message) else 126
        return code

    def restart(self, container: ContainerRef) -> None:
        namespace, pod_name, name = self._split(container)
        pod = self.kube.get(f"/api/v1/namespaces/{namespace}/pods/{pod_name}")
        if pod is None:
            raise ContainerGoneError(f"pod {pod_name} is gone")
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        supervised = str(annotations.get(SUPERVISED_ANNOTATION, "")).split(",")
        if (pod.get("spec") or {}).get("shareProcessNamespace"):
            raise DevloopError(
                f"live_update.restart cannot restart the process of {container.name} in place: its pod uses "
                "shareProcessNamespace, so devloop's supervisor is not PID 1; remove restart: true or "
                "shareProcessNamespace (see docs/kubernetes.md)."
            )
        if name not in supervised:  # deployed before restart: true was set: redeploy with the supervisor
            raise ContainerGoneError(f"container {container.name} does not run under devloop's restart supervisor")
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        started = epoch_seconds(
            next(
                (
                    str(((cs.get("state") or {}).get("running") or {}).get("startedAt") or "")
                    for cs in statuses
                    if isinstance(cs, dict) and cs.get("name") == name
                ),
                "",
            )
        )
        out: list[str] = []
        code, message = self._exec(container, live.RESTART_ARGV, out.append)
        if code is None:
            raise _missing_tool(container, "/bin/sh", message)
        if code != 0:
            raise ContainerGoneError(f"restarting the process in {container.name} failed: {' '.join(out) or message}")
        with self._lock:
            if len(self._in_place) > 1000:
                self._in_place.clear()
            self._in_place[container.id] = (started or 0.0, time.time())

    # --- port forwards ------------------------------------------------------------------------------

    def port_forward(
        self, project: Project, resource: Resource, local: int, remote: int, host: str = "127.0.0.1"
    ) -> PortForwardHandle:
        def resolve() -> tuple[str, str] | None:
            if resource.workload is None:
                return None
            _, _, mine = self._observe(project, resource)
            for pod in mine:
                if pod_ready(pod):
                    meta = pod.get("metadata") or {}
                    return str(meta.get("namespace") or self.namespace), str(meta.get("name"))
            return None

        forward = KubePortForward(
            resolve, open_portforward(self._core_api), local, remote, host, label=f"{resource.name} {local}:{remote}"
        )
        return self._forwards.add(forward)

    # --- teardown -----------------------------------------------------------------------------------

    def _project_namespaces(self, project_name: str) -> set[str]:
        spaces = {self.namespace} | self.applier.namespaces
        with contextlib.suppress(KubeError):
            for ns in self.kube.list("/api/v1/namespaces", f"{LABEL_PROJECT}={label_value(project_name)}"):
                spaces.add(str((ns.get("metadata") or {}).get("name")))
        return spaces

    def down(self, project_name: str, *, prune_images: bool = False, delete_namespaces: bool = False) -> list[str]:
        applier = self.applier
        selector = f"{LABEL_MANAGED_BY}={MANAGED_BY_VALUE},{LABEL_PROJECT}={label_value(project_name)}"
        namespaces = self._project_namespaces(project_name)
        removed: list[str] = []
        deleted: dict[tuple[str, str], ResourceInfo] = {}  # the kinds to wait for
        for info, item in applier.find(selector, namespaces, applier.down_infos()):
            meta = item.get("metadata") or {}
            if meta.get("ownerReferences"):
                continue
            if applier.delete_object(info, item):
                deleted[(info.api_version, info.kind)] = info
                where = f" in {meta.get('namespace')}" if info.namespaced else ""
                removed.append(f"{info.kind} {meta.get('name')}{where}")
        deadline = time.monotonic() + DOWN_WAIT
        pods_selector = f"{LABEL_PROJECT}={label_value(project_name)}"
        waiting = list(deleted.values())
        while time.monotonic() < deadline:
            left = [
                i
                for i in applier.find(selector, namespaces, waiting)
                if not (i[1].get("metadata") or {}).get("ownerReferences")
            ]
            pods = [
                p for ns in sorted(namespaces) for p in self._list_quiet(f"/api/v1/namespaces/{ns}/pods", pods_selector)
            ]
            if not left and not pods:
                break
            time.sleep(0.5)
        else:
            removed.append(
                f"(still terminating after {DOWN_WAIT:.0f} s; check with kubectl get pods -l {pods_selector})"
            )
        if delete_namespaces:
            created = f"{CREATED_BY_LABEL}={MANAGED_BY_VALUE},{LABEL_PROJECT}={label_value(project_name)}"
            for ns in self._list_quiet("/api/v1/namespaces", created):
                name = str((ns.get("metadata") or {}).get("name"))
                try:
                    self.kube.request("DELETE", f"/api/v1/namespaces/{name}")
                    removed.append(f"namespace {name}")
                except KubeError as exc:
                    if exc.status != 404:
                        raise DeployError(f"deleting namespace {name} failed: {exc.message}") from exc
                with self._lock:
                    self._namespaces.discard(name)
        if prune_images:
            from devloop.build.images import prune_local_images

            removed += prune_local_images(self._env, project_name)
        applier_forget_all(applier)
        return removed

    def _list_quiet(self, path: str, selector: str) -> list[dict[str, Any]]:
        try:
            return self.kube.list(path, selector)
        except KubeError:
            return []

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            deliverer, self._deliverer = self._deliverer, None
            kube, self._kube = self._kube, None
        self._forwards.close_all()
        if deliverer is not None:
            deliverer.close()
        if kube is not None:
            with contextlib.suppress(Exception):
                kube.api_client.close()
        self.kubeconfig.close()


def _owner(user: str | None) -> tuple[int, int]:
    name, _, group = (user or "").partition(":")
    uid = int(name) if name.isdigit() else 0
    gid = int(group) if group.isdigit() else uid if name.isdigit() and not group else 0
    return uid, gid


def _missing_tool(container: ContainerRef, tool: str, message: str) -> DevloopError:
    return DevloopError(
        f"live update of {container.name} needs `{tool}` in the image, but it could not be run "
        f"({message.strip()[:200]}); "
        f'add {tool} to the image (see docs/kubernetes.md, "Live update"), or remove live_update for it.'
    )


def applier_forget_all(applier: Applier) -> None:
    with applier._lock:
        applier._hashes.clear()
        applier._applied.clear()


__all__ = ["KubernetesTarget"]
