"""Creating and removing pods, and the per-project supervisor that runs them.

A pod is a sandbox container (the pause image, owning the network namespace and the Service
aliases) plus its init and app containers joined with ``network_mode=container:<sandbox>``.
Containers are created with docker restart policy "no": devloop itself starts init containers in
order, then the app containers, restarts exited containers as ``restartPolicy`` says (with a
backoff), detects crash loops, evaluates readiness probes, and restarts a pod's containers when its
sandbox came back (engine restart). Everything is found again by labels on every tick, so a
restart of devloop or of the engine never duplicates a container.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import io
import json
import tarfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from devloop.dockerengine import engine_call, is_connection_error
from devloop.engine.clock import Clock, MonotonicClock
from devloop.errors import DeployError
from devloop.targets.base import ContainerRef, RuntimeStatus
from devloop.targets.docker import labels as L
from devloop.targets.docker import restarts
from devloop.targets.docker.observed import (
    Pod,
    admitted,
    by_resource,
    container_label,
    exit_code,
    group_pods,
    job_parallelism,
    labels_of,
    pods_of,
)
from devloop.targets.docker.pods import ContainerPlan, FieldRef, PodPlan
from devloop.targets.docker.probes import ProbeState, initial_due, run_probe
from devloop.targets.docker.restarts import ExitRecord, RestartRule
from devloop.targets.docker.status import (
    ObservedPod,
    PodFailure,
    container_ref,
    pod_done,
    pod_ready,
    runtime_status,
)

TICK = 0.3  # seconds between two supervisor passes
LOG_TAIL = 20
LOG_SETTLE = 0.25  # seconds between two reads of a failed container's log that must agree
LOG_SETTLE_MAX = 5.0  # and at most this long

SIGTERM_MASK = 1 << (15 - 1)  # bit of SIGTERM in /proc/PID/status SigCgt


def local_pid(attrs: dict[str, Any]) -> int | None:
    """The host PID of a running container's main process (from its inspect ``attrs``) when the engine runs on
    this machine and devloop can see that process; None otherwise (DOCKER_HOST elsewhere, a VM, no access)."""
    try:
        pid = int((attrs.get("State") or {}).get("Pid") or 0)
        if pid <= 0:
            return None
        # The engine may run elsewhere (DOCKER_HOST, a VM): make sure this PID is that container's process.
        hostname = str((attrs.get("Config") or {}).get("Hostname") or "")
        with open(f"/proc/{pid}/environ", "rb") as environ:
            if not hostname or f"HOSTNAME={hostname}".encode() not in environ.read().split(b"\0"):
                return None
    except (OSError, ValueError):
        return None
    return pid


def ignores_sigterm(api: Any, cid: str) -> bool:
    """True when the container's main process (PID 1 in its namespace, which the kernel never sends
    default-action signals to) installed no SIGTERM handler, so SIGTERM cannot stop it. Reads the host's
    /proc (a local Linux engine); False whenever that cannot be told."""
    try:
        pid = local_pid(api.inspect_container(cid) or {})
        if pid is None:
            return False
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return not int(line.split(":", 1)[1].strip(), 16) & SIGTERM_MASK
    except (OSError, ValueError, docker_errors()):
        return False
    return False


def docker_errors() -> type[Exception]:
    import docker.errors

    return docker.errors.APIError  # type: ignore[no-any-return]


class ProjectRuntime:
    """Everything running for one project: pod creation/removal, supervision, probes, status."""

    def __init__(
        self,
        api: Any,
        project: str,
        network: str,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], object] = time.sleep,
        after_tick: Callable[[], None] | None = None,
    ) -> None:
        self.api = api
        self.clock: Clock = clock or MonotonicClock()
        self.sleep = sleep
        self.after_tick = after_tick  # called by the supervisor thread after each pass (re-creating lost pods)
        self.project = project
        self.network = network
        self.lock = threading.RLock()  # serialises ticks and pod creation/removal
        self._state_lock = threading.Lock()  # guards the in-memory records below
        self._records: dict[str, ExitRecord] = {}
        self._pod_failures: dict[str, PodFailure] = {}
        self._probes: dict[str, ProbeState] = {}
        self._inspect: dict[str, dict[str, Any]] = {}
        self._terminating: set[str] = set()  # container ids being removed or restarted by devloop
        self._snapshot: list[dict[str, Any]] = []
        self._snapshot_at = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.last_error = ""

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        with self._state_lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix=f"devloop-probe-{self.project}")
            self._thread = threading.Thread(target=self._loop, name=f"devloop-docker-{self.project}", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        delay = TICK
        while not self._stop.is_set():
            try:
                self.tick()
                if self.after_tick is not None:
                    self.after_tick()
                self.last_error = ""
                delay = TICK
            except Exception as exc:  # engine away: keep trying, slower
                self.last_error = f"{type(exc).__name__}: {exc}"
                delay = min(max(delay * 2, 1.0), 5.0)
            self._wake.wait(delay)
            self._wake.clear()

    # --- reading -----------------------------------------------------------------------------------

    def refresh(self) -> list[dict[str, Any]]:
        summaries = list(self.api.containers(all=True, filters={"label": L.container_filter(self.project)}))
        self._snapshot = summaries
        self._snapshot_at = self.clock.monotonic()
        running = {s["Id"] for s in summaries if s.get("State") == "running"}
        with self._state_lock:
            for cid in list(self._inspect):
                if cid not in running:
                    del self._inspect[cid]
            known = {s["Id"] for s in summaries}
            for cid in list(self._probes):
                if cid not in running:
                    del self._probes[cid]
            for cid in list(self._records):
                if cid not in known:
                    del self._records[cid]
        return summaries

    def snapshot(self, max_age: float = 1.0) -> list[dict[str, Any]]:
        alive = self._thread is not None and self._thread.is_alive()
        if not alive or self.clock.monotonic() - self._snapshot_at > max_age:
            with self.lock:
                return self.refresh()
        return self._snapshot

    def inspect(self, cid: str) -> dict[str, Any]:
        with self._state_lock:
            cached = self._inspect.get(cid)
        if cached is not None:
            return cached
        attrs: dict[str, Any] = self.api.inspect_container(cid)
        if (attrs.get("State") or {}).get("Running"):
            with self._state_lock:
                self._inspect[cid] = attrs
        return attrs

    def forget(self, cid: str) -> None:
        with self._state_lock:
            self._inspect.pop(cid, None)
            self._probes.pop(cid, None)

    def sandbox_ip(self, sandbox: dict[str, Any]) -> str:
        nets = ((sandbox.get("NetworkSettings") or {}).get("Networks")) or {}
        net: dict[str, Any] = nets.get(self.network) or next(iter(nets.values()), {})
        return str((net or {}).get("IPAddress") or "")

    # --- supervision -------------------------------------------------------------------------------

    def tick(self) -> None:
        with self.lock:
            for pods in by_resource(group_pods(self.refresh()).values()).values():
                self._supervise(pods)

    def _supervise(self, pods: list[Pod]) -> None:
        now = self.clock.monotonic()
        with self._state_lock:
            busy = set(self._terminating)
            failed = set(self._pod_failures)
        ready = [
            pod
            for pod in pods
            if pod.sandbox is not None and pod.name not in failed and not any(c["Id"] in busy for c in pod.all())
        ]
        for pod in admitted(ready, self._pod_done, job_parallelism(pods)):
            self._supervise_pod(pod, now)

    def _pod_done(self, pod: Pod) -> bool:
        with self._state_lock:
            return pod_done(pod, self._records)

    def _start(self, summary: dict[str, Any]) -> str:
        """Start a container; return "" or the error text."""
        import docker.errors

        try:
            self.api.start(summary["Id"])
        except docker.errors.APIError as exc:
            if is_connection_error(exc):
                raise
            return str(getattr(exc, "explanation", None) or exc)
        self.forget(summary["Id"])
        summary["State"] = "running"
        return ""

    def _fail_pod(self, pod: Pod, reason: str, cid: str | None) -> None:
        logs = self.failure_logs(cid) if cid else ()
        with self._state_lock:
            self._pod_failures[pod.name] = PodFailure(reason, logs)

    def _supervise_pod(self, pod: Pod, now: float) -> None:
        assert pod.sandbox is not None
        fresh = pod.sandbox.get("State") != "running"  # the sandbox starts (again) now: so do its containers
        if fresh and not self._start_sandbox(pod):
            return
        if not self._inits_done(pod, fresh):
            return
        rule = RestartRule.from_labels(pod.labels)
        for app in pod.apps:
            if not self._supervise_app(pod, app, rule, fresh, now):
                return
        if not fresh:
            self._schedule_probes(pod, now)

    def _start_sandbox(self, pod: Pod) -> bool:
        assert pod.sandbox is not None
        error = self._start(pod.sandbox)
        if error:
            self._fail_pod(pod, f"pod {pod.name} could not start its sandbox: {error}", None)
            return False
        pod.sandbox = self.api.containers(all=True, filters={"id": pod.sandbox["Id"]})[0]
        return True

    def _inits_done(self, pod: Pod, fresh: bool) -> bool:
        """Start the pod's init containers one after the other; True once all of them succeeded."""
        for init in pod.inits:
            state = init.get("State")
            if state == "created" or (state == "exited" and fresh and exit_code(init) != 0):
                error = self._start(init)
                if error:
                    self._fail_pod(pod, f"init container {container_label(init)} could not start: {error}", None)
                return False
            if state in ("running", "restarting", "paused"):
                return False
            code = exit_code(init)
            if code != 0:
                self._fail_pod(pod, f"init container {container_label(init)} exited with code {code}", init["Id"])
                return False
        return True

    def _supervise_app(self, pod: Pod, app: dict[str, Any], rule: RestartRule, fresh: bool, now: float) -> bool:
        """Start, restart or leave one app container as its pod's restart rule says; False when the pod failed."""
        cid = app["Id"]
        state = app.get("State")
        with self._state_lock:
            rec = self._records.setdefault(cid, ExitRecord())
        if state == "created":
            error = self._start(app)
            if error:
                self._fail_pod(pod, f"container {container_label(app)} could not start: {error}", None)
                return False
            restarts.record_started(rec, now)
        elif state == "running":
            if fresh:  # its sandbox came back (an engine restart): it needs the new network namespace
                self.api.restart(cid, timeout=0)
                self.forget(cid)
                restarts.record_started(rec, now)
            else:
                restarts.record_running(rec, now)
        elif state == "exited" and not rec.done:
            if not rec.handled and not self._decide_exit(pod, app, rec, rule, now):
                return False
            if restarts.restart_due(rec, now):
                error = self._start(app)
                if error:
                    self._fail_pod(pod, f"container {container_label(app)} could not restart: {error}", None)
                    return False
                restarts.record_restart(rec, now)
                self._wake.set()  # look again soon: a crash loop shows quickly
        return True

    def _decide_exit(self, pod: Pod, app: dict[str, Any], rec: ExitRecord, rule: RestartRule, now: float) -> bool:
        """Decide on a new exit of an app container; False when it failed its Job (and so the pod)."""
        code = exit_code(app)
        decision = restarts.decide_exit(rule, code, rec, now)
        if decision.shows_failure:
            # read before anything shows the failure: status() reports it as soon as the record says so
            rec.logs = self.failure_logs(app["Id"])
        restarts.record_exit(rec, code, decision)
        if decision.outcome is restarts.Outcome.JOB_FAILED:
            self._fail_pod(
                pod,
                f"Job failed: container {container_label(app)} exited with code {code} "
                f"(backoffLimit {rule.backoff_limit} reached)",
                app["Id"],
            )
            return False
        return True

    def _schedule_probes(self, pod: Pod, now: float) -> None:
        assert pod.sandbox is not None
        ip = self.sandbox_ip(pod.sandbox)
        ports: dict[str, int] = {}
        for app in pod.apps:
            ports.update(json.loads(labels_of(app).get(L.PORTS, "{}") or "{}"))
        for app in pod.apps:
            raw = labels_of(app).get(L.PROBE)
            if not raw or app.get("State") != "running" or self._pool is None:
                continue
            probe = json.loads(raw)
            cid = app["Id"]
            with self._state_lock:
                state = self._probes.get(cid)
                if state is None:
                    state = self._probes[cid] = ProbeState(due=initial_due(probe, now))
                if state.in_flight or now < state.due:
                    continue
                state.in_flight = True

            def work(cid: str = cid, probe: dict[str, Any] = probe, state: ProbeState = state) -> None:
                error = run_probe(self.api, cid, ip, probe, ports)
                with self._state_lock:
                    state.record(not error, probe, self.clock.monotonic(), error)

            try:
                self._pool.submit(work)
            except RuntimeError:  # shutting down
                state.in_flight = False

    def failure_logs(self, cid: str) -> tuple[str, ...]:
        """The last log lines of a container that just failed, once they stopped changing. The engine marks a
        container exited before its last output reached the log when it is busy (it waits at most 2 s for the
        output streams), so a single read could miss the very line that says why it failed."""
        logs = self.tail_logs(cid)
        deadline = self.clock.monotonic() + LOG_SETTLE_MAX
        while self.clock.monotonic() < deadline:
            self.sleep(LOG_SETTLE)
            again = self.tail_logs(cid)
            if again == logs:
                break
            logs = again
        return logs

    def tail_logs(self, cid: str, lines: int = LOG_TAIL) -> tuple[str, ...]:
        try:
            raw = self.api.logs(cid, stdout=True, stderr=True, tail=lines)
        except Exception:
            return ()
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        return tuple(line for line in text.splitlines() if line.strip())[-lines:]

    # --- status ------------------------------------------------------------------------------------

    def ready_pods(self, resource: str) -> list[tuple[Pod, str]]:
        """(pod, ip) of the resource's ready pods."""
        out = []
        for pod in pods_of(self.snapshot(), resource):
            if self._pod_ready(pod):
                assert pod.sandbox is not None
                out.append((pod, self.sandbox_ip(pod.sandbox)))
        return out

    def _pod_ready(self, pod: Pod) -> bool:
        with self._state_lock:
            return pod_ready(pod, self._probes)

    def status(self, resource: str, wanted: int, kind: str) -> RuntimeStatus:
        """The resource's status from the engine's containers and what supervision saw (starts nothing)."""
        return runtime_status(kind, wanted, [self._observe(pod) for pod in pods_of(self.snapshot(), resource)])

    def _observe(self, pod: Pod) -> ObservedPod:
        with self._state_lock:
            failure = self._pod_failures.get(pod.name)
            records = {
                c["Id"]: dataclasses.replace(rec, exits=list(rec.exits))
                for c in pod.apps
                if (rec := self._records.get(c["Id"])) is not None
            }
            ready = pod_ready(pod, self._probes)
        return ObservedPod(pod, records, failure, ready, tuple(self._refs(pod)))

    def _refs(self, pod: Pod) -> list[ContainerRef]:
        refs = []
        for app in pod.apps:
            if app.get("State") != "running":
                continue
            try:
                attrs = self.inspect(app["Id"])
            except Exception:
                continue
            refs.append(container_ref(app, attrs, pod.name))
        return refs

    # --- creation and removal ----------------------------------------------------------------------

    def create_pod(self, plan: PodPlan, index: int, pause_image: str, labels: dict[str, str]) -> None:
        """Create (not start) a pod's sandbox (started: containers need its address) and containers."""
        pod = plan.pod_name(index)
        common = {
            **labels,
            L.POD: pod,
            L.POD_INDEX: str(index),
            L.SPEC_HASH: plan.spec_hash,
            L.KIND: plan.kind,
            L.RESTART_POLICY: plan.restart_policy,
            L.GRACE: str(plan.grace),
        }
        sandbox_labels = {
            **common,
            L.ROLE: L.ROLE_SANDBOX,
            L.BACKOFF_LIMIT: str(plan.backoff_limit),
            L.PARALLELISM: str(plan.parallelism),
        }
        api = self.api
        aliases = list(plan.pod_aliases(index))
        with engine_call(f"creating pod {pod} of resource {plan.resource}"):
            sandbox = self._create(
                pause_image,
                L.docker_name(self.project, pod),
                hostname=pod[:63].rstrip("-.") or "pod",
                labels=sandbox_labels,
                host_config=api.create_host_config(network_mode=self.network),
                networking_config=api.create_networking_config(
                    {self.network: api.create_endpoint_config(aliases=aliases or None)}
                ),
            )
            ip = ""
            if plan.kind not in ("Job", "CronJob") or index < plan.parallelism:
                api.start(sandbox)
                nets = (api.inspect_container(sandbox).get("NetworkSettings") or {}).get("Networks") or {}
                ip = str((nets.get(self.network) or {}).get("IPAddress") or "")
            volumes = self._volumes(plan, pod, labels)
            for c in plan.containers:
                self._create_container(plan, c, pod, sandbox, ip, volumes, common)

    def _create(self, image: str, name: str, **kwargs: Any) -> str:
        import docker.errors

        try:
            return str(self.api.create_container(image, name=name, **kwargs)["Id"])
        except docker.errors.APIError as exc:
            if getattr(exc, "status_code", None) != 409:
                raise
        # a leftover with the same name (an interrupted earlier run): replace it
        self.api.remove_container(name, force=True, v=True)
        return str(self.api.create_container(image, name=name, **kwargs)["Id"])

    def _volumes(self, plan: PodPlan, pod: str, labels: dict[str, str]) -> dict[tuple[str, str], str]:
        """Create the pod's emptyDir and claim volumes; return (kind, name) -> docker volume name."""
        out: dict[tuple[str, str], str] = {}
        for name, tmpfs in plan.emptydirs:
            vol = L.docker_name(self.project, pod, plan.spec_hash[:6], name)
            opts = {"type": "tmpfs", "device": "tmpfs"} if tmpfs else None
            self.api.create_volume(vol, driver_opts=opts, labels={**labels, L.POD: pod, L.VOLUME_KIND: "emptyDir"})
            out[("emptyDir", name)] = vol
        claims = [("pvc", c, c) for c in plan.claims] + [
            ("claimTemplate", c, f"{c}-{pod}") for c in plan.claim_templates
        ]
        for kind, name, claim in claims:
            vol = L.docker_name(self.project, "pvc", claim)
            self.api.create_volume(vol, labels={**L.base_labels(self.project), L.VOLUME_KIND: "pvc"})
            out[(kind, name)] = vol
        return out

    def _create_container(
        self,
        plan: PodPlan,
        c: ContainerPlan,
        pod: str,
        sandbox: str,
        ip: str,
        volumes: dict[tuple[str, str], str],
        common: dict[str, str],
    ) -> str:
        import docker.types

        fields = {
            "metadata.name": pod,
            "metadata.namespace": plan.namespace,
            "status.podIP": ip,
            "spec.nodeName": "docker-desktop",
            "status.hostIP": ip,
            "spec.serviceAccountName": "default",
        }
        env = [f"{k}={fields.get(v.path, '') if isinstance(v, FieldRef) else v}" for k, v in c.env]
        mounts = []
        for m in c.mounts:
            if m.kind == "hostPath":
                mounts.append(docker.types.Mount(m.target, m.source, type="bind", read_only=m.read_only))
            else:
                vol = volumes.get(("emptyDir" if m.kind == "emptyDir" else m.kind, m.source), "")
                if not vol and m.kind == "pvc":
                    vol = volumes.get(("pvc", m.source), "")
                mounts.append(docker.types.Mount(m.target, vol, type="volume", read_only=m.read_only))
        lab = {
            **common,
            L.ROLE: c.role,
            L.CONTAINER: c.name,
            L.ORDER: str(c.order),
            L.PORTS: json.dumps({n: p for n, p in c.ports if n}),
        }
        if c.probe and c.role == L.ROLE_APP:
            lab[L.PROBE] = json.dumps(c.probe, sort_keys=True)
        if c.user:
            lab[L.RUN_AS] = c.user
        host_config = self.api.create_host_config(
            network_mode=f"container:{sandbox}",
            mounts=mounts or None,
            mem_limit=c.mem_limit,
            nano_cpus=c.nano_cpus,
            privileged=c.privileged,
            read_only=c.read_only,
            cap_add=list(c.cap_add) or None,
            cap_drop=list(c.cap_drop) or None,
        )
        self._ensure_image(c.image, plan, c)
        cid = self._create(
            c.image,
            L.docker_name(self.project, pod, c.name),
            entrypoint=list(c.entrypoint) if c.entrypoint is not None else None,
            command=list(c.command) if c.command is not None else None,
            environment=env,
            working_dir=c.working_dir,
            user=c.user,
            labels=lab,
            host_config=host_config,
        )
        if c.files:
            self.api.put_archive(cid, "/", _files_tar(c))
        return cid

    def _ensure_image(self, image: str, plan: PodPlan, c: ContainerPlan) -> None:
        import docker.errors

        try:
            self.api.inspect_image(image)
            return
        except docker.errors.ImageNotFound:
            pass
        try:
            self.api.pull(image)
        except docker.errors.APIError as exc:
            if is_connection_error(exc):
                raise
            raise DeployError(
                f"resource {plan.resource}: image {image} of container {c.name} is not on the Docker engine "
                f"and could not be pulled ({getattr(exc, 'explanation', None) or exc}); build it, or fix the "
                "image name in the manifest."
            ) from exc

    def remove(self, summaries: Sequence[dict[str, Any]], grace: float | None = None) -> list[str]:
        """Stop (SIGTERM, then SIGKILL after the pods' grace period) and remove containers, then the
        emptyDir volumes of their pods. Returns what was removed."""
        import docker.errors

        if not summaries:
            return []
        ids = [s["Id"] for s in summaries]
        with self._state_lock:
            self._terminating.update(ids)
        removed: list[str] = []
        try:
            if grace is None:
                grace = max((float(labels_of(s).get(L.GRACE, "2") or 2) for s in summaries), default=2.0)
            running = [s for s in summaries if s.get("State") in ("running", "restarting", "paused")]
            # A PID 1 without a SIGTERM handler ignores SIGTERM: waiting the grace period for it is pure loss.
            running = [s for s in running if not ignores_sigterm(self.api, s["Id"])]
            if grace > 0 and running:
                for s in running:
                    with contextlib.suppress(docker.errors.APIError):
                        self.api.kill(s["Id"], "SIGTERM")
                deadline = self.clock.monotonic() + grace
                pending = {s["Id"] for s in running}
                while pending and self.clock.monotonic() < deadline:
                    alive = self.api.containers(filters={"label": L.container_filter(self.project)})
                    pending &= {s["Id"] for s in alive}
                    if pending:
                        self.sleep(0.05)
            apps_first = sorted(summaries, key=lambda s: labels_of(s).get(L.ROLE) == L.ROLE_SANDBOX)
            for s in apps_first:
                try:
                    self.api.remove_container(s["Id"], force=True, v=True)
                except docker.errors.NotFound:
                    pass
                except docker.errors.APIError as exc:
                    if "already in progress" not in str(exc):
                        raise
                removed.append(f"container {str((s.get('Names') or ['?'])[0]).lstrip('/')}")
                self.forget(s["Id"])
            pods = {labels_of(s).get(L.POD) for s in summaries if labels_of(s).get(L.ROLE) == L.ROLE_SANDBOX}
            for pod in sorted(p for p in pods if p):
                with self._state_lock:
                    self._pod_failures.pop(pod, None)
                flt = {"label": [*L.project_filter(self.project), f"{L.POD}={pod}", f"{L.VOLUME_KIND}=emptyDir"]}
                for vol in (self.api.volumes(filters=flt) or {}).get("Volumes") or []:
                    try:
                        self.api.remove_volume(vol["Name"], force=True)
                        removed.append(f"volume {vol['Name']}")
                    except docker.errors.NotFound:
                        pass
        finally:
            with self._state_lock:
                self._terminating.difference_update(ids)
        return removed

    def mark_busy(self, cid: str, busy: bool) -> None:
        with self._state_lock:
            if busy:
                self._terminating.add(cid)
            else:
                self._terminating.discard(cid)
                self._inspect.pop(cid, None)
                self._probes.pop(cid, None)
                rec = self._records.get(cid)
                if rec is not None:
                    restarts.record_started(rec, self.clock.monotonic())


def _files_tar(c: ContainerPlan) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for f in c.files:
            info = tarfile.TarInfo(f.path.lstrip("/"))
            info.size = len(f.data)
            info.mode = f.mode
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(f.data))
    return buf.getvalue()
