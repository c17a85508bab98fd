"""Reading the Kubernetes manifests a devloop.yaml names: globs, kustomize overlays, helm charts.

:func:`load_manifests` turns ``config.manifests`` into a flat list of :class:`ManifestObject`, in the
order the sources are listed (files of a glob sorted by path, documents in file order). Every
problem a user can cause (a glob without matches, YAML that does not parse, a document that is not
a Kubernetes object, a missing or failing ``kustomize``/``helm``) is a :class:`ConfigError` (exit 2)
naming the file, line and column or the ``manifests[i]`` entry of devloop.yaml.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob as globlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from devloop.config.model import Config, GlobSource, HelmSource, KustomizeSource, ManifestObject
from devloop.config.shapes import Locator, check_shapes, describe
from devloop.config.yamldata import Document, read_documents
from devloop.errors import ConfigError, DevloopError, ToolMissingError
from devloop.pathmatch import glob_match
from devloop.util import run_tool, which

#: Kinds that are not namespaced; helm's release namespace is never added to them.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "ComponentStatus",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "FlowSchema",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)


def load_manifests(config: Config, *, tool_env: Mapping[str, str] | None = None) -> list[ManifestObject]:
    """Every object of every manifest source of ``config``, in order.

    Files matched by several globs are read once (where they first match). ``tool_env`` is added to the
    environment of ``kustomize``/``helm`` (the kubernetes target passes KUBECONFIG frozen to its pinned context).
    """
    objects: list[ManifestObject] = []
    seen_files: set[str] = set()  # real paths: a file reached through a link is read once
    for position, source in enumerate(config.manifests):
        index = source.index or position
        if isinstance(source, GlobSource):
            for path in expand_glob(config, source, index):
                real = os.path.realpath(path)
                if real in seen_files:
                    continue
                seen_files.add(real)
                objects.extend(read_manifest_file(path, config.root))
        elif isinstance(source, KustomizeSource):
            objects.extend(render_kustomize(config, source, index, tool_env=tool_env))
        else:
            objects.extend(render_helm(config, source, index, tool_env=tool_env))
    return objects


def manifest_paths(config: Config) -> list[Path]:
    """The files and folders the manifests come from (for the watcher): matched files, the
    kustomize folders, the helm charts and values files. Globs without matches are skipped."""
    paths: list[Path] = []
    for position, source in enumerate(config.manifests):
        if isinstance(source, GlobSource):
            try:
                paths.extend(expand_glob(config, source, source.index or position))
            except ConfigError:
                continue
        elif isinstance(source, KustomizeSource):
            paths.extend(kustomize_inputs(source.path))
        else:
            paths.append(source.chart)
            paths.extend(source.values)
    return paths


KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
#: keys of a kustomization whose values are local paths (lists of strings, or of mappings with these keys)
_KUSTOMIZE_PATH_KEYS = (
    "resources",
    "bases",
    "components",
    "crds",
    "patchesStrategicMerge",
    "transformers",
    "generators",
    "validators",
    "configurations",
    "openapi",
    "replacements",
)
_KUSTOMIZE_ITEM_KEYS = ("path", "files", "envs", "env", "file")


def kustomize_inputs(folder: Path) -> list[Path]:
    """Every folder and file a kustomization reads: its folder, and what its ``resources``, ``bases``,
    ``components``, patches and generators name on the local disk (``../base`` included), recursively.
    Remote resources (URLs) are left out; an unreadable kustomization contributes only its folder."""
    found: list[Path] = []
    seen: set[Path] = set()
    todo = [Path(os.path.normpath(folder))]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        found.append(current)
        if not current.is_dir():
            continue
        data: Any = None
        for name in KUSTOMIZATION_FILES:
            try:
                data = yaml.safe_load((current / name).read_text(encoding="utf-8", errors="replace"))
                break
            except (OSError, yaml.YAMLError):
                continue
        if not isinstance(data, dict):
            continue
        for ref in _kustomize_refs(data):
            if "://" in ref or ref.startswith(("github.com/", "git@")):
                continue
            path = Path(os.path.normpath(current / ref.split("=", 1)[-1]))
            if path.exists() and path not in seen:
                todo.append(path)
    return found


def _kustomize_refs(data: dict[str, Any]) -> Iterator[str]:
    def strings(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)
        elif isinstance(value, dict):
            for key in _KUSTOMIZE_ITEM_KEYS:
                yield from strings(value.get(key))

    for key in _KUSTOMIZE_PATH_KEYS:
        yield from strings(data.get(key))
    for key in ("patches", "patchesJson6902", "configMapGenerator", "secretGenerator", "helmCharts"):
        value = data.get(key)
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    yield from strings(item)


def own_files(config: Config) -> list[Path]:
    """devloop's own files: devloop.yaml, ``.devloopignore`` and every manifest input (files and folders).
    A manifest folder that holds an image's context or the project root (``kustomize: .``) counts only
    with its own YAML files, so that source files around them are never taken for configuration."""
    out = [config.path, config.root / ".devloopignore"]
    contexts = [image.context for image in config.images]
    for path in manifest_paths(config):
        if path == config.root or any(c == path or path in c.parents for c in contexts):
            with contextlib.suppress(OSError):
                out.extend(
                    f
                    for f in sorted(path.iterdir())
                    if f.is_file() and (f.suffix in (".yaml", ".yml", ".json") or f.name in KUSTOMIZATION_FILES)
                )
        else:
            out.append(path)
    # where a recipe's folder would hold its Dockerfile: creating one there replaces the recipe (a reload)
    out.extend(image.dockerfile for image in config.images if image.dockerfile_text is not None)
    return out


def with_own_files(config: Config) -> Config:
    """``config`` with every image's ``own_files``: devloop's own files inside its context (see
    docs/configuration.md, "Images"), sorted, as patterns relative to the context."""
    own = own_files(config)
    images = []
    for image in config.images:
        context = Path(os.path.abspath(image.context))
        patterns = set()
        for path in own:
            try:
                rel = Path(os.path.abspath(path)).relative_to(context).as_posix()
            except ValueError:
                continue
            if rel not in (".", "") and path != image.dockerfile:
                patterns.add(_escape_pattern(rel))
        images.append(dataclasses.replace(image, own_files=tuple(sorted(patterns))))
    return dataclasses.replace(config, images=tuple(images))


def _escape_pattern(rel: str) -> str:
    """A literal path as a .dockerignore pattern (glob characters escaped)."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in rel)


# --------------------------------------------------------------------------------------- globs


def expand_glob(config: Config, source: GlobSource, index: int | None = None) -> list[Path]:
    """The files ``source.pattern`` matches (relative to the project root; ``**`` crosses folders),
    sorted by path; a file reached by several paths (links) counts once, under its first path.
    No match is a :class:`ConfigError` at ``manifests[i]``."""
    index = source.index if index is None else index
    root = config.root
    pattern = source.pattern
    if "**" in pattern:
        files = _walk_glob(root, pattern)
    else:
        matches = globlib.glob(pattern, root_dir=str(root))
        files = {Path(os.path.normpath(root / match)) for match in matches}
    files = {path for path in files if path.is_file()}
    if not files:
        raise ConfigError(
            f"the manifest pattern {pattern!r} matched no file under {root}; "
            "fix the path or the glob (patterns are relative to devloop.yaml, ** matches folders)",
            location=config.location(f"manifests[{index}]"),
            key=f"manifests[{index}]",
        )
    unique: dict[str, Path] = {}
    for path in sorted(files, key=lambda path: _relative(path, root)):
        unique.setdefault(os.path.realpath(path), path)
    return list(unique.values())


def _walk_glob(root: Path, pattern: str) -> set[Path]:
    """The files under ``root`` that a ``**`` pattern matches, as ``glob.glob(recursive=True)`` finds them
    (``*`` and ``**`` skip names starting with a dot), except that links are followed into each folder once:
    a link loop cannot make it walk forever."""
    parts = [part for part in pattern.split("/") if part not in ("", ".")]
    if pattern.startswith("/"):
        root, parts = Path("/"), parts
    literal: list[str] = []
    for part in parts:
        if part == "**" or globlib.has_magic(part):
            break
        literal.append(part)
    rest = parts[len(literal) :]
    start = root.joinpath(*literal)
    found: set[Path] = set()
    visited: set[tuple[int, int]] = set()
    for folder, subfolders, names in os.walk(start, followlinks=True):
        try:
            info = os.stat(folder)
        except OSError:
            subfolders[:] = []
            continue
        if (info.st_dev, info.st_ino) in visited:
            subfolders[:] = []
            continue
        visited.add((info.st_dev, info.st_ino))
        relative = Path(folder).relative_to(start).parts
        for name in names:
            if glob_match([*relative, name], rest):
                found.add(Path(os.path.normpath(Path(folder) / name)))
        subfolders.sort()
    return found


# ------------------------------------------------------------------------------------ parsing


def read_manifest_file(path: Path, root: Path) -> list[ManifestObject]:
    """The objects of one (multi-document) YAML file; ``source`` is ``relpath:line``."""
    rel = _relative(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"cannot read manifest {rel}: it is not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "save it as UTF-8 or remove it from manifests",
            location=rel,
        ) from exc
    except OSError as exc:
        raise ConfigError(
            f"cannot read manifest {rel}: {exc.strerror or exc}; check that the file exists and is readable",
            location=rel,
        ) from exc
    return parse_manifests(text, rel)


def parse_manifests(text: str, origin: str, *, rendered: bool = False) -> list[ManifestObject]:
    """Parse a multi-document YAML stream into objects.

    ``origin`` names the stream in messages and sources: a file path relative to the root, or for
    rendered output (``rendered=True``) ``kustomize:DIR``/``helm:CHART``; rendered objects get
    ``origin#N`` (N = 1-based document number) as their source, files get ``origin:LINE``.
    Empty documents are skipped; ``kind: List`` (and ``*List`` with ``items``) is expanded. Values
    Kubernetes would refuse (see :mod:`devloop.config.yamldata` and :mod:`devloop.config.shapes`) are
    errors at their line.
    """
    objects: list[ManifestObject] = []
    number = 0
    for document in read_documents(text, origin):
        data = document.data
        if data is None:
            continue
        number += 1
        where = f"{origin}:{document.line}:{document.col}" if not rendered else f"{origin}#{number}"
        source = f"{origin}:{document.line}" if not rendered else f"{origin}#{number}"
        _check_object(data, where, origin)
        if _is_list(data):
            items = data["items"]
            for item_index, item in enumerate(items):
                if rendered:
                    item_where = item_source = f"{origin}#{number}.items[{item_index}]"
                else:
                    item_line, item_col = document.mark(items, item_index) or (document.line, document.col)
                    item_where = f"{origin}:{item_line}:{item_col}"
                    item_source = f"{origin}:{item_line}"
                if item is None:
                    continue
                _check_object(item, item_where, origin, in_list=True)
                if _is_list(item):
                    raise ConfigError(
                        "a List inside a List is not supported; write the objects as separate documents",
                        location=item_where,
                    )
                check_shapes(item, _locator(document, origin, item_where, rendered))
                objects.append(ManifestObject(body=item, source=item_source))
            continue
        check_shapes(data, _locator(document, origin, where, rendered))
        objects.append(ManifestObject(body=data, source=source))
    return objects


def _locator(document: Document, origin: str, where: str, rendered: bool) -> Locator:
    """``file:line:col`` of a value of a file's document; rendered output has no lines: ``origin#N``."""

    def locate(container: Any, key: str | int) -> str:
        return where if rendered else document.where(origin, container, key)

    return locate


def _check_object(data: Any, where: str, origin: str, *, in_list: bool = False) -> None:
    what = "an item of a List" if in_list else "a manifest document"
    if not isinstance(data, dict):
        raise ConfigError(
            f"{what} must be a Kubernetes object (a mapping with apiVersion, kind and metadata.name), "
            f"got {describe(data)}; fix or remove it",
            location=where,
        )
    kind = data.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ConfigError(
            f"{what} has no `kind`; every Kubernetes object needs apiVersion, kind and metadata.name",
            location=where,
        )
    if _is_list(data):
        return
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        raise ConfigError(
            f"the {kind} has no `metadata.name`; devloop needs a name for every object (generateName is not supported)",
            location=where,
        )


def _is_list(data: dict[str, Any]) -> bool:
    kind = data.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and isinstance(data.get("items"), list)


# -------------------------------------------------------------------------------- renderers


def kustomize_argv(directory: Path) -> list[str] | None:
    """``kustomize build DIR`` when kustomize is installed, else ``kubectl kustomize DIR``; None when
    neither is on PATH."""
    if which("kustomize"):
        return ["kustomize", "build", str(directory)]
    if which("kubectl"):
        return ["kubectl", "kustomize", str(directory)]
    return None


def render_kustomize(
    config: Config, source: KustomizeSource, index: int | None = None, *, tool_env: Mapping[str, str] | None = None
) -> list[ManifestObject]:
    index = source.index if index is None else index
    key = f"manifests[{index}].kustomize"
    rel = _relative(source.path, config.root)
    location = config.location(key)
    if not source.path.is_dir():
        raise ConfigError(
            f"the kustomize folder {rel} does not exist; point it at a folder with a kustomization.yaml",
            location=location,
            key=key,
        )
    argv = kustomize_argv(source.path)
    if argv is None:
        raise ToolMissingError(
            f"rendering the kustomize overlay {rel} needs `kustomize` or `kubectl` (with its built-in "
            "kustomize), and neither is on PATH; install one of them "
            "(https://kubectl.docs.kubernetes.io/installation/)",
            location=location,
            key=key,
        )
    output = _render(argv, what=f"rendering the kustomize overlay {rel}", config=config, key=key, env=tool_env)
    return parse_manifests(output, f"kustomize:{rel}", rendered=True)


def helm_argv(config: Config, source: HelmSource) -> list[str]:
    """``helm template RELEASE CHART [--namespace NS] [-f VALUES]... [--set K=V]...``."""
    argv = ["helm", "template", source.release, str(source.chart)]
    namespace = source.namespace or config.kubernetes.namespace
    if namespace:
        argv += ["--namespace", namespace]
    for values in source.values:
        argv += ["-f", str(values)]
    for name, value in source.set:
        argv += ["--set", f"{name}={value}"]
    return argv


def render_helm(
    config: Config, source: HelmSource, index: int | None = None, *, tool_env: Mapping[str, str] | None = None
) -> list[ManifestObject]:
    index = source.index if index is None else index
    key = f"manifests[{index}].helm"
    rel = _relative(source.chart, config.root)
    location = config.location(key)
    if which("helm") is None:
        raise ToolMissingError(
            f"rendering the helm chart {rel} needs `helm`, which is not on PATH; install Helm 3 "
            "(https://helm.sh/docs/intro/install/) or remove this manifests entry",
            location=location,
            key=key,
        )
    argv = helm_argv(config, source)
    output = _render(argv, what=f"rendering the helm chart {rel}", config=config, key=key, env=tool_env)
    objects = parse_manifests(output, f"helm:{rel}", rendered=True)
    namespace = source.namespace
    if not namespace:
        return objects
    # `helm install --namespace NS` puts every namespaced object without a namespace into NS.
    placed: list[ManifestObject] = []
    for obj in objects:
        if obj.namespace or obj.kind in CLUSTER_SCOPED_KINDS:
            placed.append(obj)
            continue
        body = obj.copy_body()
        body.setdefault("metadata", {})["namespace"] = namespace
        placed.append(obj.with_body(body))
    return placed


#: What kustomize and helm run with: rendering must never be able to reach a cluster (a `kubectl` that is a
#: version dispatcher asks the current context's server for its version, running its credential plugin first).
#: An empty kubeconfig names no server and no plugin; the in-cluster variables are taken away too.
RENDER_ENV: dict[str, str] = {"KUBECONFIG": os.devnull}
RENDER_UNSET = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")


def _render(argv: list[str], *, what: str, config: Config, key: str, env: Mapping[str, str] | None = None) -> str:
    try:
        return run_tool(argv, what=what, cwd=config.root, env={**(env or {}), **RENDER_ENV}, unset=RENDER_UNSET)
    except ToolMissingError as exc:  # pragma: no cover - checked before
        raise ToolMissingError(exc.detail, location=config.location(key), key=key) from exc
    except DevloopError as exc:
        raise ConfigError(
            f"{exc}\nFix the manifests (or run `{' '.join(argv)}` to see the full output).",
            location=config.location(key),
            key=key,
        ) from exc


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` in POSIX form, or the path itself when it lies outside."""
    for candidate, base in ((path, root), (path.resolve(), root.resolve())):
        try:
            return candidate.relative_to(base).as_posix() or "."
        except ValueError:
            continue
    return str(path)
