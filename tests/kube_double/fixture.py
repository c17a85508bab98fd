"""Pytest fixtures for Kubernetes tests (registered in tests/conftest.py):

- ``kube_double`` (module scope): a started :class:`~tests.kube_double.server.KubeDouble` with ``.url``,
  ``.kubeconfig_path``, ``.context`` (``devloop-double``) and ``.stop()``, advertising the test registry in
  ``kube-public/local-registry-hosting``. Needs the real Docker engine and registry (skips, or fails with
  CI=true, like ``docker_client``).
- ``kube_cluster`` (module scope): the real cluster named by ``DEVLOOP_TEST_KUBE_CONTEXT`` when that is set
  (a :class:`RealCluster` with the same attributes; ``stop()`` does nothing), else ``kube_double``. End-to-end
  tests that should also run against kind/k3d use this one (see CONTRIBUTING.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kube_double.server import KubeDouble, start_double

CONTEXT_ENV = "DEVLOOP_TEST_KUBE_CONTEXT"


@dataclass
class RealCluster:
    """A kubeconfig context of a real (local) cluster, shaped like :class:`KubeDouble` for tests."""

    context: str
    kubeconfig_path: Path
    url: str
    is_double: bool = False

    def stop(self) -> None:
        """Nothing to stop: the cluster belongs to whoever started it."""


def real_cluster(context: str, env: dict[str, str] | None = None) -> RealCluster:
    """The cluster of ``context`` from $KUBECONFIG (first file that defines it) or ~/.kube/config."""
    env = dict(os.environ if env is None else env)
    paths = [p for p in (env.get("KUBECONFIG") or "").split(os.pathsep) if p] or [str(Path.home() / ".kube" / "config")]
    for path in paths:
        try:
            config = yaml.safe_load(Path(path).read_text()) or {}
        except OSError:
            continue
        ctx = next((c for c in config.get("contexts") or [] if c.get("name") == context), None)
        if ctx is None:
            continue
        cluster_name = (ctx.get("context") or {}).get("cluster")
        cluster: dict[str, Any] = next((c for c in config.get("clusters") or [] if c.get("name") == cluster_name), {})
        return RealCluster(context, Path(path), str((cluster.get("cluster") or {}).get("server", "")))
    raise pytest.UsageError(f"{CONTEXT_ENV}={context}: no kubeconfig in {os.pathsep.join(paths)} defines that context")


@pytest.fixture(scope="module")
def kube_double(docker_client: Any, registry_addr: str) -> Iterator[KubeDouble]:
    double = start_double(registry_addr, docker_client=docker_client)
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture(scope="module")
def kube_cluster(request: pytest.FixtureRequest) -> Any:
    context = os.environ.get(CONTEXT_ENV, "").strip()
    if context:
        return real_cluster(context)
    return request.getfixturevalue("kube_double")
