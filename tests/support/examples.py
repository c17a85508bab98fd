"""How many examples a Hypothesis test tries: the full count in CI, a tenth of it locally.

``tests/conftest.py`` registers two Hypothesis profiles and loads one before the test modules are imported:

- ``ci`` (the default when CI=true): every test keeps the example count it asks for with ``examples(N)``;
- ``quick`` (the default otherwise): ``examples(N)`` is N/10 (at least 20), so a local run stays short.

``HYPOTHESIS_PROFILE=ci`` (or ``quick``) chooses one explicitly.
"""

from __future__ import annotations

import os

from tests.support.docker_env import in_ci

PROFILES = ("ci", "quick")


def profile() -> str:
    chosen = os.environ.get("HYPOTHESIS_PROFILE", "").strip()
    if chosen in PROFILES:
        return chosen
    return "ci" if in_ci() else "quick"


def examples(full: int) -> int:
    """The example count for a test that wants ``full`` examples in CI."""
    return full if profile() == "ci" else max(20, full // 10)
