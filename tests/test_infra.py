"""The test infrastructure itself: the real engine builds and runs, the registry takes a push, the python
stand-in runs, and the shared fixtures and helpers behave as CONTRIBUTING.md says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support import docker_env, images, registry

DEBIAN_DOCKER_CLI = "/usr/bin/docker"  # Debian's 20.10 client: BuildKit with DOCKER_BUILDKIT=1
PYTHON_STAND_IN = "python:3.12-slim"


def _build_busybox_image(client: Any, tag: str, labels: dict[str, str], context: Path) -> Any:
    """Build a FROM-scratch busybox image with the SDK's (classic) builder."""
    missing = images.busybox_missing()
    if missing:
        docker_env.unavailable(f"{missing}: run scripts/setup-system")
    images.write_busybox_context(context, ['CMD ["echo", "hello"]'])
    image, _logs = client.images.build(path=str(context), tag=tag, labels=labels, rm=True, forcerm=True)
    return image


# --- the engine ---------------------------------------------------------------------------------------


def test_engine_builds_and_runs_a_busybox_scratch_image(
    docker_client: Any, unique_name: str, test_labels: dict[str, str], tmp_path: Path
) -> None:
    tag = f"devloop-test/{unique_name}:infra"
    image = _build_busybox_image(docker_client, tag, test_labels, tmp_path)
    assert tag in image.tags
    out = docker_client.containers.run(
        tag, ["echo", "engine works"], remove=True, labels=test_labels, network_disabled=True
    )
    assert out == b"engine works\n"


def test_buildkit_through_debians_cli_builds_a_scratch_image(
    docker_client: Any, unique_name: str, test_labels: dict[str, str], tmp_path: Path
) -> None:
    if not os.access(DEBIAN_DOCKER_CLI, os.X_OK):
        docker_env.unavailable(f"{DEBIAN_DOCKER_CLI} (Debian's docker.io client) is missing: run scripts/setup-system")
    missing = images.busybox_missing()
    if missing:
        docker_env.unavailable(f"{missing}: run scripts/setup-system")
    images.write_busybox_context(tmp_path, ["RUN touch /built"])
    tag = f"devloop-test/{unique_name}:buildkit"
    label_args = [a for k, v in test_labels.items() for a in ("--label", f"{k}={v}")]
    proc = subprocess.run(
        [DEBIAN_DOCKER_CLI, "build", "--progress=plain", "-t", tag, *label_args, str(tmp_path)],
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # BuildKit's plain progress names its steps "#N [i/n] ..."; the classic builder says "Step i/n".
    assert re.search(r"^#\d+ \[\d/\d\]", proc.stderr, re.M), proc.stderr[-2000:]
    out = docker_client.containers.run(tag, ["ls", "/built"], remove=True, labels=test_labels)
    assert out == b"/built\n"


# --- the registry -------------------------------------------------------------------------------------


def test_registry_accepts_a_push_and_serves_the_manifest(
    docker_client: Any, registry_addr: str, unique_name: str, test_labels: dict[str, str], tmp_path: Path
) -> None:
    repo = "devloop-test/x"
    ref = f"{registry_addr}/{repo}"
    image = _build_busybox_image(docker_client, f"{ref}:{unique_name}", test_labels, tmp_path)
    try:
        events = list(docker_client.images.push(ref, tag=unique_name, stream=True, decode=True))
        errors = [e for e in events if "error" in e or "errorDetail" in e]
        assert not errors, errors
        pushed = [e["aux"]["Digest"] for e in events if "Digest" in e.get("aux", {})]
        assert pushed, events

        assert unique_name in registry.tags(registry_addr, repo)
        assert repo in registry.catalog(registry_addr)
        served = registry.manifest(registry_addr, repo, unique_name)
        assert served is not None
        assert served.digest == pushed[-1]
        assert served.body["schemaVersion"] == 2
        assert served.body["config"]["digest"] == image.id
        by_digest = registry.manifest(registry_addr, repo, served.digest)
        assert by_digest is not None and by_digest.body == served.body
    finally:
        registry.delete(registry_addr, repo, unique_name)
    assert registry.manifest(registry_addr, repo, unique_name) is None
    assert unique_name not in registry.tags(registry_addr, repo)


def test_registry_helpers_report_a_missing_repository(registry_addr: str, unique_name: str) -> None:
    assert registry.tags(registry_addr, f"devloop-test/{unique_name}") == []
    assert registry.manifest(registry_addr, f"devloop-test/{unique_name}", "latest") is None
    assert registry.delete(registry_addr, f"devloop-test/{unique_name}", "latest") is False


# --- the python:3.12-slim stand-in --------------------------------------------------------------------


def test_python_base_image_stand_in_runs_python(docker_client: Any, test_labels: dict[str, str]) -> None:
    import docker.errors

    try:
        docker_client.images.get(PYTHON_STAND_IN)
    except docker.errors.ImageNotFound:
        docker_env.unavailable(f"no image {PYTHON_STAND_IN}: run scripts/make-python-base-image")
    for python in ("python", "python3", "/usr/local/bin/python"):
        out = docker_client.containers.run(
            PYTHON_STAND_IN, [python, "-c", "print(1)"], remove=True, labels=test_labels, network_disabled=True
        )
        assert out == b"1\n", python
    out = docker_client.containers.run(
        PYTHON_STAND_IN,
        ["sh", "-c", "python -c 'import http.server, json, urllib.request; print(2)'"],
        remove=True,
        labels=test_labels,
        network_disabled=True,
    )
    assert out == b"2\n"


# --- the fixtures and helpers -------------------------------------------------------------------------


def test_docker_fixtures_mark_their_tests(request: pytest.FixtureRequest, docker_client: Any) -> None:
    assert request.node.get_closest_marker("docker") is not None


def test_tests_without_docker_fixtures_are_not_marked(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("docker") is None


def test_unique_names_are_short_dns_labels() -> None:
    names = {docker_env.new_name() for _ in range(200)}
    assert len(names) == 200
    for name in names:
        assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name), name
        assert len(name) <= 15
    with pytest.raises(ValueError):
        docker_env.new_name("1x")


def test_unique_name_fixture(unique_name: str) -> None:
    assert re.fullmatch(r"t-[a-z0-9]{8}", unique_name)


def test_missing_engine_skips_outside_ci_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    client, reason = docker_env.connect()
    assert client is None
    assert f"no Docker engine answers at unix://{tmp_path}/nothing.sock: run scripts/setup-system" in reason

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        docker_env.unavailable(reason)
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match="no Docker engine answers"):
        docker_env.unavailable(reason)


def test_missing_registry_is_reported_with_the_fix() -> None:
    problem = docker_env.registry_problem("127.0.0.1:9", timeout=2.0)
    assert problem is not None
    assert problem.startswith("no registry answers at http://127.0.0.1:9/v2/: run scripts/setup-system")


def test_cleanup_removes_what_the_session_or_a_test_project_labelled(
    docker_client: Any, unique_name: str, test_labels: dict[str, str], tmp_path: Path
) -> None:
    session = "s" + unique_name.replace("-", "")  # a separate session id, so the real session is untouched
    labels = {docker_env.SESSION_LABEL: session}
    project = {docker_env.PROJECT_LABEL: unique_name, "devloop.dev/resource": "web"}
    # Containers inherit their image's labels: this one carries the real session's label only.
    image = _build_busybox_image(docker_client, f"devloop-test/{unique_name}:cleanup", test_labels, tmp_path / "a")
    doomed = _build_busybox_image(docker_client, f"devloop-test/{unique_name}:doomed", labels, tmp_path / "b")
    net = docker_client.networks.create(f"{unique_name}-net", labels=project)
    docker_client.volumes.create(f"{unique_name}-vol", labels=labels)
    c1 = docker_client.containers.create(image.id, ["sleep", "60"], labels=labels, network=net.name)
    c2 = docker_client.containers.create(image.id, ["sleep", "60"], labels=project)
    bystander = docker_client.containers.create(image.id, ["true"], labels={docker_env.PROJECT_LABEL: "other"})
    try:
        c1.start()
        report = docker_env.cleanup(docker_client, session, [unique_name])
        assert report.errors == []
        remaining = {c.id for c in docker_client.containers.list(all=True)}
        assert c1.id not in remaining and c2.id not in remaining
        assert bystander.id in remaining
        assert f"{unique_name}-net" not in {n.name for n in docker_client.networks.list()}
        assert f"{unique_name}-vol" not in {v.name for v in docker_client.volumes.list()}
        assert docker_client.images.list(filters={"label": f"{docker_env.SESSION_LABEL}={session}"}) == []
        assert doomed.id not in {i.id for i in docker_client.images.list()}
        assert image.id in {i.id for i in docker_client.images.list()}
    finally:
        bystander.remove(force=True)


def test_child_processes_sees_a_child_until_it_is_reaped() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert proc.pid in docker_env.child_processes()
    finally:
        proc.kill()
        proc.wait()
    assert proc.pid not in docker_env.child_processes()


def test_assert_no_leaks_names_a_stray_thread_and_child_process() -> None:
    before = docker_env.snapshot()
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="devloop-stray", daemon=True)
    thread.start()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(AssertionError) as info:
            docker_env.assert_no_leaks(before, grace=0.2)
        message = str(info.value)
        assert "thread 'devloop-stray'" in message
        assert f"child process {proc.pid}" in message
    finally:
        stop.set()
        thread.join()
        proc.kill()
        proc.wait()
    docker_env.assert_no_leaks(before)


def test_assert_no_leaks_waits_for_threads_that_are_finishing() -> None:
    before = docker_env.snapshot()
    done = threading.Event()
    thread = threading.Thread(target=done.wait, args=(0.3,), name="devloop-finishing")
    thread.start()
    docker_env.assert_no_leaks(before)  # the thread ends within the grace period
    thread.join()


def test_assert_no_leaks_names_a_stray_devloop_temp_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    before = docker_env.snapshot()
    stray = Path(tempfile.mkdtemp(prefix="devloop-"))
    with pytest.raises(AssertionError, match=re.escape(str(stray))):
        docker_env.assert_no_leaks(before, grace=0.1)
    docker_env.assert_no_leaks(before, grace=0.1, check_temp=False)
    stray.rmdir()
    docker_env.assert_no_leaks(before)


def test_busybox_image_fixture_has_a_shell_and_httpd(
    docker_client: Any, busybox_image: str, test_labels: dict[str, str]
) -> None:
    out = docker_client.containers.run(
        busybox_image, ["sh", "-c", "command -v httpd wget >/dev/null && echo ok"], remove=True, labels=test_labels
    )
    assert out == b"ok\n"


def test_no_leaks_fixture_passes_for_a_clean_test(no_leaks: docker_env.Snapshot) -> None:
    subprocess.run(["true"], check=True)


@pytest.mark.parametrize(
    ("env", "profile", "count", "default"),
    [
        ({}, "quick", 300, 25),
        ({"CI": "true"}, "ci", 3000, 100),
        ({"HYPOTHESIS_PROFILE": "ci"}, "ci", 3000, 100),
        ({"CI": "true", "HYPOTHESIS_PROFILE": "quick"}, "quick", 300, 25),
    ],
)
def test_hypothesis_runs_a_tenth_locally_and_everything_in_ci(
    env: dict[str, str], profile: str, count: int, default: int
) -> None:
    """conftest.py loads the profile before the test modules ask for examples(N)."""
    script = (
        "import tests.conftest\n"
        "from hypothesis import settings\n"
        "from tests.support.examples import examples, profile\n"
        "print(profile(), examples(3000), settings.default.max_examples)\n"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**clean, **env},
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [profile, str(count), str(default)]
