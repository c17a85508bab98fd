"""`devloop trigger RESOURCE`: ask the running `devloop up` to update a resource now and show what happened.

The engine decides how: a live update when the pending changes allow one, else a build and deploy. By default
the command waits until the update ended and exits 0 when the resource is ready (or completed), 1 when it failed;
``--no-wait`` returns as soon as `up` accepted the request.
"""

from __future__ import annotations

from devloop.context import Environment
from devloop.exit_status import ExitStatus


def run(env: Environment, *, resource: str, wait: bool = True) -> int:
    from devloop.control.client import client_for_env
    from devloop.control.protocol import view_from_dict
    from devloop.engine.state import Status

    client = client_for_env(env)
    prefix = f"{resource} │"
    try:
        for message in client.trigger(resource, wait=wait):
            if message.get("ok") is True:
                before = view_from_dict(message.get("view") or {})
                note = f" ({before.pending_changes} changed file(s) were pending)" if before.pending_changes else ""
                if wait:
                    env.out(f"{prefix} update triggered{note}")
                else:
                    env.out(f"{prefix} update triggered{note}; `devloop logs {resource} -f` follows it")
                    return ExitStatus.SUCCESS
            elif "state" in message:
                env.out(f"{prefix} {message.get('line', '')}")
            elif "done" in message:
                view = view_from_dict(message["done"])
                env.out(f"{prefix} {message.get('line', '')}")
                if view.status is Status.FAILED:
                    for line in view.last_lines:
                        env.out(f"{prefix}   {line}")
                    return ExitStatus.ERROR
                return ExitStatus.SUCCESS
            elif "end" in message:
                break
    except KeyboardInterrupt:
        env.err(f"devloop: stopped waiting; the update of {resource} goes on in `devloop up`.")
        return ExitStatus.INTERRUPTED
    env.err(f"devloop: the `devloop up` of {client.project_name} stopped before the update of {resource} ended.")
    return ExitStatus.ERROR
