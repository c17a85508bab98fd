"""A container's main process as the host sees it (/proc), when the engine runs on this machine.

Used to stop containers without waiting for nothing (a PID 1 without a SIGTERM handler ignores SIGTERM)
and to reach a pod's 127.0.0.1 from inside its network namespace (:mod:`.netns`). Every answer falls
back to "cannot tell" (None, False) when the engine runs elsewhere (DOCKER_HOST, a VM).
"""

from __future__ import annotations

from typing import Any

SIGTERM_MASK = 1 << (15 - 1)  # bit of SIGTERM in /proc/PID/status SigCgt


def local_pid(attrs: dict[str, Any]) -> int | None:
    """The host PID of a running container's main process (from its inspect ``attrs``) when the engine runs on
    this machine and devloop can see that process; None otherwise (DOCKER_HOST elsewhere, a VM, no access)."""
    try:
        pid = int((attrs.get("State") or {}).get("Pid") or 0)
        if pid <= 0:
            return None
        # The engine may run elsewhere (DOCKER_HOST, a VM): make sure this PID is that container's process.
        hostname = str((attrs.get("Config") or {}).get("Hostname") or "")
        with open(f"/proc/{pid}/environ", "rb") as environ:
            if not hostname or f"HOSTNAME={hostname}".encode() not in environ.read().split(b"\0"):
                return None
    except (OSError, ValueError):
        return None
    return pid


def ignores_sigterm(api: Any, cid: str) -> bool:
    """True when the container's main process (PID 1 in its namespace, which the kernel never sends
    default-action signals to) installed no SIGTERM handler, so SIGTERM cannot stop it. Reads the host's
    /proc (a local Linux engine); False whenever that cannot be told."""
    try:
        pid = local_pid(api.inspect_container(cid) or {})
        if pid is None:
            return False
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return not int(line.split(":", 1)[1].strip(), 16) & SIGTERM_MASK
    except (OSError, ValueError, docker_errors()):
        return False
    return False


def docker_errors() -> type[Exception]:
    import docker.errors

    return docker.errors.APIError  # type: ignore[no-any-return]
