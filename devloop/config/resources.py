"""Resource assembly and manifest rewriting: pure functions, no I/O.

:func:`assemble` turns the loaded config and the manifest objects into a :class:`Project`:

* every workload (``model.WORKLOAD_KINDS``) is one resource, named after ``metadata.name``;
  ``name:kind`` (kind lowercased) when workloads of different kinds share a name, and
  ``name@namespace`` (or ``name:kind@namespace``) when workloads of one kind and name live in
  several namespaces;
* other objects attach to a resource, in this order of precedence:
  1. ``resources.X.objects`` names them (``NAME[:KIND]``);
  2. a Service whose selector matches a workload's pod labels (same namespace) attaches to the
     first such workload in manifest order (a warning notes when it selects several);
  3. a ConfigMap, Secret, PersistentVolumeClaim or ServiceAccount referenced by a pod template
     attaches to the first referencing workload in deploy order (so it exists before any pod
     that needs it starts);
  the rest form the resource ``uncategorized``, deployed first;
* resources are ordered: ``uncategorized`` first, then a stable topological order by
  ``depends_on`` (manifest order among equals);
* every object is a labelled copy (see :func:`add_labels`); image references are rewritten
  later, by :func:`rewrite_images`, once the images are built.

Reference problems are :class:`ConfigError` at the devloop.yaml position of the key.
"""

from __future__ import annotations

import difflib
import hashlib
import heapq
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from devloop.config.imageref import familiar_name, image_name
from devloop.config.labels import MANAGED_BY, MANAGED_BY_VALUE, PROJECT, RESOURCE
from devloop.config.model import (
    UNCATEGORIZED,
    Config,
    ImageSpec,
    LocalSpec,
    ManifestObject,
    ObjectSelector,
    Project,
    Resource,
    ResourceSettings,
)
from devloop.config.podtemplate import containers, pod_labels, pod_spec, pod_template
from devloop.errors import ConfigError

#: Kinds a pod template can reference and that attach to the referencing workload.
REFERENCED_KINDS = ("ConfigMap", "Secret", "PersistentVolumeClaim", "ServiceAccount")


# ------------------------------------------------------------------------------- small helpers


def label_value(text: str) -> str:
    """``text`` made a valid Kubernetes label value: at most 63 characters of ``[A-Za-z0-9_.-]``,
    starting and ending alphanumeric. Characters outside that set (``:`` and ``@`` of
    disambiguated resource names) become ``_``; a long value is cut and given a hash suffix."""
    value = re.sub(r"[^A-Za-z0-9_.-]", "_", text).strip("_.-")
    if len(value) > 63:
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        value = value[:52].rstrip("_.-") + "-" + digest
    return value or "x"


def resource_labels(project: str, resource: str) -> dict[str, str]:
    """The labels every object of ``resource`` carries (config.md, "Images")."""
    return {
        MANAGED_BY: MANAGED_BY_VALUE,
        PROJECT: label_value(project),
        RESOURCE: label_value(resource),
    }


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def container_images(obj: ManifestObject | Mapping[str, Any]) -> list[str]:
    """Every ``image:`` of the object's containers (init and ephemeral included), in order."""
    return [str(c["image"]) for c in containers(obj) if isinstance(c.get("image"), str)]


def image_refs(obj: ManifestObject | Mapping[str, Any], images: Iterable[ImageSpec | str]) -> list[str]:
    """The refs of ``images`` that the object's containers use, in ``images`` order."""
    names = {familiar_name(image_name(image)) for image in container_images(obj)}
    refs = [image.ref if isinstance(image, ImageSpec) else image for image in images]
    return [ref for ref in refs if familiar_name(ref) in names]


def referenced_objects(obj: ManifestObject | Mapping[str, Any]) -> list[tuple[str, str]]:
    """(kind, name) of the ConfigMaps, Secrets, PVCs and ServiceAccounts a pod template references:
    volumes (configMap, secret, persistentVolumeClaim, projected sources), env ``valueFrom``,
    ``envFrom``, ``serviceAccountName`` and ``imagePullSecrets``. Without duplicates, in order."""
    spec = pod_spec(obj)
    if spec is None:
        return []
    found: list[tuple[str, str]] = []

    def add(kind: str, name: Any) -> None:
        if isinstance(name, str) and name and (kind, name) not in found:
            found.append((kind, name))

    for volume in _list(spec.get("volumes")):
        volume = _dict(volume)
        add("ConfigMap", _dict(volume.get("configMap")).get("name"))
        add("Secret", _dict(volume.get("secret")).get("secretName"))
        add("PersistentVolumeClaim", _dict(volume.get("persistentVolumeClaim")).get("claimName"))
        for projected in _list(_dict(volume.get("projected")).get("sources")):
            projected = _dict(projected)
            add("ConfigMap", _dict(projected.get("configMap")).get("name"))
            add("Secret", _dict(projected.get("secret")).get("name"))
    for container in containers(obj):
        for env in _list(container.get("env")):
            value_from = _dict(_dict(env).get("valueFrom"))
            add("ConfigMap", _dict(value_from.get("configMapKeyRef")).get("name"))
            add("Secret", _dict(value_from.get("secretKeyRef")).get("name"))
        for env_from in _list(container.get("envFrom")):
            env_from = _dict(env_from)
            add("ConfigMap", _dict(env_from.get("configMapRef")).get("name"))
            add("Secret", _dict(env_from.get("secretRef")).get("name"))
    add("ServiceAccount", spec.get("serviceAccountName") or spec.get("serviceAccount"))
    for pull_secret in _list(spec.get("imagePullSecrets")):
        add("Secret", _dict(pull_secret).get("name"))
    return found


# ------------------------------------------------------------------------------ rewriting


def add_labels(obj: ManifestObject, project: str, resource: str) -> ManifestObject:
    """A copy of ``obj`` with the devloop labels on its metadata and ``devloop.dev/resource`` on its
    pod template (selectors are left alone)."""
    body = obj.copy_body()
    labels = resource_labels(project, resource)
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        metadata = body["metadata"] = {}
    if not isinstance(metadata.get("labels"), dict):
        metadata["labels"] = {}
    metadata["labels"].update(labels)
    template = pod_template(body)
    if template is not None and template is not body:
        template_meta = template.get("metadata")
        if not isinstance(template_meta, dict):
            template_meta = template["metadata"] = {}
        if not isinstance(template_meta.get("labels"), dict):
            template_meta["labels"] = {}
        template_meta["labels"][RESOURCE] = labels[RESOURCE]
    return obj.with_body(body)


def rewrite_images(
    obj: ManifestObject, built: Mapping[str, str], *, pull_policy: str | None = "IfNotPresent"
) -> ManifestObject:
    """A copy of ``obj`` in which every container, init container and ephemeral container whose
    image name equals a key of ``built`` (with any tag or digest) runs ``built[ref]`` with
    ``imagePullPolicy: <pull_policy>`` (left as written when None). ``obj`` is left untouched. Names are
    compared as Docker normalizes them (``docker.io/library/redis`` is ``redis``)."""
    body = obj.copy_body()
    built = {familiar_name(ref): reference for ref, reference in built.items()}
    for container in containers(body):
        image = container.get("image")
        if not isinstance(image, str):
            continue
        ref = familiar_name(image_name(image))
        if ref in built:
            container["image"] = built[ref]
            if pull_policy is not None:
                container["imagePullPolicy"] = pull_policy
    return obj.with_body(body)


def override_entrypoints(obj: ManifestObject, images: Iterable[ImageSpec]) -> ManifestObject:
    """``obj`` with the development entrypoint of ``images`` (``images[].entrypoint``) as the ``command`` of
    every container (not init or ephemeral containers) that runs one of them, its ``args`` removed, as Tilt's
    ``docker_build(entrypoint=)`` does. ``obj`` itself when nothing applies. Call it before
    :func:`rewrite_images` (containers are matched by image name)."""
    commands = {image.ref: image.entrypoint for image in images if image.entrypoint is not None}
    if not commands or not any(
        image_name(str(c.get("image"))) in commands for c in containers(obj, init=False, ephemeral=False)
    ):
        return obj
    body = obj.copy_body()
    for container in containers(body, init=False, ephemeral=False):
        command = commands.get(image_name(str(container.get("image"))))
        if command is None:
            continue
        container["command"] = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
        container.pop("args", None)
    return obj.with_body(body)


# ------------------------------------------------------------------------------- assembly


@dataclass
class _Workload:
    obj: ManifestObject
    index: int  # manifest position
    name: str = ""


def assemble(config: Config, objects: Sequence[ManifestObject]) -> Project:
    """The resources of ``config`` built from ``objects`` (see the module docstring)."""
    default_ns = config.kubernetes.namespace or "default"

    def namespace(obj: ManifestObject) -> str:
        return obj.namespace or default_ns

    _check_duplicates(objects, namespace)

    workloads = [_Workload(obj, i) for i, obj in enumerate(objects) if obj.is_workload]
    _name_workloads(workloads, namespace)
    by_name = {w.name: w for w in workloads}
    names = [w.name for w in workloads]
    local = {spec.name: spec for spec in config.local}
    _check_local_names(config, by_name)
    names.extend(local)

    _check_resource_keys(config, names)
    order = _deploy_order(config, names)

    owner: dict[int, str] = {}  # manifest position -> resource name
    _attach_listed(config, objects, owner)
    warnings = _attach_services(objects, workloads, namespace, owner)
    _attach_referenced(objects, workloads, order, namespace, owner)

    attached: dict[str, list[int]] = {}
    for i in range(len(objects)):
        if not objects[i].is_workload:
            attached.setdefault(owner.get(i, UNCATEGORIZED), []).append(i)
    resources: list[Resource] = []
    if attached.get(UNCATEGORIZED):
        resources.append(
            Resource(
                name=UNCATEGORIZED,
                kind="",
                objects=tuple(add_labels(objects[i], config.name, UNCATEGORIZED) for i in attached[UNCATEGORIZED]),
                images=(),
                settings=_resolve_port_names(config, UNCATEGORIZED, None),
            )
        )
    for name in order:
        if name in local:
            resources.append(_local_resource(config, local[name]))
        else:
            members = [objects[i] for i in attached.get(name, [])]
            resources.append(_workload_resource(config, name, by_name[name].obj, members))

    warnings.extend(_unused_image_warnings(config, objects))
    return Project(config=config, resources=tuple(resources), warnings=tuple(warnings))


def _attach_listed(config: Config, objects: Sequence[ManifestObject], owner: dict[int, str]) -> None:
    """1. ``resources.X.objects``: the objects each selector names go to X (a workload cannot be attached, an
    object only to one resource)."""
    for key, settings in config.resources:
        for j, selector in enumerate(settings.objects):
            where = f"resources.{key}.objects[{j}]"
            matches = [i for i, obj in enumerate(objects) if selector.matches(obj.name, obj.kind)]
            candidates = [i for i in matches if not objects[i].is_workload]
            if not candidates:
                raise _unattachable(config, objects, selector, matches, where)
            for i in candidates:
                if i in owner and owner[i] != key:
                    raise ConfigError(
                        f"the {objects[i].kind} {objects[i].name} is already attached to resource "
                        f"{owner[i]}; attach it to one resource only",
                        location=config.location(where),
                        key=where,
                    )
                owner[i] = key


def _unattachable(
    config: Config, objects: Sequence[ManifestObject], selector: ObjectSelector, matches: list[int], where: str
) -> ConfigError:
    """The error for a selector of ``resources.X.objects`` that names no object but workloads, or nothing."""
    if matches:
        hit = objects[matches[0]]
        return ConfigError(
            f"{selector} names the {hit.kind} {hit.name}, which is a resource of its own; "
            "only objects that are not workloads can be attached",
            location=config.location(where),
            key=where,
        )
    known = sorted({f"{o.name}:{o.kind.lower()}" for o in objects if not o.is_workload})
    return ConfigError(
        f"no object in the manifests is named {selector}{_did_you_mean(str(selector), known)}; "
        "write NAME or NAME:KIND of an object in the manifests",
        location=config.location(where),
        key=where,
    )


def _attach_services(
    objects: Sequence[ManifestObject],
    workloads: list[_Workload],
    namespace: Callable[[ManifestObject], str],
    owner: dict[int, str],
) -> list[str]:
    """2. Services not attached yet go to the first workload (in manifest order) whose pods they select; the
    warnings for Services that select the pods of several."""
    warnings: list[str] = []
    by_label: dict[tuple[str, str, str], list[tuple[_Workload, Any]]] = {}  # (ns, key, value) -> workloads
    for w in workloads:
        labels = pod_labels(w.obj)
        for k, v in labels.items():
            by_label.setdefault((namespace(w.obj), k, v), []).append((w, labels.items()))
    for i, obj in enumerate(objects):
        if i in owner or obj.kind != "Service":
            continue
        service_selector = _dict(_dict(obj.body.get("spec")).get("selector"))
        if not service_selector:
            continue
        wanted = {str(k): str(v) for k, v in service_selector.items()}
        first_key, first_value = next(iter(wanted.items()))
        selected = by_label.get((namespace(obj), first_key, first_value), [])
        matching = [w for w, labels in selected if wanted.items() <= labels]
        if not matching:
            continue
        owner[i] = matching[0].name
        if len(matching) > 1:
            others = _listing([w.name for w in matching[1:]])
            warnings.append(
                f"{obj.source}: Service {obj.name} selects the pods of several resources "
                f"({matching[0].name}, {others}); it is attached to {matching[0].name}. "
                f"Use resources.<name>.objects to attach it elsewhere."
            )
    return warnings


def _attach_referenced(
    objects: Sequence[ManifestObject],
    workloads: list[_Workload],
    order: list[str],
    namespace: Callable[[ManifestObject], str],
    owner: dict[int, str],
) -> None:
    """3. Objects referenced by pod templates (ConfigMaps, Secrets, claims...) not attached yet go to the first
    workload in deploy order that references them."""
    position = {name: i for i, name in enumerate(order)}
    index_of = {(obj.kind, namespace(obj), obj.name): i for i, obj in enumerate(objects)}
    for workload in sorted(workloads, key=lambda w: position[w.name]):
        for kind, name in referenced_objects(workload.obj):
            found = index_of.get((kind, namespace(workload.obj), name))
            if found is not None and found not in owner:
                owner[found] = workload.name


def _local_resource(config: Config, spec: LocalSpec) -> Resource:
    return Resource(
        name=spec.name,
        kind="local",
        objects=(),
        images=(),
        settings=config.resource_settings(spec.name),
        local=spec,
    )


def _workload_resource(config: Config, name: str, workload: ManifestObject, attached: list[ManifestObject]) -> Resource:
    """The resource of one workload: the workload first, then the objects attached to it, all labelled."""
    return Resource(
        name=name,
        kind=workload.kind,
        objects=tuple(add_labels(obj, config.name, name) for obj in [workload, *attached]),
        images=tuple(image_refs(workload, config.images)),
        settings=_resolve_port_names(config, name, workload),
    )


def deploy_order(project: Project, names: Iterable[str] | None = None) -> list[str]:
    """Resource names in deploy order; with ``names``, only those and what they depend on
    (transitively), still in deploy order. Unknown names are ignored (the CLI checks them)."""
    every = [r.name for r in project.resources]
    if names is None:
        return every
    wanted: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        resource = project.resource(name)
        if resource is None or name in wanted:
            continue
        wanted.add(name)
        todo.extend(resource.settings.depends_on)
    return [n for n in every if n in wanted]


def container_ports(obj: ManifestObject | Mapping[str, Any]) -> dict[str, int]:
    """The named ports of a workload's containers (``ports[].name`` -> ``containerPort``), first one wins."""
    named: dict[str, int] = {}
    for container in containers(obj, init=False, ephemeral=False):
        for port in _list(container.get("ports")):
            port = _dict(port)
            name, number = port.get("name"), port.get("containerPort")
            if isinstance(name, str) and isinstance(number, int) and not isinstance(number, bool):
                named.setdefault(name, number)
    return named


def _resolve_port_names(config: Config, name: str, workload: ManifestObject | None) -> ResourceSettings:
    """``resources.NAME`` settings with every named port forward (``"8000:http"``) resolved to the container
    port of that name in the workload's pod template; a name no container port has is a ConfigError."""
    settings = config.resource_settings(name)
    if not any(pf.port_name for pf in settings.port_forwards):
        return settings
    named = container_ports(workload) if workload is not None else {}
    forwards = []
    for j, forward in enumerate(settings.port_forwards):
        if forward.port_name is not None:
            number = named.get(forward.port_name)
            if number is None:
                where = f"resources.{name}.port_forwards[{j}]"
                if workload is None:
                    problem = f"the resource {name} has no pod template, so it has no named container ports"
                else:
                    known = ", ".join(sorted(named)) or "none"
                    problem = (
                        f"no container of the resource {name} ({workload.source}) has a port named "
                        f"{forward.port_name!r}{_did_you_mean(forward.port_name, named)}; its named ports: {known}"
                    )
                raise ConfigError(
                    f"{problem}; name the port in the pod template (ports: [{{name: {forward.port_name}, "
                    "containerPort: N}]) or write the port number",
                    location=config.location(where),
                    key=where,
                )
            forward = replace(forward, container=number)
        forwards.append(forward)
    return replace(settings, port_forwards=tuple(forwards))


def _check_duplicates(objects: Sequence[ManifestObject], namespace: Callable[[ManifestObject], str]) -> None:
    seen: dict[tuple[str, str, str, str], ManifestObject] = {}
    for obj in objects:
        group = obj.api_version.split("/", 1)[0] if "/" in obj.api_version else ""
        key = (group, obj.kind, namespace(obj), obj.name)
        first = seen.get(key)
        if first is not None:
            raise ConfigError(
                f"the {obj.kind} {obj.name} (namespace {key[2]}) is defined twice, here and at "
                f"{first.source}; remove one of them or give them different names",
                location=obj.source,
            )
        seen[key] = obj


def _name_workloads(workloads: list[_Workload], namespace: Callable[[ManifestObject], str]) -> None:
    groups: dict[str, list[_Workload]] = {}
    for workload in workloads:
        groups.setdefault(workload.obj.name, []).append(workload)
    for name, group in groups.items():
        kinds = {w.obj.kind for w in group}
        for workload in group:
            label = name
            if len(kinds) > 1 or name == UNCATEGORIZED:
                label = f"{name}:{workload.obj.kind.lower()}"
            if sum(1 for w in group if w.obj.kind == workload.obj.kind) > 1:
                label = f"{label}@{namespace(workload.obj)}"
            workload.name = label


def _check_local_names(config: Config, workloads: Mapping[str, _Workload]) -> None:
    """A local resource named like a cluster resource is an error naming both."""
    for spec in config.local:
        clash = workloads.get(spec.name)
        if clash is None and spec.name != UNCATEGORIZED:
            continue
        where = f"local.{spec.name}"
        other = (
            f"the {clash.obj.kind} {clash.obj.name} ({clash.obj.source})"
            if clash is not None
            else "the resource of objects without a workload"
        )
        raise ConfigError(
            f"the local resource {spec.name} has the name of {other}; resource names must be unique, rename one of "
            "them",
            location=config.location(where),
            key=where,
        )


def _check_resource_keys(config: Config, names: list[str]) -> None:
    known = set(names)
    valid = [*names, UNCATEGORIZED]
    for key, settings in config.resources:
        if key not in known and key != UNCATEGORIZED:
            raise ConfigError(
                f"there is no resource named {key!r}{_did_you_mean(key, valid)}; resources are named "
                f"after the workloads in the manifests, in workloads: and in local: ({_listing(names)})",
                location=config.location(f"resources.{key}"),
                key=f"resources.{key}",
            )
        for j, dependency in enumerate(settings.depends_on):
            where = f"resources.{key}.depends_on[{j}]"
            if dependency not in known and dependency != UNCATEGORIZED:
                raise ConfigError(
                    f"depends on {dependency!r}, which is not a resource"
                    f"{_did_you_mean(dependency, valid)}; resources are: {_listing(valid)}",
                    location=config.location(where),
                    key=where,
                )


def _deploy_order(config: Config, names: list[str]) -> list[str]:
    """Workload resource names: a stable topological order by depends_on (manifest order among
    equals). A cycle is a ConfigError naming it."""
    deps = {name: [d for d in config.resource_settings(name).depends_on if d in names] for name in names}
    _check_cycles(config, names, deps)
    rank = {name: i for i, name in enumerate(names)}
    waiting_on = {name: len(set(deps[name])) for name in names}
    dependents: dict[str, list[str]] = {}
    for name in names:
        for dependency in set(deps[name]):
            dependents.setdefault(dependency, []).append(name)
    ready = [(rank[name], name) for name in names if waiting_on[name] == 0]
    heapq.heapify(ready)
    done: list[str] = []
    while ready:  # cycles were rejected above, so every name gets placed
        _, chosen = heapq.heappop(ready)
        done.append(chosen)
        for dependent in dependents.get(chosen, []):
            waiting_on[dependent] -= 1
            if waiting_on[dependent] == 0:
                heapq.heappush(ready, (rank[dependent], dependent))
    return done


def _check_cycles(config: Config, names: list[str], deps: dict[str, list[str]]) -> None:
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for dependency in deps[name]:
            if state.get(dependency) == 1:
                cycle = [*path[path.index(dependency) :], dependency]
                start = cycle[0]
                j = list(config.resource_settings(start).depends_on).index(cycle[1])
                where = f"resources.{start}.depends_on[{j}]"
                raise ConfigError(
                    f"depends_on forms a cycle: {' -> '.join(cycle)}; remove one of these dependencies",
                    location=config.location(where),
                    key=where,
                )
            if dependency not in state:
                visit(dependency)
        path.pop()
        state[name] = 2

    for name in names:
        if name not in state:
            visit(name)


def _unused_image_warnings(config: Config, objects: Sequence[ManifestObject]) -> list[str]:
    used: list[str] = []
    for obj in objects:
        for container_image in container_images(obj):
            name = image_name(container_image)
            if name not in used:
                used.append(name)
    warnings: list[str] = []
    required = {ref for image in config.images for ref in image.required_refs}  # a base: used by its dependents
    for position, image in enumerate(config.images):
        index = image.index or position
        familiar = {familiar_name(name) for name in used}
        if image.implicit or image.ref in required or familiar_name(image.ref) in familiar:
            continue
        key = f"images[{index}].ref"
        seen = f"the manifests use {_listing(used)}" if used else "the manifests have no containers"
        warnings.append(
            f"{config.location(key)}: {key}: no container in the manifests uses the image {image.ref}"
            f"{_did_you_mean(image.ref, used)}; it will be built but not deployed. Write "
            f"`image: {image.ref}` in a container of a workload in the manifests ({seen})."
        )
    return warnings


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _listing(items: Sequence[str], limit: int = 8) -> str:
    if not items:
        return "none"
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


__all__ = [
    "REFERENCED_KINDS",
    "add_labels",
    "assemble",
    "container_images",
    "container_ports",
    "deploy_order",
    "image_name",
    "image_refs",
    "label_value",
    "override_entrypoints",
    "referenced_objects",
    "resource_labels",
    "rewrite_images",
]
