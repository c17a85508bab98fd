"""`devloop plan`: what `up` would deploy, as data (``-o json``) and as plain text.

Pure: reads the loaded :class:`Project` only; touches no Docker engine, no cluster, no file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devloop.config.dump import comment, dump_stream
from devloop.config.model import (
    UNCATEGORIZED,
    ImageSpec,
    LiveUpdate,
    LocalSpec,
    ManifestObject,
    PortForward,
    Project,
    Resource,
)


@dataclass(frozen=True)
class TargetPreview:
    """Where `up` and `ci` would run the project here and now."""

    choice: str  # auto | kubernetes | docker: --target, else DEVLOOP_TARGET, else devloop.yaml's
    name: str | None  # the target they would use; None when none is usable now
    detail: str  # where (the engine's address, the context), or why none is usable

    def text(self) -> str:
        if self.name is None:
            return f"{self.choice}, none usable now: {self.detail}"
        resolved = f"{self.choice} -> {self.name}" if self.choice != self.name else self.name
        return f"{resolved} ({self.detail})"


def with_target_warnings(project: Project, target: TargetPreview | None) -> Project:
    """``project`` with what its target would warn about when deploying: the docker target's warnings (ignored
    fields and objects, ports it cannot remap...) when `up` would use it, or, when no target is usable now,
    the same warnings saying they apply on docker. The kubernetes target deploys the manifests as written."""
    from devloop.targets.docker.pods import preview_warnings

    if target is None or target.name == "kubernetes":
        return project
    extra = preview_warnings(project)
    if target.name is None:
        extra = [f"on the docker target: {warning}" for warning in extra]
    fresh = tuple(warning for warning in extra if warning not in project.warnings)
    return dataclasses.replace(project, warnings=project.warnings + fresh) if fresh else project


def plan_data(project: Project, target: TargetPreview | None = None) -> dict[str, Any]:
    """A JSON-serialisable description of the project: resources in deploy order, images, warnings, and (when
    given) the target `up` would use."""
    config = project.config
    used_by: dict[str, list[str]] = {}
    for resource in project.resources:
        for ref in resource.images:
            used_by.setdefault(ref, []).append(resource.name)
    return {
        "project": project.name,
        "profile": project.config.profile,
        "profiles": list(project.config.profiles),
        "config": str(config.path),
        "target": config.target,
        "resolved_target": None
        if target is None
        else {"choice": target.choice, "name": target.name, "detail": target.detail},
        "kubernetes": {
            "context": config.kubernetes.context,
            "namespace": config.kubernetes.namespace,
            "registry": config.kubernetes.registry,
            "allow_contexts": list(config.kubernetes.allow_contexts),
        },
        "docker": {"network": config.docker_network},
        "resources": [_resource_data(resource, config.root) for resource in project.resources],
        "images": [_image_data(image, config.root, used_by.get(image.ref, [])) for image in config.images],
        "workloads": [
            {
                "name": w.name,
                "type": w.type,
                "image": w.image,
                "build": w.build,
                "port": w.port,
                "command": w.command if isinstance(w.command, str | None) else list(w.command),
                "env": dict(w.env),
                "replicas": w.replicas,
                "health": w.health,
                "source": w.source,
            }
            for w in config.workloads
        ],
        "deploy_order": [resource.name for resource in project.resources],
        "warnings": list(project.warnings),
    }


def _resource_data(resource: Resource, root: Path) -> dict[str, Any]:
    settings = resource.settings
    return {
        "name": resource.name,
        "kind": resource.kind or None,
        "images": list(resource.images),
        "objects": [_object_data(obj) for obj in resource.objects],
        "port_forwards": [_forward_data(pf) for pf in settings.port_forwards],
        "depends_on": list(settings.depends_on),
        "labels": list(settings.labels),
        "trigger": settings.trigger,
        "readiness_timeout": settings.readiness_timeout,
        "local": None if resource.local is None else _local_data(resource.local, root),
    }


def _local_data(spec: LocalSpec, root: Path) -> dict[str, Any]:
    return {
        "cmd": spec.cmd,
        "serve": spec.serve,
        "deps": list(spec.deps),
        "dir": _relpath(spec.dir, root.resolve()),
        "env": dict(spec.env),
        "readiness": None if spec.readiness is None else {spec.readiness[0]: spec.readiness[1]},
        "source": spec.source,
    }


def _forward_data(forward: PortForward) -> dict[str, Any]:
    data: dict[str, Any] = {"local": forward.local, "container": forward.container, "host": forward.host}
    if forward.port_name is not None:
        data["port_name"] = forward.port_name
    data["spec"] = str(forward)
    return data


def _object_data(obj: ManifestObject) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": obj.kind, "name": obj.name}
    if obj.namespace:
        data["namespace"] = obj.namespace
    data["source"] = obj.source
    return data


def _image_data(image: ImageSpec, root: Path, used_by: list[str]) -> dict[str, Any]:
    data = {
        "ref": image.ref,
        "defined_by": image.origin or None,
        "context": _relpath(image.context, root),
        "dockerfile": None if image.recipe else _relpath(image.dockerfile, image.context),
        "recipe": image.recipe,
        "generated_dockerfile": image.dockerfile_text,
        "target": image.target,
        "args": dict(image.args),
        "ignore": list(image.ignore),
        "test": image.test.cmd if image.test else None,
        "live_update": _live_update_data(image.live_update),
        "used_by": used_by,
    }
    if image.entrypoint is not None:  # only when set, so the JSON of other projects stays as it was
        data["entrypoint"] = image.entrypoint if isinstance(image.entrypoint, str) else list(image.entrypoint)
    return data


def _live_update_data(live: LiveUpdate | None) -> dict[str, Any] | None:
    if live is None:
        return None
    return {
        "sync": [{"src": rule.src, "dest": rule.dest} for rule in live.sync],
        "run": [
            {"cmd": step.cmd if isinstance(step.cmd, str) else list(step.cmd), "trigger": list(step.trigger)}
            for step in live.run
        ],
        "fall_back_on": list(live.fall_back_on),
        "restart": live.restart,
        "summary": live_update_summary(live),
    }


def live_update_summary(live: LiveUpdate | None) -> str:
    """One line: ``sync app -> /srv/app; run `pip install ...` (on requirements.txt); restart``."""
    if live is None:
        return "none (every change rebuilds)"
    parts: list[str] = []
    if live.sync:
        parts.append("sync " + ", ".join(f"{rule.src} -> {rule.dest}" for rule in live.sync))
    for step in live.run:
        text = f"run `{step.display}`"
        if step.trigger:
            text += f" (on {', '.join(step.trigger)})"
        parts.append(text)
    if live.restart:
        parts.append("restart")
    if live.fall_back_on:
        parts.append(f"full build on {', '.join(live.fall_back_on)}")
    return "; ".join(parts) if parts else "nothing to do (every change rebuilds)"


def plan_yaml(project: Project) -> str:
    """Every object ``up`` would deploy, in deploy order, as one YAML stream (images not yet rewritten to the
    built tags); the Dockerfiles generated by recipes come first, as comments."""
    header = ""
    for image in project.config.images:
        if image.dockerfile_text:
            title = f"Dockerfile of image {image.ref} ({image.recipe} recipe, {image.origin}.build):"
            header += comment(title + "\n" + image.dockerfile_text)
    return dump_stream((obj.body for resource in project.resources for obj in resource.objects), header)


def _local_fields(spec: LocalSpec, root: Path) -> list[tuple[str, str]]:
    fields = [(name, value) for name, value in (("cmd", spec.cmd), ("serve", spec.serve)) if value is not None]
    if spec.deps:
        fields.append(("deps", ", ".join(spec.deps)))
    if spec.dir != root.resolve():
        fields.append(("dir", _relpath(spec.dir, root.resolve())))
    if spec.env:
        fields.append(("env", " ".join(f"{k}={v}" for k, v in spec.env)))
    if spec.readiness is not None:
        fields.append(("readiness", f"{spec.readiness[0]} {spec.readiness[1]}"))
    return fields


def render_plan(project: Project, console_width: int = 100, target: TargetPreview | None = None) -> str:
    """The plan as plain, readable text (no colours), wrapped at ``console_width`` columns; ``target`` is where
    `up` would run it (devloop.yaml's ``target`` when not given)."""
    width = max(console_width, 40)
    lines = _project_lines(project, width, target)
    lines.append("")
    lines += _resources_lines(project, width)
    lines.append("")
    lines += _images_lines(project, width)
    if project.warnings:
        lines.append("")
        lines += _warnings_lines(project.warnings, width)
    return "\n".join(lines) + "\n"


def _project_lines(project: Project, width: int, target: TargetPreview | None) -> list[str]:
    """The project's name and file, its profile, the target and where it deploys."""
    config = project.config
    lines = [f"Project {project.name} ({config.path.name})"]
    if config.profiles:
        chosen = f"{config.profile}" if config.profile else "none"
        lines.append(f"  profile: {chosen}   (profiles: {', '.join(config.profiles)})")
    where = target.text() if target else config.target
    namespace = config.kubernetes.namespace or "the context's namespace"
    header = f"namespace: {namespace}   docker network: {config.docker_network}"
    for text in (f"target: {where}", header):
        lines.extend(
            textwrap.wrap(text, width=width, initial_indent="  ", subsequent_indent="    ", break_long_words=False)
        )
    return lines


def _resources_lines(project: Project, width: int) -> list[str]:
    """Every resource in deploy order: a numbered head line, then its fields."""
    lines = [f"Resources, in deploy order ({len(project.resources)}):"]
    if not project.resources:
        lines.append("  (none: the manifests have no objects)")
    for number, resource in enumerate(project.resources, start=1):
        lines.append(_resource_head(project, number, resource))
        for name, value in _resource_fields(project, resource):
            lines.extend(_field(name, value, width))
    workloads = [r for r in project.resources if r.name != UNCATEGORIZED]
    if not workloads and project.resources:
        lines.append("  (no workloads: nothing will run)")
    return lines


def _resource_head(project: Project, number: int, resource: Resource) -> str:
    kind = resource.kind or "objects without a workload, deployed first"
    if resource.local is not None:
        kind = f"local: runs on this machine, {resource.local.source}"
    head = f"  {number}. {resource.name}  ({kind})"
    generated = {w.name: w for w in project.config.workloads}.get(resource.name)
    if generated is not None and resource.workload is not None and resource.workload.source == generated.source:
        head += f"  [workloads.{generated.name}: {generated.type}, no Kubernetes YAML]"
    if resource.settings.trigger == "manual":
        head += "  [manual trigger]"
    return head


def _resource_fields(project: Project, resource: Resource) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    if resource.images:
        fields.append(("images", ", ".join(resource.images)))
    if resource.local is not None:
        fields.extend(_local_fields(resource.local, project.config.root))
    else:
        fields.append(("objects", ", ".join(_object_label(obj) for obj in resource.objects)))
    settings = resource.settings
    if settings.port_forwards:
        fields.append(("port forwards", ", ".join(_forward_text(pf) for pf in settings.port_forwards)))
    if settings.depends_on:
        fields.append(("depends on", ", ".join(settings.depends_on)))
    if settings.labels:
        fields.append(("labels", ", ".join(settings.labels)))
    return fields


def _forward_text(pf: PortForward) -> str:
    return f"{pf.host}:{pf.local} -> {pf.container}" + (f" ({pf.port_name})" if pf.port_name else "")


def _images_lines(project: Project, width: int) -> list[str]:
    """Every image: how it is built and tested, its live update, which resources use it, a recipe's
    Dockerfile."""
    config = project.config
    lines = [f"Images ({len(config.images)}):"]
    if not config.images:
        lines.append("  (none: every container runs an image as written in the manifests)")
    for image in config.images:
        lines.append(f"  {image.ref}")
        used = [r.name for r in project.resources if image.ref in r.images]
        lines.extend(_field("build", _build_text(image, config.root), width))
        if image.test:
            lines.extend(_field("test", image.test.cmd, width))
        lines.extend(_field("live update", live_update_summary(image.live_update), width))
        if image.entrypoint is not None:
            shown = image.entrypoint if isinstance(image.entrypoint, str) else json.dumps(list(image.entrypoint))
            lines.extend(_field("entrypoint", f"{shown} (up only)", width))
        lines.extend(_field("used by", ", ".join(used) if used else "no resource", width))
        if image.dockerfile_text:
            lines.append("       Dockerfile:")
            lines.extend(f"         {line}" for line in image.dockerfile_text.splitlines())
    return lines


def _build_text(image: ImageSpec, root: Path) -> str:
    """``context app, dockerfile Dockerfile, target dev, args A=1``."""
    how = (
        f"{image.recipe} recipe, Dockerfile below"
        if image.recipe
        else f"dockerfile {_relpath(image.dockerfile, image.context)}"
    )
    build = f"context {_relpath(image.context, root)}, {how}"
    if image.implicit:
        build = f"{image.origin}.build: {build}"
    if image.target:
        build += f", target {image.target}"
    if image.args:
        build += ", args " + " ".join(f"{k}={v}" for k, v in image.args)
    return build


def _warnings_lines(warnings: tuple[str, ...], width: int) -> list[str]:
    lines = [f"Warnings ({len(warnings)}):"]
    for warning in warnings:
        lines.extend(
            textwrap.wrap(
                warning,
                width=width,
                initial_indent="  ! ",
                subsequent_indent="    ",
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return lines


def _field(name: str, value: str, width: int) -> list[str]:
    prefix = f"       {name}: "
    return textwrap.wrap(
        value,
        width=width,
        initial_indent=prefix,
        subsequent_indent=" " * len(prefix),
        break_long_words=False,
        break_on_hyphens=False,
    ) or [prefix.rstrip()]


def _object_label(obj: ManifestObject) -> str:
    label = f"{obj.kind}/{obj.name}"
    return f"{label} (ns {obj.namespace})" if obj.namespace else label


def _relpath(path: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # pragma: no cover - different drives on Windows
        return str(path)
