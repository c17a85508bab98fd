"""`devloop init`, the deciding part: a devloop.yaml for a folder from what is in it, and what was assumed.

:func:`scan` reads the folder (never writes) and returns the config as data plus one sentence per assumption.
What it looks for, in this order of precedence:

1. Kubernetes manifests: Chart.yaml (a helm chart), kustomization.yaml (a kustomize folder: a dev overlay
   when there are several), and YAML files whose documents are Kubernetes objects (one glob per folder).
   Dockerfiles become ``images[]`` entries, their ref taken from a container image of the manifests with the
   folder's name when there is one.
2. Else compose.yaml (or docker-compose.yml): every service becomes a workload (web with a port when it
   publishes one, else worker), with its build, image, command, environment, ports and depends_on.
3. Else Dockerfiles: one workload per Dockerfile folder (web with its first EXPOSEd port, else worker).
4. Else folders a recipe knows (requirements.txt, pyproject.toml, package.json, index.html): web workloads.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from devloop.config.loader import sanitize_name
from devloop.config.recipes import PYTHON_ENTRY_POINTS, RecipeError, detect

SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".tox", "dist", "build", "vendor"}
)
MAX_DEPTH = 4
COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
RECIPE_PORTS = {"python": 8000, "node": 3000, "static": 8080}
NOTHING_FOUND = (
    "no Dockerfile, Kubernetes YAML, kustomization.yaml, Chart.yaml, compose.yaml, requirements.txt, "
    "pyproject.toml, package.json or index.html"
)


@dataclass
class Scaffold:
    config: dict[str, Any]
    assumptions: list[str] = field(default_factory=list)


class NothingFound(Exception):
    """The folder holds nothing devloop init can describe."""


def scan(root: Path) -> Scaffold:
    """The devloop.yaml (as data) for ``root`` and the assumptions made; :class:`NothingFound` when empty."""
    name = sanitize_name(root.name) or "app"
    found = _Found.collect(root)
    scaffold = Scaffold({"version": 1, "name": name})
    scaffold.assumptions.append(f"the project is named {name} (after the folder)")
    if found.charts or found.kustomizations or found.manifest_files:
        _from_manifests(root, name, found, scaffold)
    elif found.compose is not None:
        _from_compose(root, name, found.compose, scaffold)
    elif found.dockerfiles:
        _from_dockerfiles(root, name, found, scaffold)
    elif found.recipes:
        _from_recipes(root, name, found, scaffold)
    else:
        raise NothingFound(f"found {NOTHING_FOUND} in {root}")
    return scaffold


def render_config(scaffold: Scaffold) -> str:
    """The devloop.yaml text: a header, then the config."""
    header = (
        "# Written by `devloop init`; check it with `devloop plan`. Every field: docs/configuration.md.\n"
        + "".join(f"# - {line}\n" for line in scaffold.assumptions)
    )
    return header + yaml.safe_dump(scaffold.config, sort_keys=False, width=100)


# --------------------------------------------------------------------------------------------- looking


@dataclass
class _Found:
    charts: list[Path] = field(default_factory=list)
    kustomizations: list[Path] = field(default_factory=list)
    manifest_files: list[tuple[Path, list[dict[str, Any]]]] = field(default_factory=list)
    kustomized: list[dict[str, Any]] = field(default_factory=list)  # objects in kustomize folders (for image names)
    compose: Path | None = None
    dockerfiles: list[Path] = field(default_factory=list)  # folders holding a Dockerfile
    recipes: list[tuple[Path, str]] = field(default_factory=list)

    @classmethod
    def collect(cls, root: Path) -> _Found:
        found = cls()
        folders = list(_walk(root))
        for folder, files in folders:
            if "Chart.yaml" in files:
                found.charts.append(folder)
            elif any(k in files for k in KUSTOMIZATION_FILES):
                found.kustomizations.append(folder)
        claimed = [*found.charts, *found.kustomizations]  # their YAML is not read as manifests
        for folder, files in folders:
            if folder == root:
                found.compose = next((root / c for c in COMPOSE_FILES if c in files), None)
            found._note_build(folder, files)
            if _within(folder, claimed):
                if _within(folder, found.kustomizations):
                    for path in _yaml_files(folder, files, KUSTOMIZATION_FILES):
                        found.kustomized.extend(_kubernetes_objects(path))
                continue
            for path in _yaml_files(folder, files, (*COMPOSE_FILES, "devloop.yaml")):
                objects = _kubernetes_objects(path)
                if objects:
                    found.manifest_files.append((path, objects))
        return found

    def _note_build(self, folder: Path, files: list[str]) -> None:
        """A folder with a Dockerfile, or one a recipe can build."""
        if "Dockerfile" in files:
            self.dockerfiles.append(folder)
        else:
            with contextlib.suppress(RecipeError):
                self.recipes.append((folder, detect(folder)))


def _within(folder: Path, tops: list[Path]) -> bool:
    return any(folder == top or top in folder.parents for top in tops)


def _yaml_files(folder: Path, files: list[str], skip: tuple[str, ...]) -> list[Path]:
    """The YAML files of ``folder`` in name order, but for the names in ``skip``."""
    return [folder / name for name in sorted(files) if name.endswith((".yaml", ".yml")) and name not in skip]


def _walk(root: Path) -> Iterator[tuple[Path, list[str]]]:
    for current, dirs, files in os.walk(root):
        folder = Path(current)
        depth = len(folder.relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith(".") and depth < MAX_DEPTH)
        yield folder, files


def _kubernetes_objects(path: Path) -> list[dict[str, Any]]:
    """The documents of a YAML file when every one is a Kubernetes object (apiVersion, kind, metadata.name)."""
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    if not docs or not all(
        isinstance(d, dict) and d.get("apiVersion") and d.get("kind") and isinstance(d.get("metadata"), dict)
        for d in docs
    ):
        return []
    return docs


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() or "."


# --------------------------------------------------------------------------------------------- deciding


def _from_manifests(root: Path, name: str, found: _Found, scaffold: Scaffold) -> None:
    config, notes = scaffold.config, scaffold.assumptions
    manifests: list[Any] = []
    by_folder: dict[Path, list[Path]] = {}
    for path, _ in found.manifest_files:
        by_folder.setdefault(path.parent, []).append(path)
    for folder, paths in by_folder.items():
        yaml_files = [p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.name != "devloop.yaml"]
        if len(yaml_files) == len(paths) and all(p.suffix == ".yaml" for p in paths) and len(paths) > 1:
            manifests.append(f"{_rel(folder, root)}/*.yaml" if folder != root else "*.yaml")
        else:
            manifests.extend(_rel(p, root) for p in paths)
    if manifests:
        count = sum(len(objects) for _, objects in found.manifest_files)
        notes.append(f"{count} Kubernetes objects in {', '.join(str(m) for m in manifests)} are deployed as they are")
    if found.kustomizations:
        chosen = _dev_overlay(found.kustomizations)
        manifests.append({"kustomize": _rel(chosen, root)})
        others = [_rel(k, root) for k in found.kustomizations if k != chosen]
        notes.append(
            f"the kustomization in {_rel(chosen, root)} is rendered with kustomize"
            + (f" (not {', '.join(others)}: one overlay is enough for development)" if others else "")
        )
    for chart in found.charts:
        manifests.append({"helm": {"chart": _rel(chart, root)}})
        notes.append(f"the chart {_rel(chart, root)} is rendered with helm template, release {name}")
    config["manifests"] = manifests

    every = [obj for _, objects in found.manifest_files for obj in objects] + found.kustomized
    used = {_image_name(str(c.get("image"))) for obj in every for c in _containers(obj) if c.get("image")}
    images: list[dict[str, Any]] = []
    for folder in found.dockerfiles:
        leaf = folder.name if folder != root else name
        match = sorted(ref for ref in used if ref.rsplit("/", 1)[-1] == leaf)
        ref = match[0] if match else f"{name}/{sanitize_name(leaf) or 'app'}"
        entry: dict[str, Any] = {"ref": ref}
        if folder != root:
            entry["context"] = _rel(folder, root)
        images.append(entry)
        if match:
            notes.append(f"{_rel(folder, root)}/Dockerfile builds {ref}, the image the manifests run")
        else:
            notes.append(
                f"{_rel(folder, root)}/Dockerfile builds {ref}, which no manifest uses yet: set `ref` to the image "
                "name your manifests write"
            )
    if images:
        config["images"] = images
    if found.compose is not None:
        notes.append(f"{found.compose.name} is not used: the Kubernetes manifests describe what runs")


def _dev_overlay(folders: list[Path]) -> Path:
    for wanted in ("dev", "development", "local"):
        for folder in folders:
            if folder.name == wanted:
                return folder
    return min(folders, key=lambda f: (len(f.parts), str(f)))


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    template = spec.get("template") or (spec.get("jobTemplate") or {}).get("spec", {}).get("template") or {}
    pod = obj.get("spec") if obj.get("kind") == "Pod" else (template.get("spec") if isinstance(template, dict) else {})
    if not isinstance(pod, dict):
        return []
    return [c for key in ("containers", "initContainers") for c in pod.get(key) or [] if isinstance(c, dict)]


def _image_name(image: str) -> str:
    image = image.split("@", 1)[0]
    slash, colon = image.rfind("/"), image.rfind(":")
    return image[:colon] if colon > slash else image


def _workload_name(text: str) -> str:
    return sanitize_name(text).lstrip("0123456789-") or "app"


def _from_compose(root: Path, name: str, path: Path, scaffold: Scaffold) -> None:
    config, notes = scaffold.config, scaffold.assumptions
    services = _compose_services(path)
    workloads: dict[str, Any] = {}
    images: list[dict[str, Any]] = []
    resources: dict[str, Any] = {}
    names = {service: _workload_name(str(service)) for service in services}
    for service, spec in services.items():
        spec = spec if isinstance(spec, dict) else {}
        workload_name = names[service]
        port, forwards = _compose_ports(spec.get("ports"))
        workload: dict[str, Any] = {"type": "web" if port else "worker"}
        source, image = _compose_source(root, f"{name}/{workload_name}", spec)
        if not source:
            notes.append(f"compose service {service} has neither build nor image: it is left out")
            continue
        workload.update(source)
        if image is not None:
            images.append(image)
        workload.update(_compose_run(spec, port))
        workloads[workload_name] = workload
        settings = _compose_settings(spec, forwards, names, workload_name)
        if settings:
            resources[workload_name] = settings
        kind = f"web on port {port}" if port else "worker (it publishes no port)"
        notes.append(f"compose service {service} becomes the workload {workload_name}, a {kind}")
        if spec.get("volumes"):
            notes.append(f"the volumes of compose service {service} are not carried over: workloads have none")
    if images:
        config["images"] = images
    config["workloads"] = workloads
    if resources:
        config["resources"] = resources


def _compose_services(path: Path) -> dict[Any, Any]:
    """The ``services`` of a compose file; NothingFound when it cannot be read or has none."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise NothingFound(f"{path.name} cannot be read as YAML ({exc})") from None
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict) or not services:
        raise NothingFound(f"{path.name} has no services")
    return services


def _compose_source(root: Path, ref: str, spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Where a compose service's image comes from, as workload fields (``build`` or ``image``), plus an
    ``images`` entry named ``ref`` when the build needs more than a folder with a Dockerfile; nothing when the
    service has neither build nor image."""
    build = spec.get("build")
    if build is None:
        return ({"image": str(spec["image"])} if spec.get("image") else {}), None
    context = build if isinstance(build, str) else str((build or {}).get("context", "."))
    context = os.path.normpath(context).replace(os.sep, "/")
    extra = {k: build[k] for k in ("dockerfile", "target", "args") if isinstance(build, dict) and k in build}
    if extra or not (root / context / "Dockerfile").is_file():
        return {"image": ref}, {"ref": ref, "context": context, **extra}
    return {"build": context}, None


def _compose_run(spec: dict[str, Any], port: int | None) -> dict[str, Any]:
    """The workload fields for how a compose service runs: port, command, env."""
    fields: dict[str, Any] = {}
    if port:
        fields["port"] = port
    command = spec.get("command")
    if isinstance(command, str | list) and command:
        fields["command"] = command if isinstance(command, str) else [str(c) for c in command]
    env = _compose_env(spec.get("environment"))
    if env:
        fields["env"] = env
    return fields


def _compose_settings(spec: dict[str, Any], forwards: list[str], names: dict[Any, str], own: str) -> dict[str, Any]:
    """``resources.NAME`` of a compose service: its port forwards and the services it depends on."""
    settings: dict[str, Any] = {}
    if forwards:
        settings["port_forwards"] = forwards
    depends = spec.get("depends_on")
    depends_names = list(depends) if isinstance(depends, dict | list) else []
    known = [names[str(d)] for d in depends_names if str(d) in names and names[str(d)] != own]
    if known:
        settings["depends_on"] = known
    return settings


def _compose_ports(ports: Any) -> tuple[int | None, list[str]]:
    """The container port of the first published port, and port forwards LOCAL:CONTAINER for all."""
    first: int | None = None
    forwards: list[str] = []
    for item in ports if isinstance(ports, list) else []:
        if isinstance(item, dict):
            target, published = item.get("target"), item.get("published")
        else:
            text = str(item).split("/", 1)[0]
            parts = text.split(":")
            target = parts[-1]
            published = parts[-2] if len(parts) >= 2 else None
        try:
            container = int(str(target))
        except ValueError:
            continue
        if first is None:
            first = container
        local = str(published) if published is not None and str(published).isdigit() else str(container)
        forwards.append(f"{local}:{container}" if local != str(container) else local)
    return first, forwards


def _compose_env(env: Any) -> dict[str, str]:
    if isinstance(env, dict):
        return {str(k): "" if v is None else str(v) for k, v in env.items()}
    result: dict[str, str] = {}
    for item in env if isinstance(env, list) else []:
        key, _, value = str(item).partition("=")
        result[key] = value
    return result


def _from_dockerfiles(root: Path, name: str, found: _Found, scaffold: Scaffold) -> None:
    workloads: dict[str, Any] = {}
    for folder in found.dockerfiles:
        workload_name = _workload_name(folder.name if folder != root else name)
        port = _exposed_port(folder / "Dockerfile")
        workload: dict[str, Any] = {"type": "web" if port else "worker", "build": _rel(folder, root)}
        if port:
            workload["port"] = port
        workloads[workload_name] = workload
        kind = f"web on port {port} (its first EXPOSE)" if port else "worker (its Dockerfile EXPOSEs no port)"
        scaffold.assumptions.append(f"{_rel(folder, root)}/Dockerfile becomes the workload {workload_name}, a {kind}")
    scaffold.config["workloads"] = workloads


def _exposed_port(dockerfile: Path) -> int | None:
    try:
        text = dockerfile.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = re.search(r"^\s*EXPOSE\s+(\d+)", text, re.M | re.I)
    return int(match.group(1)) if match else None


def _from_recipes(root: Path, name: str, found: _Found, scaffold: Scaffold) -> None:
    workloads: dict[str, Any] = {}
    # the top-most folders only: a recipe folder's subfolders belong to it
    chosen = [(f, r) for f, r in found.recipes if not any(o in f.parents for o, _ in found.recipes)]
    for folder, recipe in chosen:
        workload_name = _workload_name(folder.name if folder != root else name)
        port = RECIPE_PORTS[recipe]
        workloads[workload_name] = {"type": "web", "build": _rel(folder, root), "port": port}
        if recipe == "python" and not any((folder / entry).is_file() for entry in PYTHON_ENTRY_POINTS):
            module = _workload_name(folder.name if folder != root else name).replace("-", "_")
            workloads[workload_name]["command"] = f"python -m {module}"
            scaffold.assumptions.append(
                f"{_rel(folder, root)} has no {', '.join(PYTHON_ENTRY_POINTS)}: it is started with "
                f"`python -m {module}`; change `command` if that is not how it starts"
            )
        scaffold.assumptions.append(
            f"{_rel(folder, root)} is built by the {recipe} recipe and becomes the web workload {workload_name} on "
            f"port {port}: the process must listen on 0.0.0.0 and the port in $PORT"
        )
    scaffold.config["workloads"] = workloads
