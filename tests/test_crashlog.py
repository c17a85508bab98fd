"""An unexpected error (a bug in devloop) is one line on stderr naming the crash log that holds its traceback."""

from __future__ import annotations

import io
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

from devloop.context import Environment
from devloop.crashlog import KEEP, crash_folder
from devloop.error_handler import run_command
from devloop.exit_status import ExitStatus

DATA = Path(__file__).parent / "data" / "projects" / "two-services"

# `devloop plan` whose command has a bug: it raises an exception devloop does not anticipate.
INJECTED = (
    "import devloop.commands.plan as plan\n"
    "def broken(env, output):\n"
    "    raise KeyError('no such thing')\n"
    "plan.run = broken\n"
    "from devloop.entry import main\n"
    "main()\n"
)


def test_an_unexpected_error_is_one_line_naming_the_file_that_holds_its_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-c", INJECTED, "plan"], cwd=DATA, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == ExitStatus.ERROR, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    match = re.fullmatch(
        r"devloop: unexpected error: KeyError: 'no such thing'\. The details are in (\S+\.log); please report it\.",
        lines[0],
    )
    assert match, lines[0]
    log = Path(match.group(1))
    assert log.parent == tmp_path / "cache" / "devloop" / "crash"
    text = log.read_text()
    assert "Traceback (most recent call last)" in text
    assert 'in broken\nKeyError: \'no such thing\'' in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_only_the_newest_crash_logs_are_kept(tmp_path: Path) -> None:
    folder = crash_folder({"XDG_CACHE_HOME": str(tmp_path)})
    folder.mkdir(parents=True)
    for n in range(KEEP + 5):
        old = folder / f"20200101T0000{n:02d}Z-1.log"
        old.write_text("old")
        os.utime(old, (1_600_000_000 + n, 1_600_000_000 + n))
    stderr = io.StringIO()
    env = Environment(stdout=io.StringIO(), stderr=stderr, env={"XDG_CACHE_HOME": str(tmp_path)}, cwd=tmp_path)

    def bug() -> int:
        raise RuntimeError("boom")

    assert run_command(env, bug) == ExitStatus.ERROR
    logs = sorted(p.name for p in folder.glob("*.log"))
    assert len(logs) == KEEP
    newest = [p for p in folder.glob("*.log") if p.read_text() != "old"]
    assert len(newest) == 1 and "RuntimeError: boom" in newest[0].read_text()
    assert str(newest[0]) in stderr.getvalue()
    # the oldest ones went
    assert "20200101T000000Z-1.log" not in logs and "20200101T000024Z-1.log" in logs


def test_a_crash_log_that_cannot_be_written_leaves_the_verbose_hint(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    stderr = io.StringIO()
    env = Environment(stdout=io.StringIO(), stderr=stderr, env={"XDG_CACHE_HOME": str(blocked)}, cwd=tmp_path)

    def bug() -> int:
        raise RuntimeError("boom")

    assert run_command(env, bug) == ExitStatus.ERROR
    assert stderr.getvalue() == (
        "devloop: unexpected error: RuntimeError: boom. "
        "Run again with --verbose for the details and please report it.\n"
    )
