"""Reading a big CRD bundle: devloop's manifest reader with libyaml's C parser and with the pure-Python parser,
against PyYAML's own ``load_all`` with the C loader (the raw operation), in the same run.

    .venv/bin/python bench/manifests.py --size-mb 1.5 --repeat 3
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import yaml

from devloop.config import yamldata
from devloop.config.manifests import parse_manifests

WORDS = ("the", "value", "of", "field", "when", "set", "pods", "replicas", "a", "name", "is", "used")


def crd_bundle(size: int, seed: int = 7) -> str:
    """CustomResourceDefinitions with nested openAPIV3Schema properties, about ``size`` characters."""
    rng = random.Random(seed)
    lines: list[str] = []

    def schema(depth: int, indent: int) -> None:
        pad = " " * indent
        if depth == 0 or rng.random() < 0.25:
            kind = rng.choice(("string", "integer", "boolean"))
            lines.append(f"{pad}type: {kind}")
            lines.append(f"{pad}description: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30))))
            return
        lines.append(f"{pad}type: object")
        lines.append(f"{pad}properties:")
        for i in range(rng.randint(2, 6)):
            lines.append(f"{pad}  field{i}x{rng.randint(0, 999)}:")
            schema(depth - 1, indent + 4)

    number = 0
    while sum(len(line) + 1 for line in lines) < size:
        number += 1
        lines += [
            "---",
            "apiVersion: apiextensions.k8s.io/v1",
            "kind: CustomResourceDefinition",
            f"metadata: {{name: things{number}.example.com}}",
            "spec:",
            "  group: example.com",
            f"  names: {{kind: Thing{number}, plural: things{number}}}",
            "  scope: Namespaced",
            "  versions:",
            "    - name: v1",
            "      served: true",
            "      storage: true",
            "      schema:",
            "        openAPIV3Schema:",
        ]
        schema(6, 10)
    return "\n".join(lines) + "\n"


def median_time(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=float, default=1.5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    text = crd_bundle(int(args.size_mb * 1_000_000))
    print(f"bundle: {len(text) / 1e6:.2f} MB, {text.count(chr(10))} lines")
    raw = median_time(lambda: list(yaml.load_all(text, Loader=yaml.CSafeLoader)), args.repeat)
    print(f"PyYAML load_all, C loader (raw):   {raw:.2f} s")
    if not yamldata.C_PARSER:
        print("PyYAML was built without libyaml: only the pure-Python figure follows")
    else:
        fast = median_time(lambda: parse_manifests(text, "crds.yaml"), args.repeat)
        print(f"devloop, C parser:                 {fast:.2f} s  (ratio {fast / raw:.2f})")
    yamldata.C_PARSER = False
    pure = median_time(lambda: parse_manifests(text, "crds.yaml"), args.repeat)
    print(f"devloop, pure-Python parser:       {pure:.2f} s  (ratio {pure / raw:.2f})")
    old = median_time(lambda: list(yaml.load_all(text, Loader=yaml.SafeLoader)), args.repeat)
    print(f"PyYAML load_all, pure (before):    {old:.2f} s  (ratio {old / raw:.2f})")


if __name__ == "__main__":
    main()
