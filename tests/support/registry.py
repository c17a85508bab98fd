"""A small client for the test registry's HTTP API (Docker Registry v2), with the standard library only.

Used by tests to check what a push really left in the registry: tags, manifests, and to delete what a test
pushed (the test registry's config enables deletes).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


class RegistryError(Exception):
    """The registry answered with an unexpected status, or not at all."""


@dataclass(frozen=True)
class Manifest:
    digest: str  # sha256:... as the registry reports it (Docker-Content-Digest)
    media_type: str
    body: dict[str, Any]


def _request(
    addr: str, method: str, path: str, *, accept: str | None = None, timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(f"http://{addr}{path}", method=method)
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise RegistryError(f"{method} http://{addr}{path}: {exc}") from exc


def answers(addr: str) -> bool:
    try:
        status, _, _ = _request(addr, "GET", "/v2/", timeout=5.0)
    except RegistryError:
        return False
    return status == 200


def catalog(addr: str) -> list[str]:
    status, _, body = _request(addr, "GET", "/v2/_catalog?n=1000")
    if status != 200:
        raise RegistryError(f"GET /v2/_catalog on {addr}: HTTP {status}")
    return list(json.loads(body).get("repositories") or [])


def tags(addr: str, repository: str) -> list[str]:
    """The tags of ``repository``; [] when the repository does not exist."""
    status, _, body = _request(addr, "GET", f"/v2/{repository}/tags/list")
    if status == 404:
        return []
    if status != 200:
        raise RegistryError(f"GET tags of {repository} on {addr}: HTTP {status}")
    return sorted(json.loads(body).get("tags") or [])


def manifest(addr: str, repository: str, reference: str) -> Manifest | None:
    """The manifest of ``repository:reference`` (a tag or a digest), or None when there is none."""
    status, headers, body = _request(addr, "GET", f"/v2/{repository}/manifests/{reference}", accept=MANIFEST_TYPES)
    if status == 404:
        return None
    if status != 200:
        raise RegistryError(f"GET manifest {repository}:{reference} on {addr}: HTTP {status}")
    lower = {k.lower(): v for k, v in headers.items()}
    data = json.loads(body)
    return Manifest(
        digest=lower.get("docker-content-digest", ""),
        media_type=lower.get("content-type", data.get("mediaType", "")),
        body=data,
    )


def delete(addr: str, repository: str, reference: str) -> bool:
    """Delete the manifest ``repository:reference``; False when it did not exist."""
    found = manifest(addr, repository, reference)
    if found is None:
        return False
    status, _, _ = _request(addr, "DELETE", f"/v2/{repository}/manifests/{found.digest}")
    if status not in (202, 404):
        raise RegistryError(f"DELETE {repository}@{found.digest} on {addr}: HTTP {status}")
    return status == 202
