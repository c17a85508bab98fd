"""bench/digest: devloop's image digest against `tar -c | sha256sum` of the same tree, in the same run.

Generates a nested build context of 20,000 files with mixed sizes in a temporary folder, then times:
  1. `tar -c . | sha256sum`                        (the reference: reads and hashes every byte once)
  2. devloop's digest, cold (empty cache folder)   (walk + ignore rules + read + hash + cache write)
  3. devloop's digest, warm, cache loaded from disk (a new process's second digest: no file is read)
  4. devloop's digest, warm, cache already in memory (what `devloop up` pays after a change)
Prints the times and the ratio cold / tar (goal <= 1.5), then removes everything it created.

Usage: .venv/bin/python bench/digest.py [--files N] [--repeat R] [--seed S] [--profile mixed|small]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devloop.build import digest
from devloop.config.model import ImageSpec


def size_for(rng: random.Random, profile: str) -> int:
    """ "mixed": mostly small source-like files, some medium, a few large assets (about 340 MB in all).
    "small": only small files (about 40 MB), where per-file costs dominate."""
    roll = rng.random()
    if profile == "small" or roll < 0.75:
        return rng.randint(50, 4_000)
    if roll < 0.97:
        return rng.randint(4_000, 32_000)
    if roll < 0.997:
        return rng.randint(32_000, 256_000)
    return rng.randint(256_000, 4_000_000)


def generate(root: Path, files: int, seed: int, profile: str) -> int:
    rng = random.Random(seed)
    blob = rng.randbytes(8_000_000)
    dirs = [root]
    total = 0
    for i in range(files):
        if i % 25 == 0:  # a new folder every 25 files, nested up to 6 deep
            parent = rng.choice(dirs)
            if len(parent.relative_to(root).parts) >= 6:
                parent = root
            new = parent / f"dir{i:05d}"
            new.mkdir()
            dirs.append(new)
        folder = rng.choice(dirs[-8:])
        size = size_for(rng, profile)
        start = rng.randrange(0, len(blob) - size)
        path = folder / f"file{i:05d}.{rng.choice(['py', 'js', 'txt', 'json', 'png'])}"
        path.write_bytes(blob[start : start + size])
        if i % 50 == 0:
            path.chmod(0o755)
        total += size
    (root / "Dockerfile").write_text("FROM scratch\nCOPY . /app\n")
    (root / ".dockerignore").write_text("**/*.log\n")
    return total


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def tar_sha(root: Path) -> None:
    subprocess.run(f"tar -c -C '{root}' . | sha256sum > /dev/null", shell=True, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (median reported)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", choices=["mixed", "small"], default="mixed", help="file size mix")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="devloop-bench-digest-"))
    saved_cache = os.environ.get("XDG_CACHE_HOME")
    try:
        context = work / "context"
        context.mkdir()
        total = generate(context, args.files, args.seed, args.profile)
        # Files written less than 2 s before a scan are not trusted by the cache (timestamp granularity):
        # wait that out so that the warm runs measure an unchanged tree, as in real use.
        time.sleep(2.1)
        image = ImageSpec(ref="bench/digest", context=context, dockerfile=context / "Dockerfile")
        print(f"context ({args.profile}): {args.files} files, {total / 1e6:.1f} MB, in {context}")

        tar_times, cold_times, disk_times, mem_times = [], [], [], []
        tags = set()
        for run in range(args.repeat):
            subprocess.run(["sync"], check=False)
            tar_times.append(timed(lambda: tar_sha(context)))

            os.environ["XDG_CACHE_HOME"] = str(work / f"cache{run}")
            digest.clear_memory_cache()
            cold_times.append(timed(lambda: tags.add(digest.image_tag(image))))

            digest.clear_memory_cache()  # as a new process: the cache comes from its file
            start = time.perf_counter()
            disk = digest.compute(image)
            disk_times.append(time.perf_counter() - start)
            if disk.hashed:
                print(f"  note: warm run read {disk.hashed} files")

            start = time.perf_counter()
            mem = digest.compute(image)
            mem_times.append(time.perf_counter() - start)
            tags.add(mem.tag)

        assert len(tags) == 1, f"the tag changed between runs: {tags}"
        tar_t, cold_t = statistics.median(tar_times), statistics.median(cold_times)
        disk_t, mem_t = statistics.median(disk_times), statistics.median(mem_times)
        print(f"tar -c | sha256sum        : {tar_t:7.3f} s")
        print(f"devloop digest, cold      : {cold_t:7.3f} s   ratio {cold_t / tar_t:.2f} (goal <= 1.5)")
        print(f"devloop digest, warm disk : {disk_t:7.3f} s   ratio {disk_t / tar_t:.2f}")
        print(f"devloop digest, warm mem  : {mem_t:7.3f} s   ratio {mem_t / tar_t:.2f}")
        print(f"(median of {args.repeat} runs; tag {tags.pop()})")
        return 0
    finally:
        if saved_cache is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = saved_cache
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
