"""`devloop down`: delete everything devloop deployed for this project (found by the project label)."""

from __future__ import annotations

from devloop.context import Environment
from devloop.exit_status import ExitStatus
from devloop.session import load_with_target


def run(env: Environment, *, prune_images: bool, delete_namespaces: bool) -> int:
    project, target = load_with_target(env)
    try:
        removed = target.down(project.name, prune_images=prune_images, delete_namespaces=delete_namespaces)
    finally:
        target.close()
    from devloop.engine.liverecords import DiskRecords, live_dir

    DiskRecords(live_dir(env.env)).forget_project(project.name)  # its containers are gone
    from devloop.build.images import KEPT

    kept = [item for item in removed if KEPT in item]
    removed = [item for item in removed if KEPT not in item]
    for item in removed:
        env.out(f"removed {item}")
    for item in kept:
        env.err(f"devloop: {item}")
    env.out(f"devloop down: {project.name}: removed {len(removed)} object(s) from {target.name}")
    if project.config.local:
        _stop_local_resources(env)
    return ExitStatus.SUCCESS


def _stop_local_resources(env: Environment) -> None:
    """Local resources live in the `devloop up` that runs them: ask it to stop them (none runs: nothing to do)."""
    from devloop.control.client import client_for_env
    from devloop.control.protocol import ControlError, NoRunningUpError, RemoteError

    try:
        stopped = client_for_env(env).stop_local()
    except NoRunningUpError:
        return
    except (ControlError, RemoteError) as exc:  # everything else is removed already: a warning
        env.err(f"devloop: could not stop the local resources of the running `devloop up`: {exc}")
        return
    if stopped:
        env.out(f"devloop down: stopped the local resources of the running `devloop up`: {', '.join(stopped)}")
