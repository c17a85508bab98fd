"""The Docker engine connection, shared by builds, the docker target, the kubernetes target (local image
delivery and pruning) and target resolution: the one engine address (``DOCKER_HOST``), the one "start Docker"
sentence, connecting with a ping, and turning engine failures into devloop errors. The docker SDK is imported
inside functions, so importing this module is cheap.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from devloop.errors import DeployError, TargetUnavailableError

log = logging.getLogger("devloop.build")  # the name `-v` has always shown for an engine that does not answer

DEFAULT_HOST = "unix:///var/run/docker.sock"
START_HINT = (
    "start one (Linux: `sudo systemctl start docker` or run `sudo dockerd`; macOS/Windows: start Docker "
    "Desktop) or point DOCKER_HOST at a running engine, then try again"
)


def _environ(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def engine_address(env: Mapping[str, str] | None = None) -> str:
    """The engine ``env`` (default: os.environ) points at: DOCKER_HOST, else the default socket."""
    return _environ(env).get("DOCKER_HOST") or DEFAULT_HOST


def unreachable(address: str) -> str:
    """The one sentence for an engine that does not answer, whichever command found out (build, the docker
    target, target resolution)."""
    return f"the Docker engine at {address} does not answer; {START_HINT}."


def unavailable(env: Mapping[str, str] | None = None, cause: object = None) -> TargetUnavailableError:
    """The error for an engine that does not answer; ``cause`` (the client's exception) goes to the debug log
    (``--verbose``), not into the sentence."""
    if cause is not None:
        log.debug("the Docker engine at %s does not answer: %s: %s", engine_address(env), type(cause).__name__, cause)
    return TargetUnavailableError(unreachable(engine_address(env)))


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` (from the docker SDK or requests) means the engine cannot be reached."""
    import requests

    if isinstance(exc, requests.exceptions.ConnectionError | ConnectionError):
        return True
    text = str(exc)
    return "Connection aborted" in text or "Cannot connect to the Docker daemon" in text


#: engine address -> the API version its first connection in this process negotiated
_api_versions: dict[str, str] = {}


def connect(env: Mapping[str, str] | None = None, timeout: float = 120) -> Any:
    """A ``docker.DockerClient`` for the engine of ``env`` (default: os.environ), checked with a ping.

    Raises :class:`TargetUnavailableError` when no engine answers.
    """
    import docker

    environment = dict(_environ(env))
    address = engine_address(environment)
    known = _api_versions.get(address)
    try:
        # The first connection to an engine asks for its API version (a request that fails when no engine
        # answers); later ones reuse the version and only ping: one request each instead of two.
        client = docker.from_env(environment=environment, timeout=int(timeout), version=known)
        if known is None:
            _api_versions[address] = str(client.api.api_version)
        else:
            client.ping()
    except Exception as exc:  # any failure to reach the engine means "no engine"
        raise unavailable(environment, exc) from exc
    return client


def api_client(env: Mapping[str, str] | None = None, timeout: int = 600) -> Any:
    """A ``docker.APIClient`` for the engine of ``env``, checked with a ping (else TargetUnavailableError)."""
    return connect(env, timeout).api


def docker_available(env: Mapping[str, str] | None = None, timeout: float = 2.0) -> bool:
    """Cheap check for target resolution (cli.md "auto"): does a Docker engine answer a ping?"""
    try:
        client = connect(env, timeout=timeout)
    except TargetUnavailableError:
        return False
    with suppress(Exception):
        client.close()
    return True


@contextmanager
def engine_call(what: str) -> Iterator[None]:
    """Map engine failures: unreachable -> TargetUnavailableError, API errors -> DeployError naming ``what``."""
    import docker.errors

    try:
        yield
    except (TargetUnavailableError, DeployError):
        raise
    except docker.errors.APIError as exc:
        if is_connection_error(exc):
            raise unavailable(None, exc) from exc
        explanation = getattr(exc, "explanation", None) or str(exc)
        raise DeployError(f"{what} failed: {explanation}") from exc
    except Exception as exc:
        if is_connection_error(exc):
            raise unavailable(None, exc) from exc
        raise
