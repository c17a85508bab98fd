"""`devloop logs [RESOURCE] [-f] [--since 5m]`: the log lines the running `devloop up` keeps.

Prints `name │ text` lines like the plain output of `up`. With ``-f`` it follows until Ctrl-C (exit 130, quietly,
as for any interrupted command) or until `up` stops (exit 0, with a note on stderr).
"""

from __future__ import annotations

from devloop.context import Environment
from devloop.exit_status import ExitStatus

NAME_WIDTH_CAP = 24  # as the plain output of `up`


def run(env: Environment, *, resource: str | None, follow: bool, since: float | None) -> int:
    from devloop.control.client import client_for_env
    from devloop.control.protocol import entry_from_dict
    from devloop.engine.sink import is_terminal, plain_text

    client = client_for_env(env)
    clean = plain_text if not is_terminal(env.stdout) else str
    width = 0
    try:
        for message in client.logs(resource, since_seconds=since, follow=follow):
            if "log" in message:
                entry = entry_from_dict(message["log"])
                name = entry.resource or "devloop"
                env.stdout.write(f"{name.ljust(width)} │ {clean(entry.text)}\n")
                if follow:
                    env.stdout.flush()
            elif message.get("ok") is True:
                names = [str(n) for n in message.get("names") or ()]
                width = min(max((len(n) for n in [*names, "devloop"]), default=0), NAME_WIDTH_CAP)
                dropped = int(message.get("dropped") or 0)
                if dropped:
                    env.stdout.write(
                        f"{'devloop'.ljust(width)} │ … {dropped} older line(s) were dropped "
                        "(each resource keeps only its newest lines)\n"
                    )
            elif "dropped_here" in message:
                env.stdout.write(
                    f"{'devloop'.ljust(width)} │ … {message['dropped_here']} line(s) dropped here: "
                    "they came faster than this reader took them\n"
                )
            elif message.get("end") == "stopped":
                env.stdout.flush()
                env.err(f"devloop: the `devloop up` of {client.project_name} stopped; no more logs.")
                return ExitStatus.SUCCESS
        env.stdout.flush()
        if follow:
            env.err(f"devloop: the `devloop up` of {client.project_name} stopped; no more logs.")
        return ExitStatus.SUCCESS
    except KeyboardInterrupt:
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:  # `devloop logs | head`: the reader has all it wanted
        return ExitStatus.SUCCESS
