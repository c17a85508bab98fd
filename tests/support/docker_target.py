"""Helpers for the docker target tests: model objects built directly, deploys, and waiting for a state."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from devloop.config.model import Config, ManifestObject, PortForward, Project, Resource, ResourceSettings
from devloop.targets.base import DeployRequest, DeployResult, LogLine, Phase, RuntimeStatus, StopToken

T = TypeVar("T")


def obj(body: dict[str, Any]) -> ManifestObject:
    return ManifestObject(body=body, source="test.yaml:1")


def deployment(
    name: str, containers: list[dict[str, Any]], *, replicas: int = 1, labels: dict[str, str] | None = None, **spec: Any
) -> ManifestObject:
    pod_labels = labels or {"app": name}
    return obj(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": pod_labels},
                "template": {
                    "metadata": {"labels": pod_labels},
                    "spec": {"terminationGracePeriodSeconds": 0, "containers": containers, **spec},
                },
            },
        }
    )


def simple_deployment(name: str, image: str) -> ManifestObject:
    """One replica of one container named `main` running ``image``: the workload of engine and UI tests."""
    return deployment(name, [{"name": "main", "image": image}])


def job(name: str, containers: list[dict[str, Any]], **job_spec: Any) -> ManifestObject:
    return obj(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name},
            "spec": {
                **job_spec,
                "template": {
                    "spec": {"terminationGracePeriodSeconds": 0, "restartPolicy": "Never", "containers": containers}
                },
            },
        }
    )


def configmap(name: str, data: dict[str, str]) -> ManifestObject:
    return obj({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})


def service(name: str, selector: dict[str, str], port: int, target_port: int | str | None = None) -> ManifestObject:
    return obj(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": selector, "ports": [{"port": port, "targetPort": target_port or port}]},
        }
    )


def project(
    name: str,
    objects: Sequence[ManifestObject],
    forwards: dict[str, Sequence[PortForward]] | None = None,
    tmp: Path | None = None,
) -> Project:
    config = Config(path=(tmp or Path("/nonexistent")) / "devloop.yaml", name=name)
    resources = []
    for o in objects:
        if o.is_workload:
            settings = ResourceSettings(port_forwards=tuple((forwards or {}).get(o.name, ())))
            resources.append(Resource(name=o.name, kind=o.kind, objects=(o,), images=(), settings=settings))
    return Project(config=config, resources=tuple(resources))


def deploy(target: Any, proj: Project, resource: str) -> DeployResult:
    res = proj.resource(resource)
    assert res is not None
    all_objects = tuple(o for r in proj.resources for o in r.objects) + tuple(extra_objects(proj))
    result: DeployResult = target.apply(DeployRequest(proj, res, res.objects, all_objects))
    return result


_EXTRA: dict[str, tuple[ManifestObject, ...]] = {}


def with_objects(proj: Project, objects: Sequence[ManifestObject]) -> Project:
    """Non-workload objects (ConfigMaps, Secrets, Services) visible to every deploy of ``proj``."""
    _EXTRA[proj.name] = tuple(objects)
    return proj


def extra_objects(proj: Project) -> tuple[ManifestObject, ...]:
    return _EXTRA.get(proj.name, ())


def wait_for(fn: Callable[[], T | None], what: str, timeout: float = 40.0, every: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def wait_phase(target: Any, proj: Project, resource: str, *phases: Phase, timeout: float = 40.0) -> RuntimeStatus:
    res = proj.resource(resource)
    assert res is not None
    seen: list[RuntimeStatus] = []

    def check() -> RuntimeStatus | None:
        status: RuntimeStatus = target.status(proj, res)
        seen[:] = [status]
        return status if status.phase in phases else None

    try:
        return wait_for(check, f"{resource} to be {'/'.join(p.value for p in phases)}", timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last status: {seen[-1] if seen else None}") from None


class LogCollector:
    """Follows a resource's logs in a thread; ``lines`` grows as they come."""

    def __init__(self, target: Any, proj: Project, resource: str) -> None:
        import threading

        self.lines: list[LogLine] = []
        self.stop = StopToken()
        res = proj.resource(resource)
        assert res is not None
        self.thread = threading.Thread(target=target.stream_logs, args=(proj, res, self.lines.append, self.stop))
        self.thread.start()

    def texts(self, source_suffix: str = "") -> list[str]:
        return [ln.text for ln in list(self.lines) if ln.source.endswith(source_suffix)]

    def wait_text(self, text: str, source_suffix: str = "", timeout: float = 40.0) -> list[str]:
        return wait_for(
            lambda: self.texts(source_suffix) if any(text in t for t in self.texts(source_suffix)) else None,
            f"log line {text!r}",
            timeout,
        )

    def close(self) -> None:
        self.stop.stop()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "stream_logs did not stop"
