"""Golden files: a test's output compared with a file kept under ``tests/data/golden/``.

``check(name, text)`` fails with a unified diff when ``text`` differs from ``tests/data/golden/<name>``, or
when that file does not exist. With ``DEVLOOP_UPDATE_GOLDEN=1`` it writes the file instead (and passes):
review the diff with ``git diff tests/data/golden`` before committing it (CONTRIBUTING.md, "Golden files").
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "data" / "golden"
UPDATE_VARIABLE = "DEVLOOP_UPDATE_GOLDEN"


def updating() -> bool:
    return os.environ.get(UPDATE_VARIABLE, "").strip() not in ("", "0")


def check(name: str, text: str) -> None:
    path = GOLDEN_DIR / name
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"{path} does not exist: run this test with {UPDATE_VARIABLE}=1 to write it, then review it")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"{path} (golden)",
                tofile="rendered now",
            )
        )
        pytest.fail(
            f"the output differs from {path}; if the change is intended, rerun with {UPDATE_VARIABLE}=1 and "
            f"review the diff:\n{diff}",
            pytrace=False,
        )
