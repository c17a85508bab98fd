"""Connecting from inside a pod's network namespace, as ``kubectl port-forward`` does on a node.

Servers that listen on the pod's 127.0.0.1 (Flask, Django's runserver and Vite by default) cannot be reached
at the pod's address. When the engine runs on this machine and devloop may enter namespaces (root, or
CAP_SYS_ADMIN), a short-lived thread enters the network namespace of the pod's sandbox process with
``setns(2)`` (which changes only the calling thread), opens the connection to 127.0.0.1 there and hands the
socket back; the socket keeps working from any thread. :func:`listeners` reads which local addresses listen
on a port in the pod (``/proc/<pid>/net/tcp``), to name the bind address when that is not possible.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import threading
from typing import Any

CLONE_NEWNET = 0x40000000
_libc: Any = None


def _setns(fd: int) -> None:
    setns = getattr(os, "setns", None)  # Python 3.12+
    if setns is not None:
        setns(fd, CLONE_NEWNET)
        return
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def connect_inside(pid: int, port: int, timeout: float = 2.0) -> socket.socket:
    """A TCP connection to 127.0.0.1:``port`` in the network namespace of process ``pid`` (on this host).
    Raises PermissionError when devloop may not enter it, ConnectionRefusedError when nothing listens."""
    result: list[socket.socket] = []
    error: list[BaseException] = []

    def work() -> None:
        try:
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            result.append(socket.create_connection(("127.0.0.1", port), timeout=timeout))
        except BaseException as exc:  # handed to the caller
            error.append(exc)

    # a thread of its own: it stays in the pod's namespace until it ends, nobody else runs on it
    thread = threading.Thread(target=work, name="devloop-forward-netns", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def listeners(pid: int, port: int) -> list[str]:
    """The local addresses (``127.0.0.1``, ``0.0.0.0``, ``::1`` ...) that listen on TCP ``port`` in the network
    namespace of process ``pid``; empty when none does or when it cannot be read."""
    found: list[str] = []
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            with open(f"/proc/{pid}/net/{name}", encoding="ascii") as handle:
                lines = handle.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 4 or parts[3] != "0A":  # 0A: LISTEN
                continue
            address, _, hex_port = parts[1].partition(":")
            if int(hex_port, 16) != port:
                continue
            found.append(_address(address, family))
    return found


def _address(hex_address: str, family: int) -> str:
    raw = bytes.fromhex(hex_address)
    # /proc prints each 32-bit word in host order (little endian on the machines devloop runs on)
    packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(family, packed)
