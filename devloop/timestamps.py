"""Times as the container runtimes write them (RFC 3339: Docker's nanosecond ``StartedAt``, Kubernetes'
``startedAt``), as the numbers devloop compares and subtracts: seconds since the epoch."""

from __future__ import annotations

import re
from datetime import datetime

_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$")


def epoch_seconds(text: str) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (fractions beyond microseconds dropped; no zone is UTC), or
    None when ``text`` is empty, not such a time, or Docker's zero time (``0001-01-01T00:00:00Z``: never started)."""
    text = text.strip()
    match = _RFC3339.match(text)
    if not match or text.startswith("0001-"):
        return None
    fraction = (match.group(2) or ".0")[:7]
    zone = match.group(3) or "Z"
    try:
        moment = datetime.fromisoformat(match.group(1) + fraction + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None
    return moment.timestamp()
