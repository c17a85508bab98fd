"""The ``kube_double`` pytest fixture (module scope): a started :class:`~tests.kube_double.server.KubeDouble`
with ``.url``, ``.kubeconfig_path``, ``.context`` (``devloop-double``) and ``.stop()``, advertising the test
registry. Needs the real Docker engine and registry (skips, or fails with CI=true, like ``docker_client``).
Registered in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.kube_double.server import KubeDouble, start_double


@pytest.fixture(scope="module")
def kube_double(docker_client: Any, registry_addr: str) -> Iterator[KubeDouble]:
    double = start_double(registry_addr, docker_client=docker_client)
    try:
        yield double
    finally:
        double.stop()
