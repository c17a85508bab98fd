"""DockerTarget: the manifests' workloads run as containers on the local Docker engine."""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import io
import logging
import os
import tarfile
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from devloop.config.model import ManifestObject, Project, Resource
from devloop.config.podtemplate import JOB_KINDS, wanted_replicas
from devloop.dockerengine import connect, engine_call, is_connection_error
from devloop.engine.clock import Clock, MonotonicClock
from devloop.errors import DeployError
from devloop.targets.archives import (
    UnsafePathError,
    container_path,
    parse_group,
    parse_passwd,
    plan_archive,
    stream_archive,
)
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
from devloop.targets.docker import labels as L
from devloop.targets.docker.forward import PortForward, Upstream
from devloop.targets.docker.logs import follow_logs
from devloop.targets.docker.observed import group_pods, labels_of, pods_of
from devloop.targets.docker.pause import ensure_pause_image
from devloop.targets.docker.pods import ignored_objects, plan_resource
from devloop.targets.docker.podspec.plans import PodPlan
from devloop.targets.docker.process import ignores_sigterm, local_pid
from devloop.targets.docker.runtime import ProjectRuntime
from devloop.targets.forwards import OpenForwards

log = logging.getLogger("devloop.docker")

#: seconds between two attempts to re-create pods that lost a container behind devloop's back
RECONCILE_EVERY = 5.0
#: passes of `down` over the project's containers, volumes and networks (an `up` may be creating meanwhile)
DOWN_ROUNDS = 5


class DockerTarget:
    """The :class:`~devloop.targets.base.Target` for the local Docker engine (thread-safe)."""

    name = "docker"
    namespace: str | None = None  # containers have no namespace

    def __init__(
        self, client: Any | None = None, env: Mapping[str, str] | None = None, *, clock: Clock | None = None
    ) -> None:
        self._client = client
        self._clock: Clock = clock or MonotonicClock()
        self._own_client = client is None  # a client passed in is the caller's to close
        self._env = env
        self._lock = threading.RLock()
        self._runtimes: dict[str, ProjectRuntime] = {}
        self._pause: str | None = None
        self._description: str | None = None
        self._forwards = OpenForwards()
        self._closing = threading.Event()
        self._owners: dict[str, tuple[int, int]] = {}
        self._last_requests: dict[tuple[str, str], DeployRequest] = {}
        self._reconciled: dict[tuple[str, str], float] = {}
        self._reconcilers: list[threading.Thread] = []
        self._notes: dict[tuple[str, str], list[str]] = {}  # (project, resource) -> problems to tell the user

    # --- plumbing ----------------------------------------------------------------------------------

    def set_message_sink(self, on_message: Callable[[str], None]) -> None:
        """Nothing to report outside a resource."""

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = connect(self._env)
            return self._client

    @property
    def api(self) -> Any:
        return self.client.api

    def _runtime(self, project: Project, *, supervise: bool = False) -> ProjectRuntime:
        """The project's runtime; ``supervise`` starts its supervisor (deploys and `up` do, reads never do)."""
        name = project.name
        with self._lock:
            rt = self._runtimes.get(name)
            if rt is None:
                rt = self._runtimes[name] = ProjectRuntime(
                    self.api,
                    name,
                    project.config.docker_network,
                    clock=self._clock,
                    after_tick=lambda: self._reconcile(name),
                )
            if supervise and not self._closing.is_set():
                rt.start()
            return rt

    def _ensure_network(self, project: Project, *, create: bool = True) -> bool:
        """Make sure the project network exists (checked on every call: it may have been removed behind
        devloop's back, and a deploy must then create it again). False when it is missing and ``create`` is off."""
        network = project.config.docker_network
        with self._lock, engine_call(f"creating docker network {network}"):
            found = [n for n in self.api.networks(names=[network]) if n.get("Name") == network]
            if not found:
                if not create:
                    return False
                self.api.create_network(
                    network, driver="bridge", labels=L.base_labels(project.name), check_duplicate=True
                )
            return True

    def _pause_image(self) -> str:
        with self._lock:
            if self._pause is None:
                with engine_call("importing the pod sandbox image devloop/pause"):
                    self._pause = ensure_pause_image(self.api)
            return self._pause

    # --- Target ------------------------------------------------------------------------------------

    def describe(self) -> str:
        if self._description is None:  # asked by the command's first line and by the engine's snapshot
            with engine_call("asking the Docker engine for its version"):
                version = self.client.version()
            number = str(version.get("Version", "?")).split("+")[0]  # "20.10.24+dfsg1" -> "20.10.24"
            env = self._env if self._env is not None else os.environ
            where = env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
            self._description = f"docker {number} ({where})"
        return self._description

    def prepare(self, project: Project) -> None:
        self._ensure_network(project)
        self._pause_image()
        self._runtime(project, supervise=True)

    def deliver(self, reference: str) -> str:
        return reference

    def apply(self, request: DeployRequest) -> DeployResult:
        return self._apply(request)

    def _apply(self, request: DeployRequest, *, background: bool = False) -> DeployResult:
        """``background``: a re-creation devloop decided on its own (see _reconcile_if_incomplete); it does not
        bring back a project whose network is gone (`devloop down` ran, or someone removed it all by hand)."""
        project, resource = request.project, request.resource
        key = (project.name, resource.name)
        workload = _workload(request)
        warnings = ignored_objects(resource.name, request.objects)
        if workload is None:
            return DeployResult(False, "nothing to run on docker", tuple(warnings))
        namespace = project.config.kubernetes.namespace or "default"
        plan = plan_resource(resource.name, workload, request.all_objects, default_namespace=namespace)
        warnings += plan.warnings
        if not self._ensure_network(project, create=not background):
            return DeployResult(False, "the project network is gone: not re-created in the background", tuple(warnings))
        pause = self._pause_image()
        rt = self._runtime(project, supervise=True)
        resource_labels = L.base_labels(project.name, resource.name)
        with engine_call(f"deploying resource {resource.name}"), rt.lock:
            with self._lock:
                if background and self._last_requests.get(key) is not request:
                    return DeployResult(False, "superseded by a newer deploy", tuple(warnings))
            try:
                existing = self.api.containers(
                    all=True, filters={"label": L.container_filter(project.name, resource.name)}
                )
                doomed, fresh = _pods_to_replace(existing, plan, request.stale)
                at_once = _may_overlap(plan, workload, doomed, fresh)

                def create(index: int) -> None:
                    rt.create_pod(plan, index, pause, resource_labels)

                removed = _replace_pods(rt, doomed, fresh, create, at_once)
                created = len(fresh)
                if created:
                    rt.tick()
            finally:  # only from now on may the supervisor re-create this resource's pods from it (_reconcile)
                with self._lock:
                    self._last_requests[key] = request
        rt.wake()
        kept = {s["Id"] for s in existing} - {s["Id"] for s in doomed}
        gone = tuple(sorted(cid for cid in request.stale if cid not in kept))
        if not doomed and not created:
            return DeployResult(False, "unchanged", tuple(warnings), replaced=gone)
        replaced = len([r for r in removed if r.startswith("container")])
        parts = [f"created {created} pod{'s' if created != 1 else ''}"] if created else []
        if doomed:
            old = len({labels_of(s).get(L.POD) for s in doomed})
            parts.append(f"removed {old} pod{'s' if old != 1 else ''} ({replaced} containers)")
        return DeployResult(True, ", ".join(parts), tuple(warnings), replaced=gone)

    def delete(self, project: Project, resource_name: str) -> None:
        with self._lock:
            self._last_requests.pop((project.name, resource_name), None)
        rt = self._runtime(project)
        with engine_call(f"deleting resource {resource_name}"), rt.lock:
            existing = self.api.containers(all=True, filters={"label": L.container_filter(project.name, resource_name)})
            rt.remove(existing)

    def status(self, project: Project, resource: Resource) -> RuntimeStatus:
        """What runs of the resource, read from the engine and the supervisor's records: starts nothing."""
        workload = resource.workload
        wanted = wanted_replicas(workload)
        if workload is None:
            return RuntimeStatus(Phase.READY, detail="no workload")
        try:
            status = self._runtime(project).status(resource.name, wanted, workload.kind)
        except Exception as exc:
            if is_connection_error(exc) or type(exc).__name__ == "TargetUnavailableError":
                return RuntimeStatus(
                    Phase.PENDING,
                    wanted_replicas=wanted,
                    reason="the Docker engine does not answer",
                    detail="engine unreachable",
                )
            raise
        with self._lock:
            notes = tuple(self._notes.get((project.name, resource.name), ()))
        return dataclasses.replace(status, notes=notes) if notes else status

    def _reconcile(self, project_name: str) -> None:
        """After each pass of a project's supervisor: re-create the pods its resources lost."""
        with self._lock:
            rt = self._runtimes.get(project_name)
            requests = [r for (p, _), r in self._last_requests.items() if p == project_name]
        for request in requests:
            if rt is None or self._closing.is_set():
                return
            self._reconcile_if_incomplete(request, rt)

    def _reconcile_if_incomplete(self, request: DeployRequest, rt: ProjectRuntime) -> None:
        """Like a ReplicaSet: a pod that lost its sandbox or an app container (removed behind devloop's back)
        is re-created from the last deploy of the resource, at most every few seconds, in the background."""
        from devloop.config.podtemplate import containers

        resource = request.resource
        workload = resource.workload
        key = (request.project.name, resource.name)
        now = self._clock.monotonic()
        if workload is None or workload.kind in JOB_KINDS or now - self._reconciled.get(key, 0.0) < RECONCILE_EVERY:
            return
        wanted = wanted_replicas(workload)
        apps = len(containers(workload, init=False, ephemeral=False))
        pods = pods_of(rt.snapshot(), resource.name)
        if sum(1 for pod in pods if pod.sandbox is not None and len(pod.apps) == apps) >= wanted:
            return
        if rt.status(resource.name, wanted, workload.kind).phase not in (Phase.ABSENT, Phase.PENDING, Phase.RUNNING):
            return
        self._reconciled[key] = now

        def work() -> None:
            try:
                self._apply(request, background=True)
            except Exception as exc:  # reported by the next status; never kill the supervisor
                log.debug("re-creating pods of %s failed: %s", resource.name, exc)

        thread = threading.Thread(target=work, name=f"devloop-reconcile-{resource.name}", daemon=True)
        with self._lock:
            self._reconcilers = [t for t in self._reconcilers if t.is_alive()] + [thread]
        thread.start()

    def stream_logs(
        self, project: Project, resource: Resource, on_line: Callable[[LogLine], None], stop: StopToken
    ) -> None:
        follow_logs(self._runtime(project), resource.name, on_line, stop, self._closing)

    # --- live update -------------------------------------------------------------------------------

    def _owner(self, container: ContainerRef) -> tuple[int, int]:
        user = (container.user or "").strip()
        if not user or user in ("root", "0", "0:0"):
            return 0, 0
        key = f"{container.id}:{user}"
        if key in self._owners:
            return self._owners[key]
        name, _, group = user.partition(":")
        passwd = self._read_file(container.id, "/etc/passwd") if not (name.isdigit() and group.isdigit()) else ""
        uid: int | None
        gid: int | None = int(group) if group.isdigit() else None
        if name.isdigit():
            uid = int(name)
            if gid is None and not group:
                for line in passwd.splitlines():
                    parts = line.split(":")
                    if len(parts) >= 4 and parts[2] == name and parts[3].isdigit():
                        gid = int(parts[3])
                        break
        else:
            found = parse_passwd(passwd, name)
            uid = found[0] if found else None
            if gid is None and not group and found:
                gid = found[1]
        if group and gid is None:
            gid = parse_group(self._read_file(container.id, "/etc/group"), group)
        if uid is None:
            raise ContainerGoneError(f"user {user!r} of container {container.name} is not in its /etc/passwd")
        owner = (uid, gid if gid is not None else 0)
        self._owners[key] = owner
        return owner

    def _read_file(self, cid: str, path: str) -> str:
        try:
            stream, _ = self.api.get_archive(cid, path)
            data = b"".join(stream)
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                member = tar.next()
                fh = tar.extractfile(member) if member is not None else None
                return fh.read().decode(errors="replace") if fh is not None else ""
        except Exception:
            return ""

    def copy_files(self, container: ContainerRef, copies: Sequence[FileCopy], deletes: Sequence[str]) -> None:
        import docker.errors

        try:
            paths = [container_path(p) for p in deletes]
            uid, gid = self._owner(container)
            members = plan_archive(copies) if copies else []
        except UnsafePathError as exc:
            raise DeployError(f"live update of {container.name}: {exc}") from exc
        try:
            if paths:
                lines: list[str] = []
                code = self.exec(container, ["rm", "-rf", "--", *paths], lines.append)
                if code != 0:
                    raise ContainerGoneError(
                        f"could not delete files in {container.name} (`rm` exited with {code}: "
                        f"{' '.join(lines)[-200:]}); deletes need `rm` in the image"
                    )
            if members:  # streamed: memory stays bounded whatever the file sizes
                self.api.put_archive(container.id, "/", stream_archive(members, uid, gid))
        except docker.errors.APIError as exc:
            if is_connection_error(exc):
                raise ContainerGoneError(f"the Docker engine does not answer: {exc}") from exc
            raise ContainerGoneError(
                f"could not copy files into {container.name}: {getattr(exc, 'explanation', None) or exc}"
            ) from exc

    def exec(self, container: ContainerRef, argv: Sequence[str], on_line: Callable[[str], None]) -> int:
        import docker.errors

        try:
            exec_id = self.api.exec_create(container.id, list(argv), stdout=True, stderr=True)["Id"]
            buffer = b""
            for chunk in self.api.exec_start(exec_id, stream=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    on_line(line.decode(errors="replace").rstrip("\r"))
            if buffer:
                on_line(buffer.decode(errors="replace"))
            code = self.api.exec_inspect(exec_id).get("ExitCode")
        except docker.errors.APIError as exc:
            raise ContainerGoneError(
                f"could not run {' '.join(argv)} in {container.name}: {getattr(exc, 'explanation', None) or exc}"
            ) from exc
        return int(code) if code is not None else 126

    def restart(self, container: ContainerRef) -> None:
        import docker.errors

        rt = self._runtime_of(container.id)
        try:
            attrs = self.api.inspect_container(container.id)
            grace = float(((attrs.get("Config") or {}).get("Labels") or {}).get(L.GRACE, "2") or 2)
            if rt is not None:
                rt.mark_busy(container.id, True)
            if ignores_sigterm(self.api, container.id):
                grace = 0  # SIGTERM cannot stop it: do not wait for nothing
            try:
                self.api.restart(container.id, timeout=int(grace + 0.999))
            finally:
                if rt is not None:
                    rt.mark_busy(container.id, False)
                    rt.wake()
        except docker.errors.APIError as exc:
            raise ContainerGoneError(
                f"could not restart {container.name}: {getattr(exc, 'explanation', None) or exc}"
            ) from exc

    def _runtime_of(self, cid: str) -> ProjectRuntime | None:
        with contextlib.suppress(Exception):
            attrs = self.api.inspect_container(cid)
            project = ((attrs.get("Config") or {}).get("Labels") or {}).get(L.PROJECT)
            with self._lock:
                return self._runtimes.get(project or "")
        return None

    # --- port forwards -----------------------------------------------------------------------------

    def port_forward(
        self, project: Project, resource: Resource, local: int, remote: int, host: str = "127.0.0.1"
    ) -> PortForwardHandle:
        rt = self._runtime(project)

        def resolve() -> Upstream | None:
            for pod, ip in rt.ready_pods(resource.name):
                if ip and pod.sandbox is not None:
                    pid = None
                    with contextlib.suppress(Exception):
                        pid = local_pid(rt.inspect(pod.sandbox["Id"]))
                    return Upstream(ip, remote, pod.name, pid)
            return None

        told: list[str] = []  # this forward's note: a later, more precise one replaces it

        def on_problem(message: str) -> None:
            with self._lock:
                notes = self._notes.setdefault((project.name, resource.name), [])
                for old in told:
                    if old in notes:
                        notes.remove(old)
                told[:] = [message]
                if message not in notes:
                    notes.append(message)

        forward = PortForward(resolve, local, host, label=f"{resource.name} {local}:{remote}", on_problem=on_problem)
        return self._forwards.add(forward)

    # --- teardown ----------------------------------------------------------------------------------

    def down(self, project_name: str, *, prune_images: bool = False, delete_namespaces: bool = False) -> list[str]:
        import docker.errors

        with self._lock:
            for key in [k for k in self._last_requests if k[0] == project_name]:
                self._last_requests.pop(key, None)
        with self._lock:
            rt = self._runtimes.pop(project_name, None)
        if rt is not None:
            rt.close()
        api = self.api
        removed: list[str] = []
        flt = {"label": L.project_filter(project_name)}
        with engine_call(f"removing project {project_name}"):
            helper = ProjectRuntime(api, project_name, "")
            # A running `up` of the project may be creating a pod meanwhile (it re-creates pods that lost a
            # container, until the network is gone): go round until nothing of the project is left.
            for _ in range(DOWN_ROUNDS):
                removed += helper.remove(api.containers(all=True, filters={"label": L.container_filter(project_name)}))
                for vol in (api.volumes(filters=flt) or {}).get("Volumes") or []:
                    with contextlib.suppress(docker.errors.NotFound):
                        api.remove_volume(vol["Name"], force=True)
                        removed.append(f"volume {vol['Name']}")
                busy = False
                for net in api.networks(filters=flt):
                    try:
                        api.remove_network(net["Id"])
                        removed.append(f"network {net['Name']}")
                    except docker.errors.NotFound:
                        pass
                    except docker.errors.APIError as exc:
                        if is_connection_error(exc):
                            raise
                        busy = True  # a container joined it meanwhile: next round
                left = api.containers(all=True, filters={"label": L.container_filter(project_name)})
                if not busy and not left:
                    break
            if prune_images:
                from devloop.build.images import remove_project_images

                removed += remove_project_images(api, project_name)
        return removed

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            self._last_requests.clear()
        self._join_reconcilers()
        with self._lock:
            runtimes = list(self._runtimes.values())
            self._runtimes.clear()
        self._forwards.close_all()
        for rt in runtimes:
            rt.close()
        self._join_reconcilers()  # one a supervisor started while closing
        if self._client is not None and self._own_client:
            with contextlib.suppress(Exception):
                self._client.close()

    def _join_reconcilers(self) -> None:
        with self._lock:
            threads = list(self._reconcilers)
        for thread in threads:
            thread.join(timeout=10)


def _pods_to_replace(
    existing: list[dict[str, Any]], plan: PodPlan, stale: frozenset[str]
) -> tuple[list[dict[str, Any]], list[int]]:
    """The containers to remove and the pod indexes to create: a pod is kept when it is complete, holds no
    container marked stale by live update, has the plan's spec hash and an index still wanted (once)."""
    keep: set[int] = set()
    doomed: list[dict[str, Any]] = [s for s in existing if not labels_of(s).get(L.POD)]
    for pod in sorted(group_pods(existing).values(), key=lambda p: p.name):
        lab = pod.labels
        index = int(lab.get(L.POD_INDEX, "-1") or -1)
        complete = pod.sandbox is not None and len(pod.inits) + len(pod.apps) == len(plan.containers)
        vouched = not any(c["Id"] in stale for c in pod.all())
        wanted = 0 <= index < plan.replicas and index not in keep
        if complete and vouched and wanted and lab.get(L.SPEC_HASH) == plan.spec_hash:
            keep.add(index)
        else:
            doomed += pod.all()
    return doomed, [index for index in range(plan.replicas) if index not in keep]


def _may_overlap(plan: PodPlan, workload: ManifestObject, doomed: list[dict[str, Any]], fresh: list[int]) -> bool:
    """May the new pods start while the old ones are being removed? As a rolling update does, when they share
    nothing: no name (a Deployment's pod names carry the spec hash, a StatefulSet's or a bare Pod's do not),
    no claimed volume (two pods must not write one at once), and the workload does not ask for Recreate."""
    if not doomed or not fresh or plan.claims or plan.claim_templates:
        return False
    strategy = (workload.body.get("spec") or {}).get("strategy") or {}
    if isinstance(strategy, dict) and strategy.get("type") == "Recreate":
        return False
    return not {labels_of(s).get(L.POD) for s in doomed} & {plan.pod_name(index) for index in fresh}


def _replace_pods(
    rt: ProjectRuntime, doomed: list[dict[str, Any]], fresh: list[int], create: Callable[[int], None], at_once: bool
) -> list[str]:
    """Remove the ``doomed`` containers and create the pods of index ``fresh`` (``at_once``: the removal runs
    in a thread meanwhile); returns what was removed. Both are done when it returns, so no status read
    afterwards sees an old pod."""
    if not at_once:
        removed = rt.remove(doomed)
        for index in fresh:
            create(index)
        return removed
    removal: concurrent.futures.Future[list[str]] = concurrent.futures.Future()

    def remove() -> None:
        try:
            removal.set_result(rt.remove(doomed))
        except BaseException as exc:  # raised in the deploying thread below
            removal.set_exception(exc)

    thread = threading.Thread(target=remove, name=f"devloop-remove-{rt.project}", daemon=True)
    thread.start()
    try:
        for index in fresh:
            create(index)
    finally:
        thread.join()
    return removal.result()


def _workload(request: DeployRequest) -> ManifestObject | None:
    original = request.resource.workload
    if original is None:
        return None
    for obj in request.objects:
        if obj.key == original.key:
            return obj
    return next((o for o in request.objects if o.is_workload), original)


__all__ = ["DockerTarget"]
