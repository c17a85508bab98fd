"""The engine's background readers: runtime status polling, log followers and port forwards.

The engine tells the :class:`Monitor` which resources are deployed (:meth:`Monitor.watch`, with the deploy count
their status reads are tagged with) and when to follow their logs and open their forwards
(:meth:`Monitor.follow`); the monitor only ever answers by posting :class:`RuntimeChanged` events. Workloads
are polled on one thread, local resources (whose readiness checks may take seconds) on another, so a slow check
never delays the status of a workload. :meth:`Monitor.poll` runs one round synchronously (tests step the
engine without the threads).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from devloop.config.model import Project, Resource
from devloop.engine.clock import Clock
from devloop.engine.events import Event, RuntimeChanged
from devloop.engine.local import LocalProcesses
from devloop.engine.options import EngineOptions
from devloop.engine.sink import Sink
from devloop.errors import DevloopError
from devloop.targets.base import LogLine, PortForwardHandle, RuntimeStatus, StopToken, Target

log = logging.getLogger("devloop.engine")

#: seconds between two status rounds while something is coming up
SETTLING_INTERVAL = 0.1
#: after a deploy (a poke) the next rounds come sooner, backing off to SETTLING_INTERVAL: a container that is
#: ready a moment after its deploy shows so then, not a whole interval later
QUICK_INTERVALS = (0.02, 0.03, 0.05)
#: seconds a thread is waited for at stop
JOIN_SECONDS = 5.0


@dataclass(frozen=True)
class _Watched:
    resource: Resource
    seq: int  # the resource's deploy count: status reads carry it, so the engine drops older ones


class Monitor:
    """Polls the runtime state of deployed resources, follows their logs and keeps their port forwards."""

    def __init__(
        self,
        target: Target,
        local: LocalProcesses,
        sink: Sink,
        post: Callable[[Event], None],
        options: EngineOptions,
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._target = target
        self._local = local
        self._sink = sink
        self._post = post
        self._options = options
        self._project: Project | None = None
        self._lock = threading.Lock()
        self._watched: dict[str, _Watched] = {}
        self._last: dict[str, tuple[int, RuntimeStatus]] = {}  # what was posted last, per resource
        self._settling = False
        self._stopping = threading.Event()
        # wake the pollers (workloads, local resources): a deploy finished, or we are stopping
        self._pokes = {False: threading.Event(), True: threading.Event()}
        self._threads: list[threading.Thread] = []
        self._log_tokens: dict[str, StopToken] = {}
        self._forwards: dict[str, list[PortForwardHandle]] = {}

    # ------------------------------------------------------------------ what to poll

    def use_project(self, project: Project) -> None:
        """The project (re)loaded: watched resources are read as it describes them (those it lost are dropped)."""
        with self._lock:
            self._project = project
            for name, entry in list(self._watched.items()):
                resource = project.resource(name)
                if resource is None:
                    del self._watched[name]
                else:
                    self._watched[name] = _Watched(resource, entry.seq)

    def watch(self, name: str, seq: int) -> None:
        """Poll ``name`` (deployed, its deploy count ``seq``) from now on; its next status is posted at once."""
        with self._lock:
            project = self._project
            resource = project.resource(name) if project is not None else None
            if resource is None:
                return
            self._watched[name] = _Watched(resource, seq)
            self._last.pop(name, None)
        self.poke()

    def unwatch(self, name: str) -> None:
        with self._lock:
            self._watched.pop(name, None)
            self._last.pop(name, None)

    def set_settling(self, settling: bool) -> None:
        """Poll fast while something is coming up (readiness is what `ci` and the user wait for)."""
        self._settling = settling

    # ------------------------------------------------------------------ polling

    def start(self) -> None:
        for local in (False, True):
            kind = "local" if local else "monitor"
            thread = threading.Thread(target=self._poll_forever, args=(local,), name=f"devloop-{kind}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _poll_forever(self, local: bool) -> None:
        interval = self._options.poll_interval
        quick = len(QUICK_INTERVALS)  # rounds since the last poke, while they are quick
        while not self._stopping.is_set():
            poke = self._pokes[local]
            settling = QUICK_INTERVALS[quick] if quick < len(QUICK_INTERVALS) else SETTLING_INTERVAL
            poked = poke.wait(min(interval, settling) if self._settling else interval)
            poke.clear()
            quick = 0 if poked else quick + 1
            if self._stopping.is_set():
                return
            self.poll(local=local)

    def poll(self, *, local: bool | None = None) -> None:
        """One round: read the status of every watched resource (only local ones, only workloads, or all) and
        post the ones that changed."""
        with self._lock:
            watched = dict(self._watched)
        for name, entry in watched.items():
            spec = entry.resource.local
            if local is not None and (spec is not None) != local:
                continue
            try:
                if spec is not None:
                    status = self._local.status(spec)
                else:
                    assert self._project is not None
                    status = self._target.status(self._project, entry.resource)
            except Exception as exc:  # the engine restarting, a network blip: try again next round
                log.debug("status of %s failed: %s", name, exc)
                continue
            with self._lock:
                if name not in self._watched or self._last.get(name) == (entry.seq, status):
                    continue
                self._last[name] = (entry.seq, status)
            self._post(RuntimeChanged(name, status, entry.seq))

    def poke(self) -> None:
        for poke in self._pokes.values():
            poke.set()

    # ------------------------------------------------------------------ logs and port forwards

    def follow(self, project: Project, resource: Resource) -> tuple[str, ...] | None:
        """Follow the logs of a deployed workload and open its port forwards (once each). Returns the URLs of the
        forwards it opened now, or None when they were open already (or there are none to open)."""
        if resource.local is not None:
            return None  # its output is streamed by LocalProcesses; nothing to forward
        name = resource.name
        if self._options.stream_logs and name not in self._log_tokens:
            self._follow_logs(project, resource)
        if self._options.port_forwards and name not in self._forwards and resource.settings.port_forwards:
            return self._open_forwards(project, resource)
        return None

    def _follow_logs(self, project: Project, resource: Resource) -> None:
        from devloop.config.podtemplate import containers

        name = resource.name
        token = StopToken()
        self._log_tokens[name] = token
        workload = resource.workload
        many = workload is not None and len(containers(workload, init=False, ephemeral=False)) > 1

        def on_line(line: LogLine) -> None:
            self._sink.log(name, f"[{line.source}] {line.text}" if many else line.text)

        def follow() -> None:
            while not token.stopped:
                try:
                    self._target.stream_logs(project, resource, on_line, token)
                except Exception as exc:
                    log.debug("log stream of %s ended: %s", name, exc)
                token.wait(1.0)

        thread = threading.Thread(target=follow, name=f"devloop-logs-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _open_forwards(self, project: Project, resource: Resource) -> tuple[str, ...]:
        handles: list[PortForwardHandle] = []
        urls: list[str] = []
        for forward in resource.settings.port_forwards:
            try:
                handles.append(
                    self._target.port_forward(project, resource, forward.local, forward.container, forward.host)
                )
                urls.append(f"http://localhost:{forward.local}")
            except DevloopError as exc:
                self._sink.log(resource.name, f"port forward failed: {exc}")
        self._forwards[resource.name] = handles
        return tuple(urls)

    def close_forwards(self, name: str) -> None:
        """Close the forwards of ``name`` (its list changed: :meth:`follow` opens the new ones)."""
        for handle in self._forwards.pop(name, []):
            handle.close()

    def forget(self, name: str) -> None:
        """``name`` is gone: stop polling it, following its logs and forwarding its ports."""
        self.unwatch(name)
        token = self._log_tokens.pop(name, None)
        if token is not None:
            token.stop()
        self.close_forwards(name)

    # ------------------------------------------------------------------ stopping

    def stop(self) -> None:
        """Tell every thread to stop and close every forward (:meth:`join` waits for the threads)."""
        self._stopping.set()
        self.poke()
        for name in {*self._log_tokens, *self._forwards}:
            self.forget(name)

    def join(self) -> None:
        """Wait (a few seconds at most) for the threads told to stop."""
        end = self._clock.monotonic() + JOIN_SECONDS
        for thread in self._threads:
            thread.join(timeout=max(0.0, end - self._clock.monotonic()))
