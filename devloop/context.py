"""The environment a command runs in: streams, environment variables, folder and global options.

Passed in explicitly (never read from globals inside the work), so that commands can be driven
from tests with string streams and a made-up environment.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from devloop.errors import UsageError

#: where workloads can run (cli.md "Global options")
TARGETS = ("auto", "kubernetes", "docker")


@dataclass(frozen=True)
class GlobalOptions:
    """Options every command accepts (cli.md "Global options")."""

    file: str | None = None  # -f: devloop.yaml or its folder
    target: str | None = None  # --target, else DEVLOOP_TARGET, else the config's
    context: str | None = None  # --context
    namespace: str | None = None  # --namespace
    verbose: bool = False
    profile: str | None = None  # --profile, else DEVLOOP_PROFILE


@dataclass
class Environment:
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path = field(default_factory=Path.cwd)
    options: GlobalOptions = field(default_factory=GlobalOptions)

    @property
    def verbose(self) -> bool:
        return self.options.verbose

    @property
    def stdout_isatty(self) -> bool:
        isatty = getattr(self.stdout, "isatty", None)
        return bool(isatty and isatty())

    @property
    def no_color(self) -> bool:
        return "NO_COLOR" in self.env

    def out(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def err(self, text: str) -> None:
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def profile_choice(self) -> tuple[str | None, str]:
        """The profile of devloop.yaml to merge in, and where its name came from: --profile beats
        DEVLOOP_PROFILE; (None, "") for none."""
        env_profile = self.env.get("DEVLOOP_PROFILE")
        for value, source in ((self.options.profile, "--profile"), (env_profile, "DEVLOOP_PROFILE")):
            if value:
                return value, source
        return None, ""

    def target_choice(self, configured: str) -> str:
        """--target beats DEVLOOP_TARGET beats the config's ``target`` (checked when devloop.yaml is loaded);
        an unknown value is a usage error naming where it came from and the allowed values."""
        for value, source in ((self.options.target, "--target"), (self.env.get("DEVLOOP_TARGET"), "DEVLOOP_TARGET")):
            if value:
                if value not in TARGETS:
                    raise UsageError(
                        f"unknown target `{value}` ({source}): expected {', '.join(TARGETS[:-1])} or {TARGETS[-1]}."
                    )
                return value
        return configured
