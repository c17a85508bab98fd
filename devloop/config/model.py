"""Plain, immutable model objects for devloop.yaml (config.md, version 1) and the manifests.

Everything here is data: no I/O, no validation (that lives in ``loader``/``schema``).
Paths are absolute :class:`pathlib.Path` objects, resolved against the folder of devloop.yaml.
Mappings are stored as sorted tuples of pairs so that the objects are hashable and comparable.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from devloop.config.imageref import same_image

TargetName = Literal["auto", "kubernetes", "docker"]
TriggerMode = Literal["auto", "manual"]

#: Kinds that make a resource of their own (config.md, "Resources").
WORKLOAD_KINDS: tuple[str, ...] = (
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "Pod",
)

UNCATEGORIZED = "uncategorized"


@dataclass(frozen=True)
class SyncRule:
    src: str  # relative to the image context, POSIX separators, normalised ("." for the whole context)
    dest: str  # absolute POSIX path in the container


@dataclass(frozen=True)
class RunStep:
    cmd: str | tuple[str, ...]  # str: run with /bin/sh -c; tuple: exec form
    trigger: tuple[str, ...] = ()  # paths relative to the context; empty = always

    @property
    def argv(self) -> list[str]:
        if isinstance(self.cmd, str):
            return ["/bin/sh", "-c", self.cmd]
        return list(self.cmd)

    @property
    def display(self) -> str:
        return self.cmd if isinstance(self.cmd, str) else " ".join(self.cmd)


@dataclass(frozen=True)
class LiveUpdate:
    sync: tuple[SyncRule, ...] = ()
    run: tuple[RunStep, ...] = ()
    fall_back_on: tuple[str, ...] = ()  # relative to the context
    restart: bool = False


@dataclass(frozen=True)
class TestStage:
    __test__ = False  # not a pytest test class
    cmd: str


@dataclass(frozen=True)
class ImageRequirement:
    """``images[].requires[]``: another built image this one uses (``FROM $ALIAS``); it builds first and its built
    reference is passed as the build arg ``alias``."""

    image: ImageSpec  # the required image, with its own requirements
    alias: str


@dataclass(frozen=True)
class ImageSpec:
    ref: str  # the image name as the manifests write it, without tag
    context: Path
    dockerfile: Path
    target: str | None = None
    args: tuple[tuple[str, str], ...] = ()
    ignore: tuple[str, ...] = ()
    test: TestStage | None = None
    live_update: LiveUpdate | None = None
    index: int = 0  # position in images[], for error messages
    #: the Dockerfile a recipe generated (``dockerfile`` then names no file: it is never written into the
    #: project); None for a Dockerfile on disk
    dockerfile_text: str | None = None
    recipe: str | None = None  # the recipe that generated ``dockerfile_text`` ("python", "node", "static")
    #: where it is defined, for messages: ``images[0]`` or ``workloads.api`` (implicit image of a workload)
    origin: str = ""
    #: devloop's own files inside the context (devloop.yaml, .devloopignore, manifests), as .dockerignore
    #: patterns relative to it: never part of the image nor of its digest (set by the loader)
    own_files: tuple[str, ...] = ()
    #: ``images[].entrypoint``: replaces the command (and args) of every container that runs the image, in
    #: the dev loop only (``up``, ``ci``); str: /bin/sh -c; tuple: exec form; None: the manifests' own
    entrypoint: str | tuple[str, ...] | None = None
    #: ``images[].requires``: built images this one uses, built before it (set by the loader)
    requires: tuple[ImageRequirement, ...] = ()

    @property
    def required_refs(self) -> tuple[str, ...]:
        """The refs of every image this one requires, directly or through another, dependencies first."""
        refs: list[str] = []
        for requirement in self.requires:
            for ref in (*requirement.image.required_refs, requirement.image.ref):
                if ref not in refs:
                    refs.append(ref)
        return tuple(refs)

    @property
    def build_args(self) -> dict[str, str]:
        return dict(self.args)

    @property
    def implicit(self) -> bool:
        """Defined by a workload's ``build:`` rather than an ``images[]`` entry."""
        return self.origin.startswith("workloads.")


@dataclass(frozen=True)
class GlobSource:
    pattern: str  # relative to the project root
    index: int = 0


@dataclass(frozen=True)
class KustomizeSource:
    path: Path
    index: int = 0


@dataclass(frozen=True)
class HelmSource:
    chart: Path
    release: str
    namespace: str | None  # None: kubernetes.namespace
    values: tuple[Path, ...] = ()
    set: tuple[tuple[str, str], ...] = ()
    index: int = 0


ManifestSource = GlobSource | KustomizeSource | HelmSource


@dataclass(frozen=True)
class PortForward:
    local: int
    container: int  # 0 while ``port_name`` is not resolved yet (the loader; assembly resolves it)
    host: str = "127.0.0.1"
    #: ``"8000:http"``: the name of a container port in the resource's pod template; assembly sets ``container``
    port_name: str | None = None

    def __str__(self) -> str:
        if self.port_name is not None:
            return f"{self.local}:{self.port_name}"
        return f"{self.local}:{self.container}" if self.local != self.container else str(self.local)


@dataclass(frozen=True)
class ObjectSelector:
    """``NAME[:KIND]`` from ``resources.X.objects``; kind is matched case-insensitively."""

    name: str
    kind: str | None = None

    def matches(self, name: str, kind: str) -> bool:
        return self.name == name and (self.kind is None or self.kind.lower() == kind.lower())

    def __str__(self) -> str:
        return f"{self.name}:{self.kind}" if self.kind else self.name


@dataclass(frozen=True)
class ResourceSettings:
    port_forwards: tuple[PortForward, ...] = ()
    depends_on: tuple[str, ...] = ()
    trigger: TriggerMode = "auto"
    labels: tuple[str, ...] = ()
    readiness_timeout: float = 300.0
    objects: tuple[ObjectSelector, ...] = ()


WorkloadType = Literal["web", "worker", "job"]


@dataclass(frozen=True)
class WorkloadSpec:
    """``workloads.NAME`` (config.md, "Workloads"): devloop generates its Kubernetes objects."""

    name: str
    type: WorkloadType
    image: str  # the image reference the container runs: an images[].ref (implicit or not) or any image
    source: str  # ``devloop.yaml:LINE`` of its key: the "source" of the generated objects
    build: bool = False  # the image is the implicit images[] entry of `build:`
    port: int | None = None
    command: str | tuple[str, ...] | None = None  # str: /bin/sh -c; tuple: exec form; None: the image's own
    env: tuple[tuple[str, str], ...] = ()
    replicas: int = 1
    health: str | None = None  # web: HTTP readiness path; None: a TCP check on port


Readiness = tuple[Literal["http", "tcp", "cmd"], str]  # ("http", URL) | ("tcp", PORT) | ("cmd", shell command)


@dataclass(frozen=True)
class LocalSpec:
    """``local.NAME`` (config.md, "Local resources"): commands run on the host, as a resource."""

    name: str
    dir: Path  # absolute; default the folder of devloop.yaml
    cmd: str | None = None  # run with /bin/sh -c at start and when deps change
    serve: str | None = None  # long-running, run with /bin/sh -c; its exit is a failure
    deps: tuple[str, ...] = ()  # gitignore patterns relative to the folder of devloop.yaml
    env: tuple[tuple[str, str], ...] = ()  # added to devloop's own environment
    readiness: Readiness | None = None  # for serve; None: running counts as ready
    source: str = ""  # ``devloop.yaml:LINE`` of its key


@dataclass(frozen=True)
class KubernetesSettings:
    context: str | None = None
    namespace: str | None = None
    allow_contexts: tuple[str, ...] = ()
    registry: str | None = None


@dataclass(frozen=True)
class DockerSettings:
    network: str | None = None  # None: devloop-<name>


@dataclass(frozen=True)
class WatchSettings:
    ignore: tuple[str, ...] = ("**/.git/**", "**/node_modules/**")
    debounce_ms: int = 50


@dataclass(frozen=True)
class Config:
    path: Path  # the devloop.yaml file
    name: str
    version: int = 1
    target: TargetName = "auto"
    kubernetes: KubernetesSettings = field(default_factory=KubernetesSettings)
    docker: DockerSettings = field(default_factory=DockerSettings)
    manifests: tuple[ManifestSource, ...] = ()
    images: tuple[ImageSpec, ...] = ()
    resources: tuple[tuple[str, ResourceSettings], ...] = ()
    workloads: tuple[WorkloadSpec, ...] = ()
    local: tuple[LocalSpec, ...] = ()
    watch: WatchSettings = field(default_factory=WatchSettings)
    profile: str | None = None  # the selected ``profiles.NAME`` (--profile, DEVLOOP_PROFILE), merged in
    profiles: tuple[str, ...] = ()  # the names of every profile the file defines
    #: (key path, line, column) of every key in devloop.yaml, 1-based, for error messages.
    #: Key paths are written as in messages: ``images[0].live_update.sync[0].dest``.
    positions: tuple[tuple[str, int, int], ...] = field(default=(), compare=False, repr=False)

    def location(self, key: str) -> str:
        """``devloop.yaml:LINE:COL`` of ``key`` (or of its nearest parent that has a position)."""
        found = {k: (line, col) for k, line, col in self.positions}
        probe = key
        while probe:
            if probe in found:
                line, col = found[probe]
                return f"{self.path.name}:{line}:{col}"
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return f"{self.path.name}:1:1"

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def docker_network(self) -> str:
        return self.docker.network or f"devloop-{self.name}"

    def resource_settings(self, name: str) -> ResourceSettings:
        for key, settings in self.resources:
            if key == name:
                return settings
        return ResourceSettings()

    def image(self, ref: str) -> ImageSpec | None:
        """The image whose ``ref`` names the same image as ``ref`` (``docker.io/library/x`` is ``x``)."""
        for image in self.images:
            if same_image(image.ref, ref):
                return image
        return None


@dataclass(frozen=True, eq=False)
class ManifestObject:
    """One Kubernetes object from the manifests.

    ``body`` must be treated as read-only; functions that change an object return a new one
    (see :meth:`with_body`). ``source`` is ``file:line`` of the document it came from.
    """

    body: dict[str, Any]
    source: str

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", ""))

    @property
    def name(self) -> str:
        return str((self.body.get("metadata") or {}).get("name", ""))

    @property
    def namespace(self) -> str | None:
        ns = (self.body.get("metadata") or {}).get("namespace")
        return str(ns) if ns else None

    @property
    def labels(self) -> dict[str, str]:
        return dict((self.body.get("metadata") or {}).get("labels") or {})

    @property
    def is_workload(self) -> bool:
        return self.kind in WORKLOAD_KINDS

    @property
    def key(self) -> tuple[str, str, str]:
        """(kind, namespace or "", name): identifies the object within a project."""
        return (self.kind, self.namespace or "", self.name)

    def copy_body(self) -> dict[str, Any]:
        return copy.deepcopy(self.body)

    def with_body(self, body: dict[str, Any]) -> ManifestObject:
        return ManifestObject(body=body, source=self.source)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ManifestObject) and self.body == other.body

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"ManifestObject({self.kind}/{self.name} from {self.source})"


@dataclass(frozen=True)
class Resource:
    """A unit devloop builds, deploys and shows: one workload and what is attached to it.

    ``uncategorized`` has no workload. ``objects`` holds every object of the resource
    (the workload first), labelled but with image references not yet rewritten.
    """

    name: str
    kind: str  # the workload's kind, or "" for uncategorized
    objects: tuple[ManifestObject, ...]
    images: tuple[str, ...]  # image refs (ImageSpec.ref) its containers use
    settings: ResourceSettings = field(default_factory=ResourceSettings)
    local: LocalSpec | None = None  # a local resource (kind "local"): runs on the host, has no objects

    @property
    def workload(self) -> ManifestObject | None:
        return self.objects[0] if self.kind and self.objects else None


@dataclass(frozen=True)
class Project:
    """The loaded config plus the resources, in deploy order (dependencies first)."""

    config: Config
    resources: tuple[Resource, ...]
    warnings: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.config.name

    @functools.cached_property
    def _by_name(self) -> dict[str, Resource]:
        return {resource.name: resource for resource in self.resources}

    def resource(self, name: str) -> Resource | None:
        return self._by_name.get(name)
