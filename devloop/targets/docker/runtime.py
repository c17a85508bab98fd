"""The per-project supervisor that runs pods: a kubelet for one Docker engine.

Pods are created by :mod:`.create` and removed by :mod:`.remove`. Their containers are created with
docker restart policy "no": the supervisor starts init containers in order, then the app containers,
restarts exited containers as ``restartPolicy`` says (:mod:`.restarts`: back-off, crash loops),
evaluates readiness probes (:mod:`.probes`), and restarts a pod's containers when its sandbox came
back (engine restart). Everything is found again by labels on every pass (:mod:`.observed`), so a
restart of devloop or of the engine never duplicates a container; what devloop only knows from
memory (exits, restarts, probe results, failed pods) becomes the status in :mod:`.status`.

The supervisor thread is started by deploys (and `up`'s prepare), never by reading the status; time
comes from an injected clock, so the restart semantics are tested without waiting.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from devloop.dockerengine import is_connection_error
from devloop.engine.clock import Clock, MonotonicClock
from devloop.targets.base import ContainerRef, RuntimeStatus
from devloop.targets.docker import labels as L
from devloop.targets.docker import restarts
from devloop.targets.docker.create import PodCreator
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
from devloop.targets.docker.pods import PodPlan
from devloop.targets.docker.probes import STARTUP_POLL, STARTUP_RETRY, ProbeState, initial_due, run_probe
from devloop.targets.docker.remove import (
    grace_of,
    remove_containers,
    remove_pod_volumes,
    sandbox_pods,
    stop_gracefully,
)
from devloop.targets.docker.restarts import ExitRecord, RestartRule
from devloop.targets.docker.status import (
    ObservedPod,
    PodFailure,
    container_ref,
    pod_done,
    pod_ready,
    runtime_status,
)

log = logging.getLogger("devloop.docker")

TICK = 0.3  # seconds between two supervisor passes
LOG_TAIL = 20
LOG_SETTLE = 0.25  # seconds between two reads of a failed container's log that must agree
LOG_SETTLE_MAX = 5.0  # and at most this long

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
        self._supervised: set[str] = set()  # container ids of the pods the last pass looked after
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
                self.last_error = ""
                delay = min(TICK, self._until_startup_probe())
            except Exception as exc:  # engine away: keep trying, slower
                self.last_error = f"{type(exc).__name__}: {exc}"
                delay = min(max(delay * 2, 1.0), 5.0)
            else:
                self._after_tick()
            self._wake.wait(delay)
            self._wake.clear()

    def _after_tick(self) -> None:
        if self.after_tick is None:
            return
        try:
            self.after_tick()
        except Exception as exc:  # its own business: never slows supervision down
            log.debug("after a supervisor pass of %s: %s", self.project, exc)

    def _until_startup_probe(self) -> float:
        """Seconds until the next probe of a container that was never ready is due (TICK when none is), so that
        a server which starts a moment after its first probe is seen at the retry, not at the next pass. Only the
        probes of pods the last pass looked after count: a busy or failed pod's are not run, however due."""
        now = self.clock.monotonic()
        with self._state_lock:
            probes = [p for cid, p in self._probes.items() if not p.ever_ready and cid in self._supervised]
            dues = [now + STARTUP_RETRY if p.in_flight else p.due for p in probes]
        return max(0.0, min(dues) - now) if dues else TICK

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
            supervised: set[str] = set()
            for pods in by_resource(group_pods(self.refresh()).values()).values():
                supervised |= self._supervise(pods)
            with self._state_lock:
                self._supervised = supervised

    def _supervise(self, pods: list[Pod]) -> set[str]:
        """Supervise the pods of one resource; returns the ids of the containers of the pods it looked after."""
        now = self.clock.monotonic()
        with self._state_lock:
            busy = set(self._terminating)
            failed = set(self._pod_failures)
        ready = [
            pod
            for pod in pods
            if pod.sandbox is not None and pod.name not in failed and not any(c["Id"] in busy for c in pod.all())
        ]
        looked_after = admitted(ready, self._pod_done, job_parallelism(pods))
        for pod in looked_after:
            self._supervise_pod(pod, now)
        return {c["Id"] for pod in looked_after for c in pod.all()}

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

            try:
                self._pool.submit(self._probe, cid, ip, probe, ports, state)
            except RuntimeError:  # shutting down
                state.in_flight = False

    def _probe(self, cid: str, ip: str, probe: dict[str, Any], ports: dict[str, int], state: ProbeState) -> None:
        """Run a readiness probe and record its result. Until the container was first ready, a failed probe is
        tried again every STARTUP_POLL seconds for up to STARTUP_RETRY: a server that starts listening a moment
        after the first try is seen then, without a supervisor pass per try."""
        started = self.clock.monotonic()  # the next probe is due a period after this one started
        error = run_probe(self.api, cid, ip, probe, ports)
        tries = round(STARTUP_RETRY / STARTUP_POLL) - 1
        while error and tries > 0 and not state.ever_ready and not self._stop.is_set():
            tries -= 1
            self.sleep(STARTUP_POLL)
            if self.clock.monotonic() - started >= STARTUP_RETRY:
                break
            error = run_probe(self.api, cid, ip, probe, ports)
        with self._state_lock:
            state.record(not error, probe, started, error)

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
        PodCreator(self.api, self.project, self.network).create(plan, index, pause_image, labels)

    def remove(self, summaries: Sequence[dict[str, Any]], grace: float | None = None) -> list[str]:
        """Stop (SIGTERM, then SIGKILL after the pods' grace period) and remove containers, then the
        emptyDir volumes of their pods. Returns what was removed."""
        if not summaries:
            return []
        ids = [s["Id"] for s in summaries]
        with self._state_lock:
            self._terminating.update(ids)
        try:
            grace = grace_of(summaries) if grace is None else grace
            stop_gracefully(self.api, self.project, summaries, grace, self.clock, self.sleep)
            removed = remove_containers(self.api, summaries, self.forget)
            pods = sandbox_pods(summaries)
            with self._state_lock:
                for pod in pods:
                    self._pod_failures.pop(pod, None)
            return removed + remove_pod_volumes(self.api, self.project, pods)
        finally:
            with self._state_lock:
                self._terminating.difference_update(ids)

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
