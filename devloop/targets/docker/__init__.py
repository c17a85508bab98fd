"""The docker target: the manifests' pod templates run as containers on the local Docker engine.

Importing this package is cheap (the docker SDK is imported inside functions).
"""

from __future__ import annotations

from devloop.targets.docker.target import DockerTarget

__all__ = ["DockerTarget"]
