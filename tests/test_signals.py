"""Ctrl-C, SIGTERM and SIGHUP: real devloop processes sent real signals.

Every stopping signal is a clean stop (children stopped, summary printed, `ci --down` honoured) with the exit code
130 (SIGINT), 143 (SIGTERM) or 129 (SIGHUP), and leaves nothing behind: no process, no control endpoint file
(`.sock`, `.token`, `.lock`), no frozen kubeconfig. A signal that comes while Python still imports devloop never
prints a traceback.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devloop.exit_status import ExitStatus
from tests.support.e2e import (
    Project,
    Running,
    descendants,
    devloop_argv,
    devloop_env,
    get,
    output,
    poll,
    run_devloop,
    session_members,
    still_running,
    web_project,
)
from tests.support.projects import Image, deployment, free_port, httpd, service, write_project

Tmp = tuple[Path, dict[str, str]]
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
STOPS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGHUP, id="SIGHUP")]


@pytest.fixture
def isolated_tmp() -> Iterator[tuple[Path, dict[str, str]]]:
    """A temp folder of devloop's own (TMPDIR; no XDG_RUNTIME_DIR, so the control endpoint lives in it too; a
    short path, as a unix socket's must be): whatever is left in it afterwards, devloop left."""
    tmp = Path(tempfile.mkdtemp(prefix="dl-sig-", dir="/tmp"))
    yield tmp, {"TMPDIR": str(tmp), "XDG_RUNTIME_DIR": ""}
    shutil.rmtree(tmp, ignore_errors=True)


def leftovers(tmp: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*"))


# ------------------------------------------------------------------------------------ while importing

# Modules whose import ends while devloop starts: the signal is sent the moment Python reports one of them
# imported (PYTHONPROFILEIMPORTTIME prints a line on stderr as each import completes), so it lands while the
# next imports run, deterministically, whatever the machine's load.
IMPORTED = ["devloop", "typer", "devloop.cli", "devloop.commands.plan", "yaml", "devloop.config.loader"]


def _interrupt_after_import(argv: list[str], module: str, cwd: Path) -> tuple[int, str]:
    env = {**devloop_env(), "PYTHONPROFILEIMPORTTIME": "1"}
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() == module:
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.stderr.read()
    code = proc.wait(timeout=60)
    return code, "".join(lines) + rest


@pytest.mark.parametrize("entry", ["console-script", "python-m"])
def test_ctrl_c_while_importing_prints_no_traceback(tmp_path: Path, entry: str) -> None:
    write_project(tmp_path, "imports", objects=[deployment("web", [httpd("web", "busybox")])])
    script = Path(sys.executable).parent / "devloop"
    if entry == "console-script" and not script.exists():
        pytest.skip(f"no console script at {script} (devloop is not installed in this environment)")
    argv = [str(script)] if entry == "console-script" else [sys.executable, "-m", "devloop"]
    interrupted = 0
    for module in IMPORTED:
        code, err = _interrupt_after_import([*argv, "plan"], module, tmp_path)
        assert "Traceback" not in err, f"Ctrl-C after importing {module} printed a traceback:\n{err}"
        assert code in (0, 130), f"Ctrl-C after importing {module}: exit {code}\n{err}"
        if code == 130:
            interrupted += 1
            assert "devloop: interrupted." in err, err
    assert interrupted, "no run was interrupted: the signals all came too late"


# ------------------------------------------------------------------------------------------------- up


@pytest.mark.parametrize("signum", STOPS)
def test_up_stops_cleanly_on_sigterm_and_sighup(project: Project, isolated_tmp: Tmp, signum: int) -> None:
    port = free_port()
    web_project(project, port_forwards=[f"{port}:8080"])
    tmp, env = isolated_tmp
    up = project.start("up", env=env)
    up.wait_line(r"^web\s+│ ready")
    poll(lambda: get(f"http://127.0.0.1:{port}/") == "v1\n", "the port forward to answer")
    assert any(p.suffix == ".sock" for p in tmp.rglob("*")), f"no control socket in {leftovers(tmp)}"
    children = descendants(up.proc.pid)

    code = up.stop(signum)  # to devloop alone, as a supervisor or a closed terminal does

    assert code == EXIT[signum], up.text
    assert "Traceback" not in up.text, up.text
    assert "devloop: stopped; the workloads keep running" in up.text, up.text
    assert leftovers(tmp) == [], "left in the temp folder (control endpoint files?)"
    assert project.resources_running() == {"web"}, "up must leave the workloads running"
    assert get(f"http://127.0.0.1:{port}/") is None, "the port forward ends with devloop"
    assert still_running(children) == {}
    assert session_members(up.proc.pid) == {}


def test_up_on_kubernetes_leaves_no_kubeconfig_copy_on_sigterm(
    tmp_path: Path, unique_name: str, kube_double: Any, busybox_image: str, isolated_tmp: Tmp
) -> None:
    """The kubernetes target freezes the pinned context into a 0600 kubeconfig copy in the temp folder: a
    SIGTERM must remove it as Ctrl-C does (it holds the user's token)."""
    root = tmp_path / unique_name
    kubernetes = {"context": kube_double.context, "namespace": unique_name}
    write_project(root, unique_name, objects=[deployment("web", [httpd("web", busybox_image)])], kubernetes=kubernetes)
    tmp, env = isolated_tmp
    env = {**env, "KUBECONFIG": str(kube_double.kubeconfig_path)}
    up = Running(devloop_argv(root, ["up"], "kubernetes"), env)
    try:
        up.wait_line(r"watching for changes")
        assert [p.name for p in tmp.glob("devloop-kubeconfig-*")], f"no frozen kubeconfig in {leftovers(tmp)}"
        code = up.stop(signal.SIGTERM)
    finally:
        up.kill()
        run_devloop(root, "down", "--delete-namespaces", target="kubernetes", env={"KUBECONFIG": env["KUBECONFIG"]})
    assert code == 143, up.text
    assert "Traceback" not in up.text, up.text
    assert leftovers(tmp) == [], "left in the temp folder (the kubeconfig copy?)"
    assert session_members(up.proc.pid) == {}


@pytest.mark.parametrize("tui", ["--tui", "--no-tui"])
def test_up_stops_cleanly_when_its_terminal_hangs_up(
    project: Project, isolated_tmp: Tmp, busybox_image: str, tui: str
) -> None:
    """The terminal closes: the kernel sends SIGHUP and every later write to it fails (EIO). devloop must still
    clean up (dashboard, control endpoint) and exit 129."""
    ticker = ["sh", "-c", "while true; do echo tick; sleep 1; done"]
    project.write(objects=[deployment("web", [{"name": "web", "image": busybox_image, "command": ticker}])])
    tmp, env = isolated_tmp
    master, slave = pty.openpty()

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        devloop_argv(project.root, ["up", tui]),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**devloop_env(env), "TERM": "xterm"},
        preexec_fn=controlling_terminal,
    )
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:  # read the terminal, as a terminal does
            if select.select([master], [], [], 0.2)[0]:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
            if project.resources_running() == {"web"} and any(p.suffix == ".sock" for p in tmp.rglob("*")):
                break
        assert project.resources_running() == {"web"}, seen.decode(errors="replace")[-2000:]
        os.close(master)  # the terminal goes away
        master = -1
        code = proc.wait(timeout=60)
    finally:
        if master >= 0:
            os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 129
    assert leftovers(tmp) == [], "left in the temp folder (control endpoint files?)"
    assert session_members(proc.pid) == {}
    assert project.resources_running() == {"web"}, "up must leave the workloads running"


# ------------------------------------------------------------------------------------------------- ci


def test_ci_down_is_honoured_on_sigterm(project: Project, isolated_tmp: Tmp) -> None:
    ref = project.ref("web")
    never = {"exec": {"command": ["false"]}, "periodSeconds": 1}
    project.write(
        objects=[deployment("web", [httpd("web", ref, readinessProbe=never)]), service("web", 8080)],
        images=[Image("web", ref, lines=["COPY www /www"], files={"www/index.html": "v1\n"})],
        resources={"web": {"readiness_timeout": 600}},
    )
    tmp, env = isolated_tmp
    ci = project.start("ci", "--down", env=env)
    ci.wait_line(r"^web\s+│ (waiting|deployed|starting|not ready)")
    poll(lambda: bool(project.containers("web")), "the web containers to exist")

    code = ci.stop(signal.SIGTERM)  # a CI runner cancelling the job

    assert code == 143, ci.text
    assert "Traceback" not in ci.text, ci.text
    assert "devloop ci: stopped by SIGTERM" in ci.text, ci.text
    assert "--down removed" in ci.text, ci.text
    assert project.leftovers() == [], ci.text
    assert leftovers(tmp) == []
    assert session_members(ci.proc.pid) == {}


# ---------------------------------------------------------------------------------------- build, down


def test_build_stops_its_build_on_sigterm(project: Project, isolated_tmp: Tmp) -> None:
    ref = project.ref("slow")
    project.write(
        objects=[deployment("slow", [httpd("slow", ref)])],
        images=[Image("slow", ref, lines=[f"RUN echo {project.name} && sleep 30 && echo slept"])],
    )
    tmp, env = isolated_tmp
    build = project.start("build", env=env)
    build.wait_line(rf"│ #\d+ [\d.]+ {project.name}$")  # the RUN step echoed: it now sleeps
    children = descendants(build.proc.pid)

    code = build.stop(signal.SIGTERM)

    assert code == 143, build.text
    assert "Traceback" not in build.text, build.text
    assert "devloop: stopped by SIGTERM." in build.text, build.text
    poll(lambda: not still_running(children), f"the build processes {still_running(children)} to end", 15)
    assert session_members(build.proc.pid) == {}
    assert leftovers(tmp) == []


def test_down_stops_cleanly_on_sighup(project: Project, isolated_tmp: Tmp, busybox_image: str) -> None:
    # a container that takes SIGTERM but keeps running: down waits out its grace period (60 s)
    stubborn = ["sh", "-c", "trap 'echo bye' TERM; while true; do sleep 1; done"]
    pod = deployment("slow-stop", [{"name": "app", "image": busybox_image, "command": stubborn}])
    pod["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 60
    project.write(objects=[pod])
    result = project.run("ci", "--timeout", "2m")
    assert result.returncode == 0, output(result)
    tmp, env = isolated_tmp
    down = Running(devloop_argv(project.root, ["down"]), env)
    try:
        poll(lambda: any("bye" in line for line in _logs(project)), "the container to get SIGTERM", 60)
        code = down.stop(signal.SIGHUP)
    finally:
        down.kill()
    assert code == 129, down.text
    assert "Traceback" not in down.text, down.text
    assert "devloop: stopped by SIGHUP." in down.text, down.text
    assert leftovers(tmp) == []
    assert session_members(down.proc.pid) == {}


def _logs(project: Project) -> list[str]:
    lines: list[str] = []
    for c in project.containers("slow-stop"):
        try:
            lines += c.logs().decode(errors="replace").splitlines()
        except Exception:  # removed meanwhile
            continue
    return lines


def test_sighup_is_left_ignored_under_nohup(tmp_path: Path) -> None:
    """`nohup devloop up &` must survive the terminal closing: an ignored SIGHUP stays ignored."""
    code = (
        "import signal, sys; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
        "from devloop import interrupts; interrupts.install(); "
        "sys.exit(0 if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN else 1)"
    )
    result = subprocess.run([sys.executable, "-c", code], env=devloop_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_exit_codes_are_documented() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for code in ("130", "143", "129"):
        assert code in readme.split("## Exit codes", 1)[1], f"README.md does not document exit code {code}"
    for status in ExitStatus:
        assert str(int(status)) in readme.split("## Exit codes", 1)[1], f"README.md does not document {status!r}"


def test_each_stopping_signal_has_its_exit_status() -> None:
    for signum, code in EXIT.items():
        assert ExitStatus.for_signal(signum) == code
    assert ExitStatus.for_signal(None) == 130
