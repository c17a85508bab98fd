"""Load and validate devloop.yaml (config.md, version 1) into the immutable model
:class:`~devloop.config.model.Config`.

Public functions:

- :func:`find_config` — which file ``-f`` means (default ``./devloop.yaml``; a folder means its devloop.yaml).
- :func:`load_config` — read, parse and validate a devloop.yaml file.
- :func:`parse_config` — the same for text already in memory (``path`` only names the file and its folder).

Every problem is a :class:`~devloop.errors.ConfigError` whose text is
``devloop.yaml:LINE:COL: key.path: expected …, got …`` plus what to do. The checks that need the manifests
(``depends_on`` and ``resources`` keys naming existing resources, image refs used by a container) are not done
here; ``Config.positions`` lets the code that does them point at the right line.

Design choices beyond config.md:

- A key whose value is empty or ``null`` counts as absent (its default applies), except where a value is
  required (``version``, ``images[].ref``, ``sync[].src``...).
- Where a string is expected, an unquoted number is taken as written (``namespace: 2024`` is ``"2024"``);
  booleans and nulls are not. Build args and helm ``set`` values take numbers and booleans as written
  (``PY: 3.10`` is ``"3.10"``), like Compose does.
- ``watch.ignore``, when given, replaces the default list.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import posixpath
import re
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, cast

from devloop.config import yamlpos
from devloop.config.imageref import familiar_name
from devloop.config.model import (
    Config,
    DockerSettings,
    GlobSource,
    HelmSource,
    ImageRequirement,
    ImageSpec,
    KubernetesSettings,
    KustomizeSource,
    LiveUpdate,
    LocalSpec,
    ManifestSource,
    ObjectSelector,
    PortForward,
    Readiness,
    ResourceSettings,
    RunStep,
    SyncRule,
    TargetName,
    TestStage,
    TriggerMode,
    WatchSettings,
    WorkloadSpec,
    WorkloadType,
)
from devloop.config.yamlpos import YKey, YMap, YNode, YScalar, YSeq
from devloop.errors import ConfigError, shown

CONFIG_NAME = "devloop.yaml"
VERSION = 1

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_NETWORK = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_ARG_NAME = re.compile(r"^[^\s=]+$")
#: a container port name (IANA_SVC_NAME): at most 15 lowercase letters, digits and '-', with a letter
_PORT_NAME = re.compile(r"^(?=.*[a-z])(?!-)(?!.*--)[a-z0-9-]{1,15}(?<!-)$")

# The distribution reference grammar (github.com/distribution/reference), without tag and digest.
_ALNUM = r"[a-z0-9]+"
_PATH_COMPONENT = _ALNUM + r"(?:(?:[._]|__|-+)" + _ALNUM + r")*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*(?::[0-9]+)?"
_IMAGE_NAME = re.compile(r"^(?:" + _DOMAIN + r"/)?" + _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*$")
_REGISTRY = re.compile(r"^" + _DOMAIN + r"(?:/" + _PATH_COMPONENT + r")*$")

_TOP_KEYS = (
    "version",
    "name",
    "target",
    "kubernetes",
    "docker",
    "manifests",
    "images",
    "resources",
    "workloads",
    "local",
    "watch",
)
_K8S_KEYS = ("context", "namespace", "allow_contexts", "registry")
_DOCKER_KEYS = ("network",)
_HELM_KEYS = ("chart", "release", "namespace", "values", "set")
_IMAGE_KEYS = (
    "ref",
    "context",
    "dockerfile",
    "target",
    "args",
    "ignore",
    "test",
    "live_update",
    "entrypoint",
    "requires",
)
_REQUIRES_KEYS = ("image", "alias")
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TEST_KEYS = ("cmd",)
_LIVE_KEYS = ("fall_back_on", "sync", "run", "restart")
_SYNC_KEYS = ("src", "dest")
_RUN_KEYS = ("cmd", "trigger")
_RESOURCE_KEYS = ("port_forwards", "depends_on", "trigger", "labels", "readiness_timeout", "objects")
_WATCH_KEYS = ("ignore", "debounce_ms")
_LOCAL_KEYS = ("cmd", "serve", "deps", "dir", "env", "readiness")
_READINESS_KEYS = ("http", "tcp", "cmd")
_LOCAL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_WORKLOAD_KEYS = ("type", "build", "image", "base", "port", "command", "env", "replicas", "health", "live_update")
_KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

_COMMAND = "a command: a string (run with /bin/sh -c) or a list of strings (exec form)"

_DNS_LABEL_TEXT = (
    "a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, "
    "at most 63 characters)"
)


# --------------------------------------------------------------------------------------------- finding


def find_config(arg: str | None, cwd: Path) -> Path:
    """The devloop.yaml that ``-f ARG`` names: ``None`` means ``CWD/devloop.yaml``, a folder its devloop.yaml.

    Returns an absolute path to an existing file; otherwise raises :class:`ConfigError` saying where it
    looked and what to do.
    """
    if not arg:
        candidate = cwd / CONFIG_NAME
        folder: Path | None = cwd
    else:
        given = Path(arg).expanduser()
        if not given.is_absolute():
            given = cwd / given
        if given.is_dir():
            candidate, folder = given / CONFIG_NAME, given
        else:
            candidate, folder = given, None
    candidate = Path(os.path.abspath(candidate))
    if candidate.is_file():
        return candidate
    if candidate.exists():
        raise ConfigError(f"{candidate} is not a regular file; pass -f with the path of your devloop.yaml.")
    if folder is not None:
        folder = Path(os.path.abspath(folder))
        alternative = folder / "devloop.yml"
        if alternative.is_file():
            raise ConfigError(
                f"no devloop.yaml in {folder}, but there is a devloop.yml; rename it to devloop.yaml "
                f"or pass -f {alternative}."
            )
        how = "pass -f PATH to use another file" if not arg else "pass -f with the path of your devloop.yaml"
        raise ConfigError(f"no devloop.yaml in {folder}; create one there (see docs/configuration.md) or {how}.")
    raise ConfigError(f"config file {candidate} does not exist; check the path given to -f.")


# --------------------------------------------------------------------------------------------- loading


def load_config(path: Path, *, profile: str | None = None, profile_source: str = "--profile") -> Config:
    """Read, parse and validate the devloop.yaml at ``path``, with ``profiles.<profile>`` merged in when given
    (``profile_source`` says where the name came from, for the error when the file has no such profile)."""
    path = Path(os.path.abspath(path))
    name = path.name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist; create it or pass -f with the right path.") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, not a file; pass -f with the path of your devloop.yaml.") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"cannot read {path}: {reason}; check that the file is readable.", location=name) from None
    return parse_config(_decode(data, name), path, profile=profile, profile_source=profile_source)


def _decode(data: bytes, name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ConfigError(
                "expected UTF-8 text, got bytes that are not valid UTF-16 after a UTF-16 mark; save the file as UTF-8",
                location=f"{name}:1:1",
            ) from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        raise ConfigError(
            f"expected UTF-8 text, got the byte 0x{data[exc.start]:02x}; save the file as UTF-8",
            location=f"{name}:{line}:{col}",
        ) from None


def parse_config(
    text: str, path: Path, *, profile: str | None = None, profile_source: str = "--profile"
) -> Config:
    """Validate devloop.yaml ``text`` as if it were the file ``path`` (relative paths resolve against its
    folder); ``profile`` as for :func:`load_config`."""
    path = Path(os.path.abspath(path))
    node = yamlpos.parse(text, path.name)
    from devloop.config.manifests import with_own_files

    return with_own_files(_Validator(path, profile, profile_source).config(node))


# --------------------------------------------------------------------------------------------- helpers


def sanitize_name(text: str) -> str:
    """``text`` made a DNS-1123 label: lowercase, invalid characters to '-', trimmed, at most 63 chars."""
    label = re.sub(r"[^a-z0-9-]", "-", text.lower()).strip("-")
    return label[:63].rstrip("-")


def describe(node: YNode) -> str:
    """What was found, for ``got …``."""
    if isinstance(node, YMap):
        return "a mapping"
    if isinstance(node, YSeq):
        return "a list"
    assert isinstance(node, YScalar)
    value = node.value
    if value is None:
        return "an empty value" if node.plain and node.raw == "" else "null"
    if isinstance(value, str):
        return _quote(value)
    raw = node.raw if len(node.raw) <= 40 else node.raw[:37] + "..."
    if isinstance(value, bool):
        return f"{raw} (a boolean)"
    return f"{raw} (a number)"


def _quote(text: str) -> str:
    """``text`` in double quotes, shortened when long."""
    return json.dumps(text if len(text) <= 60 else text[:57] + "...")


def _is_absent(node: YNode | None) -> bool:
    return node is None or (isinstance(node, YScalar) and node.value is None)


def _index(key: str, i: int) -> str:
    return f"{key}[{i}]"


def _child(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


class _Validator:
    def __init__(self, path: Path, profile: str | None = None, profile_source: str = "--profile") -> None:
        self.profile = profile or None
        self.profile_source = profile_source
        self.path = path
        self.name = path.name
        self.root = path.parent
        self.positions: list[tuple[str, int, int]] = []
        #: images[].requires as written, per image ref: (key path, required ref, its node, alias), linked last
        self.requires: dict[str, list[tuple[str, str, YNode, str]]] = {}

    # ------------------------------------------------------------------------------ primitives

    def fail(self, where: YNode | YKey, key: str, message: str) -> NoReturn:
        raise ConfigError(message, location=f"{self.name}:{where.line}:{where.col}", key=key or None)

    def required(self, values: dict[str, YNode], field: str, parent: YNode, key: str, message: str) -> YNode:
        """``values[field]``, or a located error (at the empty value, else at ``parent``) saying ``message``."""
        node = values.get(field)
        if node is None or _is_absent(node):
            self.fail(node or parent, f"{key}.{field}", message)
        return node

    def expected(self, node: YNode, key: str, what: str, hint: str = "") -> NoReturn:
        self.fail(node, key, f"expected {what}, got {describe(node)}" + (f"; {hint}" if hint else ""))

    def note(self, key: str, where: YNode | YKey) -> None:
        self.positions.append((key, where.line, where.col))

    def mapping(self, node: YNode, key: str, allowed: Sequence[str], what: str) -> dict[str, YNode]:
        """Check that ``node`` is a mapping of only ``allowed`` keys; record positions; return its values."""
        if not isinstance(node, YMap):
            self.expected(node, key, what)
        values: dict[str, YNode] = {}
        for k, value in node.entries:
            child = _child(key, k.text)
            if k.text not in allowed:
                close = difflib.get_close_matches(k.text, allowed, n=1, cutoff=0.6)
                hint = f"; did you mean `{close[0]}`?" if close else "; remove it or fix its name"
                listed = ", ".join(allowed)
                self.fail(k, child, f"expected one of {listed}, got unknown key `{shown(k.text)}`{hint}")
            self.note_entry(child, k, value)
            values[k.text] = value
        return values

    def note_entry(self, key: str, k: YKey, value: YNode) -> None:
        block = isinstance(value, YMap | YSeq) and not value.flow
        empty = isinstance(value, YScalar) and value.value is None and value.plain and not value.raw
        self.note(key, k if block or empty else value)

    def items(self, node: YNode | None, key: str, what: str) -> list[tuple[str, YNode]]:
        """The items of a list (``[]`` when absent), each with its key path; positions recorded."""
        if _is_absent(node):
            return []
        assert node is not None
        if not isinstance(node, YSeq):
            self.expected(node, key, what)
        result = []
        for i, item in enumerate(node.items):
            child = _index(key, i)
            self.note(child, item)
            result.append((child, item))
        return result

    def string(self, node: YNode, key: str, what: str = "a string", hint: str = "") -> str:
        if isinstance(node, YScalar):
            value = node.value
            if isinstance(value, str):
                if value.strip():
                    return value
            elif isinstance(value, int | float) and not isinstance(value, bool) and node.plain:
                return node.raw
            elif isinstance(value, bool) and node.plain and not hint:
                hint = f"YAML reads {node.raw} as a boolean; write it in quotes: {_quote(node.raw)}"
        self.expected(node, key, what, hint)

    def opt_string(self, node: YNode | None, key: str, what: str = "a string", hint: str = "") -> str | None:
        if _is_absent(node):
            return None
        assert node is not None
        return self.string(node, key, what, hint)

    def scalar_text(self, node: YNode, key: str, what: str) -> str:
        """A scalar as a string, as written (``3.10`` stays ``"3.10"``); for build args and helm set."""
        if isinstance(node, YScalar) and node.value is not None:
            return node.value if isinstance(node.value, str) else node.raw
        self.expected(node, key, what, "quote the value")

    def strings(self, node: YNode | None, key: str, what: str) -> tuple[str, ...]:
        return tuple(self.string(item, child, "a string") for child, item in self.items(node, key, what))

    def whole(self, node: YNode | None, key: str, low: int, high: int, what: str, default: int) -> int:
        """A whole number from ``low`` to ``high`` (``default`` when absent)."""
        if _is_absent(node):
            return default
        assert node is not None
        if isinstance(node, YScalar) and type(node.value) is int and low <= node.value <= high:
            return node.value
        self.expected(node, key, what)

    def boolean(self, node: YNode | None, key: str, default: bool) -> bool:
        if _is_absent(node):
            return default
        assert node is not None
        if isinstance(node, YScalar) and isinstance(node.value, bool):
            return node.value
        self.expected(node, key, "true or false")

    def choice(self, node: YNode | None, key: str, choices: Sequence[str], default: str) -> str:
        if _is_absent(node):
            return default
        assert node is not None
        if isinstance(node, YScalar) and isinstance(node.value, str) and node.value in choices:
            return node.value
        self.expected(node, key, " or ".join(", ".join(choices).rsplit(", ", 1)))

    def string_map(self, node: YNode | None, key: str, what: str) -> tuple[tuple[str, str], ...]:
        if _is_absent(node):
            return ()
        assert node is not None
        if not isinstance(node, YMap):
            self.expected(node, key, what)
        pairs: dict[str, str] = {}
        for k, value in node.entries:
            child = _child(key, k.text)
            self.note_entry(child, k, value)
            if not k.text.strip():
                self.fail(k, child, f"expected a non-empty name in {key}, got an empty key; name it")
            pairs[k.text] = self.scalar_text(value, child, "a string value")
        return tuple(sorted(pairs.items()))

    # ------------------------------------------------------------------------------ paths

    def shown(self, path: Path) -> str:
        try:
            text = path.relative_to(self.root.resolve()).as_posix() or "."
        except ValueError:
            text = str(path)
        return text if text.isprintable() and len(text) <= 80 else _quote(text)

    def existing(self, node: YNode, key: str, base: Path, kind: str, what: str, hint: str) -> Path:
        """``node`` as a path relative to ``base`` that must exist as a ``kind`` ("folder" or "file")."""
        text = self.string(node, key, what)
        return self.check_exists(node, key, text, base, kind, what, hint)

    def check_exists(self, where: YNode, key: str, text: str, base: Path, kind: str, what: str, hint: str) -> Path:
        try:
            path = (base / text).resolve()
            ok = path.is_dir() if kind == "folder" else path.is_file()
            exists = ok or path.exists()
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.fail(
                where,
                key,
                f"expected {what}, got {_quote(text)}, which is not a usable path ({reason.lower()}); fix the path",
            )
        if not ok:
            state = f"is not a {kind}" if exists else "does not exist"
            problem = f"{self.shown(path)} {state}"
            self.fail(where, key, f"expected {what}, got {_quote(text)}, but {problem}; {hint}")
        return path

    def context_pattern(self, node: YNode, key: str, what: str) -> str:
        """A path or pattern relative to an image context that must not leave it; normalised."""
        text = self.string(node, key, what)
        if text.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", text):
            self.expected(node, key, what, "write it relative to the image context")
        norm = posixpath.normpath(text)
        if norm == ".." or norm.startswith("../"):
            self.fail(
                node,
                key,
                f"expected {what}, got {_quote(text)}, which lies outside the image "
                "context; only files inside the context can be watched there",
            )
        return norm

    # ------------------------------------------------------------------------------ the file

    def config(self, node: YNode | None) -> Config:
        if node is None:
            raise ConfigError(
                f"expected the settings of devloop (at least `version: {VERSION}`), got an empty file; "
                "see docs/configuration.md",
                location=f"{self.name}:1:1",
            )
        if not isinstance(node, YMap):
            self.expected(node, "", f"a mapping of settings starting with `version: {VERSION}`")
        version_node = node.get("version")
        if version_node is None:
            self.fail(
                node,
                "version",
                f"expected `version: {VERSION}` at the top of the file, got no version; add `version: {VERSION}`",
            )
        if not (
            isinstance(version_node, YScalar) and type(version_node.value) is int and version_node.value == VERSION
        ):
            self.expected(
                version_node,
                "version",
                f"{VERSION} (the only version of devloop.yaml)",
                f"write `version: {VERSION}`",
            )
        node, profiles = self.with_profile(node)
        top = self.mapping(node, "", (*_TOP_KEYS, "profiles"), "a mapping")
        name = self.project_name(top.get("name"))
        target = cast(TargetName, self.choice(top.get("target"), "target", ("auto", "kubernetes", "docker"), "auto"))
        kubernetes = self.kubernetes(top.get("kubernetes"))
        docker = self.docker(top.get("docker"))
        manifests = self.manifests(top.get("manifests"), name)
        images = self.images(top.get("images"))
        resources = self.resources(top.get("resources"))
        workloads, implicit = self.workloads(top.get("workloads"), name, images)
        resources = self.default_port_forwards(workloads, resources, top.get("resources"))
        local = self.local_resources(top.get("local"))
        watch = self.watch(top.get("watch"))
        return Config(
            path=self.path,
            name=name,
            version=VERSION,
            target=target,
            kubernetes=kubernetes,
            docker=docker,
            manifests=manifests,
            images=self.link_requirements((*images, *implicit)),
            resources=resources,
            workloads=workloads,
            local=local,
            watch=watch,
            profile=self.profile,
            profiles=profiles,
            positions=tuple(self.positions),
        )

    def with_profile(self, node: YMap) -> tuple[YMap, tuple[str, ...]]:
        """``node`` with the selected profile merged in (devloop/config/profiles.py), and the names of every
        profile. A profile holds top-level keys other than version, name and profiles."""
        from devloop.config import profiles

        found: dict[str, YMap] = {}
        profiles_node = node.get("profiles")
        if not _is_absent(profiles_node):
            assert profiles_node is not None
            if not isinstance(profiles_node, YMap):
                self.expected(profiles_node, "profiles", "a mapping of profile names to top-level settings")
            for k, value in profiles_node.entries:
                key = f"profiles.{k.text}"
                if not _PROFILE_NAME.match(k.text):
                    self.fail(
                        k,
                        key,
                        f"expected a profile name (letters, digits, '_', '.', '-'), got {_quote(k.text)}; rename it",
                    )
                if _is_absent(value):
                    value = YMap(line=value.line, col=value.col, entries=(), flow=True)
                allowed = tuple(k for k in _TOP_KEYS if k not in ("version", "name"))
                self.mapping(value, key, allowed, "a mapping of top-level settings (images, resources, target, ...)")
                found[k.text] = cast(YMap, value)
        if self.profile is None:
            return node, tuple(found)
        selected = found.get(self.profile)
        if selected is None:
            known = ", ".join(found) if found else "none"
            close = difflib.get_close_matches(self.profile, list(found), n=1, cutoff=0.6)
            hint = f" (did you mean {_quote(close[0])}?)" if close else ""
            where: YKey | YNode = node.key("profiles") or node
            raise ConfigError(
                f"there is no profile {_quote(self.profile)} ({self.profile_source}){hint}; the profiles of "
                f"{self.name} are: {known}; pick one of them, or add it under `profiles:`",
                location=f"{self.name}:{where.line}:{where.col}",
                key="profiles",
            )
        self.positions = []  # recorded again on the merged file
        return profiles.apply(node, selected), tuple(found)

    def project_name(self, node: YNode | None) -> str:
        if _is_absent(node):
            name = sanitize_name(self.root.name)
            if not name:
                raise ConfigError(
                    f"the project folder's name {_quote(self.root.name)} gives no usable project name; "
                    "set `name:` in devloop.yaml",
                    location=f"{self.name}:1:1",
                    key="name",
                )
            return name
        assert node is not None
        text = self.string(node, "name", _DNS_LABEL_TEXT)
        if len(text) > 63 or not _DNS_LABEL.match(text):
            suggestion = sanitize_name(text)
            hint = f"try {_quote(suggestion)}" if suggestion else "use lowercase letters and digits"
            self.expected(node, "name", _DNS_LABEL_TEXT, hint)
        return text

    def namespace(self, node: YNode | None, key: str) -> str | None:
        if _is_absent(node):
            return None
        assert node is not None
        text = self.string(node, key, f"a namespace name, {_DNS_LABEL_TEXT}")
        if len(text) > 63 or not _DNS_LABEL.match(text):
            suggestion = sanitize_name(text)
            hint = f"try {_quote(suggestion)}" if suggestion else "use lowercase letters and digits"
            self.expected(node, key, f"a namespace name, {_DNS_LABEL_TEXT}", hint)
        return text

    def kubernetes(self, node: YNode | None) -> KubernetesSettings:
        if _is_absent(node):
            return KubernetesSettings()
        assert node is not None
        values = self.mapping(node, "kubernetes", _K8S_KEYS, "a mapping (context, namespace, allow_contexts, registry)")
        context = self.opt_string(values.get("context"), "kubernetes.context", "a kubeconfig context name")
        namespace = self.namespace(values.get("namespace"), "kubernetes.namespace")
        allow = self.strings(
            values.get("allow_contexts"), "kubernetes.allow_contexts", "a list of kubeconfig context names"
        )
        registry_node = values.get("registry")
        registry = self.opt_string(registry_node, "kubernetes.registry", "a registry host[:port]")
        if registry is not None:
            assert registry_node is not None
            if "://" in registry:
                self.expected(
                    registry_node,
                    "kubernetes.registry",
                    "a registry host[:port] without a scheme",
                    f"write {_quote(registry.split('://', 1)[1].rstrip('/'))}",
                )
            if not _REGISTRY.match(registry):
                self.expected(registry_node, "kubernetes.registry", "a registry host[:port] such as localhost:5001")
        return KubernetesSettings(context=context, namespace=namespace, allow_contexts=allow, registry=registry)

    def docker(self, node: YNode | None) -> DockerSettings:
        if _is_absent(node):
            return DockerSettings()
        assert node is not None
        values = self.mapping(node, "docker", _DOCKER_KEYS, "a mapping (network)")
        network_node = values.get("network")
        what = "a Docker network name (letters, digits, '_', '.', '-')"
        network = self.opt_string(network_node, "docker.network", what)
        if network is not None and not _NETWORK.match(network):
            assert network_node is not None
            self.expected(network_node, "docker.network", what)
        return DockerSettings(network=network)

    # ------------------------------------------------------------------------------ manifests

    def manifests(self, node: YNode | None, project: str) -> tuple[ManifestSource, ...]:
        what = "a list of manifest globs, {kustomize: folder} or {helm: {...}} entries"
        sources: list[ManifestSource] = []
        for i, (key, item) in enumerate(self.items(node, "manifests", what)):
            if isinstance(item, YMap):
                sources.append(self.manifest_entry(item, key, i, project))
                continue
            pattern = self.string(
                item,
                key,
                "a glob of manifest files relative to devloop.yaml, {kustomize: folder} or {helm: {chart: folder}}",
            )
            if pattern.startswith("/"):
                self.expected(item, key, "a glob relative to devloop.yaml", f"write it relative to {self.root}")
            sources.append(GlobSource(pattern=pattern, index=i))
        return tuple(sources)

    def manifest_entry(self, item: YMap, key: str, i: int, project: str) -> ManifestSource:
        values = self.mapping(item, key, ("kustomize", "helm"), "a mapping")
        if len(values) != 1:
            found = " and ".join(values) if values else "an empty mapping"
            hint = "split it into two entries" if values else "add one"
            self.fail(
                item,
                key,
                f"expected exactly one of kustomize or helm in a manifests entry, got {found}; {hint}",
            )
        if "kustomize" in values:
            child = f"{key}.kustomize"
            value = values["kustomize"]
            what = "a kustomization folder relative to devloop.yaml"
            folder = self.existing(value, child, self.root, "folder", what, "create it or fix the path")
            if not any((folder / f).is_file() for f in _KUSTOMIZATION_FILES):
                self.fail(
                    value,
                    child,
                    f"expected {what}, got {describe(value)}, but {self.shown(folder)} has "
                    "no kustomization.yaml; add one or fix the path",
                )
            return KustomizeSource(path=folder, index=i)
        return self.helm(values["helm"], f"{key}.helm", i, project)

    def helm(self, node: YNode, key: str, i: int, project: str) -> HelmSource:
        values = self.mapping(node, key, _HELM_KEYS, "a mapping (chart, release, namespace, values, set)")
        chart_node = self.required(
            values,
            "chart",
            node,
            key,
            "expected a chart folder relative to devloop.yaml, got no chart; add `chart: path/to/chart`",
        )
        what = "a chart folder relative to devloop.yaml"
        chart = self.existing(chart_node, f"{key}.chart", self.root, "folder", what, "create it or fix the path")
        if not (chart / "Chart.yaml").is_file():
            self.fail(
                chart_node,
                f"{key}.chart",
                f"expected {what}, got {describe(chart_node)}, but "
                f"{self.shown(chart)} has no Chart.yaml; point at the chart's folder",
            )
        release_node = values.get("release")
        release = project
        if not _is_absent(release_node):
            assert release_node is not None
            rwhat = "a Helm release name (lowercase letters, digits and '-', at most 53 characters)"
            release = self.string(release_node, f"{key}.release", rwhat)
            if len(release) > 53 or not _DNS_LABEL.match(release):
                self.expected(release_node, f"{key}.release", rwhat)
        namespace = self.namespace(values.get("namespace"), f"{key}.namespace")
        files: list[Path] = []
        for child, item in self.items(values.get("values"), f"{key}.values", "a list of values files"):
            files.append(
                self.existing(
                    item,
                    child,
                    self.root,
                    "file",
                    "a values file relative to devloop.yaml",
                    "create it or fix the path",
                )
            )
        sets = self.string_map(values.get("set"), f"{key}.set", "a mapping of chart values (name: value)")
        return HelmSource(chart=chart, release=release, namespace=namespace, values=tuple(files), set=sets, index=i)

    # ------------------------------------------------------------------------------ images

    def images(self, node: YNode | None) -> tuple[ImageSpec, ...]:
        images: list[ImageSpec] = []
        seen: dict[str, tuple[str, YNode]] = {}
        for i, (key, item) in enumerate(self.items(node, "images", "a list of images")):
            image = self.image(item, key, i)
            ref_node = cast(YMap, item).get("ref")
            assert ref_node is not None
            familiar = familiar_name(image.ref)
            if familiar in seen:
                first_key, first = seen[familiar]
                self.fail(
                    ref_node,
                    f"{key}.ref",
                    f"expected each image ref once, got {_quote(image.ref)} "
                    f"again (first in {first_key} at line {first.line}); merge the two entries",
                )
            seen[familiar] = (key, ref_node)
            images.append(image)
        return tuple(images)

    def image(self, node: YNode, key: str, i: int) -> ImageSpec:
        values = self.mapping(node, key, _IMAGE_KEYS, "a mapping with at least `ref`")
        ref_node = self.required(
            values, "ref", node, key, "expected the image name as the manifests write it, got no ref; add `ref: NAME`"
        )
        ref = self.image_ref(ref_node, f"{key}.ref")

        context_node = values.get("context")
        if _is_absent(context_node):
            context = self.check_exists(
                node, f"{key}.context", ".", self.root, "folder", "a build context folder", "create it"
            )
        else:
            assert context_node is not None
            context = self.existing(
                context_node,
                f"{key}.context",
                self.root,
                "folder",
                "a build context folder relative to devloop.yaml",
                "create it or fix the path",
            )

        df_node = values.get("dockerfile")
        df_what = "a Dockerfile path relative to the build context"
        if _is_absent(df_node):
            dockerfile = self.check_exists(
                node,
                f"{key}.dockerfile",
                "Dockerfile",
                context,
                "file",
                df_what,
                f"create it or set {key}.dockerfile",
            )
        else:
            assert df_node is not None
            dockerfile = self.existing(
                df_node, f"{key}.dockerfile", context, "file", df_what, "create it or fix the path"
            )

        target_node = values.get("target")
        target = self.opt_string(target_node, f"{key}.target", "a build stage name")
        if target is not None and re.search(r"\s", target):
            assert target_node is not None
            self.expected(target_node, f"{key}.target", "a build stage name without spaces")

        args = self.string_map(values.get("args"), f"{key}.args", "a mapping of build args (NAME: value)")
        args_node = values.get("args")
        if isinstance(args_node, YMap):
            for k, _ in args_node.entries:
                if not _ARG_NAME.match(k.text):
                    self.fail(
                        k,
                        f"{key}.args.{k.text}",
                        f"expected a build arg name without spaces or '=', got {_quote(k.text)}",
                    )

        ignore = self.strings(values.get("ignore"), f"{key}.ignore", "a list of .dockerignore patterns")
        test = self.test_stage(values.get("test"), f"{key}.test")
        live = self.live_update(values.get("live_update"), f"{key}.live_update", context)
        self.requires[ref] = self.requirements(values.get("requires"), f"{key}.requires", ref, dict(args))
        entrypoint_node = values.get("entrypoint")
        entrypoint = None
        if not _is_absent(entrypoint_node):
            assert entrypoint_node is not None
            entrypoint = self.command(entrypoint_node, f"{key}.entrypoint")
        return ImageSpec(
            ref=ref,
            context=context,
            dockerfile=dockerfile,
            target=target,
            args=args,
            ignore=ignore,
            test=test,
            live_update=live,
            index=i,
            origin=key,
            entrypoint=entrypoint,
        )

    def requirements(
        self, node: YNode | None, key: str, ref: str, args: dict[str, str]
    ) -> list[tuple[str, str, YNode, str]]:
        """``images[].requires`` as written; the refs are checked by :meth:`link_requirements`."""
        found: list[tuple[str, str, YNode, str]] = []
        aliases: set[str] = set()
        what = "a list of {image: REF, alias: BUILD_ARG} entries"
        for child, item in self.items(node, key, what):
            values = self.mapping(item, child, _REQUIRES_KEYS, "a mapping with image and alias")
            image_node = self.required(
                values, "image", item, child, "expected the ref of another image in images[], got no image; add it"
            )
            alias_node = self.required(
                values, "alias", item, child, "expected the build arg that gets its built reference, got no alias"
            )
            required = self.image_ref(image_node, f"{child}.image")
            alias_what = "a build arg name (letters, digits and '_', not starting with a digit) such as BASE"
            alias = self.string(alias_node, f"{child}.alias", alias_what)
            if not _ALIAS.match(alias):
                self.expected(alias_node, f"{child}.alias", alias_what)
            if alias in aliases or alias in args:
                where = "args" if alias in args else "another requires entry"
                self.fail(
                    alias_node,
                    f"{child}.alias",
                    f"expected a build arg that nothing else sets, got {_quote(alias)}, which {where} of {ref} sets "
                    "too; choose another alias",
                )
            aliases.add(alias)
            found.append((f"{child}.image", required, image_node, alias))
        return found

    def link_requirements(self, images: Sequence[ImageSpec]) -> tuple[ImageSpec, ...]:
        """``images`` with ``requires`` set: every required ref must be built by devloop (images[] or a
        workload's build), and the requirements may not form a cycle."""
        by_ref = {image.ref: image for image in images}
        for ref, entries in self.requires.items():
            for key, required, node, _ in entries:
                if required == ref:
                    self.fail(node, key, f"expected another image, got {_quote(required)}, the image itself; remove it")
                if required not in by_ref:
                    known = ", ".join(r for r in by_ref if r != ref) or "none"
                    close = difflib.get_close_matches(required, list(by_ref), n=1, cutoff=0.6)
                    hint = f" (did you mean {_quote(close[0])}?)" if close else ""
                    self.fail(
                        node,
                        key,
                        f"expected the ref of an image devloop builds, got {_quote(required)}{hint}, which no "
                        f"images[] entry or workload builds; images: {known}",
                    )
        linked: dict[str, ImageSpec] = {}
        path: list[str] = []

        def link(ref: str) -> ImageSpec:
            if ref in linked:
                return linked[ref]
            path.append(ref)
            requirements = []
            for key, required, node, alias in self.requires.get(ref, []):
                if required in path:
                    cycle = " -> ".join([*path[path.index(required) :], required])
                    self.fail(node, key, f"the images require each other in a cycle: {cycle}; remove one of these")
                requirements.append(ImageRequirement(image=link(required), alias=alias))
            path.pop()
            linked[ref] = dataclasses.replace(by_ref[ref], requires=tuple(requirements))
            return linked[ref]

        return tuple(link(image.ref) for image in images)

    def image_ref(self, node: YNode, key: str) -> str:
        what = "an image name without tag, as the manifests write it (e.g. shop/api)"
        ref = self.string(node, key, what)
        last = ref.rsplit("/", 1)[-1]
        if "@" in ref or ":" in last:
            bare = ref.split("@", 1)[0]
            head, _, tail = bare.rpartition("/")
            bare = f"{head}/{tail.split(':', 1)[0]}" if head else tail.split(":", 1)[0]
            self.expected(
                node,
                key,
                "an image name without tag or digest (devloop tags what it builds)",
                f"write {_quote(bare)}",
            )
        if len(ref) > 255 or not _IMAGE_NAME.match(ref):
            hint = "image names are lowercase" if ref.lower() != ref and _IMAGE_NAME.match(ref.lower()) else ""
            self.expected(node, key, what, hint)
        return ref

    def test_stage(self, node: YNode | None, key: str) -> TestStage | None:
        if _is_absent(node):
            return None
        assert node is not None
        values = self.mapping(node, key, _TEST_KEYS, "a mapping with `cmd`")
        cmd_node = self.required(
            values, "cmd", node, key, "expected a command to run on the host, got no cmd; add `cmd: COMMAND`"
        )
        return TestStage(cmd=self.string(cmd_node, f"{key}.cmd", "a command to run on the host"))

    def live_update(self, node: YNode | None, key: str, context: Path) -> LiveUpdate | None:
        if _is_absent(node):
            return None
        assert node is not None
        values = self.mapping(node, key, _LIVE_KEYS, "a mapping (fall_back_on, sync, run, restart)")
        fall_back = tuple(
            self.context_pattern(item, child, "a path relative to the image context")
            for child, item in self.items(
                values.get("fall_back_on"),
                f"{key}.fall_back_on",
                "a list of paths relative to the image context",
            )
        )
        sync = tuple(
            self.sync_rule(item, child, context)
            for child, item in self.items(values.get("sync"), f"{key}.sync", "a list of {src, dest} rules")
        )
        run = tuple(
            self.run_step(item, child)
            for child, item in self.items(values.get("run"), f"{key}.run", "a list of {cmd, trigger} steps")
        )
        restart = self.boolean(values.get("restart"), f"{key}.restart", False)
        return LiveUpdate(sync=sync, run=run, fall_back_on=fall_back, restart=restart)

    def sync_rule(self, node: YNode, key: str, context: Path) -> SyncRule:
        values = self.mapping(node, key, _SYNC_KEYS, "a mapping with src and dest")
        src_node, dest_node = (
            self.required(values, field, node, key, f"expected {what}, got no {field}; add `{field}:`")
            for field, what in (("src", "a path in the image context"), ("dest", "an absolute container path"))
        )
        src_what = "a file or folder inside the image context"
        src_text = self.string(src_node, f"{key}.src", src_what)
        absolute = Path(os.path.normpath(src_text if os.path.isabs(src_text) else context / src_text))
        try:
            rel = absolute.relative_to(context)
        except ValueError:
            self.fail(
                src_node,
                f"{key}.src",
                f"expected {src_what}, got {_quote(src_text)}, which lies "
                f"outside the context {self.shown(context)}; move the files into the context or widen "
                "the image's context",
            )
        if not os.path.lexists(absolute):
            self.fail(
                src_node,
                f"{key}.src",
                f"expected {src_what}, got {_quote(src_text)}, but "
                f"{self.shown(absolute)} does not exist; create it or fix the path",
            )
        dest = self.string(dest_node, f"{key}.dest", "an absolute container path")
        if not dest.startswith("/"):
            self.fail(
                dest_node,
                f"{key}.dest",
                f"must be an absolute container path, got {_quote(dest)}; start it with /",
            )
        return SyncRule(src=rel.as_posix() or ".", dest=posixpath.normpath(dest).replace("//", "/"))

    def run_step(self, node: YNode, key: str) -> RunStep:
        values = self.mapping(node, key, _RUN_KEYS, "a mapping with cmd and optional trigger")
        cmd_node = self.required(values, "cmd", node, key, f"expected {_COMMAND}, got no cmd; add `cmd:`")
        cmd = self.command(cmd_node, f"{key}.cmd")
        trigger = tuple(
            self.context_pattern(item, child, "a path relative to the image context")
            for child, item in self.items(
                values.get("trigger"), f"{key}.trigger", "a list of paths relative to the image context"
            )
        )
        return RunStep(cmd=cmd, trigger=trigger)

    def command(self, node: YNode, key: str) -> str | tuple[str, ...]:
        """A command: a string (run with /bin/sh -c) or a non-empty list of strings (exec form)."""
        if isinstance(node, YSeq):
            parts = []
            for child, item in self.items(node, key, _COMMAND):
                if not (isinstance(item, YScalar) and isinstance(item.value, str) and item.value):
                    self.expected(item, child, "a non-empty string", "quote it")
                parts.append(item.value)
            if not parts:
                self.expected(node, key, _COMMAND)
            return tuple(parts)
        return self.string(node, key, _COMMAND)

    # ------------------------------------------------------------------------------ resources, watch

    def resources(self, node: YNode | None) -> tuple[tuple[str, ResourceSettings], ...]:
        if _is_absent(node):
            return ()
        assert node is not None
        if not isinstance(node, YMap):
            self.expected(node, "resources", "a mapping of resource names to settings")
        result: dict[str, ResourceSettings] = {}
        local_ports: dict[int, str] = {}
        for k, value in node.entries:
            key = f"resources.{k.text}"
            self.note_entry(key, k, value)
            if not k.text.strip() or re.search(r"\s", k.text):
                self.fail(
                    k,
                    key,
                    f"expected a resource name, got {_quote(k.text)}; use the workload's metadata.name",
                )
            result[k.text] = self.resource(k.text, value, key, local_ports)
        return tuple(sorted(result.items()))

    def resource(self, name: str, node: YNode, key: str, local_ports: dict[int, str]) -> ResourceSettings:
        if _is_absent(node):
            return ResourceSettings()
        values = self.mapping(
            node,
            key,
            _RESOURCE_KEYS,
            "a mapping (port_forwards, depends_on, trigger, labels, readiness_timeout, objects)",
        )
        forwards = []
        for child, item in self.items(
            values.get("port_forwards"), f"{key}.port_forwards", 'a list of "LOCAL[:CONTAINER]" ports'
        ):
            forward = self.port_forward(item, child)
            if forward.local in local_ports:
                self.fail(
                    item,
                    child,
                    f"expected each local port once, got {forward.local} again (already "
                    f"forwarded by {local_ports[forward.local]}); pick another local port",
                )
            local_ports[forward.local] = child
            forwards.append(forward)
        depends: list[str] = []
        for child, item in self.items(values.get("depends_on"), f"{key}.depends_on", "a list of resource names"):
            dep = self.string(item, child, "a resource name")
            if dep == name:
                self.fail(
                    item,
                    child,
                    f"expected the names of other resources, got {_quote(dep)}, the resource itself; remove it",
                )
            if dep in depends:
                self.fail(item, child, f"expected each resource once, got {_quote(dep)} again; remove it")
            depends.append(dep)
        trigger = cast(TriggerMode, self.choice(values.get("trigger"), f"{key}.trigger", ("auto", "manual"), "auto"))
        labels = self.strings(values.get("labels"), f"{key}.labels", "a list of labels")
        timeout = self.timeout(values.get("readiness_timeout"), f"{key}.readiness_timeout")
        objects = tuple(
            self.object_selector(item, child)
            for child, item in self.items(values.get("objects"), f"{key}.objects", 'a list of "NAME[:KIND]"')
        )
        return ResourceSettings(
            port_forwards=tuple(forwards),
            depends_on=tuple(depends),
            trigger=trigger,
            labels=labels,
            readiness_timeout=timeout,
            objects=objects,
        )

    def port_forward(self, node: YNode, key: str) -> PortForward:
        what = 'a port forward "LOCAL[:CONTAINER]" with ports from 1 to 65535'
        text: str | None = None
        if isinstance(node, YScalar):
            value = node.value
            if isinstance(value, int) and not isinstance(value, bool) and ":" not in node.raw:
                text = str(value)
            elif isinstance(value, str) or (isinstance(value, int | float) and node.plain):
                text = node.raw if node.plain else str(value)
        if text is None:
            self.expected(node, key, what)
        parts = text.strip().split(":")
        port_name: str | None = None
        if len(parts) == 2 and _PORT_NAME.match(parts[1]) and not parts[1].isdigit():
            port_name = parts.pop()
        if len(parts) > 2 or not all(p.isascii() and p.isdigit() and len(p) <= 5 for p in parts):
            self.expected(node, key, what)
        ports = [int(p) for p in parts]
        if not all(1 <= p <= 65535 for p in ports):
            self.expected(node, key, what)
        if port_name is not None:
            return PortForward(local=ports[0], container=0, port_name=port_name)
        return PortForward(local=ports[0], container=ports[-1])

    def timeout(self, node: YNode | None, key: str) -> float:
        if _is_absent(node):
            return ResourceSettings().readiness_timeout
        assert node is not None
        if isinstance(node, YScalar) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            try:
                value = float(node.value)
            except OverflowError:
                value = math.inf
            if math.isfinite(value) and value > 0:
                return value
        self.expected(node, key, "a positive number of seconds")

    def object_selector(self, node: YNode, key: str) -> ObjectSelector:
        what = 'an object "NAME[:KIND]" such as "shop-config:configmap"'
        text = self.string(node, key, what)
        name, sep, kind = text.partition(":")
        if not (len(name) <= 253 and _DNS_SUBDOMAIN.match(name)) or (sep and not _KIND.match(kind)):
            self.expected(node, key, what)
        return ObjectSelector(name=name, kind=kind if sep else None)

    def watch(self, node: YNode | None) -> WatchSettings:
        if _is_absent(node):
            return WatchSettings()
        assert node is not None
        values = self.mapping(node, "watch", _WATCH_KEYS, "a mapping (ignore, debounce_ms)")
        ignore_node = values.get("ignore")
        ignore = (
            WatchSettings().ignore
            if _is_absent(ignore_node)
            else self.strings(ignore_node, "watch.ignore", "a list of gitignore patterns")
        )
        debounce = self.whole(
            values.get("debounce_ms"),
            "watch.debounce_ms",
            0,
            3_600_000,
            "a whole number of milliseconds from 0 to 3600000",
            WatchSettings().debounce_ms,
        )
        return WatchSettings(ignore=ignore, debounce_ms=debounce)

    # ------------------------------------------------------------------------------ local resources

    def local_resources(self, node: YNode | None) -> tuple[LocalSpec, ...]:
        """``local:``: commands on the host, as resources (config.md, "Local resources")."""
        if _is_absent(node):
            return ()
        assert node is not None
        if not isinstance(node, YMap):
            self.expected(node, "local", "a mapping of local resource names to settings (cmd, serve, deps, ...)")
        result = []
        for k, value in node.entries:
            key = f"local.{k.text}"
            self.note_entry(key, k, value)
            if not _LOCAL_NAME.match(k.text):
                self.fail(
                    k,
                    key,
                    "expected a resource name (letters, digits, '-', '_' and '.', starting and ending with a letter "
                    f"or digit, at most 63 characters), got {_quote(k.text)}",
                )
            result.append(self.local_resource(k, value, key))
        return tuple(result)

    def local_resource(self, k: YKey, node: YNode, key: str) -> LocalSpec:
        what = "a mapping (cmd, serve, deps, dir, env, readiness) with at least cmd or serve"
        if _is_absent(node):
            self.expected(node, key, what)
        values = self.mapping(node, key, _LOCAL_KEYS, what)
        cmd = self.opt_string(values.get("cmd"), f"{key}.cmd", "a shell command (run with /bin/sh -c)")
        serve = self.opt_string(values.get("serve"), f"{key}.serve", "a shell command (run with /bin/sh -c)")
        if cmd is None and serve is None:
            self.fail(
                node,
                key,
                "expected `cmd` (a command run at start and when deps change) or `serve` (a long-running "
                "process), got neither; add one",
            )
        deps = []
        for child, item in self.items(
            values.get("deps"), f"{key}.deps", "a list of paths relative to devloop.yaml (gitignore syntax)"
        ):
            text = self.string(item, child, "a path relative to devloop.yaml (gitignore syntax)")
            if text.startswith("/") or text == ".." or text.startswith("../"):
                self.expected(
                    item,
                    child,
                    "a path inside the project, relative to devloop.yaml",
                    "only files under the folder of devloop.yaml are watched",
                )
            deps.append(text)
        folder = self.root.resolve()
        dir_node = values.get("dir")
        if not _is_absent(dir_node):
            assert dir_node is not None
            folder = self.existing(
                dir_node,
                f"{key}.dir",
                self.root,
                "folder",
                "a folder to run the commands in, relative to devloop.yaml",
                "create it or fix the path",
            )
        env = self.env(values.get("env"), f"{key}.env")
        readiness = self.readiness(values.get("readiness"), f"{key}.readiness")
        if readiness is not None and serve is None:
            where = values["readiness"]
            self.fail(
                where,
                f"{key}.readiness",
                "applies to `serve` (a long-running process), and this local resource has none; remove it or "
                "add `serve`",
            )
        return LocalSpec(
            name=k.text,
            dir=folder,
            cmd=cmd,
            serve=serve,
            deps=tuple(deps),
            env=env,
            readiness=readiness,
            source=f"{self.name}:{k.line}",
        )

    def env(self, node: YNode | None, key: str) -> tuple[tuple[str, str], ...]:
        """``env:`` of a workload or a local resource: environment variable names and their values."""
        env = self.string_map(node, key, "a mapping of environment variables (NAME: value)")
        if isinstance(node, YMap):
            for env_key, _ in node.entries:
                if not _ENV_NAME.match(env_key.text):
                    self.fail(
                        env_key,
                        f"{key}.{env_key.text}",
                        "expected an environment variable name (letters, digits, '_', '-', '.', not starting with "
                        f"a digit), got {_quote(env_key.text)}",
                    )
        return env

    def readiness(self, node: YNode | None, key: str) -> Readiness | None:
        what = 'one of {http: "http://127.0.0.1:PORT/PATH"}, {tcp: PORT} or {cmd: "COMMAND"}'
        if _is_absent(node):
            return None
        assert node is not None
        values = self.mapping(node, key, _READINESS_KEYS, what)
        if len(values) != 1:
            self.expected(node, key, what, "give exactly one check")
        (kind, value), = values.items()
        child = f"{key}.{kind}"
        if kind == "http":
            url = self.string(value, child, "an http:// or https:// URL")
            if not re.match(r"^https?://[^\s/]+", url):
                self.expected(value, child, "an http:// or https:// URL such as http://127.0.0.1:5173/")
            return ("http", url)
        if kind == "tcp":
            port = self.whole(value, child, 1, 65535, "a port number from 1 to 65535", 0)
            return ("tcp", str(port))
        return ("cmd", self.string(value, child, "a shell command (run with /bin/sh -c) that exits 0 when ready"))

    # ------------------------------------------------------------------------------ workloads

    def workloads(
        self, node: YNode | None, project: str, images: Sequence[ImageSpec]
    ) -> tuple[tuple[WorkloadSpec, ...], tuple[ImageSpec, ...]]:
        """``workloads:`` and the implicit images of their ``build:`` folders."""
        if _is_absent(node):
            return (), ()
        assert node is not None
        if not isinstance(node, YMap):
            self.expected(node, "workloads", "a mapping of workload names to settings (type, build or image, ...)")
        built = {image.ref: image.origin for image in images}
        workloads: list[WorkloadSpec] = []
        implicit: list[ImageSpec] = []
        for k, value in node.entries:
            key = f"workloads.{k.text}"
            self.note_entry(key, k, value)
            if len(k.text) > 63 or not _DNS_1035.match(k.text):
                suggestion = sanitize_name(k.text).lstrip("0123456789-")
                hint = f"try {_quote(suggestion)}" if suggestion else "use lowercase letters, digits and '-'"
                self.fail(
                    k,
                    key,
                    "expected a workload name that Kubernetes accepts for a Deployment and a Service (lowercase "
                    f"letters, digits and '-', starting with a letter, at most 63 characters), got {_quote(k.text)}; "
                    f"{hint}",
                )
            workload, image = self.workload(k, value, key, project, built)
            workloads.append(workload)
            if image is not None:
                built[image.ref] = key
                implicit.append(image)
        return tuple(workloads), tuple(implicit)

    def workload(
        self, k: YKey, node: YNode, key: str, project: str, built: dict[str, str]
    ) -> tuple[WorkloadSpec, ImageSpec | None]:
        values = self.mapping(
            node, key, _WORKLOAD_KEYS, "a mapping (type, build or image, port, command, env, replicas, health, ...)"
        )
        types = ("web", "worker", "job")
        type_node = self.required(
            values,
            "type",
            node,
            key,
            "expected the kind of workload: web (Deployment + Service), worker (Deployment) or job (Job run to "
            "completion), got no type; add `type: web`",
        )
        kind = cast(WorkloadType, self.choice(type_node, f"{key}.type", types, "web"))

        def only_for(field: str, allowed: Sequence[str], hint: str) -> None:
            found = values.get(field)
            if kind not in allowed and not _is_absent(found):
                assert found is not None
                self.fail(
                    found, f"{key}.{field}", f"applies to {' and '.join(allowed)} workloads, not to a {kind}; {hint}"
                )

        only_for("port", ("web",), "remove it, or use `type: web` to get a Service and a port forward")
        only_for("health", ("web",), "remove it (only web workloads get a readiness check)")
        only_for("replicas", ("web", "worker"), "remove it (a job runs one pod to completion)")

        port: int | None = None
        if kind == "web":
            port_node = self.required(
                values, "port", node, key, "expected the port the process listens on, got no port; add `port: 8000`"
            )
            port = self.whole(port_node, f"{key}.port", 1, 65535, "a port number from 1 to 65535", 0)
        health = self.opt_string(values.get("health"), f"{key}.health", "an HTTP path such as /healthz")
        if health is not None and (not health.startswith("/") or re.search(r"\s", health)):
            health_node = values["health"]
            self.expected(health_node, f"{key}.health", "an HTTP path starting with / (e.g. /healthz)")
        replicas = self.whole(
            values.get("replicas"), f"{key}.replicas", 0, 1000, "a whole number of pods from 0 to 1000", 1
        )
        command_node = values.get("command")
        command = None if _is_absent(command_node) else self.command(cast(YNode, command_node), f"{key}.command")
        env = self.env(values.get("env"), f"{key}.env")
        if kind == "web" and "PORT" not in dict(env):
            env = tuple(sorted((*env, ("PORT", str(port)))))

        image, ref = self.workload_image(values, node, key, project, built, kind, port, command is not None)
        workload = WorkloadSpec(
            name=k.text,
            type=kind,
            image=ref,
            source=f"{self.name}:{k.line}",
            build=image is not None,
            port=port,
            command=command,
            env=env,
            replicas=replicas,
            health=health,
        )
        return workload, image

    def workload_image(
        self,
        values: dict[str, YNode],
        node: YNode,
        key: str,
        project: str,
        built: dict[str, str],
        kind: WorkloadType,
        port: int | None,
        has_command: bool,
    ) -> tuple[ImageSpec | None, str]:
        """The implicit image of ``build:`` (or None) and the reference the container runs."""
        build_node, image_node = values.get("build"), values.get("image")
        if _is_absent(build_node) and _is_absent(image_node):
            self.fail(
                node,
                key,
                "expected `build: FOLDER` (a folder to build) or `image: NAME` (an image to run), got neither; add one",
            )
        live_node, base_node = values.get("live_update"), values.get("base")
        if _is_absent(build_node):
            assert image_node is not None
            for field, found in (("live_update", live_node), ("base", base_node)):
                if not _is_absent(found):
                    assert found is not None
                    self.fail(
                        found,
                        f"{key}.{field}",
                        f"applies to the image devloop builds from `build:`, and this workload has none; add "
                        f"`build: FOLDER`, or set {field} on the images[] entry of {self.image_text(image_node, key)}",
                    )
            return None, self.image_text(image_node, key)

        assert build_node is not None
        context = self.existing(
            build_node,
            f"{key}.build",
            self.root,
            "folder",
            "a folder to build, relative to devloop.yaml",
            "create it or fix the path",
        )
        ref = f"{project}/{key.split('.', 1)[1]}"
        if not _is_absent(image_node):
            assert image_node is not None
            ref = self.image_ref(image_node, f"{key}.image")
        if ref in built:
            where = image_node if not _is_absent(image_node) else build_node
            assert where is not None
            self.fail(
                where,
                f"{key}.build",
                f"builds the image {ref}, which {built[ref]} builds too; remove one of them, or set `image:` to "
                "another name",
            )
        dockerfile = context / "Dockerfile"
        base = self.opt_string(base_node, f"{key}.base", "a base image reference such as python:3.12-slim")
        text = recipe = None
        ignore: tuple[str, ...] = ()
        default_live: LiveUpdate | None = None
        if dockerfile.is_file():
            if base is not None:
                assert base_node is not None
                self.fail(
                    base_node,
                    f"{key}.base",
                    f"applies to recipes only, but {self.shown(dockerfile)} exists and its FROM line chooses the "
                    "base image; remove `base:` or change the Dockerfile",
                )
        else:
            from devloop.config.recipes import RecipeError, plan_recipe

            try:
                planned = plan_recipe(
                    context,
                    shown=self.shown(context),
                    base=base,
                    workload_type=kind,
                    port=port,
                    has_command=has_command,
                )
            except RecipeError as exc:
                self.fail(build_node, f"{key}.build", f"the folder {self.shown(context)} {exc}")
            text, recipe, ignore, default_live = planned.dockerfile, planned.recipe, planned.ignore, planned.live_update
        live = self.live_update(live_node, f"{key}.live_update", context)
        return (
            ImageSpec(
                ref=ref,
                context=context,
                dockerfile=dockerfile,
                ignore=ignore,
                live_update=live if not _is_absent(live_node) else default_live,
                dockerfile_text=text,
                recipe=recipe,
                origin=key,
            ),
            ref,
        )

    def image_text(self, node: YNode, key: str) -> str:
        """``workloads.X.image`` without ``build``: an images[].ref, or any image reference (tag or digest allowed)."""
        what = "an image reference such as shop/api, redis:7 or registry.example.com/team/app@sha256:..."
        text = self.string(node, f"{key}.image", what)
        name = text.split("@", 1)[0]
        slash, colon = name.rfind("/"), name.rfind(":")
        if colon > slash:
            name = name[:colon]
        if len(text) > 255 or re.search(r"\s", text) or not _IMAGE_NAME.match(name):
            hint = "image names are lowercase" if name.lower() != name else ""
            self.expected(node, f"{key}.image", what, hint)
        return text

    def default_port_forwards(
        self,
        workloads: Sequence[WorkloadSpec],
        resources: tuple[tuple[str, ResourceSettings], ...],
        node: YNode | None,
    ) -> tuple[tuple[str, ResourceSettings], ...]:
        """Every web workload forwards ``port`` -> ``port`` unless ``resources.NAME.port_forwards`` is given
        (``[]`` included; an empty value counts as absent, as everywhere)."""
        given = set()
        for name, value in node.entries if isinstance(node, YMap) else ():
            if isinstance(value, YMap) and not _is_absent(value.get("port_forwards")):
                given.add(f"resources.{name.text}.port_forwards")
        settings = dict(resources)
        taken = {pf.local: name for name, s in resources for pf in s.port_forwards}
        for workload in workloads:
            if workload.type != "web" or workload.port is None:
                continue
            if f"resources.{workload.name}.port_forwards" in given:
                continue
            if workload.port in taken:
                key = f"workloads.{workload.name}.port"
                line, col = next((ln, c) for k, ln, c in self.positions if k == key)
                raise ConfigError(
                    f"the web workload {workload.name} gets a port forward from local port {workload.port}, which "
                    f"{taken[workload.port]} forwards already; set resources.{workload.name}.port_forwards to another "
                    f'local port, e.g. ["{workload.port + 1}:{workload.port}"]',
                    location=f"{self.name}:{line}:{col}",
                    key=key,
                )
            taken[workload.port] = workload.name
            current = settings.get(workload.name, ResourceSettings())
            forward = PortForward(local=workload.port, container=workload.port)
            settings[workload.name] = dataclasses.replace(current, port_forwards=(forward,))
        return tuple(sorted(settings.items()))
