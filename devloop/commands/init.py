"""`devloop init`: write a devloop.yaml for the project in the current folder (or -f) and say what was assumed.

Never overwrites: an existing file is a usage error (exit 2), and the file is created exclusively. The text is
loaded like `devloop plan` would before it is written, so what init writes passes `plan`.
"""

from __future__ import annotations

import os
from pathlib import Path

from devloop.context import Environment
from devloop.errors import ConfigError, ToolMissingError, UsageError
from devloop.exit_status import ExitStatus


def run(env: Environment) -> int:
    from devloop.config.loader import CONFIG_NAME, parse_config
    from devloop.config.project import all_objects
    from devloop.config.resources import assemble
    from devloop.scaffold import NothingFound, render_config, scan

    given = Path(env.options.file).expanduser() if env.options.file else None
    path = env.cwd / given if given is not None and not given.is_absolute() else given
    if path is None or path.is_dir():
        path = (path or env.cwd) / CONFIG_NAME
    path = Path(os.path.abspath(path))
    if path.exists():
        raise UsageError(
            f"{path} already exists, and devloop init never overwrites it; edit it (devloop plan checks it), "
            "or move it away and run devloop init again."
        )
    root = path.parent
    if not root.is_dir():
        raise UsageError(f"the folder {root} does not exist; create it, or run devloop init in the project folder.")
    try:
        scaffold = scan(root)
    except NothingFound as exc:
        raise UsageError(
            f"devloop init {exc}, so it cannot tell what to run; add a Dockerfile or a requirements.txt, "
            "package.json or index.html, or write devloop.yaml by hand (docs/start-without-yaml.md)."
        ) from None
    text = render_config(scaffold)
    note = ""
    try:
        config = parse_config(text, path)
        assemble(config, all_objects(config))
    except ToolMissingError as exc:
        note = f"note: devloop plan will need a tool that is missing here: {exc.detail}"
    except ConfigError as exc:
        raise ConfigError(
            f"devloop init wrote nothing: the devloop.yaml it made for {root} does not load ({exc}); write it by hand "
            "from docs/configuration.md, and please report this."
        ) from None
    try:
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise UsageError(f"{path} appeared while devloop init ran; it was left alone.") from None
    env.out(f"Wrote {path}, assuming that:")
    for line in scaffold.assumptions:
        env.out(f"  - {line}")
    if note:
        env.out(note)
    env.out("Next: `devloop plan` shows what would run, `devloop up` runs it.")
    return ExitStatus.SUCCESS
