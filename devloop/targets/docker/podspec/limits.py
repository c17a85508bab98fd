"""A container's resource limits (memory and cpu) as the docker engine takes them: bytes and nano-CPUs.
Quantities are read by the Kubernetes client's ``parse_quantity`` (imported only when a limit is set: the
kubernetes package takes a while to import)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from devloop.targets.docker.podspec.fields import SUPPORTED_LIMITS
from devloop.targets.docker.podspec.plans import Warnings


def quantity(value: object) -> Decimal | None:
    """A Kubernetes quantity (``64Mi``, ``500m``, ``1.5``, ``1e3``...), or None when ``value`` is not one."""
    from kubernetes.utils.quantity import parse_quantity

    try:
        parsed: Decimal = parse_quantity(str(value).strip())  # type: ignore[no-untyped-call]
    except ValueError:
        return None
    return parsed if parsed.is_finite() else None


def memory_bytes(value: object) -> int | None:
    """A memory quantity in bytes (None when it is not a quantity or negative)."""
    parsed = quantity(value)
    return int(parsed) if parsed is not None and parsed >= 0 else None


def nano_cpus(value: object) -> int | None:
    """A cpu quantity in billionths of a CPU (None when it is not a quantity)."""
    parsed = quantity(value)
    return int(parsed * 1_000_000_000) if parsed is not None else None


def container_limits(raw: Mapping[str, Any], prefix: str, warn: Warnings) -> tuple[int | None, int | None]:
    """(memory bytes, nano-CPUs) of container ``raw``'s ``resources.limits``; other limits are warned about."""
    limits = (raw.get("resources") or {}).get("limits") or {}
    warn.unknown(limits, SUPPORTED_LIMITS, f"{prefix}.resources.limits")
    mem = memory_bytes(limits["memory"]) if "memory" in limits else None
    cpus = nano_cpus(limits["cpu"]) if "cpu" in limits else None
    return mem, cpus
