"""Time world-quiz generation per task against the original's single-thread speed.

For each task the script makes `--n` quizzes in one call on a fresh generator seeded
12346, with one torch thread, as the reference run did, and keeps the fastest of
`--repeats` calls. It prints quizzes per second beside the original's figure from
tests/data/world_quizzes.json and their ratio; the goal is a ratio of at least 3 for
every task. The original's figures come from a 2-vCPU AMD EPYC virtual machine, so the
ratio is only as fair as the two machines are alike.

Usage: python benchmarks/world_speed.py [--n 1000] [--repeats 3] [--tasks scale,fill]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from vendor_culture.tasks_more import DEFAULT_TASKS
from vendor_culture.world import check_task_names, generate_task_quizzes

REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "world_quizzes.json"
GOAL = 3.0
SEED = 12346


def quizzes_per_second(task: str, nb: int, repeats: int) -> float:
    """Return the best rate over `repeats` calls, each on a freshly seeded generator."""
    best = float("inf")
    for _ in range(repeats):
        generator = torch.Generator().manual_seed(SEED)
        start = time.perf_counter()
        generate_task_quizzes(nb, task, generator)
        best = min(best, time.perf_counter() - start)
    return nb / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="quizzes per timed call")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed calls per task; the fastest counts",
    )
    parser.add_argument(
        "--tasks", default=",".join(DEFAULT_TASKS),
        help="comma-separated task names (default: the 15 tasks of the original default list)",
    )
    args = parser.parse_args()
    tasks = check_task_names(args.tasks.split(","))

    torch.set_num_threads(1)
    recorded = json.loads(REFERENCE.read_text())
    print(f"machine of the original figures: {recorded['speed_machine']['cpu']}")
    print(f"{'task':<15}{'ours q/s':>10}{'original q/s':>14}{'ratio':>8}")
    nb_reached = 0
    for task in tasks:
        ours = quizzes_per_second(task, args.n, args.repeats)
        original = recorded["tasks"][task]["speed_1000"]["quizzes_per_second"]
        ratio = ours / original
        nb_reached += ratio >= GOAL
        flag = "" if ratio >= GOAL else f"  below the {GOAL:g}x goal"
        print(f"{task:<15}{ours:>10.0f}{original:>14.0f}{ratio:>7.1f}x{flag}")
    print(f"{nb_reached} of {len(tasks)} tasks reach {GOAL:g}x")


if __name__ == "__main__":
    main()
