"""devloop/util.py with real child processes: run_tool's messages (missing tool, failure, timeout, a file that
cannot run), its environment, and stopping process groups (a consumer that fails, a child that ignores SIGTERM)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from devloop.errors import DevloopError, ToolMissingError
from devloop.util import ProcessGroup, run_tool, spawn, stream_process, terminate_group


def ended(pid: int) -> bool:
    """Whether ``pid`` ended (gone, or a zombie nobody reaped yet) within 10 s."""
    for _ in range(1000):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.01)
    return False


def test_run_tool_names_a_missing_tool_and_how_to_get_it() -> None:
    with pytest.raises(ToolMissingError, match=r"rendering x needs `no-such-tool-x`, which is not installed\. Get it"):
        run_tool(["no-such-tool-x"], what="rendering x", install_hint="Get it.")
    with pytest.raises(ToolMissingError, match=r"Install no-such-tool-x and make sure it is on PATH\."):
        run_tool(["no-such-tool-x"], what="rendering x")


def test_run_tool_passes_its_environment_and_takes_out_what_it_unsets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVLOOP_TEST_GONE", "1")
    script = "import os; print(os.environ.get('DEVLOOP_TEST_ADDED'), os.environ.get('DEVLOOP_TEST_GONE'))"
    out = run_tool(
        [sys.executable, "-c", script], what="t", env={"DEVLOOP_TEST_ADDED": "yes"}, unset=["DEVLOOP_TEST_GONE"]
    )
    assert out == "yes None\n"


def test_run_tool_failure_shows_the_last_lines_of_stderr() -> None:
    script = "import sys; print('one', file=sys.stderr); print('two', file=sys.stderr); sys.exit(3)"
    with pytest.raises(DevloopError) as info:
        run_tool([sys.executable, "-c", script], what="rendering y")
    message = str(info.value)
    assert "rendering y failed:" in message and "exited with 3" in message
    assert message.endswith("  one\n  two")


def test_run_tool_that_does_not_finish_in_time() -> None:
    with pytest.raises(
        DevloopError, match=r"rendering z: `.* -c import time; time.sleep\(30\)` did not finish within 0 s"
    ):
        run_tool([sys.executable, "-c", "import time; time.sleep(30)"], what="rendering z", timeout=0.3)


def test_run_tool_of_a_file_that_cannot_run(tmp_path: Path) -> None:
    program = tmp_path / "not-a-program"
    program.write_bytes(b"\x00\x01 not an executable format")
    program.chmod(0o755)
    with pytest.raises(DevloopError, match=r"rendering w: could not run `.*not-a-program`: Exec format error"):
        run_tool([str(program)], what="rendering w")


def test_a_failing_consumer_stops_the_child_and_its_group() -> None:
    group = ProcessGroup()
    pids: list[int] = []

    def on_line(line: str) -> None:
        pids.append(int(line))
        raise RuntimeError("the consumer failed")

    with pytest.raises(RuntimeError, match="the consumer failed"):
        stream_process(["sh", "-c", "sleep 30 & echo $!; wait"], on_line, group=group)
    assert pids and ended(pids[0])  # the grandchild, in the same group, is gone too
    group.terminate_all()  # nothing left to stop


def test_terminate_group_kills_a_child_that_ignores_sigterm() -> None:
    proc = spawn(["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"])
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        terminate_group(proc, grace=0.3)
        assert proc.returncode == -9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    terminate_group(proc)  # already gone: nothing to do


def test_terminate_group_of_a_group_already_gone() -> None:
    proc = subprocess.Popen(["sh", "-c", "exit 0"], start_new_session=True, text=True)
    proc.wait()
    terminate_group(proc)  # no process, no error
    assert proc.returncode == 0
