"""A strict in-memory stand-in for the Docker Engine API calls the docker target's runtime makes.

Only the low-level ``docker.APIClient`` methods that :mod:`devloop.targets.docker.runtime`,
``create``, ``remove`` and the deploy path of ``DockerTarget`` (its network) call exist, with the
SDK's signatures (an unknown method or keyword fails), and they fail as the real engine does, with
the SDK's exception classes: 404 ``NotFound`` for an unknown container or volume, ``ImageNotFound``
for an unknown image, 409 for a name in use, for killing a container that does not run, for
removing a running one without ``force`` or a volume in use. ``tests/test_docker_fake_api.py`` runs
the same contract against the real engine.

What a container does when started is its image's :class:`Program`: write some log lines, then run
until stopped (``exit_code=None``) or exit at once with a code. Tests change a container's fate with
:meth:`FakeDockerAPI.exit` (it exits, as after a crash or ``docker kill``) and :meth:`FakeDockerAPI.program`.
Nothing here sleeps or runs a thread: time is whatever the test's clock says.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import docker.errors
import requests

PAUSE = "devloop/pause:fake"

_REASONS = {404: "Not Found", 409: "Conflict", 400: "Bad Request"}


def api_error(status: int, explanation: str, *, image: bool = False) -> docker.errors.APIError:
    """The exception the SDK raises for an engine answer of ``status`` (as docker.errors maps them)."""
    response = requests.Response()
    response.status_code = status
    response.reason = _REASONS.get(status, "Error")
    response.url = "http+docker://localhost/fake"
    if status == 404:
        cls = docker.errors.ImageNotFound if image else docker.errors.NotFound
        return cls(explanation, response=response, explanation=explanation)
    return docker.errors.APIError(explanation, response=response, explanation=explanation)


@dataclass
class Program:
    """What a container of an image does when it starts."""

    logs: tuple[str, ...] = ()
    exit_code: int | None = None  # None: runs until stopped
    handles_sigterm: bool = True  # False: SIGTERM does nothing (a PID 1 without a handler)
    start_error: str = ""  # the engine refuses to start it (400), e.g. a command that is not in the image


@dataclass
class Container:
    id: str
    name: str
    image: str
    labels: dict[str, str]
    host_config: dict[str, Any]
    networks: dict[str, dict[str, Any]]
    hostname: str = ""
    user: str = ""
    environment: list[str] = field(default_factory=list)
    state: str = "created"
    exit_code: int = 0
    started_at: str = "0001-01-01T00:00:00Z"
    starts: int = 0
    logs: list[str] = field(default_factory=list)
    files: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.state == "running":
            return "Up 1 second"
        if self.state == "exited":
            return f"Exited ({self.exit_code}) 1 second ago"
        return "Created"

    def summary(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Names": [f"/{self.name}"],
            "Image": self.image,
            "State": self.state,
            "Status": self.status,
            "Labels": dict(self.labels),
            "NetworkSettings": {"Networks": {n: dict(v) for n, v in self.networks.items()}},
        }

    def mounted_volumes(self) -> set[str]:
        return {str(m.get("Source")) for m in self.host_config.get("Mounts") or [] if m.get("Type") == "volume"}


def _matches(labels: dict[str, str], wanted: str | list[str]) -> bool:
    for item in [wanted] if isinstance(wanted, str) else wanted:
        key, eq, value = item.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def _serialised(cls: type[Any]) -> type[Any]:
    """Every public method holds the engine's lock: a supervisor thread may call while a test looks."""

    def locked(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(self, *args, **kwargs)

        return call

    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_"):
            setattr(cls, name, locked(value))
    return cls


@_serialised
class FakeDockerAPI:
    """The engine: containers, images, volumes, networks; see the module's docstring."""

    def __init__(self, images: tuple[str, ...] = (PAUSE,), *, wall: float = 1_700_000_000.0) -> None:
        self.images: dict[str, Program] = {image: Program() for image in images}
        self.containers_by_id: dict[str, Container] = {}
        self.volumes_by_name: dict[str, dict[str, Any]] = {}
        self.networks_by_name: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self.calls: list[str] = []
        self._ids = itertools.count(1)
        self._ips = itertools.count(2)
        self._wall = wall

    # --- what tests use ----------------------------------------------------------------------------

    def add_image(self, image: str, program: Program | None = None) -> None:
        self.images[image] = program or Program()

    def program(self, image: str, program: Program) -> None:
        """From now on, containers of ``image`` do this when they (re)start."""
        self.images[image] = program

    def find(self, name_or_id: str) -> Container:
        found = self._lookup(name_or_id)
        if found is None:
            raise KeyError(name_or_id)
        return found

    def by_label(self, **labels: str) -> list[Container]:
        wanted = [f"{k}={v}" for k, v in labels.items()]
        return [c for c in self.containers_by_id.values() if _matches(c.labels, wanted)]

    def exit(self, name_or_id: str, code: int, *lines: str) -> None:
        """The container's process ends with ``code`` (after writing ``lines``)."""
        c = self.find(name_or_id)
        assert c.state == "running", f"{c.name} is {c.state}"
        c.logs.extend(lines)
        c.state = "exited"
        c.exit_code = code

    # --- containers --------------------------------------------------------------------------------

    def containers(
        self,
        quiet: bool = False,
        all: bool = False,
        trunc: bool = False,
        latest: bool = False,
        since: str | None = None,
        before: str | None = None,
        limit: int = -1,
        size: bool = False,
        filters: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        self.calls.append("containers")
        filters = dict(filters or {})
        unknown = set(filters) - {"label", "id", "name"}
        if unknown:
            raise api_error(400, f"invalid filter '{sorted(unknown)[0]}'")
        out = []
        for c in self.containers_by_id.values():
            if not all and c.state != "running":
                continue
            if "label" in filters and not _matches(c.labels, filters["label"]):
                continue
            if "id" in filters and not c.id.startswith(str(filters["id"])):
                continue
            if "name" in filters and str(filters["name"]).lstrip("/") not in c.name:
                continue
            out.append(c.summary())
        return out

    def inspect_container(self, container: str) -> dict[str, Any]:
        self.calls.append("inspect_container")
        c = self._get(container)
        return {
            "Id": c.id,
            "Name": f"/{c.name}",
            "RestartCount": 0,
            "State": {
                "Status": c.state,
                "Running": c.state == "running",
                "ExitCode": c.exit_code,
                "Pid": 0,  # not a process of this machine: devloop must not look into /proc
                "StartedAt": c.started_at,
            },
            "Config": {"Image": c.image, "Labels": dict(c.labels), "Hostname": c.hostname, "User": c.user},
            "NetworkSettings": {"Networks": {n: dict(v) for n, v in c.networks.items()}},
        }

    def create_container(
        self,
        image: str,
        command: Any = None,
        hostname: str | None = None,
        user: str | None = None,
        detach: bool = False,
        stdin_open: bool = False,
        tty: bool = False,
        ports: Any = None,
        environment: Any = None,
        volumes: Any = None,
        network_disabled: bool = False,
        name: str | None = None,
        entrypoint: Any = None,
        working_dir: str | None = None,
        domainname: str | None = None,
        host_config: dict[str, Any] | None = None,
        mac_address: str | None = None,
        labels: dict[str, str] | None = None,
        stop_signal: str | None = None,
        networking_config: dict[str, Any] | None = None,
        healthcheck: Any = None,
        stop_timeout: int | None = None,
        runtime: str | None = None,
        use_config_proxy: bool = True,
        platform: str | None = None,
    ) -> dict[str, Any]:
        self.calls.append("create_container")
        if image not in self.images:
            raise api_error(404, f"No such image: {image}", image=True)
        cid = f"{next(self._ids):064x}"
        name = name or f"fake_{cid[:8]}"
        holder = self._lookup(name)
        if holder is not None:
            raise api_error(
                409,
                f'Conflict. The container name "/{name}" is already in use by container "{holder.id}". '
                "You have to remove (or rename) that container to be able to reuse that name.",
            )
        host_config = dict(host_config or {})
        mode = str(host_config.get("NetworkMode") or "default")
        if mode.startswith("container:") and self._lookup(mode.split(":", 1)[1]) is None:
            raise api_error(404, f"No such container: {mode.split(':', 1)[1]}")
        endpoints = (networking_config or {}).get("EndpointsConfig") or {}
        networks = {} if mode.startswith("container:") else {n: {"IPAddress": ""} for n in endpoints or [mode]}
        self.containers_by_id[cid] = Container(
            cid, name, image, dict(labels or {}), host_config, networks, hostname or cid[:12], user or ""
        )
        self.containers_by_id[cid].environment = list(environment or [])
        return {"Id": cid, "Warnings": []}

    def start(self, container: str, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError("start() takes only the container since docker 3.0")
        self.calls.append("start")
        c = self._get(container)
        if c.state == "running":
            return  # 304 Not Modified: the SDK raises nothing
        mode = str(c.host_config.get("NetworkMode") or "")
        if mode.startswith("container:"):
            sandbox = self._lookup(mode.split(":", 1)[1])
            if sandbox is None or sandbox.state != "running":
                raise api_error(409, f"cannot join network of a non running container: {mode.split(':', 1)[1]}")
        error = self.images.get(c.image, Program()).start_error
        if error:
            c.exit_code = 127
            raise api_error(400, error)
        self._run(c)

    def restart(self, container: str, timeout: int = 10) -> None:
        self.calls.append("restart")
        c = self._get(container)
        if c.state == "running":
            self._stop(c, 137)
        self._run(c)

    def kill(self, container: str, signal: str | int | None = None) -> None:
        self.calls.append("kill")
        c = self._get(container)
        if c.state != "running":
            raise api_error(409, f"Cannot kill container: {container}: Container {c.id} is not running")
        if signal in ("SIGTERM", "TERM", 15):
            if self.images.get(c.image, Program()).handles_sigterm:
                self._stop(c, 143)
        else:
            self._stop(c, 137)

    def remove_container(self, container: str, v: bool = False, link: bool = False, force: bool = False) -> None:
        self.calls.append("remove_container")
        c = self._get(container)
        if c.state == "running" and not force:
            raise api_error(
                409,
                f"You cannot remove a running container {c.id}. Stop the container before attempting removal "
                "or force remove",
            )
        del self.containers_by_id[c.id]

    def logs(
        self,
        container: str,
        stdout: bool = True,
        stderr: bool = True,
        stream: bool = False,
        timestamps: bool = False,
        tail: str | int = "all",
        since: Any = None,
        follow: bool | None = None,
        until: Any = None,
    ) -> bytes:
        if stream or follow:
            raise NotImplementedError("the fake engine does not stream logs")
        self.calls.append("logs")
        lines = self._get(container).logs
        if tail != "all":
            lines = lines[-int(tail) :] if int(tail) > 0 else []
        return "".join(f"{line}\n" for line in lines).encode()

    def put_archive(self, container: str, path: str, data: bytes) -> bool:
        self.calls.append("put_archive")
        self._get(container).files.append((path, bytes(data)))
        return True

    # --- configuration helpers (client-side in the SDK) ----------------------------------------------

    def create_host_config(self, **kwargs: Any) -> dict[str, Any]:
        known = {"network_mode", "mounts", "mem_limit", "nano_cpus", "privileged", "read_only", "cap_add", "cap_drop"}
        unknown = set(kwargs) - known
        if unknown:
            raise TypeError(f"create_host_config() got an unexpected keyword argument {sorted(unknown)[0]!r}")
        config: dict[str, Any] = {"NetworkMode": kwargs.get("network_mode") or "default"}
        config["Mounts"] = [dict(m) for m in kwargs.get("mounts") or []]
        return config

    def create_networking_config(self, endpoints_config: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"EndpointsConfig": dict(endpoints_config or {})}

    def create_endpoint_config(self, aliases: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
        return {"Aliases": list(aliases or [])}

    # --- images --------------------------------------------------------------------------------------

    def inspect_image(self, image: str) -> dict[str, Any]:
        self.calls.append("inspect_image")
        if image not in self.images:
            raise api_error(404, f"No such image: {image}", image=True)
        return {"Id": f"sha256:{abs(hash(image)):064x}"[:71], "RepoTags": [image]}

    def pull(self, repository: str, tag: str | None = None, **kwargs: Any) -> str:
        self.calls.append("pull")
        raise api_error(404, f"pull access denied for {repository}, repository does not exist")

    # --- volumes -------------------------------------------------------------------------------------

    def create_volume(
        self,
        name: str | None = None,
        driver: str | None = None,
        driver_opts: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        self.calls.append("create_volume")
        assert name, "devloop names its volumes"
        volume = self.volumes_by_name.setdefault(
            name, {"Name": name, "Driver": driver or "local", "Options": driver_opts, "Labels": dict(labels or {})}
        )
        return dict(volume)

    def volumes(self, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        self.calls.append("volumes")
        wanted = (filters or {}).get("label") or []
        found = [dict(v) for v in self.volumes_by_name.values() if _matches(v["Labels"], wanted)]
        return {"Volumes": found or None, "Warnings": None}

    def remove_volume(self, name: str, force: bool = False) -> None:
        self.calls.append("remove_volume")
        if name not in self.volumes_by_name:
            raise api_error(404, f"get {name}: no such volume")  # forced or not
        users = [c.id for c in self.containers_by_id.values() if name in c.mounted_volumes()]
        if users:
            raise api_error(409, f"remove {name}: volume is in use - [{', '.join(users)}]")
        del self.volumes_by_name[name]

    # --- networks ------------------------------------------------------------------------------------

    def networks(self, names: list[str] | None = None, ids: list[str] | None = None, filters: Any = None) -> list[Any]:
        self.calls.append("networks")
        wanted = (filters or {}).get("label") or []
        return [
            dict(n)
            for n in self.networks_by_name.values()
            if (names is None or n["Name"] in names) and _matches(n["Labels"], wanted)
        ]

    def create_network(
        self,
        name: str,
        driver: str | None = None,
        options: Any = None,
        ipam: Any = None,
        check_duplicate: bool | None = None,
        internal: bool = False,
        labels: dict[str, str] | None = None,
        enable_ipv6: bool = False,
        attachable: bool | None = None,
        scope: str | None = None,
        ingress: bool | None = None,
    ) -> dict[str, Any]:
        self.calls.append("create_network")
        if check_duplicate and name in self.networks_by_name:
            raise api_error(409, f"network with name {name} already exists")
        network = {"Name": name, "Id": f"net{len(self.networks_by_name):061x}", "Labels": dict(labels or {})}
        self.networks_by_name[name] = network
        return {"Id": network["Id"], "Warning": ""}

    # --- inside --------------------------------------------------------------------------------------

    def _lookup(self, name_or_id: str) -> Container | None:
        key = name_or_id.lstrip("/")
        for c in self.containers_by_id.values():
            if c.id == key or c.name == key:
                return c
        matches = [c for c in self.containers_by_id.values() if len(key) >= 4 and c.id.startswith(key)]
        return matches[0] if len(matches) == 1 else None

    def _get(self, name_or_id: str) -> Container:
        c = self._lookup(name_or_id)
        if c is None:
            raise api_error(404, f"No such container: {name_or_id}")
        return c

    def _run(self, c: Container) -> None:
        program = self.images.get(c.image, Program())
        c.starts += 1
        self._wall += 1.0  # StartedAt as Docker writes it (RFC 3339, nanoseconds)
        c.started_at = datetime.fromtimestamp(self._wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
        for net in c.networks.values():
            net["IPAddress"] = net["IPAddress"] or f"172.30.0.{next(self._ips)}"
        c.logs.extend(program.logs)
        if program.exit_code is None:
            c.state = "running"
        else:
            c.state = "exited"
            c.exit_code = program.exit_code

    def _stop(self, c: Container, code: int) -> None:
        c.state = "exited"
        c.exit_code = code


class FakeDockerClient:
    """What DockerTarget takes: ``.api`` (the fake engine) and ``close``."""

    def __init__(self, api: FakeDockerAPI | None = None) -> None:
        self.api = api or FakeDockerAPI()

    def close(self) -> None:
        pass
