"""Fixtures shared by every test; see CONTRIBUTING.md ("Tests") for what they do.

- ``docker_client`` (session): a docker SDK client for the real engine. Skips the test with the reason when no
  engine answers; with CI=true it fails instead, so CI can never silently skip the real path.
- ``registry_addr`` (session): "127.0.0.1:5001" (DEVLOOP_TEST_REGISTRY overrides), checked to answer; skip/fail
  likewise.
- Tests that use either fixture (directly or through another fixture) get the ``docker`` marker, so
  ``pytest -m 'not docker'`` runs the rest.
- ``busybox_image`` (session): the tag of a ``FROM scratch`` image with busybox installed as /bin/* (sh, httpd,
  wget ...), built once per session and removed at its end.
- ``unique_name``: a short random DNS-1123 name for a test project; at the end of the session everything
  labelled ``devloop.dev/project=<that name>`` is removed.
- ``test_labels``: ``{"devloop.dev/test-session": <id>}``; containers, networks, volumes and images that
  tests create themselves with these labels are removed at the end of the session.
- ``no_leaks``: asserts after the test that it left no thread, child process or devloop temp entry.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

from tests.kube_double.fixture import kube_cluster, kube_double  # noqa: F401 - fixtures, see tests/kube_double/fixture.py
from tests.support import docker_env, examples, images
from tests.support.e2e import project  # noqa: F401 - a fixture, see tests/support/e2e.py

# Hypothesis: full example counts in CI, a tenth locally (tests ask with examples(N); see tests/support/examples.py).
settings.register_profile("ci", deadline=None, print_blob=True)
settings.register_profile("quick", deadline=None, max_examples=25)
settings.load_profile(examples.profile())

DOCKER_FIXTURES = frozenset({"docker_client", "registry_addr"})

_state: dict[str, Any] = {"docker_used": False, "projects": set()}


def pytest_configure(config: pytest.Config) -> None:
    # The marker is also declared in pyproject.toml; declaring it here keeps --strict-markers happy either way.
    config.addinivalue_line("markers", "docker: needs a real Docker engine (skipped with a reason when none answers)")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & DOCKER_FIXTURES and item.get_closest_marker("docker") is None:
            item.add_marker(pytest.mark.docker)


def pytest_report_header(config: pytest.Config) -> list[str]:
    mode = "CI=true: missing Docker/registry FAILS" if docker_env.in_ci() else "missing Docker/registry skips"
    return [f"devloop test session {docker_env.SESSION_ID} ({mode})"]


@pytest.fixture(scope="session")
def docker_client() -> Any:
    client, reason = docker_env.connect()
    if client is None:
        docker_env.unavailable(reason)
    _state["docker_used"] = True
    return client


@pytest.fixture(scope="session")
def registry_addr() -> str:
    addr = docker_env.registry_address()
    problem = docker_env.registry_problem(addr)
    if problem is not None:
        docker_env.unavailable(problem)
    return addr


@pytest.fixture(scope="session")
def busybox_image(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    missing = images.busybox_missing()
    if missing is not None:
        docker_env.unavailable(f"{missing}: run scripts/setup-system")
    tag = f"devloop-test/busybox:{docker_env.SESSION_ID}"
    context = images.write_busybox_context(tmp_path_factory.mktemp("busybox-image"))
    docker_client.images.build(path=str(context), tag=tag, labels=docker_env.session_labels(), rm=True, forcerm=True)
    return tag


@pytest.fixture
def unique_name() -> str:
    name = docker_env.new_name()
    _state["projects"].add(name)
    return name


@pytest.fixture(scope="session")
def test_labels() -> dict[str, str]:
    return docker_env.session_labels()


@pytest.fixture
def no_leaks() -> Iterator[docker_env.Snapshot]:
    before = docker_env.snapshot()
    yield before
    docker_env.assert_no_leaks(before)


@pytest.fixture(scope="session", autouse=True)
def _cleanup_test_session(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if os.environ.get("DEVLOOP_TEST_KEEP") or not (_state["docker_used"] or _state["projects"]):
        return
    client, _ = docker_env.connect()
    if client is None:
        return
    report = docker_env.cleanup(client, docker_env.SESSION_ID, _state["projects"])
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and (report.removed or report.errors):
        reporter.write_line(
            f"devloop test cleanup: removed {len(report.removed)} object(s)"
            + (f"; could not remove: {'; '.join(report.errors)}" if report.errors else "")
        )
    client.close()
