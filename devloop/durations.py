"""Durations as users write them on the command line: `30m`, `90s`, `1h`, `1h30m` or plain seconds."""

from __future__ import annotations

import re

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str) -> float:
    """Seconds in ``text``; raises :class:`ValueError` with a sentence for the user when it is not a duration."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ValueError(f"expected a duration like 30m, 90s or 1h, got {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def short_age(seconds: float) -> str:
    """`4s`, `3m`, `2h`, `3d` (never negative)."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def format_ago(seconds: float) -> str:
    """`4s ago`, `3m ago`, `2h ago`, `3d ago` (never negative)."""
    return f"{short_age(seconds)} ago"
