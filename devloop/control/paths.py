"""Where the control endpoint of a running `devloop up` lives.

A per-user directory only its user can enter (mode 0700): ``$XDG_RUNTIME_DIR/devloop/`` when that is set and
usable, else ``/tmp/devloop-<uid>/``. In it, per project: ``<name>-<hash>.sock`` (the unix socket, 0600),
``<name>-<hash>.token`` (the token every request carries, 0600) and ``<name>-<hash>.lock`` (held by the running
`up`). ``<hash>`` is the start of the sha256 of the config file's real path, so two checkouts of the same project
never meet, and a client finds the socket from the config path alone. Nothing is written into the project folder.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devloop.control.protocol import ControlError

#: sun_path holds 108 bytes with the terminating NUL; stay below with a margin.
MAX_SOCKET_PATH = 100
NAME_CHARS = 32


@dataclass(frozen=True)
class Endpoint:
    directory: Path
    stem: str  # "<name>-<hash>"

    @property
    def socket(self) -> Path:
        return self.directory / f"{self.stem}.sock"

    @property
    def token(self) -> Path:
        return self.directory / f"{self.stem}.token"

    @property
    def lock(self) -> Path:
        return self.directory / f"{self.stem}.lock"


def config_hash(config_path: Path | str) -> str:
    real = os.path.realpath(os.fspath(config_path))
    return hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[:NAME_CHARS].strip("-.")
    return cleaned or "project"


def candidate_dirs(env: Mapping[str, str] | None = None, *, tmp_root: str | None = None) -> list[Path]:
    """The directories to use, best first: the XDG runtime one (when set and usable), then the /tmp one."""
    env = os.environ if env is None else env
    out: list[Path] = []
    xdg = env.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg):
        try:
            st = os.stat(xdg)
        except OSError:
            st = None
        if (
            st is not None
            and stat.S_ISDIR(st.st_mode)
            and st.st_uid == os.getuid()
            and os.access(xdg, os.W_OK | os.X_OK)
        ):
            out.append(Path(xdg) / "devloop")
    root = tmp_root if tmp_root is not None else tempfile.gettempdir()
    out.append(Path(root) / f"devloop-{os.getuid()}")
    if tmp_root is None and os.path.realpath(root) != "/tmp" and os.path.isdir("/tmp"):
        out.append(Path("/tmp") / f"devloop-{os.getuid()}")  # a TMPDIR too long for a socket path
    return out


def endpoint_in(directory: Path, project_name: str, config_path: Path | str) -> Endpoint:
    return Endpoint(directory, f"{_safe_name(project_name)}-{config_hash(config_path)}")


def server_endpoint(
    project_name: str, config_path: Path | str, env: Mapping[str, str] | None = None, *, tmp_root: str | None = None
) -> Endpoint:
    """Where a `devloop up` serves: the first candidate directory whose socket path is short enough."""
    dirs = candidate_dirs(env, tmp_root=tmp_root)
    for directory in dirs:
        endpoint = endpoint_in(directory, project_name, config_path)
        if len(os.fsencode(endpoint.socket)) <= MAX_SOCKET_PATH:
            return endpoint
    endpoint = endpoint_in(dirs[-1], project_name, config_path)
    raise ControlError(
        f"the control socket path {endpoint.socket} is too long for a unix socket; "
        "set XDG_RUNTIME_DIR or TMPDIR to a shorter folder."
    )


def find_endpoint(
    config_path: Path | str, env: Mapping[str, str] | None = None, *, tmp_root: str | None = None
) -> Endpoint | None:
    """The endpoint of a `devloop up` serving ``config_path``, found by the config hash (whatever its name)."""
    suffix = f"-{config_hash(config_path)}.sock"
    for directory in candidate_dirs(env, tmp_root=tmp_root):
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            if name.endswith(suffix):
                try:
                    check_private_dir(directory)
                except FileNotFoundError:  # the last `up` just stopped and removed it
                    break
                return Endpoint(directory, name[: -len(".sock")])
    return None


def check_private_dir(directory: Path) -> None:
    """Refuse a directory that is a symlink, not ours, or reachable by others (someone may have planted it)."""
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ControlError(f"cannot use the control directory {directory}: {exc.strerror}.") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ControlError(f"{directory} is not a directory; remove it so that devloop can use it for its socket.")
    if st.st_uid != os.getuid():
        raise ControlError(
            f"the control directory {directory} belongs to user id {st.st_uid}, not to you; "
            "remove it or set XDG_RUNTIME_DIR to a folder of yours."
        )
    if st.st_mode & 0o077:
        raise ControlError(
            f"the control directory {directory} can be reached by other users (mode {st.st_mode & 0o777:o}); "
            f"run `chmod 700 {directory}`."
        )


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` with mode 0700, or check an existing one (FileNotFoundError: it vanished meanwhile)."""
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        st = os.lstat(directory)
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and st.st_mode & 0o077:
            os.chmod(directory, 0o700)  # ours but too open (an old umask): tighten it
    except OSError as exc:
        raise ControlError(f"cannot create the control directory {directory}: {exc.strerror}.") from None
    else:
        os.chmod(directory, 0o700)
    check_private_dir(directory)
