"""A container's resource limits (memory and cpu) as the docker engine takes them: bytes and nano-CPUs.
Quantities are read by the Kubernetes client's ``parse_quantity``, loaded on its own when a limit is first read:
importing the kubernetes package would run its ``__init__`` (the whole API client, about half a second), which
the docker target otherwise never needs."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from devloop.targets.docker.podspec.fields import SUPPORTED_LIMITS
from devloop.targets.docker.podspec.plans import Warnings


@functools.cache
def _parse_quantity() -> Callable[[str], Decimal]:
    """The client's ``kubernetes/utils/quantity.py`` (it imports only ``decimal``) loaded as a module of its own;
    the regular import when the package is laid out otherwise."""
    package = importlib.util.find_spec("kubernetes")  # finds the package without running its __init__
    origin = Path(package.origin) if package is not None and package.origin else None
    source = origin.parent / "utils" / "quantity.py" if origin is not None else None
    spec = importlib.util.spec_from_file_location("devloop._kubernetes_quantity", source) if source else None
    if spec is None or spec.loader is None or source is None or not source.is_file():
        from kubernetes.utils.quantity import parse_quantity

        return cast(Callable[[str], Decimal], parse_quantity)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return cast(Callable[[str], Decimal], module.parse_quantity)


def quantity(value: object) -> Decimal | None:
    """A Kubernetes quantity (``64Mi``, ``500m``, ``1.5``, ``1e3``...), or None when ``value`` is not one."""
    parse_quantity = _parse_quantity()
    try:
        parsed = parse_quantity(str(value).strip())
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
