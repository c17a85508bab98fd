"""The pod sandbox image (devloop/targets/docker/pause.py) imported into the real engine: under a test
repository, so that the engine's real ``devloop/pause`` image, which other tests use, is never touched."""

from __future__ import annotations

import contextlib
import io
import tarfile
import time
from typing import Any

import pytest

from devloop.targets.docker import pause


def test_pause_tar_holds_one_executable_named_pause() -> None:
    with tarfile.open(fileobj=io.BytesIO(pause.pause_tar("arm64"))) as tar:
        (member,) = tar.getmembers()
        data = tar.extractfile(member)
        assert data is not None
        assert (member.name, member.mode) == ("pause", 0o755)
        assert data.read() == pause.pause_elf("arm64")
    with pytest.raises(ValueError, match="no pause executable for architecture 'mips'"):
        pause.pause_tar("mips")


def test_the_imported_pause_image_runs_until_stopped_and_is_imported_once(
    docker_client: Any, unique_name: str, test_labels: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repository = f"devloop-test/pause-{unique_name}"
    monkeypatch.setattr(pause, "PAUSE_REPOSITORY", repository)
    monkeypatch.setattr(pause, "PAUSE_IMAGE", f"{repository}:{pause.PAUSE_VERSION}")
    api = docker_client.api
    container = None
    try:
        reference = pause.ensure_pause_image(api)
        assert reference == f"{repository}:1"
        image_id = api.inspect_image(reference)["Id"]
        assert pause.ensure_pause_image(api) == reference  # there already: not imported again
        assert api.inspect_image(reference)["Id"] == image_id
        assert api.inspect_image(reference)["Config"]["Labels"]["app.kubernetes.io/managed-by"] == "devloop"
        container = docker_client.containers.run(reference, detach=True, labels=test_labels)
        time.sleep(0.5)  # give it a chance to exit if it were not a pause process
        container.reload()
        assert container.status == "running"
        container.stop(timeout=10)  # SIGTERM ends it at once
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 0
    finally:
        if container is not None:
            with contextlib.suppress(Exception):
                container.remove(force=True)
        with contextlib.suppress(Exception):
            docker_client.images.remove(f"{repository}:1", force=True)
