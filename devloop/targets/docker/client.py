"""Connecting to the Docker engine, and turning engine failures into devloop errors."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

from devloop.build.docker_client import engine_address as _engine_address
from devloop.build.docker_client import is_connection_error
from devloop.build.docker_client import unavailable as _unavailable
from devloop.errors import DeployError, TargetUnavailableError

__all__ = ["connect", "docker_available", "engine_address", "engine_call", "is_connection_error", "unavailable"]


def engine_address(env: Mapping[str, str] | None = None) -> str:
    return _engine_address(os.environ if env is None else env)


def unavailable(env: Mapping[str, str] | None = None, cause: object = None) -> TargetUnavailableError:
    return _unavailable(os.environ if env is None else env, cause)


def connect(env: Mapping[str, str] | None = None, timeout: float = 120) -> Any:
    """A ``docker.DockerClient`` for the engine of ``env`` (default: os.environ), checked with a ping.

    Raises :class:`TargetUnavailableError` when no engine answers.
    """
    import docker

    environment = dict(os.environ if env is None else env)
    try:
        client = docker.from_env(environment=environment, timeout=int(timeout))
        client.ping()
    except Exception as exc:  # any failure to reach the engine means "no engine"
        raise unavailable(environment, exc) from exc
    return client


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
