"""Image references as Docker reads them: the name without tag or digest, and its familiar form.

Docker normalizes ``shop/api`` to ``docker.io/shop/api`` and ``redis`` to ``docker.io/library/redis``
(``index.docker.io`` is the same registry). :func:`familiar_name` goes the other way, so that two
spellings of one image compare equal: ``docker.io/library/redis`` -> ``redis``,
``index.docker.io/shop/api`` -> ``shop/api``; names on other registries are kept as written.
"""

from __future__ import annotations

#: The hosts Docker treats as Docker Hub.
DOCKER_HUB = ("docker.io", "index.docker.io")


def image_name(image: str) -> str:
    """The image name without tag or digest: ``localhost:5000/shop/api:v1@sha256:...`` ->
    ``localhost:5000/shop/api`` (a ``:`` before the last ``/`` is a registry port, not a tag)."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    return name


def familiar_name(name: str) -> str:
    """The shortest spelling of the image name ``name`` (without tag) that Docker reads as the same image."""
    first, slash, rest = name.partition("/")
    if slash and first in DOCKER_HUB:
        name = rest
    elif slash and ("." in first or ":" in first or first == "localhost"):
        return name  # another registry: as written
    if name.startswith("library/") and name.count("/") == 1:
        name = name[len("library/") :]
    return name


def same_image(a: str, b: str) -> bool:
    """Whether the image names (without tag) ``a`` and ``b`` name the same image."""
    return a == b or familiar_name(a) == familiar_name(b)
