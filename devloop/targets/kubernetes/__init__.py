"""The kubernetes target: the manifests deployed to a (local) cluster with the official client.

Importing this package is cheap: the ``kubernetes`` and ``docker`` SDKs are imported inside functions.
"""

from __future__ import annotations

from devloop.targets.kubernetes.target import KubernetesTarget

__all__ = ["KubernetesTarget"]
