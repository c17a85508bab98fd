"""The command line: parses options and dispatches to one function per command.

No work happens here. Each command builds an :class:`Environment` and hands it to
``devloop.commands.<name>.run``; errors become exit codes in ``error_handler``.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperGroup

from devloop.context import TARGETS, Environment, GlobalOptions
from devloop.error_handler import run_command, setup_logging
from devloop.exit_status import ExitStatus
from devloop.ui.web import DEFAULT_PORT


class _Group(TyperGroup):
    """Help without Python types: arguments are shown by their metavar alone (`RESOURCE`, not
    `RESOURCE <list[str]>`); options name their values with metavars (`--parallel N`). Applied to every
    command as the group hands it out, whatever decorator made it."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        for param in getattr(command, "params", ()):
            if isinstance(param, TyperArgument):
                setattr(param, "display_type_rich", _no_type)  # noqa: B010 - an instance override of a typer method
        return command

    def invoke(self, ctx: Any) -> Any:
        """An interrupt outside the command's own handling (while its modules are imported) is one line too."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            from devloop import interrupts

            sys.stderr.write(f"devloop: {interrupts.describe()}.\n")
            raise typer.Exit(ExitStatus.INTERRUPTED) from None


def _no_type(ctx: Any) -> str:
    return ""


app = typer.Typer(
    name="devloop",
    help="Inner-loop continuous development on Kubernetes and the local Docker engine.",
    epilog=(
        "Exit codes: 0 success, 1 the work failed, 2 bad usage or config, 130 interrupted (Ctrl-C), "
        "143 stopped by SIGTERM, 129 stopped by SIGHUP."
    ),
    cls=_Group,
    add_completion=True,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)



class OutputOpt(StrEnum):
    text = "text"
    json = "json"


class PlanOutputOpt(StrEnum):
    text = "text"
    json = "json"
    yaml = "yaml"


def _show_version(value: bool) -> None:
    if value:
        from devloop import __version__

        typer.echo(f"devloop {__version__}")
        raise typer.Exit(ExitStatus.SUCCESS)


def _complete_target(incomplete: str) -> list[str]:
    return [name for name in TARGETS if name.startswith(incomplete)]


@app.callback()
def main_options(
    ctx: typer.Context,
    file: Annotated[
        str | None, typer.Option("-f", "--file", help="devloop.yaml, or a folder holding one.", metavar="PATH")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="Where workloads run (env: DEVLOOP_TARGET).",
            metavar="|".join(TARGETS),
            autocompletion=_complete_target,
        ),
    ] = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubernetes context to use.", metavar="NAME")] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", help="Kubernetes namespace to use.", metavar="NAME")
    ] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show debug output and tracebacks.")] = False,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", help="Merge profiles.NAME of devloop.yaml in (env: DEVLOOP_PROFILE).", metavar="NAME"
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", help="Show devloop's version and exit.", is_eager=True, callback=_show_version),
    ] = False,
) -> None:
    ctx.obj = GlobalOptions(
        file=file,
        target=target,
        context=context,
        namespace=namespace,
        verbose=verbose,
        profile=profile,
    )
    if target is not None:  # checked for every command, with the sentence commands use for DEVLOOP_TARGET
        from devloop.errors import UsageError

        try:
            Environment(options=ctx.obj).target_choice("auto")
        except UsageError as exc:
            typer.echo(f"devloop: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None


def _env(ctx: typer.Context) -> Environment:
    options = ctx.obj if isinstance(ctx.obj, GlobalOptions) else GlobalOptions()
    env = Environment(options=options)
    setup_logging(env)
    return env


def _finish(code: int) -> None:
    raise typer.Exit(code)


@app.command()
def plan(
    ctx: typer.Context,
    output: Annotated[
        PlanOutputOpt, typer.Option("-o", "--output", help="text, json, or yaml (the objects).")
    ] = PlanOutputOpt.text,
) -> None:
    """Check the config and manifests and show what `up` would deploy. Touches nothing."""
    import devloop.commands.plan as command

    env = _env(ctx)
    _finish(run_command(env, lambda: command.run(env, output=output.value)))


@app.command()
def build(
    ctx: typer.Context,
    images: Annotated[
        list[str] | None, typer.Argument(help="Image refs to build (default: all).", metavar="IMAGE")
    ] = None,
) -> None:
    """Build the project's images (skipping those already built) and print their tags."""
    import devloop.commands.build as command

    env = _env(ctx)
    _finish(run_command(env, lambda: command.run(env, images=images or [])))


@app.command()
def render(
    ctx: typer.Context,
    output: Annotated[
        str | None,
        typer.Option(
            "-o", "--output", help="Write one file per resource into this folder (default: stdout).", metavar="DIR"
        ),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option("--registry", help="Push the images here (default: kubernetes.registry).", metavar="HOST[:PORT]"),
    ] = None,
    push: Annotated[
        bool, typer.Option("--push/--no-push", help="Push and pin registry digests, or pin the local content tags.")
    ] = True,
) -> None:
    """The path to production: test, build, push, and write the objects with every image pinned by digest."""
    import devloop.commands.render as command

    env = _env(ctx)
    _finish(run_command(env, lambda: command.run(env, output_dir=output, registry=registry, push=push)))


@app.command()
def init(ctx: typer.Context) -> None:
    """Write a devloop.yaml for the project in this folder from what is in it; never overwrites."""
    import devloop.commands.init as command

    env = _env(ctx)
    _finish(run_command(env, lambda: command.run(env)))


Resources = Annotated[
    list[str] | None,
    typer.Argument(help="Only these resources (and what they depend on).", show_default=False, metavar="RESOURCE"),
]
Parallel = Annotated[
    int, typer.Option("--parallel", min=1, max=32, help="Updates running at once.", metavar="N")
]


@app.command()
def up(
    ctx: typer.Context,
    resources: Resources = None,
    watch: Annotated[bool, typer.Option("--watch/--no-watch", help="Update on file changes.")] = True,
    parallel: Parallel = 3,
    tui: Annotated[
        bool | None,
        typer.Option("--tui/--no-tui", help="Dashboard (default on a terminal) or plain lines.", show_default=False),
    ] = None,
    web_port: Annotated[
        int,
        typer.Option(
            "--web-port",
            min=0,
            max=65535,
            metavar="PORT",
            help="Port of the web UI on 127.0.0.1 (the next free one when taken).",
        ),
    ] = DEFAULT_PORT,
    no_web: Annotated[bool, typer.Option("--no-web", help="Do not serve the web UI.")] = False,
) -> None:
    """Build, deploy and watch: update on every change until stopped (workloads keep running)."""
    import devloop.commands.up as command

    env = _env(ctx)
    web = None if no_web else web_port
    _finish(
        run_command(
            env,
            lambda: command.run(
                env, resources=tuple(resources or ()), watch=watch, parallel=parallel, tui=tui, web_port=web
            ),
        )
    )


@app.command()
def ci(
    ctx: typer.Context,
    resources: Resources = None,
    timeout: Annotated[
        str, typer.Option("--timeout", help="Give up after this long (30m, 90s, 1h).", metavar="DURATION")
    ] = "30m",
    down: Annotated[bool, typer.Option("--down", help="Tear everything down before exiting.")] = False,
    parallel: Parallel = 3,
) -> None:
    """Build and deploy once, wait until every resource is ready; exit 0, or 1 at the first failure."""
    import devloop.commands.ci as command

    env = _env(ctx)
    seconds = parse_duration(timeout)
    _finish(
        run_command(
            env,
            lambda: command.run(env, resources=tuple(resources or ()), timeout=seconds, down=down, parallel=parallel),
        )
    )


@app.command()
def down(
    ctx: typer.Context,
    delete_namespaces: Annotated[
        bool, typer.Option("--delete-namespaces", help="Also delete namespaces devloop created.")
    ] = False,
    prune_images: Annotated[bool, typer.Option("--prune-images", help="Also remove images devloop built.")] = False,
) -> None:
    """Delete everything devloop deployed for this project."""
    import devloop.commands.down as command

    env = _env(ctx)
    _finish(run_command(env, lambda: command.run(env, prune_images=prune_images, delete_namespaces=delete_namespaces)))


@app.command()
def status(
    ctx: typer.Context,
    output: Annotated[OutputOpt, typer.Option("-o", "--output", help="text or json.")] = OutputOpt.text,
) -> None:
    """Show every resource's state in the running `up` of this project."""
    import devloop.commands.status as command

    env = _env(ctx)
    _finish(run_command(env, lambda: command.run(env, output=output.value)))


@app.command()
def logs(
    ctx: typer.Context,
    resource: Annotated[
        str | None, typer.Argument(help="Only this resource's lines.", show_default=False, metavar="RESOURCE")
    ] = None,
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Keep printing new lines until Ctrl-C.")] = False,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only lines of the last 30s, 5m, 1h...", show_default=False, metavar="DURATION"),
    ] = None,
) -> None:
    """Print the logs the running `up` of this project keeps (build, test, runtime, live update)."""
    import devloop.commands.logs as command

    env = _env(ctx)
    seconds = parse_duration(since, "--since") if since is not None else None
    _finish(run_command(env, lambda: command.run(env, resource=resource, follow=follow, since=seconds)))


@app.command()
def trigger(
    ctx: typer.Context,
    resource: Annotated[
        str, typer.Argument(help="The resource to update now.", show_default=False, metavar="RESOURCE")
    ],
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until the update ended and show how it went.")
    ] = True,
) -> None:
    """Ask the running `up` to update a resource now (live update when possible, else build)."""
    import devloop.commands.trigger as command

    env = _env(ctx)
    _finish(run_command(env, lambda: command.run(env, resource=resource, wait=wait)))


def parse_duration(text: str, option: str = "--timeout") -> float:
    """`30m`, `90s`, `1h`, `1h30m` or plain seconds; a bad value is a usage error naming ``option``."""
    from devloop.durations import parse_duration as parse

    try:
        return parse(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


_GLOBAL_WITH_VALUE = ("-f", "--file", "--target", "--context", "--namespace", "--profile")
_GLOBAL_FLAGS = ("-v", "--verbose")


def hoist_global_options(argv: list[str]) -> list[str]:
    """Let global options also follow the command (`devloop plan -f x`), as users write them.

    Only options before a `--` move; `logs -f` keeps its own meaning (follow).
    """
    commands = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    command_at = next((i for i, a in enumerate(argv) if a in commands), None)
    if command_at is None:
        return argv
    head, rest = argv[: command_at + 1], argv[command_at + 1 :]
    moved: list[str] = []
    kept: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--":
            kept.extend(rest[i:])
            break
        name = arg.split("=", 1)[0]
        if argv[command_at] == "logs" and name in ("-f",):
            kept.append(arg)
        elif name in _GLOBAL_WITH_VALUE:
            if "=" in arg or i + 1 >= len(rest):
                moved.append(arg)
            else:
                moved.extend(rest[i : i + 2])
                i += 1
        elif arg in _GLOBAL_FLAGS:
            moved.append(arg)
        else:
            kept.append(arg)
        i += 1
    return argv[:command_at] + moved + head[command_at:] + kept


def main() -> None:
    """Parse ``sys.argv`` and run the command; exits (SystemExit) with its code. Called by
    :func:`devloop.entry.main`, which routes the stopping signals first and maps an interrupt's exit code."""
    app(args=hoist_global_options(sys.argv[1:]), prog_name="devloop")
