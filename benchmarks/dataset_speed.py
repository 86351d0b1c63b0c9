"""End-to-end `culturectl dataset` throughput (rows/s) with 1 and 2 worker processes,
side by side, on the same options, plus the peak memory and whether the parquet shards
are byte-identical.

Each run writes the parquet shards, the save_to_disk copy and the manifest, as the command
does. The peak resident memory is the largest of the main process and of any worker
(ru_maxrss, which counts finished children only), in MiB. For the 1M-row run (`--n 1000000`), expect several GB of disk per run.
Usage: python benchmarks/dataset_speed.py [--n 20000] [--workers 1,2] [--shard-size 100000]
       [--partitioned] [--keep DIR]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from culturectl.dataset import PARQUET_DIR, DatasetOptions, write_dataset


def peak_rss_mib() -> tuple[float, float]:
    """Return the peak resident memory in MiB of this process and of its largest
    finished child. Linux reports ru_maxrss in KiB."""
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / (1024 * 1024)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale
    return own, children


def run(out: Path, options: DatasetOptions, workers: int) -> float:
    started = time.perf_counter()
    summary = write_dataset(out, options, workers=workers)
    return summary.rows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="world quizzes per run")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to compare")
    parser.add_argument("--shard-size", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--partitioned", action="store_true")
    parser.add_argument("--keep", type=Path, help="write the runs here and keep them (default: a temporary folder)")
    args = parser.parse_args()
    counts = [int(text) for text in args.workers.split(",")]
    options = DatasetOptions(n=args.n, seed=args.seed, shard_size=args.shard_size, partitioned=args.partitioned)

    root = args.keep or Path(tempfile.mkdtemp(prefix="dataset-speed-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        print(f"{args.n} rows, shard size {args.shard_size}, output in {root}")
        speeds = {}
        for workers in counts:
            speeds[workers] = run(root / f"workers-{workers}", options, workers)
            own, children = peak_rss_mib()
            print(
                f"  {workers} worker(s): {speeds[workers]:8.1f} rows/s  {speeds[workers] / speeds[counts[0]]:5.2f}x"
                f"   peak RSS so far: main {own:.0f} MiB, largest child {children:.0f} MiB"
            )
        if len(counts) > 1:
            reference = sorted((root / f"workers-{counts[0]}" / PARQUET_DIR).glob("*.parquet"))
            identical = all(
                (root / f"workers-{workers}" / PARQUET_DIR / path.name).read_bytes() == path.read_bytes()
                for workers in counts[1:] for path in reference
            )
            print(f"  parquet shards byte-identical across worker counts: {identical}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
