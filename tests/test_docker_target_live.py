"""Live update (archive upload, deletes, exec, restart) and port forwards on the docker target (real engine)."""

from __future__ import annotations

import os
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devloop.config.model import PortForward as PortForwardSpec
from devloop.errors import DeployError
from devloop.targets.base import ContainerRef, FileCopy, Phase
from devloop.targets.docker import DockerTarget
from tests.support.docker_target import configmap, deploy, deployment, project, wait_for, wait_phase, with_objects


@pytest.fixture
def target(docker_client: Any, unique_name: str) -> Iterator[DockerTarget]:
    t = DockerTarget(docker_client)
    yield t
    try:
        t.down(unique_name)
    finally:
        t.close()


def _run(target: DockerTarget, ref: ContainerRef, *argv: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = target.exec(ref, list(argv), lines.append)
    return code, lines


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as resp:
        return str(resp.read().decode())


def test_live_update_copy_delete_exec_restart(
    target: DockerTarget, unique_name: str, busybox_image: str, tmp_path: Path
) -> None:
    app = deployment(
        "live",
        [
            {
                "name": "main",
                "image": busybox_image,
                "command": ["sleep", "3600"],
                "securityContext": {"runAsUser": 1000, "runAsGroup": 1000},
            }
        ],
    )
    proj = project(unique_name, [app])
    deploy(target, proj, "live")
    status = wait_phase(target, proj, "live", Phase.READY)
    (ref,) = status.containers
    assert ref.user == "1000:1000"

    src = tmp_path / "app"
    (src / "pkg" / "deep").mkdir(parents=True)
    (src / "empty").mkdir()
    (src / "a.txt").write_text("alpha\n")
    (src / "pkg" / "deep" / "b.txt").write_text("beta\n")
    (src / "run.sh").write_text("#!/bin/sh\necho ran\n")
    os.chmod(src / "run.sh", 0o755)
    os.symlink("a.txt", src / "link")
    os.symlink("/etc/passwd", src / "outside")  # copied as a link, never followed
    target.copy_files(ref, [FileCopy(str(src), "/srv/app")], [])

    code, out = _run(
        target,
        ref,
        "sh",
        "-c",
        "cat /srv/app/a.txt /srv/app/pkg/deep/b.txt; /srv/app/run.sh; readlink /srv/app/link; "
        "readlink /srv/app/outside; test -d /srv/app/empty && echo empty-dir; "
        "stat -c '%u:%g %a %n' /srv/app/a.txt /srv/app/run.sh /srv/app/pkg/deep",
    )
    assert code == 0, out
    assert out[:6] == ["alpha", "beta", "ran", "a.txt", "/etc/passwd", "empty-dir"]
    assert "1000:1000 644 /srv/app/a.txt" in out and "1000:1000 755 /srv/app/run.sh" in out
    assert "1000:1000 755 /srv/app/pkg/deep" in out

    # modify one file, delete another (and a folder): only those change
    (src / "a.txt").write_text("alpha 2\n")
    target.copy_files(
        ref, [FileCopy(str(src / "a.txt"), "/srv/app/a.txt")], ["/srv/app/pkg/deep/b.txt", "/srv/app/empty"]
    )
    code, out = _run(target, ref, "sh", "-c", "cat /srv/app/a.txt; ls /srv/app /srv/app/pkg/deep")
    assert code == 0 and out[0] == "alpha 2"
    assert "empty" not in out and "b.txt" not in out and "run.sh" in out

    # the non-root process overwrites a synced file
    code, out = _run(target, ref, "sh", "-c", "id -u; echo mine > /srv/app/a.txt && cat /srv/app/a.txt")
    assert code == 0 and out == ["1000", "mine"], out

    # exec streams output and returns the exit code
    code, out = _run(target, ref, "sh", "-c", "echo one; echo two >&2; exit 7")
    assert code == 7 and sorted(out) == ["one", "two"]

    # restart keeps the files and the container
    target.restart(ref)
    status = wait_phase(target, proj, "live", Phase.READY)
    (after,) = status.containers
    assert after.id == ref.id and after.started_at != ref.started_at
    code, out = _run(target, after, "cat", "/srv/app/a.txt")
    assert (code, out) == (0, ["mine"])
    assert status.restarts == 0  # a restart asked for by live update is not a crash


def test_copy_rejects_unsafe_paths(target: DockerTarget, tmp_path: Path) -> None:
    ref = ContainerRef(id="0" * 64, name="none", image="none")
    (tmp_path / "f").write_text("x")
    for dest in ("relative/path", "/"):
        with pytest.raises(DeployError):
            target.copy_files(ref, [FileCopy(str(tmp_path / "f"), dest)], [])
    with pytest.raises(DeployError):
        target.copy_files(ref, [], ["/srv/../"])


def test_port_forward_serves_follows_redeploy_and_port_in_use(
    target: DockerTarget, unique_name: str, busybox_image: str
) -> None:
    def web(page: str) -> Any:
        return deployment(
            "web",
            [
                {
                    "name": "httpd",
                    "image": busybox_image,
                    "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                    "volumeMounts": [{"name": "www", "mountPath": "/www"}],
                }
            ],
            volumes=[{"name": "www", "configMap": {"name": page}}],
        )

    port = _free_port()
    forwards = {"web": [PortForwardSpec(port, 8080)]}
    proj = with_objects(
        project(unique_name, [web("v1")], forwards),
        [configmap("v1", {"index.html": "one"}), configmap("v2", {"index.html": "two"})],
    )
    deploy(target, proj, "web")
    wait_phase(target, proj, "web", Phase.READY)
    handle = target.port_forward(proj, proj.resources[0], port, 8080)
    try:
        assert _get(port) == "one"
        with pytest.raises(DeployError, match=f"127.0.0.1:{port}.*already in use"):
            target.port_forward(proj, proj.resources[0], port, 8080)
        proj2 = project(unique_name, [web("v2")], forwards)
        assert deploy(target, proj2, "web").changed
        wait_phase(target, proj2, "web", Phase.READY)
        assert wait_for(lambda: _get(port) == "two" or None, "the forward to reach the new pod")
    finally:
        handle.close()
    with pytest.raises(OSError):
        _get(port)


def test_logs_follow_redeploys_and_restarts_without_duplicates(
    no_leaks: object, target: DockerTarget, unique_name: str, busybox_image: str
) -> None:
    from tests.support.docker_target import LogCollector

    def app(version: str) -> Any:
        return deployment(
            "talk",
            [
                {
                    "name": "main",
                    "image": busybox_image,
                    "command": ["sh", "-c", f"echo boot-{version}; echo second-{version}; exec sleep 3600"],
                }
            ],
        )

    proj = project(unique_name, [app("v1")])
    deploy(target, proj, "talk")
    logs = LogCollector(target, proj, "talk")
    try:
        logs.wait_text("second-v1")
        (ref,) = wait_phase(target, proj, "talk", Phase.READY).containers
        target.restart(ref)
        wait_for(lambda: logs.texts().count("second-v1") == 2 or None, "the restarted container's lines")
        proj2 = project(unique_name, [app("v2")])
        deploy(target, proj2, "talk")
        logs.wait_text("second-v2")
        wait_phase(target, proj2, "talk", Phase.READY)
        assert logs.texts() == ["boot-v1", "second-v1", "boot-v1", "second-v1", "boot-v2", "second-v2"]
    finally:
        logs.close()
    target.close()


def _ready_busybox(target: DockerTarget, unique_name: str, busybox_image: str) -> ContainerRef:
    app = deployment("live", [{"name": "main", "image": busybox_image, "command": ["sleep", "3600"]}])
    proj = project(unique_name, [app])
    deploy(target, proj, "live")
    (ref,) = wait_phase(target, proj, "live", Phase.READY).containers
    return ref


def test_copy_skips_vanished_paths_and_names_an_unreadable_file(
    target: DockerTarget, unique_name: str, busybox_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = _ready_busybox(target, unique_name, busybox_image)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(20):
        (src / f"f{i:02d}.txt").write_text(f"{i}\n")
    # a path the watcher reported that is gone by the time the archive is built, then the rest
    target.copy_files(
        ref, [FileCopy(str(tmp_path / "vanished.txt"), "/srv/vanished.txt"), FileCopy(str(src), "/srv/src")], []
    )
    code, out = _run(target, ref, "sh", "-c", "ls /srv/src | wc -l; cat /srv/src/f19.txt; test ! -e /srv/vanished.txt")
    assert (code, out) == (0, ["20", "19"]), out

    # an unreadable file (failure injected: the tests run as root, who reads everything) is one sentence naming it
    secret = src / "f07.txt"
    real_access = os.access
    monkeypatch.setattr(
        "devloop.targets.archives.os.access", lambda p, mode: str(p) != str(secret) and real_access(p, mode)
    )
    with pytest.raises(DeployError) as caught:
        target.copy_files(ref, [FileCopy(str(src), "/srv/other")], [])
    message = str(caught.value)
    assert str(secret) in message and "\n" not in message and "Traceback" not in message
    assert "make it readable" in message


def test_copy_streams_a_big_file_with_bounded_memory(
    target: DockerTarget, unique_name: str, busybox_image: str, tmp_path: Path
) -> None:
    import tracemalloc

    ref = _ready_busybox(target, unique_name, busybox_image)
    big = tmp_path / "big.bin"
    size = 256 * 1024 * 1024
    with open(big, "wb") as fh:  # sparse: no disk needed on the host
        fh.truncate(size)
    tracemalloc.start()
    try:
        target.copy_files(ref, [FileCopy(str(big), "/srv/big.bin")], [])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    code, out = _run(target, ref, "sh", "-c", "stat -c %s /srv/big.bin; rm /srv/big.bin")
    assert (code, out) == (0, [str(size)]), out
    assert peak < 32 * 1024 * 1024, f"syncing a {size >> 20} MiB file allocated {peak >> 20} MiB"


def _loopback_web(target: DockerTarget, unique_name: str, busybox_image: str) -> Any:
    """A pod whose httpd listens on the pod's 127.0.0.1:8080 only (as Flask, runserver and Vite do by default)."""
    app = deployment(
        "web",
        [
            {
                "name": "httpd",
                "image": busybox_image,
                "command": [
                    "sh",
                    "-c",
                    "mkdir -p /www && echo inside > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www",
                ],
            }
        ],
    )
    proj = project(unique_name, [app])
    deploy(target, proj, "web")
    wait_phase(target, proj, "web", Phase.READY)
    return proj


def test_port_forward_reaches_a_server_bound_to_the_pods_loopback(
    target: DockerTarget, unique_name: str, busybox_image: str
) -> None:
    proj = _loopback_web(target, unique_name, busybox_image)
    port = _free_port()
    handle = target.port_forward(proj, proj.resources[0], port, 8080)
    try:
        assert wait_for(lambda: _safe_get(port) == "inside\n" or None, "the forward to reach 127.0.0.1:8080 in the pod")
        assert _get(port) == "inside\n"  # and again: every connection goes the same way
    finally:
        handle.close()


def test_port_forward_that_cannot_enter_the_pod_says_so_once(
    target: DockerTarget, unique_name: str, busybox_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devloop.targets.docker import netns

    def refused(fd: int) -> None:  # failure injection: devloop without the right to enter namespaces
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(netns, "_setns", refused)
    proj = _loopback_web(target, unique_name, busybox_image)
    port = _free_port()
    handle = target.port_forward(proj, proj.resources[0], port, 8080)
    try:
        # the pod is ready before httpd listens (no probe): until it does, the note cannot name the address
        deadline = time.monotonic() + 30
        while not any("on 127.0.0.1" in n for n in target.status(proj, proj.resources[0]).notes):
            assert _safe_get(port) is None
            assert time.monotonic() < deadline, target.status(proj, proj.resources[0]).notes
        for _ in range(2):
            assert _safe_get(port) is None
        notes = target.status(proj, proj.resources[0]).notes
        assert len(notes) == 1, notes  # one per forward, however often it fails
        assert f"web {port}:8080" in notes[0] and "127.0.0.1" in notes[0] and "0.0.0.0" in notes[0], notes
        assert "web-" in notes[0]  # the pod
    finally:
        handle.close()


def _safe_get(port: int) -> str | None:
    try:
        return _get(port)
    except OSError:
        return None
