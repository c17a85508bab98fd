"""`devloop render [-o DIR] [--registry REG] [--no-push]`: the path to production (cli.md).

Runs the test stages, builds every image (or reuses it by its content tag), pushes it to the registry and
writes the project's objects with every built image pinned as ``REG/ref@sha256:...`` (see :mod:`devloop.render`):
to stdout as one YAML stream, or to DIR as one file per resource. Nothing is written unless everything
succeeded: the folder is written next to DIR under a temporary name and renamed into place.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from devloop.context import Environment
from devloop.errors import DeployError, UsageError
from devloop.exit_status import ExitStatus

_REGISTRY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]+)?(/[a-z0-9._-]+)*$")


def run(env: Environment, *, output_dir: str | None, registry: str | None, push: bool) -> int:
    from devloop.commands.common import test_and_build
    from devloop.config.project import all_objects, config_for_env, print_warnings
    from devloop.config.resources import assemble
    from devloop.render import render_documents, render_stream

    config = config_for_env(env)
    target = _check_folder(env, output_dir) if output_dir is not None else None
    reg = (registry or config.kubernetes.registry or "").rstrip("/") if push else ""
    if push and not reg and config.images:
        raise UsageError(
            "render pushes the built images to a registry, and none is set: pass --registry HOST[:PORT], "
            "set kubernetes.registry in devloop.yaml, or pass --no-push to pin the local content tags instead."
        )
    if reg and ("://" in reg or not _REGISTRY.match(reg)):
        raise UsageError(f"--registry {reg!r} is not a registry address; write HOST[:PORT], e.g. localhost:5001.")

    raw = all_objects(config)
    project = print_warnings(env, assemble(config, raw))
    results = test_and_build(env, project, config.images)
    pinned: dict[str, str] = {}
    if push:
        pinned = _push(env, reg, [(result.ref, result.reference) for result in results])
    else:
        pinned = {result.ref: result.reference for result in results}
    rendered = render_documents(project, raw, pinned)
    if target is None:
        env.out(render_stream(project, rendered).rstrip("\n"))
        return ExitStatus.SUCCESS
    _write_folder(target, [(item.file_name, item.text) for item in rendered])
    env.err(f"devloop render: wrote {len(rendered)} files to {target}")
    return ExitStatus.SUCCESS


def _push(env: Environment, registry: str, built: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Push every built reference to ``registry``; ``ref -> REG/name@sha256:...`` as the registry serves it."""
    from devloop.targets.kubernetes.delivery import Deliverer, Delivery, registry_digest, split_reference

    deliverer = Deliverer(Delivery("registry", registry, registry), env.env, env.env)
    pinned: dict[str, str] = {}
    try:
        for ref, reference in built:
            pushed = deliverer.deliver(reference)
            repository, tag = split_reference(pushed)
            host = registry.split("/", 1)[0]  # a registry may carry a path: registry.example.com/team
            digest = registry_digest(host, repository[len(host) + 1 :], tag)
            if not digest:
                raise DeployError(
                    f"registry {registry} does not report the digest of {pushed} after the push; check that it is a "
                    "Docker Registry v2 that answers HEAD /v2/<name>/manifests/<tag> with Docker-Content-Digest."
                )
            pinned[ref] = f"{repository}@{digest}"
            env.err(f"{ref} │ pushed as {pinned[ref]}")
    finally:
        deliverer.close()
    return pinned


def _check_folder(env: Environment, output_dir: str) -> Path:
    """The output folder, checked before anything is built: absent, empty, or holding only files of an earlier
    render (they are replaced); anything else is a usage error."""
    from devloop.render import is_rendered_file

    target = Path(os.path.abspath(env.cwd / Path(output_dir).expanduser()))
    if target.exists() and not target.is_dir():
        raise UsageError(f"-o {output_dir}: {target} is not a folder; give a folder for the rendered files.")
    if not target.parent.is_dir():
        raise UsageError(f"-o {output_dir}: the folder {target.parent} does not exist; create it first.")
    if target.is_dir():
        foreign = []
        for entry in sorted(target.iterdir()):
            try:
                ours = entry.is_file() and entry.suffix == ".yaml" and is_rendered_file(entry.read_text()[:200])
            except (OSError, UnicodeDecodeError):
                ours = False
            if not ours:
                foreign.append(entry.name)
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise UsageError(
                f"-o {output_dir}: {target} holds files that devloop render did not write ({shown}), and render "
                "replaces the whole folder; render into a new or empty folder."
            )
    return target


def _write_folder(target: Path, files: Sequence[tuple[str, str]]) -> None:
    """Write ``files`` into a fresh temporary folder beside ``target``, then swap it into place."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.render-", dir=target.parent))
    old: Path | None = None
    try:
        for name, text in files:
            (staging / name).write_text(text, encoding="utf-8")
        staging.chmod(0o755)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.rename(target, old / target.name)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None and not target.exists():
            os.rename(old / target.name, target)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
