"""The double's kubelet: every Pod runs as real Docker containers, and its status is written back.

A pod is a sandbox (devloop's pause image, see devloop/targets/docker/pause.py) on the double's own Docker
network, holding the pod IP and the aliases of the Services selecting the pod, plus its init and app containers
joined to the sandbox's network namespace. The containers are planned with the docker target's
:func:`devloop.targets.docker.pods.plan_resource` (env, envFrom, ConfigMap/Secret files, emptyDir and claim
volumes, security context, limits) and readiness probes run with its ``probes`` module.

Images that name a registry host (``127.0.0.1:5001/app:tag``) are always pulled (unless imagePullPolicy is
Never), as a node without them would: an image that was not pushed fails with ErrImagePull, then
ImagePullBackOff. Other references are used when the local engine has them (as on a cluster sharing the
engine), else pulled. Each restart makes a new container (so
``previous`` logs are the last run's); restarts back off 1, 2, 4, 8, 10 s with state CrashLoopBackOff.
Everything carries the label ``devloop.dev/kube-double=<double id>``.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import re
import tarfile
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.kube_double.store import BY_KIND, Obj, match_label_selector, now_rfc3339

if TYPE_CHECKING:
    from devloop.targets.docker.pods import ContainerPlan, PodPlan
    from devloop.targets.docker.probes import ProbeState
    from tests.kube_double.server import KubeDouble

PODS = BY_KIND["Pod"]
POD_UID_LABEL = "devloop.dev/kube-double-pod"
TICK = 0.25
BACKOFF_MAX = 10.0
PULL_BACKOFF_MAX = 10.0
GRACE_MAX = 10.0


def rfc3339(docker_time: str) -> str:
    """Docker's ``2024-05-01T10:00:00.123456789Z`` as ``2024-05-01T10:00:00Z``."""
    text = (docker_time or "").split(".")[0].rstrip("Z")
    if not text or text.startswith("0001-"):
        return now_rfc3339()
    return text + "Z"


def qualified(image: str) -> bool:
    """Whether the reference names a registry host (the first component has a dot or a port, or is localhost)."""
    if "/" not in image:
        return False
    host = image.split("/", 1)[0]
    return "." in host or ":" in host or host == "localhost"


def _tar(files: list[tuple[str, bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data, mode in files:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(data)
            info.mode = mode
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class CState:
    """What the kubelet knows of one container of a pod."""

    name: str
    image: str
    init: bool
    cid: str = ""
    previous: str = ""
    restarts: int = 0
    image_id: str = ""
    state: Obj = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: Obj = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    done: bool = False  # exited and will not be restarted
    exit_code: int | None = None
    next_start: float = 0.0
    probe: ProbeState | None = None

    def status(self) -> Obj:
        out: Obj = {
            "name": self.name,
            "image": self.image,
            "imageID": self.image_id,
            "ready": self.ready,
            "restartCount": self.restarts,
            "state": self.state,
            "lastState": self.last_state,
            "started": self.started,
        }
        if self.cid:
            out["containerID"] = f"docker://{self.cid}"
        return out


class PodGone(Exception):
    """The pod was deleted: stop working on it."""


class PodWorker:
    """One thread per pod: sandbox, pulls, init containers, app containers, restarts, probes, termination."""

    def __init__(self, kubelet: Kubelet, pod: Obj) -> None:
        self.kubelet = kubelet
        self.api = kubelet.api
        self.namespace = str(pod["metadata"]["namespace"])
        self.name = str(pod["metadata"]["name"])
        self.uid = str(pod["metadata"]["uid"])
        self.pod = pod
        spec = pod.get("spec") or {}
        self.policy = str(spec.get("restartPolicy") or "Always")
        self.inits = [CState(str(c["name"]), str(c.get("image", "")), True) for c in spec.get("initContainers") or []]
        self.apps = [CState(str(c["name"]), str(c.get("image", "")), False) for c in spec.get("containers") or []]
        for c in self.apps:
            if self.inits:
                c.state = {"waiting": {"reason": "PodInitializing"}}
        self.sandbox = ""
        self.ip = ""
        self.phase = "Pending"
        self.initialized = not self.inits
        self.start_time = now_rfc3339()
        self.volumes: dict[tuple[str, str], str] = {}
        self.plan: PodPlan | None = None
        self.plan_error = ""
        self.written: Obj | None = None
        self.lock = threading.RLock()
        self.thread = threading.Thread(target=self.run, name=f"kube-double-pod-{self.name}", daemon=True)
        self.stopping = threading.Event()

    # --- helpers -----------------------------------------------------------------------------------

    def labels(self, container: str = "", role: str = "") -> dict[str, str]:
        from tests.kube_double.server import DOUBLE_LABEL

        out = {
            DOUBLE_LABEL: self.kubelet.double.id,
            POD_UID_LABEL: self.uid,
            "io.kubernetes.pod.name": self.name,
            "io.kubernetes.pod.namespace": self.namespace,
        }
        if container:
            out["io.kubernetes.container.name"] = container
        if role:
            out["devloop.dev/kube-double-role"] = role
        return out

    def current(self) -> Obj:
        pod = self.kubelet.double.store.find(PODS, self.namespace, self.name)
        if pod is None or pod["metadata"]["uid"] != self.uid:
            raise PodGone()
        self.pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            raise PodGone()
        return pod

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            self.current()
            left = end - time.monotonic()
            if left <= 0 or self.stopping.is_set():
                if self.stopping.is_set():
                    raise PodGone()
                return
            self.stopping.wait(min(left, TICK))

    def container_spec(self, c: CState) -> Obj:
        spec = self.pod.get("spec") or {}
        group = spec.get("initContainers" if c.init else "containers") or []
        return next((x for x in group if x.get("name") == c.name), {})

    # --- status ------------------------------------------------------------------------------------

    def write_status(self) -> None:
        with self.lock:
            all_ready = all(c.ready for c in self.apps)
            conds: list[Obj] = []
            old = {c.get("type"): c for c in ((self.pod.get("status") or {}).get("conditions") or [])}

            def cond(ctype: str, ok: bool, reason: str = "") -> None:
                status = "True" if ok else "False"
                prev = old.get(ctype)
                entry: Obj = {
                    "type": ctype,
                    "status": status,
                    "lastProbeTime": None,
                    "lastTransitionTime": prev.get("lastTransitionTime")
                    if prev and prev.get("status") == status
                    else now_rfc3339(),
                }
                if reason and not ok:
                    entry["reason"] = reason
                conds.append(entry)

            not_ready = [c.name for c in self.apps if not c.ready]
            reason = "PodCompleted" if self.phase in ("Succeeded", "Failed") else "ContainersNotReady"
            cond("PodReadyToStartContainers", bool(self.sandbox))
            cond("Initialized", self.initialized, "ContainersNotInitialized")
            cond("Ready", all_ready and self.phase == "Running", reason)
            cond("ContainersReady", all_ready and self.phase == "Running", reason)
            cond("PodScheduled", True)
            status: Obj = {
                "phase": self.phase,
                "conditions": conds,
                "hostIP": self.kubelet.host_ip,
                "hostIPs": [{"ip": self.kubelet.host_ip}],
                "startTime": self.start_time,
                "qosClass": "BestEffort",
                "containerStatuses": [c.status() for c in self.apps],
            }
            if not_ready and self.phase == "Running":
                msg = f"containers with unready status: [{' '.join(not_ready)}]"
                for entry in conds:
                    if entry["type"] in ("Ready", "ContainersReady"):
                        entry["message"] = msg
            if self.inits:
                status["initContainerStatuses"] = [c.status() for c in self.inits]
            if self.ip:
                status["podIP"] = self.ip
                status["podIPs"] = [{"ip": self.ip}]
            if status == self.written:
                return

            def write(o: Obj) -> None:
                o["status"] = status

            self.kubelet.double.store.mutate(PODS, self.namespace, self.name, write, status=True)
            self.written = status

    # --- the pod's life ----------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self.write_status()
            self.live()
        except PodGone:
            pass
        except Exception as exc:  # the double's own failure: show it on the pod
            if self.kubelet.double.verbose:
                import traceback

                traceback.print_exc()
            with contextlib.suppress(Exception):
                for c in self.apps:
                    if not c.cid:
                        c.state = {"waiting": {"reason": "RunContainerError", "message": f"kube double: {exc}"}}
                self.write_status()
            with contextlib.suppress(PodGone):
                while True:
                    self.sleep(1.0)
        finally:
            self.terminate()

    def live(self) -> None:
        from devloop.errors import DevloopError

        # the plan: env, files, volumes (a missing ConfigMap/Secret is retried, as the kubelet does)
        while True:
            try:
                self.plan = self.make_plan()
                break
            except DevloopError as exc:
                volume = re.search(r"spec\.volumes\[(.+?)\] refers to (ConfigMap|Secret) (\S+),", str(exc))
                if volume is not None:
                    # a missing volume source: the pod stays in ContainerCreating and the kubelet reports
                    # FailedMount events (an env reference is the container's CreateContainerConfigError)
                    vname, kind, ref = volume.groups()
                    for c in [*self.inits, *self.apps]:
                        c.state = {"waiting": {"reason": "ContainerCreating"}}
                    self.kubelet.double.record_event(
                        self.pod,
                        "Warning",
                        "FailedMount",
                        f'MountVolume.SetUp failed for volume "{vname}" : {kind.lower()}s "{ref}" not found',
                        "kubelet",
                    )
                else:
                    for c in [*self.inits, *self.apps]:
                        c.state = {"waiting": {"reason": "CreateContainerConfigError", "message": str(exc)}}
                self.write_status()
                self.sleep(1.0)
        self.start_sandbox()
        self.write_status()
        for c in self.inits:
            while True:
                code = self.run_to_completion(c)
                if code == 0:
                    break
                if self.policy == "Never":
                    self.phase = "Failed"
                    for a in self.apps:
                        a.state = {"waiting": {"reason": "PodInitializing"}}
                    self.write_status()
                    while True:
                        self.sleep(1.0)
                self.back_off(c)
        self.initialized = True
        for c in self.apps:
            c.state = {"waiting": {"reason": "ContainerCreating"}}
        self.write_status()
        for c in self.apps:
            self.start_container(c)
        self.phase = "Running" if any("running" in c.state for c in self.apps) else self.phase
        self.write_status()
        self.supervise()

    def make_plan(self) -> PodPlan:
        from devloop.config.model import ManifestObject
        from devloop.targets.docker.pods import plan_resource

        store = self.kubelet.double.store
        objects: list[ManifestObject] = []
        for kind in ("ConfigMap", "Secret"):
            items, _ = store.select(BY_KIND[kind], self.namespace)
            objects += [
                ManifestObject(body=o, source=f"{kind} {self.namespace}/{o['metadata']['name']}") for o in items
            ]
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": self.pod["metadata"], "spec": self.pod.get("spec") or {}}
        return plan_resource(
            "pod",
            ManifestObject(body=body, source=f"pod {self.namespace}/{self.name}"),
            objects,
            default_namespace=self.namespace,
        )

    def start_sandbox(self) -> None:
        api = self.api
        kubelet = self.kubelet
        aliases: list[str] = []
        labels = {str(k): str(v) for k, v in (self.pod["metadata"].get("labels") or {}).items()}
        services, _ = kubelet.double.store.select(BY_KIND["Service"], self.namespace)
        for svc in services:
            selector = (svc.get("spec") or {}).get("selector") or {}
            if selector and match_label_selector({"matchLabels": selector}, labels):
                n = svc["metadata"]["name"]
                aliases += [
                    n,
                    f"{n}.{self.namespace}",
                    f"{n}.{self.namespace}.svc",
                    f"{n}.{self.namespace}.svc.cluster.local",
                ]
        spec = self.pod.get("spec") or {}
        hostname = str(spec.get("hostname") or self.name)[:63].rstrip("-.") or "pod"
        if spec.get("subdomain"):
            sub = str(spec["subdomain"])
            aliases += [
                hostname,
                f"{hostname}.{sub}",
                f"{hostname}.{sub}.{self.namespace}",
                f"{hostname}.{sub}.{self.namespace}.svc.cluster.local",
            ]
        name = kubelet.container_name(self.namespace, self.name, "POD", self.uid)
        self.sandbox = str(
            api.create_container(
                kubelet.pause_image,
                name=name,
                hostname=hostname,
                labels=self.labels(role="sandbox"),
                host_config=api.create_host_config(network_mode=kubelet.network),
                networking_config=api.create_networking_config(
                    {kubelet.network: api.create_endpoint_config(aliases=list(dict.fromkeys(aliases)) or None)}
                ),
            )["Id"]
        )
        api.start(self.sandbox)
        nets = (api.inspect_container(self.sandbox).get("NetworkSettings") or {}).get("Networks") or {}
        self.ip = str((nets.get(kubelet.network) or {}).get("IPAddress") or "")
        assert self.plan is not None
        for vname, tmpfs in self.plan.emptydirs:
            vol = kubelet.container_name(self.namespace, self.name, vname, self.uid)
            opts = {"type": "tmpfs", "device": "tmpfs"} if tmpfs else None
            api.create_volume(vol, driver_opts=opts, labels=self.labels(role="emptyDir"))
            self.volumes[("emptyDir", vname)] = vol
        for claim in self.plan.claims:
            vol = kubelet.container_name(self.namespace, "pvc", claim, "")
            api.create_volume(vol, labels={**self.labels(role="pvc"), POD_UID_LABEL: ""})
            self.volumes[("pvc", claim)] = vol

    # --- containers --------------------------------------------------------------------------------

    def pull(self, c: CState) -> None:
        """Make the image present; on failure ErrImagePull, then ImagePullBackOff, retried with a backoff."""
        import docker.errors

        api = self.api
        delay = 1.0
        while True:
            error = ""
            policy = str(self.container_spec(c).get("imagePullPolicy") or "")
            needs_pull = qualified(c.image) and policy != "Never"
            if not needs_pull:
                try:
                    api.inspect_image(c.image)
                except docker.errors.ImageNotFound:
                    needs_pull = True
                    if policy == "Never":
                        c.state = {
                            "waiting": {
                                "reason": "ErrImageNeverPull",
                                "message": (f'Container image "{c.image}" is not present with pull policy of Never'),
                            }
                        }
                        self.write_status()
                        self.sleep(1.0)
                        continue
            if needs_pull:
                try:
                    repo, tag = c.image, None
                    if "@" not in c.image and ":" in c.image.rsplit("/", 1)[-1]:
                        repo, tag = c.image.rsplit(":", 1)
                    api.pull(repo, tag=tag or ("latest" if "@" not in c.image else None))
                except docker.errors.APIError as exc:
                    error = str(getattr(exc, "explanation", None) or exc)
            if not error:
                try:
                    info = api.inspect_image(c.image)
                except docker.errors.ImageNotFound:
                    error = f"image {c.image} is not present after the pull"
                else:
                    digests = info.get("RepoDigests") or []
                    c.image_id = str(digests[0]) if digests else str(info.get("Id", ""))
                    return
            c.state = {
                "waiting": {
                    "reason": "ErrImagePull",
                    "message": f'failed to pull and unpack image "{c.image}": {error}',
                }
            }
            self.write_status()
            self.sleep(min(delay, 1.0))
            c.state = {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{c.image}"'}}
            self.write_status()
            self.sleep(delay)
            delay = min(delay * 2, PULL_BACKOFF_MAX)

    def plan_of(self, c: CState) -> ContainerPlan:
        assert self.plan is not None
        role = "init" if c.init else "app"
        return next(p for p in self.plan.containers if p.name == c.name and p.role == role)

    def create_container(self, c: CState) -> str:
        api = self.api
        plan = self.plan_of(c)
        fields = {
            "metadata.name": self.name,
            "metadata.namespace": self.namespace,
            "status.podIP": self.ip,
            "spec.nodeName": str((self.pod.get("spec") or {}).get("nodeName") or ""),
            "status.hostIP": self.kubelet.host_ip,
            "spec.serviceAccountName": str((self.pod.get("spec") or {}).get("serviceAccountName") or "default"),
        }
        from devloop.targets.docker.create import container_env, container_host_config, container_mounts

        env = container_env(plan, fields)
        env += ["KUBERNETES_SERVICE_HOST=127.0.0.1", f"KUBERNETES_SERVICE_PORT={self.kubelet.double.port}"]
        mounts = container_mounts(
            plan, lambda m: self.volumes.get(("emptyDir", m.source) if m.kind == "emptyDir" else ("pvc", m.source), "")
        )
        host_config = container_host_config(api, plan, self.sandbox, mounts)
        raw = self.container_spec(c)
        cid = str(
            api.create_container(
                c.image,
                name=self.kubelet.container_name(self.namespace, self.name, c.name, f"{self.uid[:8]}-{c.restarts}"),
                entrypoint=list(plan.entrypoint) if plan.entrypoint is not None else None,
                command=list(plan.command) if plan.command is not None else None,
                environment=env,
                working_dir=plan.working_dir,
                user=plan.user,
                labels=self.labels(c.name, "init" if c.init else "app"),
                host_config=host_config,
                stdin_open=bool(raw.get("stdin")),
                tty=bool(raw.get("tty")),
            )["Id"]
        )
        files = [(f.path, f.data, f.mode) for f in plan.files]
        if files:
            api.put_archive(cid, "/", _tar(files))
        return cid

    def start_container(self, c: CState) -> bool:
        """Pull, create and start ``c``; False (with a waiting state) when it could not start."""
        import docker.errors

        self.pull(c)
        try:
            cid = self.create_container(c)
        except docker.errors.APIError as exc:
            c.state = {
                "waiting": {"reason": "CreateContainerError", "message": str(getattr(exc, "explanation", None) or exc)}
            }
            self.write_status()
            return False
        if c.cid:
            if c.previous:
                with contextlib.suppress(docker.errors.APIError):
                    self.api.remove_container(c.previous, force=True, v=False)
            c.previous = c.cid
        c.cid = cid
        try:
            self.api.start(cid)
        except docker.errors.APIError as exc:
            message = str(getattr(exc, "explanation", None) or exc)
            c.state = {
                "terminated": {
                    "exitCode": 128,
                    "reason": "StartError",
                    "message": message,
                    "startedAt": now_rfc3339(),
                    "finishedAt": now_rfc3339(),
                    "containerID": f"docker://{cid}",
                }
            }
            c.started = False
            self.write_status()
            return False
        attrs = self.api.inspect_container(cid)
        started = rfc3339(str((attrs.get("State") or {}).get("StartedAt", "")))
        c.state = {"running": {"startedAt": started}}
        c.started = True
        c.ready = False
        raw = self.container_spec(c)
        if raw.get("readinessProbe") and not c.init:
            from devloop.targets.docker.probes import ProbeState, initial_due

            c.probe = ProbeState(due=initial_due(raw["readinessProbe"], time.monotonic()))
        else:
            c.probe = None
            c.ready = not c.init
        self.write_status()
        return True

    def exited(self, c: CState) -> bool:
        """Whether ``c`` exited; records its terminated state."""
        if not c.cid:
            return False
        attrs = self.api.inspect_container(c.cid)
        state = attrs.get("State") or {}
        if state.get("Running") or state.get("Restarting") or state.get("Status") == "created":
            return False
        code = int(state.get("ExitCode", 0) or 0)
        reason = "OOMKilled" if state.get("OOMKilled") else ("Completed" if code == 0 else "Error")
        c.exit_code = code
        c.state = {
            "terminated": {
                "exitCode": code,
                "reason": reason,
                "startedAt": rfc3339(str(state.get("StartedAt", ""))),
                "finishedAt": rfc3339(str(state.get("FinishedAt", ""))),
                "containerID": f"docker://{c.cid}",
            }
        }
        if state.get("Error"):
            c.state["terminated"]["message"] = str(state["Error"])
        c.ready = False
        c.started = False
        return True

    def run_to_completion(self, c: CState) -> int:
        while not self.start_container(c):
            self.back_off(c)
        while not self.exited(c):
            self.sleep(TICK)
        self.write_status()
        return int(c.exit_code or 0)

    def back_off(self, c: CState) -> None:
        """Wait before the next restart of ``c`` (none before the first), showing CrashLoopBackOff."""
        delay = 0.0 if c.restarts == 0 else min(2.0 ** (c.restarts - 1), BACKOFF_MAX)
        if "terminated" in c.state:
            c.last_state = {"terminated": dict(c.state["terminated"])}
        if delay > 0:
            code = c.exit_code
            c.state = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {int(delay)}s restarting failed container={c.name} "
                    f"pod={self.name}_{self.namespace}({self.uid})"
                    + (f" (exit code {code})" if code is not None else ""),
                }
            }
            self.write_status()
            self.sleep(delay)
        c.restarts += 1

    def supervise(self) -> None:
        from devloop.targets.docker.probes import run_probe

        while True:
            changed = False
            for c in self.apps:
                wanted = str(self.container_spec(c).get("image") or c.image)
                if wanted != c.image and not c.done:
                    # the pod's image was updated (the one in-place change a Pod allows): the kubelet kills the
                    # container and starts the new image, counting a restart
                    with contextlib.suppress(Exception):
                        self.api.kill(c.cid)
                    while c.cid and "running" in c.state and not self.exited(c):
                        self.sleep(TICK)
                    c.image = wanted
                    self.back_off(c)
                    self.start_container(c)
                    changed = True
                    continue
                if c.done:
                    continue
                if "running" in c.state and self.exited(c):
                    changed = True
                    code = c.exit_code or 0
                    restart = self.policy == "Always" or (self.policy == "OnFailure" and code != 0)
                    if not restart:
                        c.done = True
                        continue
                    self.write_status()
                    self.back_off(c)
                    self.start_container(c)
                    continue
                if "waiting" in c.state or ("terminated" in c.state and not c.done):
                    self.back_off(c)
                    self.start_container(c)
                    changed = True
                    continue
                raw = self.container_spec(c)
                probe = raw.get("readinessProbe")
                if c.probe is not None and probe and time.monotonic() >= c.probe.due:
                    ports = {
                        str(p.get("name")): int(p["containerPort"])
                        for x in (self.pod.get("spec") or {}).get("containers") or []
                        for p in x.get("ports") or []
                        if p.get("name") and p.get("containerPort")
                    }
                    error = run_probe(self.api, c.cid, self.ip, probe, ports)
                    before = c.probe.ready
                    c.probe.record(not error, probe, time.monotonic(), error)
                    c.ready = c.probe.ready
                    changed = changed or before != c.ready
            if all(c.done for c in self.apps):
                self.phase = "Succeeded" if all((c.exit_code or 0) == 0 for c in self.apps) else "Failed"
            elif any("running" in c.state for c in self.apps) or self.policy != "Never":
                self.phase = "Running"
            if changed or self.phase in ("Succeeded", "Failed"):
                self.write_status()
            self.write_status()
            if self.phase in ("Succeeded", "Failed"):
                while True:
                    self.sleep(1.0)
            self.sleep(TICK)

    # --- the end -----------------------------------------------------------------------------------

    def terminate(self) -> None:
        """Stop (SIGTERM, then SIGKILL after the grace period) and remove the pod's containers and emptyDirs,
        then the pod object."""
        import docker.errors

        api = self.api
        pod = self.kubelet.double.store.find(PODS, self.namespace, self.name)
        grace = float(
            (pod or self.pod)["metadata"].get("deletionGracePeriodSeconds")
            if (pod or self.pod)["metadata"].get("deletionGracePeriodSeconds") is not None
            else ((self.pod.get("spec") or {}).get("terminationGracePeriodSeconds") or 0)
        )
        grace = min(max(grace, 0.0), GRACE_MAX)
        ids = self.kubelet.containers_of(self.uid)
        running = [cid for cid, state in ids if state == "running"]
        if grace > 0 and running and not self.kubelet.stopping:
            for cid in running:
                with contextlib.suppress(docker.errors.APIError):
                    api.kill(cid, "SIGTERM")
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(s == "running" for _, s in self.kubelet.containers_of(self.uid)):
                time.sleep(0.05)
        for cid, _ in sorted(ids, key=lambda x: x[0] == self.sandbox):
            with contextlib.suppress(docker.errors.APIError):
                api.remove_container(cid, force=True, v=False)
        for (kind, _), vol in self.volumes.items():
            if kind == "emptyDir":
                with contextlib.suppress(docker.errors.APIError):
                    api.remove_volume(vol, force=True)
        if pod is not None and pod["metadata"]["uid"] == self.uid and not self.kubelet.stopping:
            self.kubelet.double.store.remove(PODS, self.namespace, self.name)


class Kubelet:
    def __init__(self, double: KubeDouble, docker_client: Any = None) -> None:
        self.double = double
        self._client = docker_client
        self.api: Any = None
        self.network = f"devloop-double-{double.id}"
        self.pause_image = ""
        self.host_ip = "127.0.0.1"
        self.workers: dict[str, PodWorker] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.stopping = False
        self._thread: threading.Thread | None = None
        self.lock = threading.Lock()
        double.store.listeners.append(self._on_event)

    def _on_event(self, event: Any) -> None:
        if event.rtype.kind == "Pod":
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def container_name(self, namespace: str, pod: str, container: str, extra: str) -> str:
        from devloop.targets.docker.labels import docker_name

        return docker_name(self.double.id, namespace, pod, container, extra)

    def start(self) -> None:
        import docker

        from devloop.targets.docker.pause import ensure_pause_image
        from tests.kube_double.server import DOUBLE_LABEL

        client = self._client or docker.from_env(timeout=120)
        self._client = client
        self.api = client.api
        self.pause_image = ensure_pause_image(self.api)
        net = self.api.create_network(self.network, driver="bridge", labels={DOUBLE_LABEL: self.double.id})
        info = self.api.inspect_network(net["Id"])
        configs = ((info.get("IPAM") or {}).get("Config")) or []
        if configs and configs[0].get("Gateway"):
            self.host_ip = str(configs[0]["Gateway"])
        self._thread = threading.Thread(target=self._loop, name=f"kube-double-kubelet-{self.double.id}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.sync()
            except Exception:
                if self.double.verbose:
                    import traceback

                    traceback.print_exc()

    def sync(self) -> None:
        pods, _ = self.double.store.select(PODS, None)
        live = set()
        with self.lock:
            for pod in pods:
                uid = pod["metadata"]["uid"]
                live.add(uid)
                worker = self.workers.get(uid)
                if worker is None:
                    if pod["metadata"].get("deletionTimestamp"):
                        self.double.store.remove(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"])
                        continue
                    worker = PodWorker(self, pod)
                    self.workers[uid] = worker
                    worker.thread.start()
                elif pod["metadata"].get("deletionTimestamp"):
                    worker.stopping.set()
            for uid, worker in list(self.workers.items()):
                if uid not in live:
                    worker.stopping.set()
                if not worker.thread.is_alive() and uid not in live:
                    del self.workers[uid]

    def containers_of(self, pod_uid: str) -> list[tuple[str, str]]:
        found = self.api.containers(all=True, filters={"label": f"{POD_UID_LABEL}={pod_uid}"})
        return [(str(s["Id"]), str(s.get("State", ""))) for s in found]

    def worker(self, namespace: str, name: str) -> PodWorker | None:
        pod = self.double.store.find(PODS, namespace, name)
        if pod is None:
            return None
        with self.lock:
            return self.workers.get(pod["metadata"]["uid"])

    def stop(self) -> None:
        """Stop every pod worker and remove every container, volume and the network of this double."""
        import docker.errors

        from tests.kube_double.server import DOUBLE_LABEL

        self.stopping = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self.lock:
            workers = list(self.workers.values())
        for w in workers:
            w.stopping.set()
        for w in workers:
            w.thread.join(timeout=15)
        if self.api is None:
            return
        flt = {"label": f"{DOUBLE_LABEL}={self.double.id}"}
        for s in self.api.containers(all=True, filters=flt):
            with contextlib.suppress(docker.errors.APIError):
                self.api.remove_container(s["Id"], force=True, v=True)
        for v in (self.api.volumes(filters=flt) or {}).get("Volumes") or []:
            with contextlib.suppress(docker.errors.APIError):
                self.api.remove_volume(v["Name"], force=True)
        for n in self.api.networks(filters=flt):
            with contextlib.suppress(docker.errors.APIError):
                self.api.remove_network(n["Id"])


def parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
