"""What `up` and `ci` ask of the engine: mode, parallelism, deadlines, polling, what runs in the background."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class EngineOptions:
    mode: Literal["up", "ci"] = "up"
    watch: bool = True
    parallel: int = 3
    only: tuple[str, ...] = ()  # resource names given on the command line
    timeout: float | None = None  # ci: overall deadline in seconds
    poll_interval: float = 0.5
    stream_logs: bool = True
    port_forwards: bool = True
    # ci: a workload with a container that has no readiness probe counts as ready only after it kept
    # running this long without a restart (a container that exits right after starting must not pass).
    ci_settle: float = 2.0
