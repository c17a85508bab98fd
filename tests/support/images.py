"""Build contexts for test images: ``FROM scratch`` plus Debian's static busybox (no image can be pulled here).

``write_busybox_context(dir)`` writes ``dir/Dockerfile`` and ``dir/busybox``; the image it describes has busybox
installed as ``/bin/*`` (so ``RUN`` shell commands, ``/bin/sh``, ``cat``, ``httpd`` ... work), then the extra
Dockerfile lines. ``files`` (relative path -> text) are written into the context too.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

BUSYBOX = Path("/bin/busybox")

BASE_DOCKERFILE = 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'


def busybox_missing() -> str | None:
    """None when a static busybox is available, else why not (for a skip reason)."""
    if not BUSYBOX.is_file():
        return f"{BUSYBOX} is missing: install Debian's busybox-static"
    return None


def write_busybox_context(
    dir: Path,
    extra_dockerfile_lines: Sequence[str] = (),
    files: Mapping[str, str] | None = None,
) -> Path:
    """Write a busybox build context into ``dir`` (created if needed) and return ``dir``."""
    dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, dir / "busybox")
    lines = "".join(f"{line}\n" for line in extra_dockerfile_lines)
    (dir / "Dockerfile").write_text(BASE_DOCKERFILE + lines)
    for rel, text in (files or {}).items():
        path = dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return dir


NODE = Path("/usr/bin/node")
NPM = Path("/usr/lib/node_modules/npm")


def node_missing() -> str | None:
    """None when the host's node and npm can make a node base image, else why not (for a skip reason)."""
    for path in (NODE, NPM / "bin" / "npm-cli.js"):
        if not path.exists():
            return f"{path} is missing: a node base image is made from the host's node and npm"
    return None


def write_node_context(dir: Path, base: str = "python:3.12-slim") -> Path:
    """A build context for a node base image (no node image can be pulled here): ``base`` (the Debian stand-in,
    whose glibc and libstdc++ the host's node needs) plus the host's node binary and npm."""
    dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(NODE, dir / "node")
    shutil.copytree(NPM, dir / "npm", symlinks=True)
    (dir / "Dockerfile").write_text(
        f"FROM {base}\n"
        "COPY node /usr/local/bin/node\n"
        "COPY npm /usr/local/lib/node_modules/npm\n"
        "RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm\n"
    )
    return dir
