"""The per-pod sandbox image, made locally without a registry.

A pod's containers share the network namespace of a tiny "pause" container. No image can be
pulled on offline machines, so devloop writes its own: a static ELF of a few hundred bytes
(x86_64 or aarch64, chosen by the engine's architecture) that installs a SIGTERM/SIGINT handler
which exits, then blocks forever. It is imported with the Engine API as ``devloop/pause:<version>``.
"""

from __future__ import annotations

import io
import struct
import tarfile
from typing import Any

from devloop.config.labels import MANAGED_BY, MANAGED_BY_VALUE

PAUSE_REPOSITORY = "devloop/pause"
PAUSE_VERSION = "1"
PAUSE_IMAGE = f"{PAUSE_REPOSITORY}:{PAUSE_VERSION}"

_BASE = 0x400000
_HEADERS = 64 + 56

# x86_64: rt_sigaction(SIGTERM/SIGINT, {handler, SA_RESTORER, handler, 0}); loop { pause() };
# handler: exit_group(0).
_X86_64 = bytes.fromhex(
    "488d053d000000"  # lea rax, [rip+61]        -> handler
    "6a00"  # push 0                        sa_mask
    "50"  # push rax                      sa_restorer (never used: the handler exits)
    "6800000004"  # push 0x04000000               sa_flags = SA_RESTORER
    "50"  # push rax                      sa_handler
    "4889e6"  # mov rsi, rsp
    "bf0f000000"  # mov edi, 15 (SIGTERM)
    "31d2"  # xor edx, edx
    "41ba08000000"  # mov r10d, 8
    "b80d000000"  # mov eax, 13 (rt_sigaction)
    "0f05"  # syscall
    "bf02000000"  # mov edi, 2 (SIGINT)
    "31d2"
    "41ba08000000"
    "b80d000000"
    "0f05"
    "b822000000"  # loop: mov eax, 34 (pause)
    "0f05"  # syscall
    "ebf7"  # jmp loop
    "31ff"  # handler: xor edi, edi
    "b8e7000000"  # mov eax, 231 (exit_group)
    "0f05"  # syscall
)

# aarch64: the same with ppoll(NULL, 0, NULL, NULL) as the blocking call (there is no pause()).
_AARCH64 = b"".join(
    struct.pack("<I", word)
    for word in (
        0xD10083FF,  # sub sp, sp, #32
        0x100002E1,  # adr x1, handler (+92)
        0xA9007FE1,  # stp x1, xzr, [sp]        handler, flags 0
        0xA9017FFF,  # stp xzr, xzr, [sp, #16]  restorer 0, mask 0
        0xD28001E0,  # mov x0, #15
        0x910003E1,  # mov x1, sp
        0xD2800002,  # mov x2, #0
        0xD2800103,  # mov x3, #8
        0xD28010C8,  # mov x8, #134 (rt_sigaction)
        0xD4000001,  # svc #0
        0xD2800040,  # mov x0, #2
        0x910003E1,  # mov x1, sp
        0xD2800002,  # mov x2, #0
        0xD2800103,  # mov x3, #8
        0xD28010C8,  # mov x8, #134
        0xD4000001,  # svc #0
        0xD2800000,  # loop: mov x0, #0
        0xD2800001,  # mov x1, #0
        0xD2800002,  # mov x2, #0
        0xD2800003,  # mov x3, #0
        0xD2800004,  # mov x4, #0
        0xD2800928,  # mov x8, #73 (ppoll)
        0xD4000001,  # svc #0
        0x17FFFFF9,  # b loop
        0xD2800000,  # handler: mov x0, #0
        0xD2800BC8,  # mov x8, #94 (exit_group)
        0xD4000001,  # svc #0
    )
)

_MACHINES = {
    "amd64": (0x3E, _X86_64),
    "x86_64": (0x3E, _X86_64),
    "arm64": (0xB7, _AARCH64),
    "aarch64": (0xB7, _AARCH64),
}


def pause_elf(arch: str) -> bytes:
    """The static ELF executable for the engine architecture ``arch`` (docker's ``Arch``: amd64, arm64)."""
    try:
        machine, code = _MACHINES[arch]
    except KeyError:
        raise ValueError(f"no pause executable for architecture {arch!r}") from None
    size = _HEADERS + len(code)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, _BASE + _HEADERS, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    program = struct.pack("<IIQQQQQQ", 1, 5, 0, _BASE, _BASE, size, size, 0x1000)
    return header + program + code


def pause_tar(arch: str) -> bytes:
    data = pause_elf(arch)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("pause")
        info.size = len(data)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def ensure_pause_image(api: Any) -> str:
    """Import ``devloop/pause:<version>`` into the engine unless it is there; return its reference."""
    import docker.errors

    try:
        api.inspect_image(PAUSE_IMAGE)
        return PAUSE_IMAGE
    except docker.errors.ImageNotFound:
        pass
    arch = str(api.version().get("Arch", "amd64"))
    api.import_image_from_data(
        pause_tar(arch),
        repository=PAUSE_REPOSITORY,
        tag=PAUSE_VERSION,
        changes=['ENTRYPOINT ["/pause"]', f"LABEL {MANAGED_BY}={MANAGED_BY_VALUE}"],
    )
    return PAUSE_IMAGE
