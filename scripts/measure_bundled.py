"""Measure the bundled models again and rewrite the accuracy in their JSON files.

Run it after a change to the world's quiz generation: the recorded figures come from quizzes
drawn with a fixed seed, so any change to how those quizzes are drawn changes them. Prints
a Markdown table row per model, in the layout of the README's table.

Usage: python scripts/measure_bundled.py [--threads 2] [--models 0,1,2,3,4] [--samples 250]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from culturectl.atomic import atomic_path
from culturectl.checkpoints import checkpoints_in, load_checkpoint
from culturectl.trainer import measure_accuracy

MODELS = Path(__file__).resolve().parents[1] / "culturectl" / "models"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--models", default=None, help="comma-separated model ids (default: all)")
    parser.add_argument(
        "--samples", type=int, default=250,
        help="quizzes per task and structure, as `culturectl train --eval-samples` (default 250)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    paths = checkpoints_in(MODELS)
    ids = sorted(paths) if args.models is None else [int(m) for m in args.models.split(",")]
    for model_id in ids:
        loaded = load_checkpoint(paths[model_id], model_id)
        record_path = paths[model_id].with_suffix(".json")
        record = json.loads(record_path.read_text())
        tasks = record["training"]["tasks"]
        record["accuracy"] = measure_accuracy(loaded.model, tasks, args.samples)
        with atomic_path(record_path) as temporary:
            temporary.write_text(json.dumps(record, indent=2) + "\n")

        per_task = record["accuracy"]["per_task"]
        training = record["training"]
        cells = " | ".join(f"{100 * per_task[task]:.1f}" for task in tasks)
        mean = 100 * sum(per_task.values()) / len(per_task)
        print(f"| gpt_{model_id:03d} | {training['seed']} | {training['samples_seen']:,} | {cells} | {mean:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
