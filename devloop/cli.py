"""The command line: parses options and dispatches to one function per command.

No work happens here. Each command builds an :class:`Environment` and hands it to
``devloop.commands.<name>.run``; errors become exit codes in ``error_handler``.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from devloop.context import Environment, GlobalOptions
from devloop.error_handler import run_command, setup_logging

app = typer.Typer(
    name="devloop",
    help="Inner-loop continuous development on Kubernetes and the local Docker engine.",
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class TargetOpt(StrEnum):
    auto = "auto"
    kubernetes = "kubernetes"
    docker = "docker"


class OutputOpt(StrEnum):
    text = "text"
    json = "json"


@app.callback()
def main_options(
    ctx: typer.Context,
    file: Annotated[
        str | None, typer.Option("-f", "--file", help="devloop.yaml, or a folder holding one.", metavar="PATH")
    ] = None,
    target: Annotated[
        TargetOpt | None, typer.Option("--target", help="Where workloads run (env: DEVLOOP_TARGET).")
    ] = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubernetes context to use.")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", help="Kubernetes namespace to use.")] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show debug output and tracebacks.")] = False,
) -> None:
    ctx.obj = GlobalOptions(
        file=file,
        target=target.value if target else None,
        context=context,
        namespace=namespace,
        verbose=verbose,
    )


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
    output: Annotated[OutputOpt, typer.Option("-o", "--output", help="text or json.")] = OutputOpt.text,
) -> None:
    """Check the config and manifests and show what `up` would deploy. Touches nothing."""
    from devloop.commands import plan as command

    env = _env(ctx)
    _finish(run_command(env, lambda: command.run(env, output=output.value)))


@app.command()
def build(
    ctx: typer.Context,
    images: Annotated[list[str] | None, typer.Argument(help="Image refs to build (default: all).")] = None,
) -> None:
    """Build the project's images (skipping those already built) and print their tags."""
    from devloop.commands import build as command

    env = _env(ctx)
    _finish(run_command(env, lambda: command.run(env, images=images or [])))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("devloop: interrupted.\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
