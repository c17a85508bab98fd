"""The fake Docker API (tests/support/fake_docker.py) answers as the real engine does.

Every case runs against the real engine and against the fake: the same calls must give the same
results and fail with the same SDK exception and HTTP status (404 unknown, 409 conflicts).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import docker.errors
import docker.types
import pytest

from tests.support.docker_env import new_name
from tests.support.fake_docker import FakeDockerAPI, Program


@dataclass
class Engine:
    api: Any
    image: str
    labels: dict[str, str]
    fake: FakeDockerAPI | None = None
    names: list[str] | None = None

    def create(self, name: str, *, exit_code: int | None = None, **kwargs: Any) -> str:
        """A container that sleeps, or exits at once with ``exit_code``, when started."""
        command = ["sleep", "60"] if exit_code is None else ["sh", "-c", f"exit {exit_code}"]
        image = self.image
        if self.fake is not None and exit_code is not None:
            image = f"{self.image}-exit-{exit_code}"
            self.fake.add_image(image, Program(exit_code=exit_code))
        labels = {**self.labels, **kwargs.pop("labels", {})}
        cid = str(self.api.create_container(image, command, name=name, labels=labels, **kwargs)["Id"])
        assert self.names is not None
        self.names.append(name)
        return cid

    def wait_exited(self, cid: str) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            (found,) = self.api.containers(all=True, filters={"id": cid})
            if found["State"] == "exited":
                return dict(found)
            time.sleep(0.1)
        raise AssertionError(f"container {cid} did not exit")


@pytest.fixture(params=["fake", "real"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    if request.param == "fake":
        fake = FakeDockerAPI(images=("busybox-fake",))
        yield Engine(fake, "busybox-fake", {}, fake, [])
        return
    client = request.getfixturevalue("docker_client")
    real = Engine(client.api, request.getfixturevalue("busybox_image"), request.getfixturevalue("test_labels"))
    real.names = []
    try:
        yield real
    finally:
        for name in real.names:
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_container(name, force=True, v=True)


def status_of(exc: BaseException) -> int | None:
    return getattr(exc, "status_code", None)


def test_unknown_containers_are_404(engine: Engine) -> None:
    unknown = "0" * 64
    for call in (
        lambda: engine.api.inspect_container(unknown),
        lambda: engine.api.start(unknown),
        lambda: engine.api.kill(unknown, "SIGTERM"),
        lambda: engine.api.remove_container(unknown, force=True, v=True),
        lambda: engine.api.logs(unknown, stdout=True, stderr=True, tail=5),
    ):
        with pytest.raises(docker.errors.NotFound) as caught:
            call()
        assert status_of(caught.value) == 404


def test_unknown_image_is_image_not_found(engine: Engine) -> None:
    with pytest.raises(docker.errors.ImageNotFound) as caught:
        engine.api.inspect_image("devloop-test/no-such-image:nope")
    assert status_of(caught.value) == 404
    with pytest.raises(docker.errors.ImageNotFound):
        engine.api.create_container("devloop-test/no-such-image:nope", ["true"], name=new_name())


def test_a_name_in_use_is_409(engine: Engine) -> None:
    name = new_name()
    engine.create(name)
    with pytest.raises(docker.errors.APIError) as caught:
        engine.create(name)
    assert status_of(caught.value) == 409 and not isinstance(caught.value, docker.errors.NotFound)


def test_lifecycle_conflicts(engine: Engine) -> None:
    cid = engine.create(new_name())
    with pytest.raises(docker.errors.APIError) as caught:
        engine.api.kill(cid, "SIGTERM")  # not running
    assert status_of(caught.value) == 409
    engine.api.start(cid)
    engine.api.start(cid)  # running already: no error
    assert engine.api.inspect_container(cid)["State"]["Running"] is True
    with pytest.raises(docker.errors.APIError) as caught:
        engine.api.remove_container(cid)  # running, without force
    assert status_of(caught.value) == 409
    engine.api.remove_container(cid, force=True, v=True)
    with pytest.raises(docker.errors.NotFound):
        engine.api.inspect_container(cid)


def test_listing_filters_and_exit_status(engine: Engine) -> None:
    mark = {"devloop.dev/fake-contract": new_name()}
    running = engine.create(new_name(), labels=mark)
    exiting = engine.create(new_name(), exit_code=3, labels=mark)
    engine.create(new_name())  # not marked
    engine.api.start(running)
    engine.api.start(exiting)
    summary = engine.wait_exited(exiting)
    assert summary["Status"].startswith("Exited (3)")
    label = [f"{k}={v}" for k, v in mark.items()]
    assert {s["Id"] for s in engine.api.containers(all=True, filters={"label": label})} == {running, exiting}
    assert [s["Id"] for s in engine.api.containers(filters={"label": label})] == [running]  # running only
    assert [s["Id"] for s in engine.api.containers(all=True, filters={"label": [*label, "devloop.dev/none"]})] == []
    state = engine.api.inspect_container(exiting)["State"]
    assert (state["Running"], state["ExitCode"]) == (False, 3)
    engine.api.restart(exiting, timeout=0)  # an exited container is started again
    assert engine.wait_exited(exiting)["Status"].startswith("Exited (3)")


def test_joining_a_sandbox_that_does_not_run_is_409(engine: Engine) -> None:
    sandbox = engine.create(new_name())
    app = engine.create(new_name(), host_config=engine.api.create_host_config(network_mode=f"container:{sandbox}"))
    with pytest.raises(docker.errors.APIError) as caught:
        engine.api.start(app)
    assert status_of(caught.value) == 409
    engine.api.start(sandbox)
    engine.api.start(app)
    assert engine.api.inspect_container(app)["State"]["Running"] is True


def test_volumes(engine: Engine) -> None:
    name = new_name()
    engine.api.create_volume(name, labels=engine.labels)
    engine.api.create_volume(name, labels=engine.labels)  # the same again: no error
    listed = (engine.api.volumes(filters={"label": [f"{k}={v}" for k, v in engine.labels.items()]}) or {})["Volumes"]
    assert name in [v["Name"] for v in listed or []]
    mount = docker.types.Mount("/data", name, type="volume")
    user = engine.create(new_name(), host_config=engine.api.create_host_config(mounts=[mount]))
    with pytest.raises(docker.errors.APIError) as caught:
        engine.api.remove_volume(name, force=True)
    assert status_of(caught.value) == 409
    engine.api.remove_container(user, force=True, v=True)
    engine.api.remove_volume(name, force=True)
    for force in (True, False):  # gone: 404, forced or not
        with pytest.raises(docker.errors.NotFound) as caught:
            engine.api.remove_volume(name, force=force)
        assert status_of(caught.value) == 404


def test_a_network_name_in_use_is_409(engine: Engine) -> None:
    name = new_name()
    engine.api.create_network(name, driver="bridge", labels=engine.labels, check_duplicate=True)
    try:
        assert [n["Name"] for n in engine.api.networks(names=[name])] == [name]
        with pytest.raises(docker.errors.APIError) as caught:
            engine.api.create_network(name, driver="bridge", labels=engine.labels, check_duplicate=True)
        assert status_of(caught.value) == 409
    finally:
        if engine.fake is None:
            engine.api.remove_network(name)
